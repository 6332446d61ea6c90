// Package verify checks an evidence folder: the report's signature, the
// report itself, every image file's size and hashes, the whole image's
// hashes (and those the image stores about itself), and optionally the
// source again.
//
// It reads images only through their formats (acquire.LookupFormat): a
// format that can scan (format.Scanner) has every file read once, the file
// hashes and the media hashes computed from the same reads. Everything in
// the folder is treated as hostile: files are opened through a handle of
// the folder, never following a symbolic link, only as regular files, and
// the report's size is bounded before it is read.
//
// Run's progress (bytes read) can be polled from any goroutine with
// [Verifier.Progress], so a long verification is never silent.
package verify

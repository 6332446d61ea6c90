// Package format is the seam between the acquisition pipeline and the image
// formats (acquire/raw, acquire/ewf): one interface every format implements,
// and one conformance suite (package formattest) every format passes.
//
// # The writer contract
//
//   - The pipeline calls a [Writer] from one goroutine only. Write receives
//     the source stream in order; p belongs to the caller and is valid only
//     until Write returns (the caller's buffer goes back to its pool then),
//     so a writer copies whatever it keeps. A writer that compresses on
//     several goroutines copies each chunk into its own bounded set of
//     buffers: its memory stays bounded by its own queue depth, whatever the
//     source size.
//   - Checkpoint makes everything written so far durable and returns an
//     opaque state; [Format.Resume] with that state reopens the image at
//     exactly that stream offset, discarding what was written after it.
//   - Finish runs once, after the last Write, with the whole-stream
//     [Summary] (hashes, unreadable ranges). It completes the files, syncs
//     them and the folder, and only then gives them their final names: a
//     final name means "complete". It returns the segment list for the
//     report.
//   - Abort stops writing after a failure or an interruption; what was
//     written stays under its partial names for a resume. Partial names
//     those files as they are on disk (after Abort, or while writing).
//   - Every file operation (create, reopen, rename, chmod, truncate,
//     remove) goes through [Spec.Root], the evidence folder's handle: a
//     format never builds a path from Spec.Dir, which is for messages only.
//
// # Readers
//
// [Format.Open] gives the media (the source as imaged) as an io.ReaderAt.
// A format may also implement [Scanner], which reads every file once, in
// order, handing the file bytes to the caller (for per-file hashes) while
// producing the media stream (for the whole-image hashes): verification
// then reads each file once. Damage found while reading (a bad checksum, a
// chunk that does not inflate) is reported as a [*Damage] error naming the
// file and the place, which verification counts as a mismatch, not as a
// read failure.
package format

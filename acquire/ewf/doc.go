// Package ewf writes and reads EWF-E01 images (the EnCase 6 layout, as
// libewf 20140813 and The Sleuth Kit read it) behind the acquire/format
// seam. The on-disk map it follows is /work/shared/ewf.md.
//
// # Writing
//
// A set is NAME.E01 … NAME.E99, NAME.EAA … NAME.ZZZ, written as
// NAME.Exx.partial and renamed by Finish, which first syncs each file and
// makes it read-only (0440, through its descriptor), then syncs the
// folder: a final name means "complete". Every file is written strictly
// append-only and hashed as it is written (Spec.SegmentHashes).
//
// Segment 1 opens with header2 (twice), header and volume; later segments
// with data. Chunks (64 sectors of 512 bytes by default, more when the
// media would need over 134,217,727 chunks, at most 256 KiB) are deflated
// on one worker per core and stored in {sectors, table, table2} groups of
// at most 16375 chunks and 16 MiB, each held in memory until its table
// can follow it, so the writer's memory is bounded (tens of MiB) whatever
// the media size. A chunk is stored compressed only when that is strictly
// smaller than the chunk itself; constant chunks are detected without
// deflating and share one compressed form per byte value. The last
// segment closes with [data], [error2], [digest], [hash] and done.
//
// Invariants:
//   - the media is a whole number of sectors (Plan refuses other sizes);
//   - a segment never exceeds Spec.SegmentSize, except when the closing
//     sections alone (a very long error2) do not fit a segment;
//   - the volume and data sections carry the final chunk and sector
//     counts from the start: nothing is patched afterwards;
//   - a checkpoint closes the open group, so the files hold whole sections
//     at every checkpoint; the bytes of an incomplete chunk live in the
//     checkpoint state.
//
// # Reading
//
// [Format.Open] checks every section descriptor, the volume/data
// agreement, table headers and entry checksums, and each chunk's Adler-32
// or zlib stream as it is read; [Format.Scan] reads each file once,
// sequentially, and inflates on every core. Sizes read from a file are
// never trusted for allocation beyond fixed caps. Damage is reported as
// *format.Damage naming the file and the chunk or section.
package ewf

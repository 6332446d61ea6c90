// Package ewf writes and reads EWF-E01 images (the EnCase 6 layout, as
// libewf 20140813 and The Sleuth Kit read it) behind the acquire/format
// seam. The on-disk map it follows is shared/ewf.md.
//
// # Writing
//
// A set is NAME.E01 … NAME.E99, NAME.EAA … NAME.ZZZ, written as
// NAME.Exx.partial and renamed by Finish, which first syncs each file and
// makes it read-only (0440, through its descriptor), then syncs the
// folder: a final name means "complete". Every file is written strictly
// append-only (no seeks, nothing patched afterwards) and hashed as it is
// written (Spec.SegmentHashes). Spec.DirectIO is not used: groups are
// written through the page cache.
//
// Segment 1 opens with header2 (twice), header and volume; later segments
// with data. Chunks (64 sectors of 512 bytes, 8 of 4096, by default; 2, 4
// or 8 times that when the media would need more than 134,217,727 chunks,
// which libewf 20140813 cannot open; never above 256 KiB, which X-Ways
// rejects) are deflated on one worker per core and stored in {sectors,
// table, table2} groups of at most 16375 chunks and 16 MiB, each held in
// memory until its table can follow it, so the writer's memory is bounded
// (about 50 MiB measured) whatever the media size. A chunk is stored
// compressed only when that is strictly smaller than the chunk itself;
// constant chunks are detected without deflating and share one compressed
// form per byte value, made once at the best level; once it exists, a
// whole constant chunk is checked in the caller's buffer and placed
// without a copy or a worker. The last segment closes with [data], [error2],
// [digest], [hash] and done.
//
// Choices where the map leaves one:
//   - compression "" means "fast" (see DefaultCompression);
//   - the segment-set GUID is a random version-4 UUID, kept in the
//     checkpoint state so a resumed set carries one identifier;
//   - error granularity is 1: the acquisition narrows failed reads to
//     single sectors, so every error2 run is exact;
//   - an empty media is a segment with header2, header, volume and data
//     sections counting 0 chunks and 0 sectors, no group, and the
//     hashes of the empty stream: ewfverify accepts it and img_stat reads
//     it as a 0-byte EWF image;
//   - unreadable ranges at or beyond sector 2^32 cannot be stored in the
//     32-bit error2 entries: Finish leaves them out and [Writer.Unrecorded]
//     lists them for the report (Plan notes it for such media);
//   - the header's "av" value is Spec.ToolVersion cut to 11 characters
//     (EnCase's limit), "ov" is "Linux"; values lose TAB, CR and LF
//     (replaced by spaces), and the header section is ASCII ('?' for
//     anything else) while header2 keeps Unicode.
//
// Invariants:
//   - the media is a whole number of sectors (Plan refuses other sizes);
//   - a segment never exceeds Spec.SegmentSize, except when the closing
//     sections alone (a very long error2) do not fit a segment;
//   - the volume and data sections carry the final chunk and sector
//     counts from the start;
//   - a checkpoint closes the open group, so the files hold whole sections
//     at every checkpoint; the bytes of an incomplete chunk live in the
//     checkpoint state, which Resume validates strictly (names this format
//     makes, contiguous offsets, whole chunks) before touching any file.
//
// # Reading
//
// [Glob] finds a set's files as libewf does. [Format.Open] checks every
// section descriptor (and that next pointers only move forward), the
// volume/data agreement, table headers, entry checksums and chunk places,
// and each chunk's Adler-32 or zlib stream as it is read; it keeps a few
// dozen bytes per table, not per chunk. [Format.Scan] reads each file
// once, sequentially, and inflates on every core. Sizes read from a file
// are never trusted for allocation beyond fixed caps. Damage is reported
// as *format.Damage naming the file and the chunk or section.
//
// A resumed writer reads the media it kept ([Writer.ReadKeptAt], the
// format.KeptReader a resume's checks use): the same checks over the set
// as the checkpoint left it, the open segment read through the writer's
// own descriptor and only up to the length the checkpoint synced (it ends
// after a whole section, with no done or next), then the incomplete
// chunk's bytes from the state.
package ewf

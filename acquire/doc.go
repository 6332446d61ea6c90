// Package acquire images a source (a block device or a regular file) into
// segmented image files while hashing it, and writes the report.
//
// # Pipeline
//
// One reader goroutine reads the source sequentially in ReadSize blocks
// (4 MiB by default, a multiple of the physical sector size; through an
// O_DIRECT descriptor for block devices, so every read reaches the device
// and no readahead widens or page cache hides a failure) into buffers
// from a fixed pool (16 by default: 64 MiB, whatever the source size). Each
// block goes, in stream order, to every consumer, each in its own goroutine
// with its own bounded queue:
//
//   - one hasher per selected algorithm (MD5, SHA-1, SHA-256, SHA-512), so
//     the algorithms share the cores while the source is read once;
//   - the hash-window hasher (--hash-window), when asked;
//   - the image writer ([ImageWriter]: raw segments from acquire/raw, which
//     also hashes each segment file as it writes it).
//
// A buffer returns to the pool only when its last consumer released it, so
// memory is bounded by the pool. The pipeline runs under an errgroup: the
// first error of any stage cancels the others, every send selects on the
// context, and Run returns only after every goroutine ended.
//
// # Invariants
//
//   - Every byte read is hashed by every selected algorithm exactly once,
//     in order.
//   - A short or failed read is never zero-filled silently: a failed block
//     is read again through an O_DIRECT descriptor (buffered reads widen
//     failures to whole readahead windows) as described under Damage; only
//     a sector that could not be read is zero-filled, and it is recorded
//     (report.Unreadable, merged ranges aligned to the logical sector size,
//     one event per run, NAME.map). A source that ends early is an error,
//     not zeros.
//   - Every byte of a block is settled (read, or recorded unreadable and
//     zero-filled) before the block is handed on.
//   - Image files are created with O_EXCL and carry a .partial suffix until
//     the acquisition is complete and synced; only then do they get their
//     final names. A report never says "complete" for anything less.
//   - Nothing is created in the output folder before the checks pass, and
//     the folder is checked (on its nearest existing ancestor) against the
//     source's device numbers before it is created: creating a folder on the
//     source's own filesystem would already be a write to the evidence.
//   - The source is opened read-only (and exclusively, unless --allow-busy),
//     set read-only with BLKROSET on the disk and all its partitions and
//     confirmed before the first read; the block layer's write counters are
//     compared before and after (see package blockdev).
//
// # Damage
//
// A failed block is read again the way GNU ddrescue's passes read a
// failed area, but in stream order (rescue.go):
//
//   - in clusters of 64 KiB (ddrescue's default); a cluster that reads is
//     done;
//   - a failed cluster is scraped: each sector read once;
//   - the sectors that failed in a partly readable cluster (isolated bad
//     sectors, flaky ones) are retried Options.Retries times; a fully
//     unreadable cluster is dead medium and is not retried (ddrescue -d
//     retries nothing by default). A sector at the edge of a dead area
//     whose cluster also holds good sectors is retried too;
//   - after 16 fully unreadable clusters in a row (1 MiB), and at the end
//     of a block that ends in unreadable clusters, single sectors are
//     probed 1, 2, 4, … MiB further on and at the last sector. When one
//     reads, the sectors up to it are still read one by one. When none
//     does, the source has stopped answering: imaging stops with
//     ErrSourceDead, the journal is checkpointed at the start of the block
//     being read (nothing of which was handed on), the report says
//     incomplete, and --resume continues there once the source answers.
//     Within 1 MiB of the end nothing is probed: the rest is scraped.
//
// On the faultdisk device a dead area costs as many failed reads as
// `ddrescue -d` (one per sector plus one per cluster) and no more time;
// see rescue_compare_test.go for the figures and how to measure them.
//
// The trade-off against ddrescue: ddrescue reads the good areas first and
// comes back to the failed ones (trimming, scraping, retries) in later
// passes, in any order; that gets the most data off a dying drive early.
// custodian hashes the stream in order (MD5 and SHA are sequential) and
// resumes from hash states at a stream offset, so every byte of a block
// must be settled before the block is handed on: a dead area is scraped
// when it is reached, and probing ahead can find where the medium reads
// again, or that it no longer answers at all, but cannot skip the sectors
// in between. A drive that dies while its failed areas are scraped loses
// the good data after them, which ddrescue would have read first. For such
// a drive, image with ddrescue first and acquire its image.
//
// Memory does not grow with the damage: unreadable ranges are merged (one
// per run), the damage events (read errors, unreadable runs, recovered
// sectors, probes) are capped at the first 1000 in memory, in the journal
// and in the report, followed by one event counting the rest; failed reads
// allocate (their errors), so the reader collects garbage every 4096
// failures instead of letting it grow to the size of the read pool.
//
// # Mapfile
//
// NAME.map is a GNU ddrescue mapfile (package acquire/mapfile) of the
// image: '+' rescued, '-' unreadable (zero-filled in the image), '?' not
// yet imaged. It is replaced atomically at every checkpoint (rescued up to
// the checkpoint), on abort (as of the journal's checkpoint: what --resume
// keeps) and at the end (status finished). Its offsets are bytes, without
// the 32-bit sector counts of EWF's error2, and ddrescuelog and ddrescue
// read it: `ddrescue -d -r1 SOURCE COPY.img COPY.map`, with copies of a
// one-segment raw image and of its map, reads just the unreadable sectors
// again into the copy (which then no longer matches the report's hashes;
// the evidence image stays as the report describes it).
//
// # Resume
//
// Every Options.CheckpointEvery bytes the reader sends a marker through the
// same queues; each consumer saves its state at exactly that offset (hash
// states via encoding.BinaryMarshaler, the writer's segments and offset),
// the open segment is fsynced, and NAME.journal is replaced atomically. On
// --resume the journal is checked against the source (size, sector size,
// model, serial) and the settings, the states are restored, the open
// segment is truncated to the checkpoint, and reading continues there:
// nothing before the checkpoint is read again.
//
// A signal does not cancel the consumers (the fanout runs on its own
// context): the reader stops handing on blocks, the consumers finish the
// ones they have (for at most drainLimit), and a checkpoint is taken where
// the reader stopped; the same happens when the destination's free space
// (one fstatfs per block) no longer holds the blocks not yet written
// (stop.go). The journal also keeps the case fields of the first run, which
// a resume keeps, and every run with its command line, times, outcome and
// events (history.go); the report lists them as runs.
//
// # Adding an image format
//
// An EWF writer plugs in as a second [ImageWriter]: it receives the same
// ordered stream, compresses chunks in parallel behind its own bounded
// queue, hashes its segment files as it writes them, and implements
// Checkpoint/Finish/Abort/Partial with the same meaning. newImageWriter,
// resumeImageWriter and OpenImage dispatch on the format name.
package acquire

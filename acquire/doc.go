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
//   - A short or failed read is never zero-filled silently: a failed read
//     is re-read in halves down to the logical sector through an O_DIRECT
//     descriptor (buffered reads widen failures to whole readahead windows),
//     each sector retried Options.Retries times; only a sector that fails
//     every attempt is zero-filled, and it is recorded (report.Unreadable,
//     merged ranges aligned to the logical sector size, plus an event). A
//     source that ends early is an error, not zeros.
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
// # Adding an image format
//
// An EWF writer plugs in as a second [ImageWriter]: it receives the same
// ordered stream, compresses chunks in parallel behind its own bounded
// queue, hashes its segment files as it writes them, and implements
// Checkpoint/Finish/Abort/Partial with the same meaning. newImageWriter,
// resumeImageWriter and OpenImage dispatch on the format name.
package acquire

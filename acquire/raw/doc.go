// Package raw writes and reads segmented raw images: NAME.001, NAME.002, …,
// whose concatenation is the source stream byte for byte.
//
// Invariants:
//   - segment files are created with O_EXCL and named NAME.NNN.partial while
//     the acquisition runs; Finish fsyncs every segment, renames it to its
//     final name and fsyncs the folder, so a final name means "complete";
//   - files are created lazily, on the first byte (or on Finish for an empty
//     source), so a run that fails before reading leaves nothing behind;
//   - every segment but the last holds exactly SegmentSize bytes;
//   - each segment's hashes are over its own bytes, computed as written.
package raw

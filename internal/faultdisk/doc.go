// Package faultdisk is a test kit for real bad sectors: it serves a file
// over FUSE whose reads fail with EIO for chosen byte ranges, and attaches
// it read-only to a loop device, which then behaves like a disk with
// unreadable sectors all the way through the kernel's block layer.
//
// # How it works
//
// [Mount] mounts a one-file FUSE file system (go-fuse, mount(2) called
// directly, no fusermount) in a temporary directory. The file's bytes come
// from [Options.Data] or [Options.Content]; a read that overlaps any
// [Options.Bad] range fails with EIO, a read overlapping an [Options.Flaky]
// range fails until that range has failed Failures times, and with
// [Options.DeadFrom] every read from that offset on fails (a disk that
// stopped answering); [Disk.SetBad] and [Disk.SetDeadFrom] change the
// faults while the disk is in use. [Options.FailDelay] makes failed reads
// slow, as on a drive that retries internally; [Options.Rate] limits the
// disk to a fixed number of bytes per second (a slow USB disk). The file is
// opened with FOPEN_DIRECT_IO, so the FUSE side keeps no page cache and
// every read the loop driver issues reaches [Disk]'s Read handler, where it
// is logged ([Disk.Reads], [Disk.ReadsOf], [Disk.Failures]).
//
// [Device] attaches that file with `losetup -r` (optionally
// `--sector-size 4096`). Checked on kernel 6.18 (see faultdisk_test.go):
//   - the loop device needs no `--direct-io` setting: with the default
//     (buffered loop I/O) the FUSE file's FOPEN_DIRECT_IO already passes
//     each loop request through uncached;
//   - an O_DIRECT read of the loop device reaches FUSE as a read of exactly
//     the requested range, so failures are exact to the logical sector;
//   - a buffered read of the loop device goes through the block device's
//     page cache and readahead: one bad sector fails a whole readahead
//     window (and may fail more than one FUSE read per attempt).
//
// # Cleanup
//
// Everything is undone in t.Cleanup in the only order that works: the loop
// device is detached first (by its own name, never `losetup -D`), then the
// FUSE file system is unmounted, then the temporary directory is removed.
//
// # Requirements
//
// Root, /dev/fuse and losetup. Without them the tests skip; under CI=true
// they fail, so CI proves that they ran ([RequireFUSE]).
package faultdisk

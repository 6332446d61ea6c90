// Package blockdev gives read-only access to block devices (and to regular
// files standing in for them), describes their identity from sysfs, and
// write-blocks them in software with the kernel's read-only flag.
//
// It never prints, never exits and imports no CLI packages.
//
// # Read-only guarantees
//
// [Open] stats the path first and accepts only block devices and regular
// files ([ErrUnsupportedType] otherwise; a FIFO is refused before any open
// could block). It then opens with O_RDONLY|O_CLOEXEC, adding O_DIRECT when
// asked and O_EXCL for exclusive block device opens, and checks the type
// again with fstat on the descriptor. No function in this package ever opens
// a writable descriptor. The ioctls used on a device are BLKGETSIZE64,
// BLKSSZGET and BLKPBSZGET (geometry), BLKROGET (read the read-only flag)
// and, only in [SetReadOnly] and [Protect], BLKROSET, which needs
// CAP_SYS_ADMIN but not a writable descriptor. An exclusive open (O_EXCL on
// a block device) fails with EBUSY, reported as a [*BusyError] naming mount
// points and holders, while a filesystem, md or dm claims the device or one
// of its partitions; AllowBusy falls back to a shared open.
//
// # What the read-only flag does and does not stop
//
// Facts checked on Linux 6.18 with loop devices (see the project's
// platform notes):
//
//   - Set on a whole disk, the flag makes its partitions read-only too;
//     write(2) on any of their nodes fails with EPERM. An O_RDWR open still
//     succeeds; only the write fails.
//   - Set on a partition alone, it does not stop writes through the disk
//     node into that partition's sectors. So [Protect] always sets the
//     parent disk and every partition.
//   - It stops discard and zero-out ioctls and new mounts (mount falls back
//     to read-only).
//   - It does not stop in-kernel writers that already hold the device: a
//     filesystem mounted read-write before the flag was set keeps writing,
//     and so would dm and md. The kernel logs this only once per device
//     since boot. What sees every write is the block layer's counters in
//     sysfs (stat field 7, sectors written, in 512-byte units); a disk's
//     counters include its partitions' I/O. A write made through the disk
//     node counts on the disk's counters only, also when it lands in a
//     partition's sectors. [Protection.SectorsWritten] compares the disk's
//     counter, and [System.WrittenSince] adds the writes through the disk
//     node to a partition's own, so any write that got through is measured,
//     not assumed away.
//
// # Identity
//
// [System.Inspect] resolves symbolic links first (/dev/disk/by-id/… names
// /dev/sdb; Info.Path is the node, Info.GivenPath the path given), then the
// node by stat(2) st_rdev to its sysfs entry under /sys/block (disks are
// block/NAME, partitions block/DISK/PART), reads
// size, sector sizes, read-only, removable and rotational attributes,
// vendor, model, serial and WWID, partitions, mounts from
// /proc/self/mountinfo and holders. On the running machine the ioctls are
// preferred for size, sector sizes and the read-only flag. Identity strings
// come from device firmware and are untrusted: [Sanitize] makes them
// printable, valid UTF-8 and at most [MaxIdentityLen] bytes. Sysfs and
// procfs are read through [fs.FS], so tests run on fixture trees in
// testdata/sysfs.
//
// # Write-blocking over time
//
// [System.WriteBlockOn], [System.WriteBlockOff] and
// [System.WriteBlockStatus] set, clear and report the flag for a device's
// disk and all its partitions; "on" refuses (unless forced) while a
// filesystem of the disk is mounted read-write or the disk has holders,
// because the flag cannot stop those writers. The
// counters at protection time are kept by a [StateStore] (one JSON record
// per disk under /run/custodian/writeblock, with the medium's diskseq and a
// baseline of the disk's and every partition's counters), so a later status
// reports the sectors written since, and which counters it compared
// ([System.WrittenSince]).
//
// # Checkpoints
//
// [Snapshot] reads a disk's state from sysfs alone, cheaply enough for
// every checkpoint of an acquisition: diskseq, size, the read-only flags
// and sectors-written counters of the disk and its partitions.
// [DiskState.Changes] says in one sentence each what changed between two
// snapshots: another medium, a size, a flag cleared, partitions gone or
// added, sectors written.
//
// [Watch] listens to kernel uevents (NETLINK_KOBJECT_UEVENT) and protects
// every disk and partition that appears ("add") or gets a new medium
// ("change" with a new diskseq or DISK_MEDIA_CHANGE=1), confirms each flag,
// polls the counters of what it protects and reports violations, also from
// the kernel log (/dev/kmsg). Disks present when it starts are left alone
// unless IncludeExisting is set or they get a new medium. [ParseUevent]
// treats every message as untrusted input.
//
// [List] describes the attached disks for an examiner to pick from, with
// [Info]'s transport (from the target of sysfs block/NAME) and firmware
// revision, and the disk that holds / ([System.RootDisks], through dm and
// md slaves). Filesystem types and labels come from udev's database, or
// from "blkid -p" (it opens the device O_RDONLY and writes no cache); the
// labels are sanitized like every identity string.
package blockdev

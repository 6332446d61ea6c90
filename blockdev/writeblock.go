package blockdev

import (
	"errors"
	"fmt"
	"path"
)

// SetReadOnly sets (ro true) or clears the kernel's read-only flag of a
// block device node with BLKROSET. The node is opened O_RDONLY|O_CLOEXEC
// for the ioctl: changing the flag needs CAP_SYS_ADMIN, never a writable
// descriptor.
func SetReadOnly(path string, ro bool) error {
	f, err := openBlockForIoctl(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := ioctlSetRO(f.Fd(), ro); err != nil {
		return fmt.Errorf("set read-only=%t on %s: %w", ro, path, err)
	}
	return nil
}

// ReadOnly reads the read-only flag of a block device node (BLKROGET). For
// a partition it is also true when its disk is read-only.
func ReadOnly(path string) (bool, error) {
	f, err := openBlockForIoctl(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	ro, err := ioctlGetRO(f.Fd())
	if err != nil {
		return false, fmt.Errorf("read-only flag of %s: %w", path, err)
	}
	return ro, nil
}

// Protection is a write-block put in place by [Protect]: the read-only
// flag set on a whole disk and all its partitions.
//
// The flag is set on the disk because a partition's flag alone does not
// stop writes through the disk node into that partition's sectors. It stops
// write(2) on the nodes (EPERM), discard and zero-out ioctls and new
// read-write mounts, but not writers that already hold the device (a
// filesystem mounted read-write before, dm, md): see the package doc. So the
// disk's sectors-written counter is recorded too, and [Protection.SectorsWritten]
// measures what reached the disk anyway.
type Protection struct {
	// Disk is the whole-disk node ("/dev/sdb").
	Disk string
	// Devices are the nodes set read-only: the disk first, then its
	// partitions in order.
	Devices []string

	sys      *System
	diskName string
	wasRO    map[string]bool // by node path
	// wasRODev is wasRO by device number, so that any path naming one of
	// the devices (a /dev/disk/by-id symlink, a node elsewhere) is answered.
	wasRODev  map[uint64]bool
	setByUs   []string
	startSect int64
}

// Protect write-blocks the disk of path (path itself, or the parent disk of
// a partition) and every partition of that disk. Each device's prior flag is
// recorded, then the flag is set and confirmed with both BLKROGET and sysfs
// "ro". If any device cannot be confirmed read-only, the flags Protect set
// are cleared again and the error wraps [ErrNotProtected].
func Protect(path string) (*Protection, error) {
	return DefaultSystem().Protect(path)
}

// Protect is [Protect] on s (whose Dev nodes must be real device nodes).
func (s *System) Protect(p string) (*Protection, error) {
	info, err := s.Inspect(p)
	if err != nil {
		return nil, fmt.Errorf("write-block %s: %w", p, err)
	}
	if info.Kind == KindRegular {
		return nil, fmt.Errorf("write-block %s: %w", p, ErrNotBlockDevice)
	}
	diskName := info.DiskName()
	pr := &Protection{sys: s, diskName: diskName, Disk: s.nodePath(diskName), wasRO: map[string]bool{}, wasRODev: map[uint64]bool{}}
	entries := append([]blockEntry{{name: diskName, dir: path.Join("block", diskName)}}, s.partitionsOf(diskName)...)
	for _, e := range entries {
		pr.Devices = append(pr.Devices, s.nodePath(e.name))
	}
	// Read every prior state before changing anything: once the disk is
	// read-only, its partitions read read-only too.
	for i, d := range pr.Devices {
		ro, err := ReadOnly(d)
		if err != nil {
			return nil, fmt.Errorf("write-block %s: %w: %w", p, ErrNotProtected, err)
		}
		pr.wasRO[d] = ro
		if ma, mi, err := s.devNum(entries[i].dir); err == nil {
			pr.wasRODev[mkdev(ma, mi)] = ro
		}
	}
	var errs []error
	for _, d := range pr.Devices {
		if pr.wasRO[d] {
			continue
		}
		if err := SetReadOnly(d, true); err != nil {
			errs = append(errs, err)
			break
		}
		pr.setByUs = append(pr.setByUs, d)
	}
	if len(errs) == 0 {
		errs = append(errs, pr.confirm()...)
	}
	if len(errs) > 0 {
		if rerr := pr.Restore(); rerr != nil {
			errs = append(errs, fmt.Errorf("roll back: %w", rerr))
		}
		return nil, fmt.Errorf("write-block %s: %w: %w", p, ErrNotProtected, errors.Join(errs...))
	}
	st, err := s.WriteStats(diskName)
	if err != nil {
		_ = pr.Restore()
		return nil, fmt.Errorf("write-block %s: %w: %w", p, ErrNotProtected, err)
	}
	pr.startSect = st.SectorsWritten
	return pr, nil
}

// confirm checks every device's flag through the ioctl and through sysfs.
func (pr *Protection) confirm() []error {
	var errs []error
	for _, d := range pr.Devices {
		ro, err := ReadOnly(d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !ro {
			errs = append(errs, fmt.Errorf("%s: BLKROGET reads writable after BLKROSET", d))
		}
		e, err := pr.sys.lookupName(path.Base(d))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if v := pr.sys.attr(path.Join(e.dir, "ro")); v != "1" {
			errs = append(errs, fmt.Errorf("%s: sysfs ro reads %q after BLKROSET", d, v))
		}
	}
	return errs
}

// WasReadOnly reports whether the device that p names was already
// read-only before Protect (for a partition: also when only its disk was).
// p may be any path of one of pr.Devices: its node, a symlink to it such as
// /dev/disk/by-id/…, or another node of the same device number. It is
// false for paths naming none of them.
func (pr *Protection) WasReadOnly(p string) bool {
	if n, err := pr.sys.statPath(p); err == nil && n.kind == nodeBlock {
		if ro, ok := pr.wasRODev[n.rdev]; ok {
			return ro
		}
	}
	if ro, ok := pr.wasRO[p]; ok {
		return ro
	}
	return pr.wasRO[pr.sys.resolvePath(p)]
}

// SectorsWritten is the rise of the disk's sectors-written counter (512-byte
// units) since Protect. The disk's counter already includes every write to
// its partitions (checked on a loop device: a write through loopNp1 raises
// both loopNp1's and loopN's counters), so it alone is summed. Anything but
// 0 means something wrote to the device while it was protected.
func (pr *Protection) SectorsWritten() (int64, error) {
	st, err := pr.sys.WriteStats(pr.diskName)
	if err != nil {
		return 0, err
	}
	return st.SectorsWritten - pr.startSect, nil
}

// Restore puts back the prior state: devices that were writable before
// Protect are made writable again; devices that were already read-only are
// left so. Partitions are cleared before the disk.
func (pr *Protection) Restore() error {
	var errs []error
	for i := len(pr.setByUs) - 1; i >= 0; i-- {
		if err := SetReadOnly(pr.setByUs[i], false); err != nil {
			errs = append(errs, err)
		}
	}
	pr.setByUs = nil
	return errors.Join(errs...)
}

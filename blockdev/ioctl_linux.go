//go:build linux

package blockdev

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// openDevice opens path O_RDONLY|O_CLOEXEC (plus O_DIRECT, and O_EXCL for
// exclusive block device opens). The file type is checked with stat before
// the open, so a FIFO never blocks the open, and again with fstat on the
// descriptor, so a path swapped in between is caught.
func openDevice(path string, opts OpenOptions) (*Device, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nil, statError(path, err)
	}
	if err := checkType(path, st.Mode); err != nil {
		return nil, err
	}
	block := st.Mode&unix.S_IFMT == unix.S_IFBLK
	flags := unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NONBLOCK
	if opts.Direct {
		flags |= unix.O_DIRECT
	}
	exclusive := block && opts.Exclusive
	if exclusive {
		flags |= unix.O_EXCL
	}
	shared := false
	fd, err := unix.Open(path, flags, 0)
	if errors.Is(err, unix.EBUSY) && exclusive {
		if !opts.AllowBusy {
			return nil, &BusyError{Path: path, Users: busyUsers(path), Err: err}
		}
		shared = true
		fd, err = unix.Open(path, flags&^unix.O_EXCL, 0)
	}
	if err != nil {
		return nil, openError(path, err)
	}
	d, err := newDevice(fd, path, opts, shared)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return d, nil
}

func newDevice(fd int, path string, opts OpenOptions, shared bool) (*Device, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	if err := checkType(path, st.Mode); err != nil {
		return nil, err
	}
	// O_NONBLOCK only guarded the open against a FIFO swapped in after the
	// stat; reads of files and block devices ignore it, but clear it anyway.
	// F_SETFL replaces O_DIRECT too, so the other flags are kept: dropping
	// O_DIRECT would let a failed read be narrowed through the page cache,
	// which widens one bad sector to a whole readahead window.
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return nil, fmt.Errorf("fcntl %s: %w", path, err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl&^unix.O_NONBLOCK); err != nil {
		return nil, fmt.Errorf("fcntl %s: %w", path, err)
	}
	if opts.Direct {
		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		if err != nil || fl&unix.O_DIRECT == 0 {
			return nil, fmt.Errorf("open %s: O_DIRECT is not in effect on the descriptor (flags %#o, %v)", path, fl, err)
		}
	}
	d := &Device{
		path: path, shared: shared, direct: opts.Direct,
		dev: uint64(st.Dev), rdev: uint64(st.Rdev), ino: uint64(st.Ino),
		size: st.Size, lss: 512, pss: 512,
	}
	if st.Mode&unix.S_IFMT == unix.S_IFBLK {
		d.block = true
		var err error
		if d.size, d.lss, d.pss, err = geometry(fd); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	d.f = os.NewFile(uintptr(fd), path)
	return d, nil
}

// geometry reads size and sector sizes of an open block device.
func geometry(fd int) (size int64, lss, pss int, err error) {
	var sz uint64
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.BLKGETSIZE64, uintptr(unsafe.Pointer(&sz))); e != 0 {
		return 0, 0, 0, fmt.Errorf("ioctl BLKGETSIZE64: %w", e)
	}
	l, err := unix.IoctlGetInt(fd, unix.BLKSSZGET)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("ioctl BLKSSZGET: %w", err)
	}
	p, err := unix.IoctlGetInt(fd, unix.BLKPBSZGET)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("ioctl BLKPBSZGET: %w", err)
	}
	return int64(sz), l, p, nil
}

func ioctlGetRO(fd uintptr) (bool, error) {
	v, err := unix.IoctlGetInt(int(fd), unix.BLKROGET)
	if err != nil {
		return false, fmt.Errorf("ioctl BLKROGET: %w", err)
	}
	return v != 0, nil
}

func ioctlSetRO(fd uintptr, ro bool) error {
	v := 0
	if ro {
		v = 1
	}
	if err := unix.IoctlSetPointerInt(int(fd), unix.BLKROSET, v); err != nil {
		return fmt.Errorf("ioctl BLKROSET: %w", err)
	}
	return nil
}

// openBlockForIoctl opens a block device node O_RDONLY|O_CLOEXEC|O_NONBLOCK,
// only to issue ioctls on it. BLKROSET needs CAP_SYS_ADMIN, not a writable
// descriptor.
func openBlockForIoctl(path string) (*os.File, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nil, statError(path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return nil, fmt.Errorf("%s is %s: %w", path, describeMode(st.Mode), ErrNotBlockDevice)
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, openError(path, err)
	}
	var fst unix.Stat_t
	if err := unix.Fstat(fd, &fst); err != nil || fst.Mode&unix.S_IFMT != unix.S_IFBLK {
		unix.Close(fd)
		return nil, fmt.Errorf("%s: %w", path, ErrNotBlockDevice)
	}
	return os.NewFile(uintptr(fd), path), nil
}

func checkType(path string, mode uint32) error {
	switch mode & unix.S_IFMT {
	case unix.S_IFBLK, unix.S_IFREG:
		return nil
	}
	return fmt.Errorf("%s is %s: %w", path, describeMode(mode), ErrUnsupportedType)
}

func describeMode(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFBLK:
		return "a block device"
	case unix.S_IFREG:
		return "a regular file"
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFCHR:
		return "a character device"
	case unix.S_IFIFO:
		return "a FIFO"
	case unix.S_IFSOCK:
		return "a socket"
	case unix.S_IFLNK:
		return "a symbolic link"
	}
	return "of an unknown file type"
}

func statError(path string, err error) error {
	if errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("%s: %w", path, fs.ErrNotExist)
	}
	return fmt.Errorf("stat %s: %w", path, err)
}

func openError(path string, err error) error {
	if errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("%s: %w", path, fs.ErrNotExist)
	}
	return fmt.Errorf("open %s read-only: %w", path, err)
}

// statNode is the real System's stat: it follows symlinks (/dev/disk/by-id).
func statNode(path string) (node, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return node{}, statError(path, err)
	}
	n := node{size: st.Size, dev: uint64(st.Dev), rdev: uint64(st.Rdev)}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFBLK:
		n.kind = nodeBlock
	case unix.S_IFREG:
		n.kind = nodeRegular
	default:
		return node{}, fmt.Errorf("%s is %s: %w", path, describeMode(st.Mode), ErrUnsupportedType)
	}
	return n, nil
}

// probeNode asks the device itself, by ioctl, for size, sector sizes and the
// read-only flag; sysfs is the fallback when the node cannot be opened.
func probeNode(path string) (g geometryInfo, err error) {
	f, err := openBlockForIoctl(path)
	if err != nil {
		return g, err
	}
	defer f.Close()
	fd := int(f.Fd())
	if g.size, g.lss, g.pss, err = geometry(fd); err != nil {
		return g, err
	}
	g.ro, err = ioctlGetRO(f.Fd())
	return g, err
}

func devMajor(dev uint64) uint32 { return unix.Major(dev) }
func devMinor(dev uint64) uint32 { return unix.Minor(dev) }

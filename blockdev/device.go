package blockdev

import (
	"fmt"
	"io"
	"os"
	"unsafe"
)

// OpenOptions says how [Open] opens a source. The zero value is a plain,
// shared, buffered read-only open.
type OpenOptions struct {
	// Direct opens with O_DIRECT: reads bypass the page cache, so a failing
	// sector fails alone rather than with its readahead neighbours. The
	// caller must then use buffers, offsets and lengths aligned to
	// LogicalSectorSize (see [AlignedBuffer]).
	Direct bool
	// Exclusive opens block devices with O_EXCL, so no mount, md or dm can
	// claim the device while it is read. Ignored for regular files.
	Exclusive bool
	// AllowBusy: when the exclusive open fails with EBUSY, open shared
	// instead of failing ([Device.Shared] reports it).
	AllowBusy bool
}

// Device is a block device or a regular file opened read-only. It is an
// [io.ReaderAt] and safe for concurrent ReadAt calls. The descriptor is
// always O_RDONLY|O_CLOEXEC; no method writes to it.
type Device struct {
	f        *os.File
	path     string
	block    bool
	size     int64
	lss, pss int
	shared   bool
	direct   bool
	dev      uint64
	rdev     uint64
	ino      uint64
}

var _ io.ReaderAt = (*Device)(nil)

// Open opens path read-only. Block devices and regular files are accepted;
// anything else fails with an error wrapping [ErrUnsupportedType], a missing
// path with one wrapping fs.ErrNotExist, and a busy exclusive open with a
// [*BusyError].
func Open(path string, opts OpenOptions) (*Device, error) {
	return openDevice(path, opts)
}

// ReadAt reads len(p) bytes at off. With Direct, p, off and len(p) must be
// aligned to LogicalSectorSize.
func (d *Device) ReadAt(p []byte, off int64) (int, error) {
	n, err := d.f.ReadAt(p, off)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("read %s at %d: %w", d.path, off, unwrapPathError(err))
	}
	return n, err
}

// Path is the path the device was opened by.
func (d *Device) Path() string { return d.path }

// Size in bytes: BLKGETSIZE64 for block devices, st_size for files.
func (d *Device) Size() int64 { return d.size }

// LogicalSectorSize is BLKSSZGET for block devices, 512 for regular files.
func (d *Device) LogicalSectorSize() int { return d.lss }

// PhysicalSectorSize is BLKPBSZGET for block devices, 512 for regular files.
func (d *Device) PhysicalSectorSize() int { return d.pss }

// IsBlock reports whether the device is a block device (not a regular file).
func (d *Device) IsBlock() bool { return d.block }

// Shared reports whether an exclusive open was asked for but the device was
// busy and AllowBusy made Open fall back to a shared open.
func (d *Device) Shared() bool { return d.shared }

// Direct reports whether the descriptor uses O_DIRECT.
func (d *Device) Direct() bool { return d.direct }

// Stat returns st_dev (the filesystem holding the node), st_rdev (the
// device number of a block device, 0 for files) and st_ino of the open
// descriptor.
func (d *Device) Stat() (dev, rdev, ino uint64) { return d.dev, d.rdev, d.ino }

// ReadOnlyFlag is the kernel's read-only flag (BLKROGET) of a block device;
// false, nil for regular files.
func (d *Device) ReadOnlyFlag() (bool, error) {
	if !d.block {
		return false, nil
	}
	ro, err := ioctlGetRO(d.f.Fd())
	if err != nil {
		return false, fmt.Errorf("read-only flag of %s: %w", d.path, err)
	}
	return ro, nil
}

// Reopen opens the same device again with other options, for example a
// second O_DIRECT descriptor to narrow a read error down to sectors. It
// fails if the path now names another file than d.
func (d *Device) Reopen(opts OpenOptions) (*Device, error) {
	n, err := Open(d.path, opts)
	if err != nil {
		return nil, err
	}
	if n.dev != d.dev || n.ino != d.ino || n.rdev != d.rdev {
		n.Close()
		return nil, fmt.Errorf("reopen %s: the path now names a different file or device", d.path)
	}
	return n, nil
}

// Close closes the descriptor.
func (d *Device) Close() error {
	if err := d.f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", d.path, err)
	}
	return nil
}

// AlignedBuffer returns a buffer of size bytes whose address is a multiple
// of align (a power of two), as O_DIRECT reads require.
func AlignedBuffer(size, align int) []byte {
	if align <= 1 {
		return make([]byte, size)
	}
	buf := make([]byte, size+align)
	off := 0
	if r := int(uintptr(unsafe.Pointer(unsafe.SliceData(buf))) & uintptr(align-1)); r != 0 {
		off = align - r
	}
	return buf[off : off+size : off+size]
}

// Aligned reports whether b starts at an address that is a multiple of
// align (a power of two), as O_DIRECT transfers need.
func Aligned(b []byte, align int) bool {
	return uintptr(unsafe.Pointer(unsafe.SliceData(b)))&uintptr(align-1) == 0
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

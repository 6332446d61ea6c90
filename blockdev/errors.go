package blockdev

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrNotBlockDevice: the path is not a block device (where one is required).
	ErrNotBlockDevice = errors.New("not a block device")
	// ErrUnsupportedType: the path is neither a block device nor a regular
	// file (a directory, character device, FIFO, socket).
	ErrUnsupportedType = errors.New("not a block device or regular file")
	// ErrNotProtected: a device could not be set read-only, or its read-only
	// state could not be confirmed by both BLKROGET and sysfs.
	ErrNotProtected = errors.New("write-block not confirmed")
	// ErrUnsupportedOS: device access needs Linux ioctls and sysfs.
	ErrUnsupportedOS = errors.New("block device access is unsupported on this OS")
)

// BusyError is returned by [Open] when an exclusive open fails because the
// device, or one of its partitions, is in use (EBUSY). Users names who, as
// far as /proc/self/mountinfo and sysfs holders/ tell: mount points and
// holder devices (device-mapper, md, …). Users may be empty when the claim
// is by a process that opened the device with O_EXCL.
type BusyError struct {
	Path  string
	Users []string
	Err   error // the open(2) error, EBUSY
}

func (e *BusyError) Error() string {
	if len(e.Users) > 0 {
		return fmt.Sprintf("%s is in use (%s), so it cannot be opened exclusively", e.Path, strings.Join(e.Users, ", "))
	}
	return fmt.Sprintf("%s is in use by another program (it holds the device exclusively), so it cannot be opened exclusively", e.Path)
}

func (e *BusyError) Unwrap() error { return e.Err }

// Hint names the way out; the CLI prints it as a "hint:" line.
func (e *BusyError) Hint() string {
	return "unmount it first, or pass --allow-busy to read it while in use"
}

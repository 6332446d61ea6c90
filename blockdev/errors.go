package blockdev

import "errors"

var (
	// ErrNotBlockDevice: the path is not a block device (where one is required).
	ErrNotBlockDevice = errors.New("not a block device")
	// ErrUnsupportedType: the path is neither a block device nor a regular
	// file (a directory, character device, FIFO, socket).
	ErrUnsupportedType = errors.New("not a block device or regular file")
)

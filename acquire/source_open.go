package acquire

import (
	"fmt"
	"io"

	"github.com/custodian-forensics/custodian/blockdev"
)

// OpenSource opens a source for a sequential re-read (custodian verify
// --source): read-only, and for block devices through O_DIRECT, so that
// what is read comes from the medium, not from pages cached during the
// acquisition. Reads go through an aligned buffer, so callers may use any
// buffer and read sizes.
func OpenSource(path string) (io.ReadCloser, error) {
	dev, err := blockdev.Open(path, blockdev.OpenOptions{Direct: true, AllowBusy: true})
	if err != nil && dev == nil {
		// Files on filesystems without O_DIRECT: read them buffered.
		if dev, err = blockdev.Open(path, blockdev.OpenOptions{AllowBusy: true}); err != nil {
			return nil, err
		}
	}
	align := max(dev.LogicalSectorSize(), 4096)
	return &directReader{dev: dev, buf: blockdev.AlignedBuffer(DefaultReadSize, align), size: dev.Size()}, nil
}

// directReader reads a Device sequentially in aligned DefaultReadSize
// chunks and serves them from its buffer.
type directReader struct {
	dev       *blockdev.Device
	buf       []byte
	pending   []byte // unread part of buf
	off, size int64
}

func (r *directReader) Read(p []byte) (int, error) {
	if len(r.pending) == 0 {
		if r.off >= r.size {
			return 0, io.EOF
		}
		n := int(min(int64(len(r.buf)), r.size-r.off))
		// The last chunk of a device is a whole number of sectors; a
		// regular file's may not be, so read a whole sector's worth and
		// keep what the file has.
		k, err := r.dev.ReadAt(r.buf[:roundUp(n, 4096)], r.off)
		if k < n {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, fmt.Errorf("read %s at %d: %w", r.dev.Path(), r.off, err)
		}
		r.pending = r.buf[:n]
		r.off += int64(n)
	}
	c := copy(p, r.pending)
	r.pending = r.pending[c:]
	return c, nil
}

func (r *directReader) Close() error { return r.dev.Close() }

func roundUp(n, to int) int { return (n + to - 1) / to * to }

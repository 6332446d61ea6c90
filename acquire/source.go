package acquire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"

	"github.com/custodian-forensics/custodian/blockdev"
	"github.com/custodian-forensics/custodian/report"
)

// sourceReader reads the source in stream order and turns read errors into
// exact, sector-aligned unreadable ranges. Every byte it hands on was either
// read from the source or is a zero standing in for a sector that failed
// every attempt, and the latter is always recorded: a short or failed read
// is never zero-filled silently.
type sourceReader struct {
	src     io.ReaderAt // the source opened read-only (buffered)
	size    int64
	sector  int
	retries int
	// precise reads a range for narrowing; it is an O_DIRECT descriptor when
	// one could be opened (buffered reads widen failures to whole readahead
	// windows), otherwise src itself.
	precise io.ReaderAt
	// direct is true when precise is an O_DIRECT descriptor: its buffers,
	// offsets and lengths must be multiples of the logical sector size.
	direct bool
	// closer, when set, is the O_DIRECT descriptor to close at the end.
	closer io.Closer
	event  func(level, kind, msg string, off, length int64)
	// unreadable is kept sorted and merged; ranges arrive in stream order.
	unreadable []report.Range
	// bad counts unreadable bytes.
	bad int64
}

// close releases the O_DIRECT descriptor, if one was opened.
func (r *sourceReader) close() {
	if r.closer != nil {
		r.closer.Close()
		r.closer = nil
	}
}

// read fills p with the source's bytes at off. It returns an error only when
// reading cannot go on at all (the source vanished, ctx cancelled); failed
// sectors are zero-filled and recorded.
func (r *sourceReader) read(ctx context.Context, p []byte, off int64) error {
	n, err := r.src.ReadAt(p, off)
	if err == nil && n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		// A short read inside the size measured at the start: the device
		// shrank or went away. Nothing is made up for the missing bytes.
		return fmt.Errorf("read at offset %d: got %d of %d bytes: source ended early (removed or resized?)", off, n, len(p))
	}
	if !isMediumError(err) {
		return fmt.Errorf("read at offset %d: %w", off, err)
	}
	r.event("warning", "read_error", fmt.Sprintf("read of %d bytes failed (%v); narrowing to sectors", len(p), err), off, int64(len(p)))
	return r.narrow(ctx, p, off)
}

// narrow re-reads p at off in halves down to single logical sectors; each
// sector that still fails after r.retries more attempts is zero-filled and
// recorded.
func (r *sourceReader) narrow(ctx context.Context, p []byte, off int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(p) > r.sector {
		if err := r.preciseRead(p, off); err == nil {
			return nil
		} else if !isMediumError(err) {
			return fmt.Errorf("re-read at offset %d: %w", off, err)
		}
		sectors := (len(p) + r.sector - 1) / r.sector
		half := (sectors / 2) * r.sector
		if err := r.narrow(ctx, p[:half], off); err != nil {
			return err
		}
		return r.narrow(ctx, p[half:], off+int64(half))
	}
	var last error
	for try := 0; try <= r.retries; try++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := r.preciseRead(p, off)
		if err == nil {
			if try > 0 {
				r.event("info", "retry_ok", fmt.Sprintf("sector read on attempt %d", try+1), off, int64(len(p)))
			}
			return nil
		}
		if !isMediumError(err) {
			return fmt.Errorf("re-read sector at offset %d: %w", off, err)
		}
		last = err
	}
	clear(p)
	r.record(off, int64(len(p)))
	r.event("error", "unreadable", fmt.Sprintf("sector unreadable after %d attempts (%v); zero-filled", r.retries+1, last), off, int64(len(p)))
	return nil
}

// preciseRead reads exactly len(p) bytes at off through the precise reader.
func (r *sourceReader) preciseRead(p []byte, off int64) error {
	buf := p
	if r.direct && (len(p)%r.sector != 0 || !blockdev.Aligned(p, r.sector)) {
		// The tail of a source whose size is not a whole number of
		// sectors: O_DIRECT wants a whole sector, the file ends earlier.
		buf = blockdev.AlignedBuffer((len(p)+r.sector-1)/r.sector*r.sector, r.sector)
	}
	n, err := r.precise.ReadAt(buf, off)
	if n >= len(p) {
		copy(p, buf[:len(p)])
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return fmt.Errorf("short read: %d of %d bytes: %w", n, len(p), io.ErrUnexpectedEOF)
	}
	return err
}

func (r *sourceReader) record(off, length int64) {
	r.bad += length
	if k := len(r.unreadable); k > 0 {
		last := &r.unreadable[k-1]
		if last.Offset+last.Length == off {
			last.Length += length
			return
		}
	}
	r.unreadable = append(r.unreadable, report.Range{Offset: off, Length: length})
}

// isMediumError reports whether err is the kind a bad sector gives (EIO,
// ENODATA, EILSEQ from some drivers, EBADMSG for integrity errors), as
// opposed to errors that retrying a narrower range cannot help.
func isMediumError(err error) bool {
	return errors.Is(err, syscall.EIO) || errors.Is(err, syscall.ENODATA) ||
		errors.Is(err, syscall.EILSEQ) || errors.Is(err, syscall.EBADMSG) ||
		errors.Is(err, syscall.EREMOTEIO) || errors.Is(err, io.ErrUnexpectedEOF)
}

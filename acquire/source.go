package acquire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"syscall"

	"github.com/custodian-forensics/custodian/blockdev"
	"github.com/custodian-forensics/custodian/report"
)

// sourceReader reads the source in stream order and turns read errors into
// exact, sector-aligned unreadable ranges. Every byte it hands on was either
// read from the source or is a zero standing in for a sector that could not
// be read, and the latter is always recorded: a short or failed read is
// never zero-filled silently.
//
// A failed block is read again the way GNU ddrescue's passes do (see
// rescue.go): in clusters, failed clusters sector by sector, retries only
// where a cluster was partly readable, and probes ahead in long dead runs
// to notice a source that stopped answering. It is used by the reader
// goroutine only.
type sourceReader struct {
	src     io.ReaderAt // the source opened read-only
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
	// event records an event in the report (Acquisition.event).
	event func(level, kind, msg string, off, length int64)
	// unreadable is kept sorted and merged; ranges arrive in stream order.
	unreadable []report.Range
	// bad counts unreadable bytes.
	bad int64

	rescue rescueState
}

// newSourceReader reads dev (the buffered device until openDirect swaps in
// an O_DIRECT descriptor) with the default rescue settings.
func newSourceReader(dev io.ReaderAt, size int64, sector, retries int, event func(level, kind, msg string, off, length int64)) *sourceReader {
	r := &sourceReader{src: dev, precise: dev, size: size, sector: sector, retries: retries, event: event}
	r.rescue.defaults()
	return r
}

// close releases the O_DIRECT descriptor, if one was opened.
func (r *sourceReader) close() {
	if r.closer != nil {
		r.closer.Close()
		r.closer = nil
	}
}

// read fills p with the source's bytes at off. Failed sectors are
// zero-filled and recorded. It returns an error when reading cannot go on:
// the source vanished or shrank, ctx was cancelled, or the source stopped
// answering (ErrSourceDead; then nothing of this block is recorded, so that
// a checkpoint at off is consistent).
func (r *sourceReader) read(ctx context.Context, p []byte, off int64) error {
	r.rescue.last = off
	n, err := r.src.ReadAt(p, off)
	if err == nil && n == len(p) {
		r.good()
		r.flush()
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
	return r.rescueBlock(ctx, p, off, err)
}

// preciseRead reads exactly len(p) bytes at off through the precise reader.
func (r *sourceReader) preciseRead(p []byte, off int64) error {
	r.rescue.reads++
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
	r.rescue.failed++
	if r.rescue.failed%gcEvery == 0 {
		// Every failed read leaves garbage (os and blockdev wrap the errno
		// in allocated errors). With the read pool (64 MiB) as live heap,
		// the default GOGC would let it pile up to another 64 MiB before a
		// collection; collecting every gcEvery failures keeps the peak
		// memory of a disk with any amount of damage at a clean run's.
		runtime.GC()
	}
	if err == nil || errors.Is(err, io.EOF) {
		return fmt.Errorf("short read: %d of %d bytes: %w", n, len(p), io.ErrUnexpectedEOF)
	}
	return err
}

// gcEvery is how many failed reads pass between two forced collections
// (some 1.5 MB of garbage; on this path each failed read takes 50 µs or,
// on a real drive, milliseconds to seconds, so a collection every 4096 is
// noise).
const gcEvery = 4096

// record adds [off, off+length) to the unreadable ranges, merging it into
// the last one when they touch.
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

package ewf

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"

	"github.com/custodian-forensics/custodian/acquire/format"
)

// Scan's architecture. The calling goroutine reads each file once,
// sequentially, through a tee that hands every byte to the visitor's file
// writer, and parses the sections from that stream. A sectors section is
// kept in one of two group buffers (up to scanGroupCap; larger ones, which
// this writer never makes, are not kept and their chunks are read again
// from the file with pread once their table is known). Each table turns
// into a group of chunk jobs sent to the emitter goroutine, which has the
// chunks inflated and checked by one worker per core and hands the media
// to the visitor, in order. So reading and file hashing, inflating, and
// media hashing overlap, and memory is bounded by the two group buffers
// plus the jobs in flight.

// scanGroupCap is the largest sectors section Scan keeps in memory.
const scanGroupCap = 32 << 20

type scanJob struct {
	stored     []byte   // the stored chunk, in a group buffer, or nil:
	f          *os.File // read size bytes at off from f
	off        int64
	size       int
	compressed bool
	want       int
	chunkSize  int
	last       bool
	index      int64
	out, data  []byte
	err        error
	done       chan struct{}
}

type scanChunk struct {
	span  chunkSpan
	index int64
	inBuf []byte // non-nil: the stored bytes, in the group buffer
}

// scanMsg is a group of chunks for the emitter or, with end set, the end
// of a file.
type scanMsg struct {
	file   int
	name   string
	f      *os.File
	buf    []byte // the group buffer, returned to the pool after the group
	chunks []scanChunk
	meta   *meta
	end    chan error // the end of file: the emitter answers with the file's chunk damage
	perr   error      // with end: the parse error of the file, if any
}

type scanner struct {
	ctx context.Context
	v   format.ScanVisitor
	// mbuf collects media for the visitor (see mediaBatch).
	mbuf []byte
	bufs chan []byte
	msgs chan scanMsg
	work chan *scanJob
	wg   sync.WaitGroup

	// emitter state
	free     []*scanJob
	jobs     int
	maxJobs  int
	broken   bool // the media stream is incomplete: no more Media calls
	fileErr  error
	mu       sync.Mutex
	fatal    error // a visitor or context error: the scan stops
	emitDone chan struct{}
}

func (s *scanner) setFatal(err error) {
	s.mu.Lock()
	if s.fatal == nil {
		s.fatal = err
	}
	s.mu.Unlock()
}

func (s *scanner) getFatal() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fatal
}

func scan(ctx context.Context, root *os.Root, files []string, v format.ScanVisitor) error {
	s := &scanner{
		ctx: ctx, v: v, bufs: make(chan []byte, 2), msgs: make(chan scanMsg, 2),
		work: make(chan *scanJob, 64), emitDone: make(chan struct{}),
	}
	// Two group buffers, allocated on first use. A token is never nil, so
	// "holding one" is group != nil.
	s.bufs <- []byte{}
	s.bufs <- []byte{}
	for range runtime.NumCPU() {
		s.wg.Go(s.worker)
	}
	go s.emit()
	defer func() {
		close(s.msgs)
		<-s.emitDone
		close(s.work)
		s.wg.Wait()
	}()
	m := &meta{}
	broken := false
	for i, name := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		size, err := s.scanFile(i, name, files, root, m)
		if err := s.getFatal(); err != nil {
			return err
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		if err == nil && i == len(files)-1 && !broken {
			if m.vol == nil {
				err = damage(name, "volume", "the set has no volume section")
			} else if m.entries < m.chunks {
				err = damage(name, "tables", "the tables list %d chunks, the media needs %d", m.entries, m.chunks)
			}
		}
		if err != nil {
			broken = true
		}
		v.EndFile(i, size, err)
	}
	if err := s.getFatal(); err != nil {
		return err
	}
	return ctx.Err() // cancelled while the last media went out
}

// countingTee hands every byte read to w and counts them.
type countingTee struct {
	r io.Reader
	w io.Writer
	n int64
}

func (t *countingTee) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		t.n += int64(n)
		if t.w != nil {
			_, _ = t.w.Write(p[:n]) // the visitor's hashers: never fail
		}
	}
	return n, err
}

// scanFile reads file i once; it returns its size and its damage.
func (s *scanner) scanFile(i int, name string, files []string, root *os.Root, m *meta) (int64, error) {
	w := s.v.BeginFile(i)
	f, err := openRegular(root, name, os.O_RDONLY)
	if err != nil {
		_ = s.endFile(i, errors.New("not read")) // the open error is returned
		return 0, fmt.Errorf("ewf: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		_ = s.endFile(i, err) // the stat error is returned
		return 0, fmt.Errorf("ewf: %w", err)
	}
	tee := &countingTee{r: f, w: w}
	br := bufio.NewReaderSize(tee, 1<<20)
	pos := int64(0) // offset in the file of br's next byte
	perr := s.parse(i, name, f, br, &pos, fi.Size(), i == len(files)-1, m)
	stopped := s.getFatal() != nil || errors.Is(perr, context.Canceled) || errors.Is(perr, context.DeadlineExceeded)
	if !stopped {
		// The rest of the file (after done or next, or after damage) is
		// still part of its hashes.
		if _, err := io.Copy(io.Discard, br); err != nil && perr == nil {
			perr = fmt.Errorf("ewf: read %s: %w", name, err)
		}
	}
	derr := s.endFile(i, perr)
	if derr != nil {
		return tee.n, derr
	}
	return tee.n, perr
}

// endFile waits until the emitter has handled every group of file i and
// returns the first chunk damage it found in them.
func (s *scanner) endFile(i int, perr error) error {
	reply := make(chan error, 1)
	s.msgs <- scanMsg{file: i, end: reply, perr: perr}
	return <-reply
}

// parse reads the sections of file i from br.
func (s *scanner) parse(i int, name string, f *os.File, br *bufio.Reader, pos *int64, size int64, last bool, m *meta) error {
	read := func(p []byte) error {
		n, err := io.ReadFull(br, p)
		*pos += int64(n)
		return err
	}
	skip := func(n int64) error {
		k, err := br.Discard(int(min(n, 1<<62)))
		*pos += int64(k)
		return err
	}
	var hdr [fileHeaderSize]byte
	if err := read(hdr[:]); err != nil {
		return damage(name, "file header", "%v", readErr(err))
	}
	if err := checkFileHeader(hdr[:], i+1); err != nil {
		return &format.Damage{File: name, Where: "file header", Cause: err}
	}
	var d [descSize]byte
	var body []byte
	var group []byte // the sectors section kept, if any
	var groupStart, groupEnd int64
	release := func() {
		if group != nil {
			s.bufs <- group[:0]
			group = nil
		}
	}
	defer release()
	lastSectors := int64(-1)
	for {
		off := *pos
		if err := s.ctx.Err(); err != nil {
			return err
		}
		if err := s.getFatal(); err != nil {
			return err
		}
		if off+descSize > size {
			return damage(name, atOffset(off), "the file ends (at %d bytes) before its done or next section", size)
		}
		if err := read(d[:]); err != nil {
			return damage(name, atOffset(off), "%v", readErr(err))
		}
		sec, err := parseDesc(d[:], off, size)
		if err != nil {
			return &format.Damage{File: name, Where: atOffset(off), Cause: err}
		}
		if err := endSection(sec, last, m); err != nil {
			return &format.Damage{File: name, Where: atOffset(off), Cause: err}
		}
		if sec.typ == "done" || sec.typ == "next" {
			return nil
		}
		bodyLen := sec.size - descSize
		where := fmt.Sprintf("%s section at offset %#x", sec.typ, off)
		switch {
		case smallSection(sec.typ):
			if bodyLen > maxSmallSection {
				return damage(name, where, "%d bytes is too large", bodyLen)
			}
			body = grow(body, int(bodyLen))
			if err := read(body); err != nil {
				return damage(name, where, "%v", readErr(err))
			}
			if _, err := m.small(sec.typ, body, i+1); err != nil {
				return damage(name, where, "%v", err)
			}
		case sec.typ == "sectors":
			release()
			lastSectors = off + descSize
			if bodyLen <= scanGroupCap {
				group = grow(<-s.bufs, int(bodyLen))
				if err := read(group); err != nil {
					return damage(name, where, "%v", readErr(err))
				}
				groupStart, groupEnd = off+descSize, sec.next
			} else if err := skip(bodyLen); err != nil {
				return damage(name, where, "%v", readErr(err))
			}
		case sec.typ == "table":
			where = fmt.Sprintf("table at offset %#x", off)
			if m.vol == nil {
				return damage(name, where, "a table before the volume section")
			}
			if bodyLen > tableHeadSize+4*maxTableEntries+4 {
				return damage(name, where, "%d bytes is too large", bodyLen)
			}
			body = grow(body, int(bodyLen))
			if err := read(body); err != nil {
				return damage(name, where, "%v", readErr(err))
			}
			t, err := parseTable(body, nil)
			if err == nil {
				err = t.check(max(lastSectors, fileHeaderSize), off, m.chunkSize)
			}
			if err != nil {
				return &format.Damage{File: name, Where: where, Cause: err}
			}
			msg := scanMsg{file: i, name: name, f: f, meta: m}
			for k := range t.entries {
				idx := m.entries + int64(k)
				if idx >= m.chunks {
					break // chunks past the media (a padded volume count)
				}
				c := scanChunk{span: t.span(k, off), index: idx}
				if group != nil && c.span.off >= groupStart && c.span.off+int64(c.span.size) <= groupEnd {
					c.inBuf = group[c.span.off-groupStart : c.span.off-groupStart+int64(c.span.size)]
				}
				msg.chunks = append(msg.chunks, c)
			}
			m.entries += int64(len(t.entries))
			msg.buf, group = group, nil
			s.msgs <- msg
		default: // table2, session, unknown sections
			if err := skip(bodyLen); err != nil {
				return damage(name, where, "%v", readErr(err))
			}
		}
	}
}

// emit runs the groups, in order, and answers the file ends.
func (s *scanner) emit() {
	defer close(s.emitDone)
	for msg := range s.msgs {
		if msg.end != nil {
			err := s.fileErr
			s.fileErr = nil
			if err != nil || msg.perr != nil {
				s.broken = true
			}
			msg.end <- err
			continue
		}
		s.group(msg)
		if msg.buf != nil {
			s.bufs <- msg.buf[:0]
		}
	}
}

// group inflates a group's chunks on the workers and hands the media on
// in order.
func (s *scanner) group(msg scanMsg) {
	m := msg.meta
	s.maxJobs = max(2, min(4*runtime.NumCPU(), (64<<20)/m.chunkSize))
	var pending []*scanJob
	retire := func() {
		j := pending[0]
		pending = pending[1:]
		<-j.done
		switch {
		case j.err != nil:
			if s.fileErr == nil {
				s.fileErr = &format.Damage{File: msg.name, Where: fmt.Sprintf("chunk %d", j.index), Cause: j.err}
			}
			s.broken = true
		case !s.broken && s.getFatal() == nil:
			if err := s.ctx.Err(); err != nil {
				s.setFatal(err)
			} else {
				// Media goes out in batches: a hand-off per 32 KiB chunk
				// to every hasher of the visitor costs more than hashing.
				s.mbuf = append(s.mbuf, j.data...)
				if len(s.mbuf) >= mediaBatch {
					s.flushMedia()
				}
			}
		}
		j.stored, j.f, j.data, j.err = nil, nil, nil, nil
		s.free = append(s.free, j)
	}
	for _, c := range msg.chunks {
		if s.getFatal() != nil {
			break
		}
		for len(s.free) == 0 && s.jobs >= s.maxJobs {
			retire()
		}
		var j *scanJob
		if n := len(s.free); n > 0 {
			j = s.free[n-1]
			s.free = s.free[:n-1]
		} else {
			s.jobs++
			j = &scanJob{done: make(chan struct{}, 1)}
		}
		if cap(j.out) < m.chunkSize {
			j.out = make([]byte, m.chunkSize)
		}
		j.stored, j.f, j.off, j.size = c.inBuf, msg.f, c.span.off, c.span.size
		j.compressed, j.want, j.last, j.index, j.chunkSize = c.span.compressed, m.chunkLen(c.index), c.index == m.chunks-1, c.index, m.chunkSize
		j.data, j.err = nil, nil
		pending = append(pending, j)
		s.work <- j
	}
	for len(pending) > 0 {
		retire()
	}
	s.flushMedia()
}

// mediaBatch is how much media a scan collects before handing it to the
// visitor.
const mediaBatch = 4 << 20

// flushMedia hands the collected media to the visitor.
func (s *scanner) flushMedia() {
	if len(s.mbuf) == 0 {
		return
	}
	if !s.broken && s.getFatal() == nil {
		if err := s.v.Media(s.mbuf); err != nil {
			s.setFatal(err)
		}
	}
	s.mbuf = s.mbuf[:0]
}

func (s *scanner) worker() {
	var z inflater
	var scratch []byte
	for j := range s.work {
		src := j.stored
		if src == nil {
			scratch = grow(scratch, j.size)
			if _, err := j.f.ReadAt(scratch, j.off); err != nil {
				j.err = readErr(err)
				j.done <- struct{}{}
				continue
			}
			src = scratch
		}
		if j.stored != nil && !j.compressed {
			// In the group buffer, which outlives the job: no copy.
			j.data, j.err = checkRaw(j.stored, j.want, j.chunkSize, j.last)
		} else {
			j.data, j.err = z.decode(src, j.compressed, j.want, j.chunkSize, j.last, j.out)
		}
		j.done <- struct{}{}
	}
}

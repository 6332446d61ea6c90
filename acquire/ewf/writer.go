package ewf

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"

	"github.com/custodian-forensics/custodian/acquire/format"
	"github.com/custodian-forensics/custodian/blockdev"
	"github.com/custodian-forensics/custodian/hashing"
	"github.com/custodian-forensics/custodian/internal/atomicfile"
	"github.com/custodian-forensics/custodian/report"
)

// Writer writes one E01 set. It implements format.Writer and is used from
// one goroutine; the compressor's workers are internal.
//
// Layout: every segment is written strictly append-only. Chunks, once
// compressed, are collected in memory into one {sectors, table, table2}
// group (at most maxGroupEntries chunks and groupPayloadCap bytes); when
// the group closes, its sectors descriptor (whose size is now known), the
// chunks and both tables are written in one go. So every byte of a segment
// file is written once, in order, and hashed as it is written.
//
// Memory: the group buffer (≤ 16 MiB plus tables), maxInflight chunks in
// the compressor (input and output buffer each), and one chunk being
// filled: about 20–50 MiB whatever the media size.
type Writer struct {
	root   *os.Root
	name   string
	l      *layout
	hashes hashing.Set
	guid   [16]byte

	comp     *compressor
	maxJobs  int
	jobs     int    // jobs allocated
	free     []*job // jobs not in use
	inflight []*job // submitted, in stream order
	cur      *job   // the chunk being filled (nil: none)
	written  int64  // stream bytes accepted

	chunks   int64    // chunks placed into groups
	grp      []byte   // the open group: 76 bytes for its sectors descriptor, then the chunks
	entries  []uint32 // the open group's table entries
	grpMedia int64    // media bytes in the open group

	seg     *segFile
	closed  []report.Segment
	aborted *report.Segment
	dropped []report.Range

	err      error // sticky: the writer is unusable after an error
	finished bool

	// final[i] is true when closed segment i+1 already has its final name
	// (a resume after a crash in or after Finish).
	final []bool
	// directIO writes new segments with O_DIRECT where the destination
	// allows it (Spec.DirectIO).
	directIO bool
	// kept is the media a resumed writer holds before its checkpoint
	// (ReadKeptAt); nil for a new set.
	kept *kept
	// endState is the state a writer resumed into a completed set from
	// (its Checkpoint returns it).
	endState json.RawMessage
	// pending is what a resume still has to do to the folder before it
	// writes: truncate the open segment, remove segments begun after the
	// checkpoint. A refused resume never runs it.
	pending func() error
}

// settle carries out what a resume left pending.
func (w *Writer) settle() error {
	if w.pending == nil {
		return nil
	}
	err := w.pending()
	w.pending = nil
	if err != nil {
		w.err = err
	}
	return err
}

// segFile is the segment being written.
type segFile struct {
	f        *os.File
	n        int   // segment number
	length   int64 // bytes written
	hash     *hashing.Multi
	mediaOff int64 // media offset of its first chunk
	media    int64 // media bytes in its written groups
	chunks   int64 // chunks in its written groups

	// direct, when set, is an O_DIRECT descriptor of the same inode
	// (reopened through /proc/self/fd). Bytes are staged in buf, an
	// aligned buffer holding the file's bytes from offset base on; whole
	// buffers go out through direct (no page-cache copy, no writeback
	// competing with deflate for the cores), and on sync the aligned part
	// through direct and the tail through f, the tail staying in buf.
	direct *os.File
	buf    []byte
	base   int64
}

// directBuf is the staging buffer of an O_DIRECT segment; directAlign the
// alignment O_DIRECT needs of offsets, lengths and memory.
const (
	directBuf   = 4 << 20
	directAlign = 4096
)

// useDirect opens the O_DIRECT descriptor of a new segment, if the
// destination supports it (tmpfs does not: then f alone is used).
func (s *segFile) useDirect() {
	d, err := os.OpenFile("/proc/self/fd/"+strconv.Itoa(int(s.f.Fd())), os.O_WRONLY|syscall.O_DIRECT|syscall.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	s.direct, s.buf = d, blockdev.AlignedBuffer(directBuf, directAlign)[:0]
}

// flush writes the staged bytes: whole aligned blocks through direct; with
// all, the unaligned tail through f too (it stays staged: later bytes
// complete its block, which then goes out through direct again).
func (s *segFile) flush(all bool) error {
	k := len(s.buf) &^ (directAlign - 1)
	if k > 0 {
		if _, err := s.direct.WriteAt(s.buf[:k], s.base); err != nil {
			return err
		}
	}
	if all && k < len(s.buf) {
		if _, err := s.f.WriteAt(s.buf[k:], s.base+int64(k)); err != nil {
			return err
		}
	}
	n := copy(s.buf, s.buf[k:])
	s.buf, s.base = s.buf[:n], s.base+int64(k)
	return nil
}

// sync makes everything written durable.
func (s *segFile) sync() error {
	if s.direct != nil {
		if err := s.flush(true); err != nil {
			return err
		}
	}
	return s.f.Sync()
}

// close closes the segment's descriptors.
func (s *segFile) close() error {
	if s.direct != nil {
		s.direct.Close()
		s.direct = nil
	}
	return s.f.Close()
}

var errAborted = errors.New("ewf: the writer was aborted")

func newWriter(s format.Spec, l *layout) *Writer {
	w := &Writer{root: s.Root, name: s.Name, l: l, hashes: s.SegmentHashes, directIO: s.DirectIO}
	w.maxJobs = maxInflight(l.chunkSize)
	return w
}

// start runs the compressor; a writer built for Create or Resume calls it
// once its state is set.
func (w *Writer) start() {
	w.comp = newCompressor(w.l.comp, w.l.chunkSize, w.maxJobs)
	w.grp = make([]byte, descSize, descSize+64<<10)
}

func newGUID() ([16]byte, error) {
	var g [16]byte
	if _, err := rand.Read(g[:]); err != nil {
		return g, fmt.Errorf("ewf: segment set identifier: %w", err)
	}
	g[6] = g[6]&0x0f | 0x40 // version 4
	g[8] = g[8]&0x3f | 0x80 // RFC 4122 variant
	return g, nil
}

// Write appends p to the media stream. p is copied; it is not kept.
func (w *Writer) Write(p []byte) error {
	if w.err != nil {
		return w.err
	}
	if err := w.settle(); err != nil {
		return err
	}
	if w.finished {
		return errors.New("ewf: write after finish")
	}
	if int64(len(p)) > w.l.mediaSize-w.written {
		return fmt.Errorf("ewf: %d bytes written past the media size %d", w.written+int64(len(p))-w.l.mediaSize, w.l.mediaSize)
	}
	for len(p) > 0 {
		if w.cur == nil && len(p) >= w.l.chunkSize {
			if form := w.constantForm(p[:w.l.chunkSize]); form != nil {
				if err := w.submitConstant(form); err != nil {
					return err
				}
				p = p[w.l.chunkSize:]
				w.written += int64(w.l.chunkSize)
				continue
			}
		}
		if w.cur == nil {
			j, err := w.getJob()
			if err != nil {
				return err
			}
			w.cur = j
		}
		k := min(len(p), w.l.chunkSize-len(w.cur.in))
		w.cur.in = append(w.cur.in, p[:k]...)
		p = p[k:]
		w.written += int64(k)
		if len(w.cur.in) == w.l.chunkSize {
			w.submit(w.cur)
			w.cur = nil
		}
	}
	return w.err
}

// getJob returns a job with an empty input buffer, waiting for the oldest
// chunk in flight when all are in use.
func (w *Writer) getJob() (*job, error) {
	for len(w.free) == 0 && w.jobs >= w.maxJobs {
		if err := w.retireOldest(); err != nil {
			return nil, err
		}
	}
	if n := len(w.free); n > 0 {
		j := w.free[n-1]
		w.free = w.free[:n-1]
		j.in = j.in[:0]
		return j, nil
	}
	w.jobs++
	return &job{
		in: make([]byte, 0, w.l.chunkSize), outBuf: make([]byte, 0, w.l.chunkSize),
		done: make(chan struct{}, 1),
	}, nil
}

func (w *Writer) submit(j *job) {
	w.inflight = append(w.inflight, j)
	w.comp.work <- j // never blocks: the queue holds maxJobs
}

// retireOldest waits for the oldest chunk in flight and places it.
func (w *Writer) retireOldest() error {
	j := w.inflight[0]
	w.inflight = append(w.inflight[:0], w.inflight[1:]...)
	<-j.done
	if w.err == nil {
		if err := w.place(j); err != nil {
			w.err = err
		}
	}
	j.out = nil
	w.free = append(w.free, j)
	return w.err
}

func (w *Writer) drain() error {
	for len(w.inflight) > 0 {
		if err := w.retireOldest(); err != nil {
			return err
		}
	}
	return nil
}

// fits reports whether a chunk of stored size s fits the current segment
// with the open group, leaving room for the closing sections.
func (w *Writer) fits(s int) bool {
	n := len(w.entries) + 1
	return w.seg.length+groupOverhead(n)+int64(len(w.grp)-descSize+s)+tailReserve(w.seg.n == 1) <= w.l.segSize
}

// place adds a compressed chunk to the open group, closing the group or
// the segment first when it is full.
func (w *Writer) place(j *job) error {
	s := j.storedLen()
	if n := len(w.entries); n > 0 && (n == maxGroupEntries || len(w.grp)-descSize+s > groupPayloadCap) {
		if err := w.flushGroup(); err != nil {
			return err
		}
	}
	if w.seg == nil {
		if err := w.openSegment(len(w.closed) + 1); err != nil {
			return err
		}
	}
	for w.l.segSize > 0 && !w.fits(s) {
		if len(w.entries) > 0 {
			if err := w.flushGroup(); err != nil {
				return err
			}
			continue
		}
		if w.seg.chunks == 0 {
			return fmt.Errorf("ewf: a %d-byte chunk does not fit an empty segment of %d bytes", s, w.l.segSize)
		}
		if err := w.closeWithNext(); err != nil {
			return err
		}
		if err := w.openSegment(len(w.closed) + 1); err != nil {
			return err
		}
	}
	e := uint32(len(w.grp)) // offset from the sectors descriptor, the table's base
	if j.compressed {
		e |= entryCompressed
	}
	w.entries = append(w.entries, e)
	w.grp = j.appendStored(w.grp)
	w.grpMedia += int64(len(j.in))
	w.chunks++
	return nil
}

// flushGroup writes the open group: sectors descriptor and chunks, table,
// table2 (base offset = the sectors descriptor's offset).
func (w *Writer) flushGroup() error {
	n := len(w.entries)
	if n == 0 {
		return nil
	}
	base := w.seg.length
	secSize := int64(len(w.grp))
	copy(w.grp[:descSize], appendDesc(nil, "sectors", base, secSize))
	tOff := base + secSize
	w.grp = appendDesc(w.grp, "table", tOff, tableSectionSize(n))
	w.grp = appendTableBody(w.grp, base, w.entries)
	w.grp = appendDesc(w.grp, "table2", tOff+tableSectionSize(n), tableSectionSize(n))
	w.grp = appendTableBody(w.grp, base, w.entries)
	if err := w.seg.write(w.grp, w.name); err != nil {
		return err
	}
	w.seg.chunks += int64(n)
	w.seg.media += w.grpMedia
	w.grp, w.entries, w.grpMedia = w.grp[:descSize], w.entries[:0], 0
	return nil
}

func (s *segFile) write(p []byte, name string) error {
	if s.direct == nil {
		k, err := s.f.Write(p)
		s.hash.Write(p[:k])
		s.length += int64(k)
		if err != nil {
			return ioErr("write", partialName(name, s.n), err)
		}
		return nil
	}
	s.hash.Write(p)
	s.length += int64(len(p))
	for len(p) > 0 {
		k := min(len(p), cap(s.buf)-len(s.buf))
		s.buf = append(s.buf, p[:k]...)
		p = p[k:]
		if len(s.buf) == cap(s.buf) {
			if err := s.flush(false); err != nil {
				return ioErr("write", partialName(name, s.n), err)
			}
		}
	}
	return nil
}

func (w *Writer) volumeBody() []byte {
	v := w.l.volume
	v.guid = w.guid
	return v.appendBody(nil)
}

// openSegment creates segment n and writes its opening sections.
func (w *Writer) openSegment(n int) error {
	if _, ok := extension(n); !ok {
		return fmt.Errorf("ewf: segment %d would run past .ZZZ; a larger segment size is needed", n)
	}
	name := partialName(w.name, n)
	f, err := w.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o640)
	if err != nil {
		return ioErr("create segment", name, err)
	}
	var off int64
	for _, c := range w.closed {
		off += c.Length
	}
	w.seg = &segFile{f: f, n: n, hash: hashing.NewMulti(w.hashes), mediaOff: off}
	if w.directIO {
		w.seg.useDirect()
	}
	b := fileHeader(n)
	if n == 1 {
		for _, h := range []struct {
			typ  string
			body []byte
		}{{"header2", w.l.header2}, {"header2", w.l.header2}, {"header", w.l.header}} {
			b = appendDesc(b, h.typ, int64(len(b)), descSize+int64(len(h.body)))
			b = append(b, h.body...)
		}
		b = appendDesc(b, "volume", int64(len(b)), volumeSize)
	} else {
		b = appendDesc(b, "data", int64(len(b)), volumeSize)
	}
	b = append(b, w.volumeBody()...)
	return w.seg.write(b, w.name)
}

// closeWithNext ends the current segment with a next section.
func (w *Writer) closeWithNext() error {
	if err := w.seg.write(appendDesc(nil, "next", w.seg.length, 0), w.name); err != nil {
		return err
	}
	return w.closeSegment()
}

// closeSegment syncs and closes the current segment and records it.
func (w *Writer) closeSegment() error {
	s := w.seg
	name := partialName(w.name, s.n)
	if err := s.sync(); err != nil {
		s.close()
		return ioErr("sync", name, err)
	}
	if err := s.close(); err != nil {
		return ioErr("close", name, err)
	}
	w.closed = append(w.closed, report.Segment{
		File: SegmentName(w.name, s.n), Offset: s.mediaOff, Length: s.media,
		FileSize: s.length, Hashes: report.Hashes(s.hash.Sums()),
	})
	w.seg = nil
	return nil
}

// error2Runs turns byte ranges into error2 sector runs; ranges (or parts
// of them) at or beyond sector 2^32 cannot be stored and are returned as
// dropped.
func error2Runs(rs []report.Range, ss int64) (runs []sectorRun, dropped []report.Range) {
	const limit = 1 << 32
	for _, r := range rs {
		if r.Length <= 0 || r.Offset < 0 {
			continue
		}
		first := r.Offset / ss
		end := (r.Offset + r.Length + ss - 1) / ss
		if first >= limit {
			dropped = append(dropped, r)
			continue
		}
		if end > limit {
			dropped = append(dropped, report.Range{Offset: limit * ss, Length: r.Offset + r.Length - limit*ss})
			end = limit
		}
		runs = append(runs, sectorRun{uint32(first), uint32(end - first)})
	}
	return runs, dropped
}

func hashBytes(h report.Hashes, alg string, size int) ([]byte, error) {
	s, ok := h[alg]
	if !ok || s == "" {
		return nil, nil
	}
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != size {
		return nil, fmt.Errorf("ewf: the stream's %s %q is not a %d-byte hex digest", alg, s, size)
	}
	return b, nil
}

// Finish writes the closing sections ([data], [error2], [digest], [hash],
// done), syncs every segment, makes it read-only, gives it its final name
// and syncs the folder.
func (w *Writer) Finish(sum format.Summary) ([]report.Segment, error) {
	w.closeKept()
	if w.err != nil {
		return nil, w.err
	}
	if w.finished && w.final != nil {
		// Resumed after Finish had completed the set: give the segments
		// that are left their final names.
		return w.renameAll()
	}
	if w.finished {
		return nil, errors.New("ewf: finish called twice")
	}
	if err := w.settle(); err != nil {
		return nil, err
	}
	segs, err := w.finish(sum)
	if err != nil {
		w.err = err
		w.stopCompressor()
		if w.seg != nil {
			w.seg.close()
			w.seg = nil
		}
		return nil, err
	}
	w.finished = true
	return segs, nil
}

func (w *Writer) finish(sum format.Summary) ([]report.Segment, error) {
	if w.written != w.l.mediaSize {
		return nil, fmt.Errorf("ewf: finish after %d bytes of a %d-byte media", w.written, w.l.mediaSize)
	}
	md5, err := hashBytes(sum.Hashes, "md5", 16)
	if err != nil {
		return nil, err
	}
	sha1, err := hashBytes(sum.Hashes, "sha1", 20)
	if err != nil {
		return nil, err
	}
	if w.cur != nil && len(w.cur.in) > 0 {
		w.submit(w.cur) // the short last chunk
		w.cur = nil
	}
	if err := w.drain(); err != nil {
		return nil, err
	}
	if err := w.flushGroup(); err != nil {
		return nil, err
	}
	w.stopCompressor()
	if w.seg == nil {
		if err := w.openSegment(len(w.closed) + 1); err != nil { // an empty media
			return nil, err
		}
	}
	runs, dropped := error2Runs(sum.Unreadable, int64(w.l.sectorSize))
	w.dropped = dropped
	tail := func(n int) int64 {
		size := int64(doneSize)
		if n == 1 {
			size += volumeSize
		}
		if len(runs) > 0 {
			size += error2Size(len(runs))
		}
		if sha1 != nil {
			size += digestSize
		}
		if md5 != nil {
			size += hashSize
		}
		return size
	}
	if w.l.segSize > 0 && w.seg.length+tail(w.seg.n) > w.l.segSize && w.seg.chunks > 0 {
		// A long error2: the closing sections go to a segment of their own.
		if err := w.closeWithNext(); err != nil {
			return nil, err
		}
		if err := w.openSegment(len(w.closed) + 1); err != nil {
			return nil, err
		}
	}
	off := w.seg.length
	var b []byte
	add := func(typ string, size int64) {
		b = appendDesc(b, typ, off+int64(len(b)), size)
	}
	if w.seg.n == 1 {
		add("data", volumeSize)
		b = append(b, w.volumeBody()...)
	}
	if len(runs) > 0 {
		add("error2", error2Size(len(runs)))
		b = appendError2Body(b, runs)
	}
	if sha1 != nil {
		add("digest", digestSize)
		b = appendDigestBody(b, md5, sha1)
	}
	if md5 != nil {
		add("hash", hashSize)
		b = appendHashBody(b, md5)
	}
	add("done", 0)
	if err := w.seg.write(b, w.name); err != nil {
		return nil, err
	}
	if err := w.closeSegment(); err != nil {
		return nil, err
	}
	return w.renameAll()
}

// renameAll gives every closed segment its final name (those renamed
// before a crash are left as they are) and syncs the folder.
func (w *Writer) renameAll() ([]report.Segment, error) {
	for i, s := range w.closed {
		if i < len(w.final) && w.final[i] {
			continue
		}
		if err := finalize(w.root, partialName(w.name, i+1), s.File, s.FileSize); err != nil {
			return nil, err
		}
	}
	if err := atomicfile.SyncRoot(w.root); err != nil {
		return nil, err
	}
	return append([]report.Segment(nil), w.closed...), nil
}

// Unrecorded returns the unreadable ranges Finish could not store in the
// error2 section (those at or beyond sector 2^32: EWF's sector numbers are
// 32-bit). The report must record them.
func (w *Writer) Unrecorded() []report.Range { return append([]report.Range(nil), w.dropped...) }

func (w *Writer) stopCompressor() {
	if w.comp == nil {
		return
	}
	for _, j := range w.inflight {
		<-j.done
	}
	w.inflight = nil
	w.comp.stop()
	w.comp = nil
}

// Abort stops the writer. What was written stays under the .partial
// names; bytes after the last checkpoint are discarded by a resume.
func (w *Writer) Abort() error {
	w.stopCompressor()
	w.closeKept()
	if w.finished {
		return nil
	}
	if w.pending != nil {
		// A resume that never wrote: leave every file as it was.
		w.pending = nil
		w.err = errAborted
		if w.seg != nil {
			w.seg.close()
			w.seg = nil
		}
		return nil
	}
	if w.err == nil {
		w.err = errAborted
	}
	if w.seg == nil {
		return nil
	}
	p := w.Partial()
	tail := p[len(p)-1]
	w.aborted = &tail
	err := w.seg.sync()
	if cerr := w.seg.close(); err == nil {
		err = cerr
	}
	w.seg = nil
	if err != nil {
		return ioErr("close", tail.File, err)
	}
	return nil
}

// Partial describes the segment files as they are now, under their
// partial names: the closed ones with their hashes, the open (or aborted)
// one with what it holds so far.
func (w *Writer) Partial() []report.Segment {
	var out []report.Segment
	if w.finished {
		return append(out, w.closed...)
	}
	for i, s := range w.closed {
		s.File = partialName(w.name, i+1)
		out = append(out, s)
	}
	if w.aborted != nil {
		return append(out, *w.aborted)
	}
	if w.seg != nil {
		out = append(out, report.Segment{
			File: partialName(w.name, w.seg.n), Offset: w.seg.mediaOff, Length: w.seg.media,
			FileSize: w.seg.length, Hashes: report.Hashes{},
		})
	}
	return out
}

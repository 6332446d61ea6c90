package raw

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/custodian-forensics/custodian/acquire/format"
	"github.com/custodian-forensics/custodian/blockdev"
	"github.com/custodian-forensics/custodian/hashing"
	"github.com/custodian-forensics/custodian/internal/atomicfile"
	"github.com/custodian-forensics/custodian/internal/rootfile"
	"github.com/custodian-forensics/custodian/report"
)

// PartialSuffix marks a segment file whose acquisition is not complete.
const PartialSuffix = ".partial"

// ErrNoSpace is wrapped when the destination filesystem is full.
var ErrNoSpace = format.ErrNoSpace

// SegmentName returns the final file name of segment n (1-based):
// NAME.001 … NAME.999, NAME.1000 ….
func SegmentName(name string, n int) string { return fmt.Sprintf("%s.%03d", name, n) }

// segmentNumber parses the segment number of a file name this format writes
// for an image called name (final or partial); ok is false for other files.
func segmentNumber(name, file string) (n int, partial, ok bool) {
	rest, found := strings.CutPrefix(file, name+".")
	if !found {
		return 0, false, false
	}
	rest, partial = strings.CutSuffix(rest, PartialSuffix)
	if len(rest) < 3 || rest[0] == '+' || rest[0] == '-' {
		return 0, false, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 1 || SegmentName(name, n) != name+"."+rest {
		return 0, false, false
	}
	return n, partial, true
}

// Writer writes the source stream into segment files. It is used from one
// goroutine.
type Writer struct {
	root        *os.Root
	name        string
	segmentSize int64 // 0: one file
	hashes      hashing.Set

	cur *os.File
	// dcur is an O_DIRECT descriptor of the same file (nil when not in use
	// or not supported by the destination), opened through /proc/self/fd
	// from cur, so it is the same inode, never a name looked up again.
	// Aligned writes go through it: no copy into the page cache, no
	// writeback work competing with the hashes for the CPU, and --verify
	// then re-reads the medium, not cached pages. Unaligned tails go
	// through cur.
	dcur    *os.File
	direct  bool
	curHash *hashing.Multi
	curLen  int64
	offset  int64 // stream offset of the next byte
	done    []report.Segment
	// final[i] is true when segment i+1 already has its final name (a
	// resume after a crash in Finish's rename loop).
	final []bool
	// aborted is the segment that was open when Abort closed it.
	aborted *report.Segment
	// pending is what a resume still has to do to the folder (truncate
	// the open segment to the checkpoint, remove segments begun after it)
	// before anything is written: a resume that is refused changes no
	// file.
	pending func() error
}

// NewWriter prepares a writer for NAME.NNN segments of segmentSize bytes
// (0 = a single file) in the folder root, hashing each segment with hashes
// (may be empty). Nothing is created until the first Write.
func NewWriter(root *os.Root, name string, segmentSize int64, hashes hashing.Set) *Writer {
	return &Writer{root: root, name: name, segmentSize: segmentSize, hashes: hashes}
}

// directAlign is the alignment O_DIRECT writes need (offset, length and
// memory); 4096 covers every logical block size of common destinations.
const directAlign = 4096

// UseDirectIO makes the writer write aligned data with O_DIRECT where the
// destination filesystem allows it. Call it before the first Write.
func (w *Writer) UseDirectIO() {
	w.direct = true
	if w.cur != nil && w.dcur == nil {
		w.openDirect()
	}
}

// writeAt writes p at offset off of the current segment, through the
// O_DIRECT descriptor for the aligned part when possible. It returns how
// many bytes were written before an error.
func (w *Writer) writeAt(p []byte, off int64) (int, error) {
	done := 0
	if w.dcur != nil && off%directAlign == 0 && blockdev.Aligned(p, directAlign) {
		k := len(p) &^ (directAlign - 1)
		if k > 0 {
			n, err := w.dcur.WriteAt(p[:k], off)
			if err != nil {
				return n, err
			}
			p, off, done = p[k:], off+int64(k), k
		}
	}
	if len(p) == 0 {
		return done, nil
	}
	n, err := w.cur.WriteAt(p, off)
	return done + n, err
}

// settle carries out what a resume left pending.
func (w *Writer) settle() error {
	if w.pending == nil {
		return nil
	}
	err := w.pending()
	w.pending = nil
	return err
}

// Write appends p to the image, starting new segments as needed. p is not
// kept after Write returns.
func (w *Writer) Write(p []byte) error {
	if err := w.settle(); err != nil {
		return err
	}
	for len(p) > 0 {
		if w.cur == nil {
			if err := w.open(); err != nil {
				return err
			}
		}
		n := int64(len(p))
		if w.segmentSize > 0 {
			n = min(n, w.segmentSize-w.curLen)
		}
		if k, err := w.writeAt(p[:n], w.curLen); err != nil {
			return w.writeErr(err, int64(k))
		}
		w.curHash.Write(p[:n])
		w.curLen += n
		w.offset += n
		p = p[n:]
		if w.segmentSize > 0 && w.curLen == w.segmentSize {
			if err := w.closeSegment(); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeErr names the file and the stream offset of the first byte that
// could not be written (written bytes of the failed write went through).
func (w *Writer) writeErr(err error, written int64) error {
	path := w.partialName(len(w.done) + 1)
	at := w.offset + written
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("write %s at image byte %d (file byte %d): %w (%w)", path, at, w.curLen+written, ErrNoSpace, err)
	}
	return fmt.Errorf("write %s at image byte %d (file byte %d): %w", path, at, w.curLen+written, err)
}

func (w *Writer) partialName(n int) string { return SegmentName(w.name, n) + PartialSuffix }

func (w *Writer) open() error {
	n := len(w.done) + 1
	f, err := w.root.OpenFile(w.partialName(n), os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o640)
	if err != nil {
		return fmt.Errorf("create segment: %w", err)
	}
	w.cur, w.curLen, w.curHash = f, 0, hashing.NewMulti(w.hashes)
	w.openDirect()
	return nil
}

// openDirect opens the O_DIRECT descriptor of the current segment, if asked
// and if the destination supports it (tmpfs and some FUSE filesystems do
// not: then everything goes through the page cache). It reopens the
// descriptor cur holds, not the name, so it is the same file whatever
// happens to the folder entry meanwhile.
func (w *Writer) openDirect() {
	if !w.direct {
		return
	}
	df, err := os.OpenFile(fdPath(w.cur), os.O_WRONLY|syscall.O_DIRECT|syscall.O_CLOEXEC, 0)
	if err == nil {
		w.dcur = df
	}
}

// fdPath is the /proc name of an open descriptor: opening it opens the same
// inode again, whatever the folder entry now points to.
func fdPath(f *os.File) string { return "/proc/self/fd/" + strconv.Itoa(int(f.Fd())) }

// closeFiles closes the current segment's descriptors.
func (w *Writer) closeFiles() error {
	if w.dcur != nil {
		w.dcur.Close()
		w.dcur = nil
	}
	return w.cur.Close()
}

// closeSegment syncs and closes the current segment and records it.
func (w *Writer) closeSegment() error {
	name := w.partialName(len(w.done) + 1)
	if err := w.cur.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", name, err)
	}
	if err := w.closeFiles(); err != nil {
		return fmt.Errorf("close %s: %w", name, err)
	}
	n := len(w.done) + 1
	w.done = append(w.done, report.Segment{
		File:     SegmentName(w.name, n),
		Offset:   w.offset - w.curLen,
		Length:   w.curLen,
		FileSize: w.curLen,
		Hashes:   report.Hashes(w.curHash.Sums()),
	})
	w.cur, w.curHash, w.curLen = nil, nil, 0
	return nil
}

// Sync makes everything written so far durable (for a resume checkpoint).
func (w *Writer) Sync() error {
	if w.cur == nil {
		return nil
	}
	if err := w.cur.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", w.partialName(len(w.done)+1), err)
	}
	return nil
}

// Offset is the number of stream bytes written.
func (w *Writer) Offset() int64 { return w.offset }

// Finish syncs and closes the last segment, makes every segment read-only
// (0440, through its descriptor), renames it to its final name and syncs the
// folder. An empty stream gives one empty segment, so that the image exists.
func (w *Writer) Finish() ([]report.Segment, error) {
	if err := w.settle(); err != nil {
		return nil, err
	}
	if w.cur == nil && len(w.done) == 0 {
		if err := w.open(); err != nil {
			return nil, err
		}
	}
	if w.cur != nil {
		if err := w.closeSegment(); err != nil {
			return nil, err
		}
	}
	for i, s := range w.done {
		if i < len(w.final) && w.final[i] {
			continue // renamed before a crash; Resume checked it
		}
		if err := finalize(w.root, w.partialName(i+1), s.File, s.FileSize); err != nil {
			return nil, err
		}
	}
	if err := atomicfile.SyncRoot(w.root); err != nil {
		return nil, err
	}
	return append([]report.Segment(nil), w.done...), nil
}

// finalize makes partial read-only and gives it its final name: see
// rootfile.Finalize.
func finalize(root *os.Root, partial, final string, size int64) error {
	if err := rootfile.Finalize(root, partial, final, size); err != nil {
		return fmt.Errorf("finish segment: %w", err)
	}
	return nil
}

// openRegular opens an image file of the folder (see rootfile.Open); a
// file that is there but is not a regular file of its own is a
// *format.Damage: someone put it in the image's place.
func openRegular(root *os.Root, name string, flag int) (*os.File, error) {
	f, err := rootfile.Open(root, name, flag)
	var nr *rootfile.NotRegularError
	if errors.As(err, &nr) {
		return nil, &format.Damage{File: name, Where: "file", Cause: errors.New(nr.What)}
	}
	return f, err
}

// openOwn is openRegular for a file custodian writes into: it must also be
// owned by this user (a file someone else planted under the name is not
// ours to truncate or extend).
func openOwn(root *os.Root, name string, flag int) (*os.File, error) {
	f, err := openRegular(root, name, flag)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		f.Close()
		return nil, &format.Damage{File: name, Where: "file", Cause: fmt.Errorf("owned by uid %d, not by this user", st.Uid)}
	}
	return f, nil
}

// Abort closes the current segment after syncing what it holds. The
// .partial files stay, for a later resume or for the examiner to see.
func (w *Writer) Abort() error {
	if w.pending != nil {
		// A resume that never wrote: leave every file as it was.
		w.pending = nil
		if w.cur != nil {
			w.cur.Close()
			w.cur = nil
		}
		return nil
	}
	if w.cur == nil {
		return nil
	}
	tail := w.Partial()[len(w.done)]
	w.aborted = &tail
	err := w.cur.Sync()
	if cerr := w.closeFiles(); err == nil {
		err = cerr
	}
	w.cur = nil
	return err
}

// Partial describes the segments written so far under their current names:
// closed ones with their hashes, the open one with its length so far.
func (w *Writer) Partial() []report.Segment {
	var out []report.Segment
	for i, s := range w.done {
		s.File = w.partialName(i + 1)
		out = append(out, s)
	}
	if w.aborted != nil {
		out = append(out, *w.aborted)
	}
	if w.cur != nil {
		n := len(w.done) + 1
		out = append(out, report.Segment{
			File: w.partialName(n), Offset: w.offset - w.curLen,
			Length: w.curLen, FileSize: w.curLen, Hashes: report.Hashes{},
		})
	}
	return out
}

// State is what a resume needs to continue writing: the segments already
// closed and the stream offset.
type State struct {
	Offset   int64            `json:"offset"`
	Closed   []report.Segment `json:"closed"`
	Current  int64            `json:"current_length"`
	HashSave hashing.State    `json:"current_hash_state"`
}

// SaveState syncs the open segment and returns the writer's state.
func (w *Writer) SaveState() (State, error) {
	if err := w.settle(); err != nil {
		return State{}, err
	}
	if err := w.Sync(); err != nil {
		return State{}, err
	}
	st := State{Offset: w.offset, Closed: append([]report.Segment(nil), w.done...), Current: w.curLen}
	if w.curHash != nil {
		hs, err := w.curHash.MarshalState()
		if err != nil {
			return State{}, err
		}
		st.HashSave = hs
	}
	return st, nil
}

// Resume reopens the writer at a saved state (call UseDirectIO on the
// result to write the rest with O_DIRECT). Closed segments must exist, as
// .partial files or (after a crash in Finish) under their final names,
// with their recorded sizes; the open one must hold at least its recorded
// length. Nothing in the folder changes until the first Write, SaveState
// or Finish: then the open segment is truncated to its recorded length
// (bytes after the checkpoint are read again) and segments begun after the
// checkpoint are removed.
func Resume(root *os.Root, name string, segmentSize int64, hashes hashing.Set, st State) (*Writer, error) {
	w := NewWriter(root, name, segmentSize, hashes)
	if err := checkState(name, segmentSize, st); err != nil {
		return nil, fmt.Errorf("resume: the journal's writer state is inconsistent: %w", err)
	}
	w.done = append(w.done, st.Closed...)
	w.final = make([]bool, len(st.Closed))
	w.offset = st.Offset
	for i, s := range st.Closed {
		final, err := w.keptSegment(i+1, s.FileSize)
		if err != nil {
			return nil, fmt.Errorf("resume: %w", err)
		}
		w.final[i] = final
	}
	n := len(st.Closed) + 1
	later := func() error {
		// Segments started after the checkpoint hold only bytes that will
		// be read again: remove them, or the resumed writer could not
		// create them (O_EXCL). Only this image's own *.partial files.
		for k := n + 1; ; k++ {
			err := root.Remove(w.partialName(k))
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("resume: %w", err)
			}
		}
	}
	f, err := openOwn(root, w.partialName(n), os.O_WRONLY)
	if errors.Is(err, fs.ErrNotExist) && (st.Current > 0 || len(st.Closed) == 0) {
		// A crash after Finish renamed the open segment too (or made the
		// one empty segment of an empty image): the image is complete,
		// and this segment is closed under its final name.
		if final, ferr := w.keptSegment(n, st.Current); ferr == nil && final {
			m := hashing.NewMulti(hashes)
			if st.Current > 0 {
				if err := m.UnmarshalState(st.HashSave); err != nil {
					return nil, fmt.Errorf("resume: %w", err)
				}
			}
			w.done = append(w.done, report.Segment{File: SegmentName(name, n), Offset: st.Offset - st.Current,
				Length: st.Current, FileSize: st.Current, Hashes: report.Hashes(m.Sums())})
			w.final = append(w.final, true)
			w.pending = later
			return w, nil
		}
	}
	if errors.Is(err, fs.ErrNotExist) && st.Current == 0 {
		w.pending = later // the next segment had not been started
		return w, nil
	}
	if err != nil {
		return nil, fmt.Errorf("resume: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("resume: %w", err)
	}
	if fi.Size() < st.Current {
		f.Close()
		return nil, fmt.Errorf("resume: %s has %d bytes, fewer than the %d the journal recorded as synced", w.partialName(n), fi.Size(), st.Current)
	}
	w.cur, w.curLen, w.curHash = f, st.Current, hashing.NewMulti(hashes)
	if st.Current > 0 {
		if err := w.curHash.UnmarshalState(st.HashSave); err != nil {
			f.Close()
			return nil, fmt.Errorf("resume: %w", err)
		}
	}
	w.pending = func() error {
		if err := f.Truncate(st.Current); err != nil {
			return fmt.Errorf("resume: %w", err)
		}
		return later()
	}
	return w, nil
}

// keptSegment checks closed segment n of a resume (see rootfile.Kept) and
// reports whether it already has its final name.
func (w *Writer) keptSegment(n int, size int64) (final bool, err error) {
	return rootfile.Kept(w.root, w.partialName(n), SegmentName(w.name, n), size)
}

// ReadKeptAt reads media bytes the writer holds, before its current
// position (for a resume's checks of what was kept).
func (w *Writer) ReadKeptAt(p []byte, off int64) (int, error) {
	n := 0
	for len(p) > 0 && off < w.offset {
		i, start := 0, int64(0)
		for i < len(w.done) && start+w.done[i].Length <= off {
			start += w.done[i].Length
			i++
		}
		var f *os.File
		var err error
		var end int64
		switch {
		case i < len(w.done):
			name := w.partialName(i + 1)
			if i < len(w.final) && w.final[i] {
				name = SegmentName(w.name, i+1)
			}
			f, err = openRegular(w.root, name, os.O_RDONLY)
			end = start + w.done[i].Length
		case w.cur != nil:
			f, err = os.Open(fdPath(w.cur))
			end = w.offset
		default:
			return n, io.ErrUnexpectedEOF
		}
		if err != nil {
			return n, err
		}
		k := int(min(int64(len(p)), end-off))
		got, err := f.ReadAt(p[:k], off-start)
		f.Close()
		n += got
		if got < k {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return n, err
		}
		p, off = p[k:], off+int64(k)
	}
	if len(p) > 0 {
		return n, io.EOF
	}
	return n, nil
}

// checkState accepts only a state this writer could have saved: closed
// segments named as this format names them, in order, contiguous from 0,
// each exactly segmentSize long, and an offset that adds up.
func checkState(name string, segmentSize int64, st State) error {
	var off int64
	for i, s := range st.Closed {
		if s.File != SegmentName(name, i+1) {
			return fmt.Errorf("segment %d is named %q, not %q", i+1, s.File, SegmentName(name, i+1))
		}
		if s.Offset != off || s.Length != s.FileSize || (segmentSize > 0 && s.Length != segmentSize) || segmentSize == 0 {
			return fmt.Errorf("segment %s: offset %d, length %d do not fit segments of %d bytes", s.File, s.Offset, s.Length, segmentSize)
		}
		off += s.Length
	}
	if st.Current < 0 || (segmentSize > 0 && st.Current >= segmentSize) || st.Offset != off+st.Current {
		return fmt.Errorf("offset %d does not match the closed segments (%d bytes) and the open one (%d bytes)", st.Offset, off, st.Current)
	}
	return nil
}

package ewf

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"strconv"

	"github.com/custodian-forensics/custodian/acquire/format"
	"github.com/custodian-forensics/custodian/hashing"
	"github.com/custodian-forensics/custodian/internal/rootfile"
	"github.com/custodian-forensics/custodian/report"
)

// stateVersion identifies the checkpoint layout below.
const stateVersion = 1

// State is a checkpoint: everything a resume needs to continue the set at
// exactly the checkpoint's stream offset. Groups are closed at a
// checkpoint, so the files hold whole sections; the bytes of a chunk not
// yet complete are kept here (Pending).
type State struct {
	Version int `json:"version"`
	// The layout the set was started with; a resume with another one is
	// refused.
	SectorSize   int    `json:"sector_size"`
	ChunkSectors int    `json:"chunk_sectors"`
	MediaSize    int64  `json:"media_size"`
	SegmentSize  int64  `json:"segment_size"`
	Compression  string `json:"compression"`
	GUID         string `json:"set_identifier"`
	// Closed are the finished segments (final names, as Finish will
	// report them).
	Closed []report.Segment `json:"closed"`
	// Segment is the number of the open segment (0: none is open),
	// SegmentLength its synced length and SegmentHash its file hashes'
	// state at that length.
	Segment       int           `json:"segment"`
	SegmentLength int64         `json:"segment_length"`
	SegmentMedia  int64         `json:"segment_media"`
	SegmentChunks int64         `json:"segment_chunks"`
	SegmentHash   hashing.State `json:"segment_hash"`
	// Chunks is the number of whole chunks written.
	Chunks int64 `json:"chunks"`
	// Pending are the stream bytes after the last whole chunk.
	Pending []byte `json:"pending"`
}

// Checkpoint writes the open group, syncs the open segment and returns the
// state (JSON) a resume continues from.
func (w *Writer) Checkpoint() (json.RawMessage, error) {
	if w.err != nil {
		return nil, w.err
	}
	if err := w.settle(); err != nil {
		return nil, err
	}
	if w.finished && w.endState != nil {
		// Resumed into a completed set: its state is the one resumed.
		return w.endState, nil
	}
	if w.finished {
		return nil, errors.New("ewf: checkpoint after finish")
	}
	if err := w.drain(); err != nil {
		return nil, err
	}
	if err := w.flushGroup(); err != nil {
		w.err = err
		return nil, err
	}
	st := State{
		Version: stateVersion, SectorSize: w.l.sectorSize, ChunkSectors: w.l.chunkSectors,
		MediaSize: w.l.mediaSize, SegmentSize: w.l.segSize, Compression: w.l.comp.name,
		GUID: hex.EncodeToString(w.guid[:]), Closed: append([]report.Segment{}, w.closed...),
		Chunks: w.chunks, Pending: []byte{},
	}
	if w.cur != nil {
		st.Pending = append(st.Pending, w.cur.in...)
	}
	if s := w.seg; s != nil {
		if err := s.sync(); err != nil {
			w.err = ioErr("sync", partialName(w.name, s.n), err)
			return nil, w.err
		}
		hs, err := s.hash.MarshalState()
		if err != nil {
			return nil, fmt.Errorf("ewf: checkpoint: %w", err)
		}
		st.Segment, st.SegmentLength, st.SegmentMedia, st.SegmentChunks, st.SegmentHash = s.n, s.length, s.media, s.chunks, hs
	}
	return json.Marshal(st)
}

// check accepts only a state this writer could have saved for layout l
// and image name: names as this format makes them, contiguous media
// offsets, whole chunks, lengths within the segment size.
func (st *State) check(l *layout, name string) error {
	if st.Version != stateVersion {
		return fmt.Errorf("state version %d, want %d", st.Version, stateVersion)
	}
	if st.SectorSize != l.sectorSize || st.ChunkSectors != l.chunkSectors || st.MediaSize != l.mediaSize ||
		st.SegmentSize != l.segSize || st.Compression != l.comp.name {
		return fmt.Errorf("the set was started with %d-byte sectors, %d sectors per chunk, media %d, segments %d, compression %q; this run has %d, %d, %d, %d, %q",
			st.SectorSize, st.ChunkSectors, st.MediaSize, st.SegmentSize, st.Compression,
			l.sectorSize, l.chunkSectors, l.mediaSize, l.segSize, l.comp.name)
	}
	if g, err := hex.DecodeString(st.GUID); err != nil || len(g) != 16 {
		return fmt.Errorf("set identifier %q is not 16 hex bytes", st.GUID)
	}
	cs := int64(l.chunkSize)
	if st.Chunks < 0 || st.Chunks > l.chunks || len(st.Pending) >= l.chunkSize ||
		st.Chunks*cs+int64(len(st.Pending)) > l.mediaSize {
		return fmt.Errorf("%d chunks and %d pending bytes do not fit the media", st.Chunks, len(st.Pending))
	}
	var off, chunks int64
	for i, s := range st.Closed {
		if s.File != SegmentName(name, i+1) {
			return fmt.Errorf("closed segment %d is named %q, not %q", i+1, s.File, SegmentName(name, i+1))
		}
		if s.Offset != off || s.Length <= 0 || s.Length%cs != 0 || s.FileSize < laterStart ||
			(l.segSize > 0 && s.FileSize > l.segSize) || l.segSize == 0 {
			return fmt.Errorf("closed segment %s: offset %d, length %d, size %d do not fit the layout", s.File, s.Offset, s.Length, s.FileSize)
		}
		off += s.Length
		chunks += s.Length / cs
	}
	if st.Segment == 0 {
		if st.SegmentLength != 0 || st.SegmentMedia != 0 || st.SegmentChunks != 0 || chunks != st.Chunks {
			return errors.New("no open segment, but the closed ones do not hold every chunk")
		}
		if len(st.Closed) > 0 {
			return errors.New("closed segments but no open one") // a segment is opened as soon as one closes
		}
		return nil
	}
	if st.Segment != len(st.Closed)+1 {
		return fmt.Errorf("open segment %d after %d closed ones", st.Segment, len(st.Closed))
	}
	start := int64(laterStart)
	if st.Segment == 1 {
		start = l.firstStart()
	}
	if st.SegmentLength < start || (l.segSize > 0 && st.SegmentLength > l.segSize) ||
		st.SegmentChunks < 0 || st.SegmentMedia != st.SegmentChunks*cs || chunks+st.SegmentChunks != st.Chunks ||
		st.SegmentLength < start+st.SegmentChunks*4 {
		return fmt.Errorf("open segment %d: length %d, %d chunks do not fit the layout", st.Segment, st.SegmentLength, st.SegmentChunks)
	}
	return nil
}

// resume reopens a set at a checkpoint. Nothing in the folder changes
// until the first Write, Checkpoint or Finish (w.pending): a resume that
// the caller refuses leaves every file as it was. Closed segments may
// already carry their final names, and the open one too when Finish had
// completed it (a crash in or after Finish's rename loop): then Finish
// only renames what is left and returns the same segments.
func resume(s format.Spec, l *layout, raw json.RawMessage) (*Writer, error) {
	w := newWriter(s, l)
	if len(raw) == 0 {
		// Interrupted before its first checkpoint: start over.
		g, err := newGUID()
		if err != nil {
			return nil, err
		}
		w.guid = g
		w.pending = func() error {
			if err := removePartials(s.Root, s.Name, 0); err != nil {
				return fmt.Errorf("resume: %w", err)
			}
			return nil
		}
		w.start()
		return w, nil
	}
	var st State
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("ewf: resume: journal writer state: %w", err)
	}
	if err := st.check(l, s.Name); err != nil {
		return nil, fmt.Errorf("ewf: resume: the journal's writer state is inconsistent: %w", err)
	}
	g, _ := hex.DecodeString(st.GUID)
	copy(w.guid[:], g)
	w.final = make([]bool, len(st.Closed))
	for i, c := range st.Closed {
		final, err := keptSegment(s.Root, s.Name, i+1, c.FileSize)
		if err != nil {
			return nil, fmt.Errorf("ewf: resume: %w", err)
		}
		w.final[i] = final
		// What was kept must be what was written: each closed file
		// against its recorded hashes (a changed kept segment is refused).
		name := partialName(s.Name, i+1)
		if final {
			name = SegmentName(s.Name, i+1)
		}
		if err := checkKeptHashes(s, name, c.FileSize, c.Hashes); err != nil {
			return nil, fmt.Errorf("ewf: resume: %w", err)
		}
	}
	keep := len(st.Closed)
	if st.Segment > 0 {
		keep = st.Segment
	}
	w.kept = &kept{chunks: st.Chunks, pending: append([]byte(nil), st.Pending...), limit: st.SegmentLength}
	for i := range st.Closed {
		name := partialName(s.Name, i+1)
		if w.final[i] {
			name = SegmentName(s.Name, i+1)
		}
		w.kept.files = append(w.kept.files, name)
	}
	w.closed = append(w.closed, st.Closed...)
	w.chunks = st.Chunks
	w.written = st.Chunks*int64(l.chunkSize) + int64(len(st.Pending))
	// Segments started after the checkpoint hold only bytes that will be
	// written again.
	later := func() error {
		if err := removePartials(s.Root, s.Name, keep); err != nil {
			return fmt.Errorf("resume: %w", err)
		}
		return nil
	}
	if next := len(st.Closed) + 1; w.written == l.mediaSize && finishedSegment(s, next) {
		// Finish had completed the set: the segment open at the
		// checkpoint (or the one Finish opened), and any closing-only
		// segment after it, have their final names.
		if err := w.adoptFinished(s, &st, next); err != nil {
			return nil, fmt.Errorf("ewf: resume: %w", err)
		}
		if st.Segment > 0 {
			w.kept.files = append(w.kept.files, SegmentName(s.Name, st.Segment))
		}
		w.finished, w.endState = true, append(json.RawMessage(nil), raw...)
		return w, nil
	}
	if st.Segment > 0 {
		name := partialName(s.Name, st.Segment)
		f, err := openRegular(s.Root, name, os.O_WRONLY)
		var fi os.FileInfo
		if err == nil {
			fi, err = f.Stat()
		}
		if err == nil && fi.Size() < st.SegmentLength {
			err = fmt.Errorf("%s has %d bytes, fewer than the %d the journal recorded as synced", name, fi.Size(), st.SegmentLength)
		}
		h := hashing.NewMulti(s.SegmentHashes)
		if err == nil {
			err = h.UnmarshalState(st.SegmentHash)
		}
		if err == nil && h.Len() != st.SegmentLength {
			err = fmt.Errorf("the saved hash state covers %d bytes, the segment %d", h.Len(), st.SegmentLength)
		}
		if err == nil && len(s.SegmentHashes) > 0 {
			// The open segment's kept bytes, re-hashed, must give the
			// saved state.
			again := hashing.NewMulti(s.SegmentHashes)
			if rf, rerr := os.Open("/proc/self/fd/" + strconv.Itoa(int(f.Fd()))); rerr != nil {
				err = rerr
			} else if _, cerr := io.Copy(again, io.NewSectionReader(rf, 0, st.SegmentLength)); cerr != nil {
				rf.Close()
				err = cerr
			} else if rf.Close(); !reflect.DeepEqual(mustState(again), mustState(h)) {
				err = fmt.Errorf("%s: its first %d bytes differ from what the checkpoint recorded: the kept segment was changed", name, st.SegmentLength)
			}
		}
		if err != nil {
			if f != nil {
				f.Close()
			}
			return nil, fmt.Errorf("ewf: resume: %w", err)
		}
		w.kept.files, w.kept.openFd = append(w.kept.files, name), f
		w.seg = &segFile{f: f, n: st.Segment, length: st.SegmentLength, hash: h,
			mediaOff: st.Chunks*int64(l.chunkSize) - st.SegmentMedia, media: st.SegmentMedia, chunks: st.SegmentChunks}
		w.pending = func() error {
			if err := f.Truncate(st.SegmentLength); err != nil {
				return ioErr("truncate", name, err)
			}
			if _, err := f.Seek(st.SegmentLength, 0); err != nil {
				return ioErr("seek", name, err)
			}
			return later()
		}
	} else {
		w.pending = later
	}
	w.start()
	if len(st.Pending) > 0 {
		j, err := w.getJob()
		if err != nil {
			return nil, err
		}
		j.in = append(j.in, st.Pending...)
		w.cur = j
	}
	return w, nil
}

// checkKeptHashes hashes a kept segment file and compares it with the
// hashes recorded for it (nothing to compare without segment hashes).
func checkKeptHashes(s format.Spec, name string, size int64, want report.Hashes) error {
	if len(want) == 0 || len(s.SegmentHashes) == 0 {
		return nil
	}
	f, err := openRegular(s.Root, name, os.O_RDONLY)
	if err != nil {
		return err
	}
	defer f.Close()
	m := hashing.NewMulti(s.SegmentHashes)
	if _, err := io.Copy(m, io.NewSectionReader(f, 0, size)); err != nil {
		return err
	}
	for alg, sum := range m.Sums() {
		if w, ok := want[alg]; ok && w != sum {
			return fmt.Errorf("%s: its %s is %s, the checkpoint recorded %s: the kept segment was changed", name, alg, sum, w)
		}
	}
	return nil
}

func mustState(m *hashing.Multi) hashing.State {
	st, _ := m.MarshalState()
	return st
}

// finishedSegment reports whether segment n exists under its final name
// and not as a partial file: Finish completed it.
func finishedSegment(s format.Spec, n int) bool {
	if _, err := s.Root.Lstat(partialName(s.Name, n)); !errors.Is(err, fs.ErrNotExist) {
		return false
	}
	_, err := s.Root.Lstat(SegmentName(s.Name, n))
	return err == nil
}

// keptSegment checks closed segment n of a resume (see rootfile.Kept) and
// reports whether it already has its final name.
func keptSegment(root *os.Root, name string, n int, size int64) (final bool, err error) {
	return rootfile.Kept(root, partialName(name, n), SegmentName(name, n), size)
}

// adoptFinished takes the segments Finish completed after the checkpoint
// st (taken once the whole media was written): the open segment, and any
// closing-only segment after it, under their final names. Each one's
// hashes continue the saved state over the bytes written after it.
func (w *Writer) adoptFinished(s format.Spec, st *State, first int) error {
	closedMedia := int64(0)
	for _, c := range st.Closed {
		closedMedia += c.Length
	}
	for n := first; ; n++ {
		final := SegmentName(s.Name, n)
		f, err := openRegular(s.Root, final, os.O_RDONLY)
		if errors.Is(err, fs.ErrNotExist) && n > first {
			return nil
		}
		if err != nil {
			return err
		}
		h := hashing.NewMulti(s.SegmentHashes)
		// The first holds the rest of the media; closing-only segments
		// after it hold none.
		from, media, off := int64(0), int64(0), w.l.mediaSize
		if n == first {
			media, off = w.l.mediaSize-closedMedia, closedMedia
			if n == st.Segment {
				if err := h.UnmarshalState(st.SegmentHash); err != nil {
					f.Close()
					return err
				}
				from = st.SegmentLength
			}
		}
		if _, err := f.Seek(from, io.SeekStart); err != nil {
			f.Close()
			return err
		}
		size, err := io.Copy(h, f)
		f.Close()
		if err != nil {
			return err
		}
		w.closed = append(w.closed, report.Segment{File: final, Offset: off, Length: media, FileSize: from + size, Hashes: report.Hashes(h.Sums())})
		w.final = append(w.final, true)
		if err := w.placeAdopted(s, first); err != nil {
			return err
		}
	}
}

// placeAdopted sets the media range of the segments adopted from a
// finished set (from number first on) from the set's own tables: Finish
// may have put the last chunk into a segment of its own.
func (w *Writer) placeAdopted(s format.Spec, first int) error {
	files := make([]string, len(w.closed))
	for i, c := range w.closed {
		files[i] = c.File
		if !w.final[i] {
			files[i] = partialName(s.Name, i+1)
		}
	}
	if _, err := s.Root.Lstat(SegmentName(s.Name, len(w.closed)+1)); err == nil {
		return nil // more segments to adopt: the set is not whole yet
	}
	im, err := open(s.Root, files)
	if err != nil {
		return err
	}
	defer im.Close()
	cs := int64(w.l.chunkSize)
	chunks := make([]int64, len(files))
	for _, t := range im.tables {
		chunks[t.file] += t.n
	}
	var ci int64
	for i := range w.closed {
		if i+1 >= first {
			start, end := min(ci*cs, w.l.mediaSize), min((ci+chunks[i])*cs, w.l.mediaSize)
			w.closed[i].Offset, w.closed[i].Length = start, end-start
		}
		ci += chunks[i]
	}
	return nil
}

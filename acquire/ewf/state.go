package ewf

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/custodian-forensics/custodian/acquire/format"
	"github.com/custodian-forensics/custodian/hashing"
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
		if err := s.f.Sync(); err != nil {
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

// resume reopens a set at a checkpoint.
func resume(s format.Spec, l *layout, raw json.RawMessage) (*Writer, error) {
	w := newWriter(s, l)
	if len(raw) == 0 {
		// Interrupted before its first checkpoint: start over.
		if err := removePartials(s.Root, s.Name, 0); err != nil {
			return nil, fmt.Errorf("resume: %w", err)
		}
		g, err := newGUID()
		if err != nil {
			return nil, err
		}
		w.guid = g
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
	for i, c := range st.Closed {
		name := partialName(s.Name, i+1)
		f, err := openRegular(s.Root, name, os.O_RDONLY)
		if err != nil {
			return nil, fmt.Errorf("ewf: resume: %w", err)
		}
		fi, err := f.Stat()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("ewf: resume: %w", err)
		}
		if fi.Size() != c.FileSize {
			return nil, fmt.Errorf("ewf: resume: %s has %d bytes, the journal recorded %d", name, fi.Size(), c.FileSize)
		}
	}
	keep := len(st.Closed)
	if st.Segment > 0 {
		keep = st.Segment
	}
	// Segments started after the checkpoint hold only bytes that will be
	// written again.
	if err := removePartials(s.Root, s.Name, keep); err != nil {
		return nil, fmt.Errorf("resume: %w", err)
	}
	w.closed = append(w.closed, st.Closed...)
	w.chunks = st.Chunks
	w.written = st.Chunks*int64(l.chunkSize) + int64(len(st.Pending))
	if st.Segment > 0 {
		name := partialName(s.Name, st.Segment)
		f, err := openRegular(s.Root, name, os.O_WRONLY)
		if err != nil {
			return nil, fmt.Errorf("ewf: resume: %w", err)
		}
		fi, err := f.Stat()
		if err == nil && fi.Size() < st.SegmentLength {
			err = fmt.Errorf("%s has %d bytes, fewer than the %d the journal recorded as synced", name, fi.Size(), st.SegmentLength)
		}
		if err == nil {
			err = f.Truncate(st.SegmentLength)
		}
		if err == nil {
			_, err = f.Seek(st.SegmentLength, 0)
		}
		h := hashing.NewMulti(s.SegmentHashes)
		if err == nil {
			err = h.UnmarshalState(st.SegmentHash)
		}
		if err == nil && h.Len() != st.SegmentLength {
			err = fmt.Errorf("the saved hash state covers %d bytes, the segment %d", h.Len(), st.SegmentLength)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("ewf: resume: %w", err)
		}
		w.seg = &segFile{f: f, n: st.Segment, length: st.SegmentLength, hash: h,
			mediaOff: st.Chunks*int64(l.chunkSize) - st.SegmentMedia, media: st.SegmentMedia, chunks: st.SegmentChunks}
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

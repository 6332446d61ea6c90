package acquire

import (
	"sync/atomic"

	"github.com/custodian-forensics/custodian/acquire/format"
	"github.com/custodian-forensics/custodian/hashing"
	"github.com/custodian-forensics/custodian/report"
)

// hashStage hashes the whole stream with one algorithm. One stage per
// algorithm, each in its own goroutine, is how several hashes share the
// cores: the stream is read once and every algorithm sees every byte once.
type hashStage struct{ m *hashing.Multi }

func (s *hashStage) consume(b []byte) error { s.m.Write(b); return nil }
func (s *hashStage) save() (any, error)     { return s.m.MarshalState() }

// windowStage computes piecewise hashes over fixed windows of the stream
// (--hash-window) with every selected algorithm.
type windowStage struct {
	size    int64
	m       *hashing.Multi
	start   int64 // stream offset of the current window
	windows []report.HashWindow
}

func (s *windowStage) consume(b []byte) error {
	for len(b) > 0 {
		n := min(int64(len(b)), s.size-s.m.Len())
		s.m.Write(b[:n])
		b = b[n:]
		if s.m.Len() == s.size {
			s.flush()
		}
	}
	return nil
}

// flush closes the current window (a shorter last one at the end).
func (s *windowStage) flush() {
	if s.m.Len() == 0 {
		return
	}
	s.windows = append(s.windows, report.HashWindow{Offset: s.start, Length: s.m.Len(), Hashes: report.Hashes(s.m.Sums())})
	s.start += s.m.Len()
	s.m.Reset()
}

type windowState struct {
	Start   int64               `json:"start"`
	Windows []report.HashWindow `json:"windows"`
	Current hashing.State       `json:"current"`
}

func (s *windowStage) save() (any, error) {
	st, err := s.m.MarshalState()
	if err != nil {
		return nil, err
	}
	return windowState{Start: s.start, Windows: append([]report.HashWindow(nil), s.windows...), Current: st}, nil
}

func (s *windowStage) restore(st windowState) error {
	s.start, s.windows = st.Start, st.Windows
	return s.m.UnmarshalState(st.Current)
}

// writeStage feeds the image writer; written counts the stream bytes it
// wrote (for the free-space check).
type writeStage struct {
	w       format.Writer
	written *atomic.Int64
}

func (s *writeStage) consume(b []byte) error {
	if err := s.w.Write(b); err != nil {
		return err
	}
	s.written.Add(int64(len(b)))
	return nil
}
func (s *writeStage) save() (any, error) { return s.w.Checkpoint() }

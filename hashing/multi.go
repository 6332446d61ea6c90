package hashing

import (
	"encoding"
	"encoding/hex"
	"fmt"
	"hash"
)

// Sums maps an algorithm's name to its lower-case hex digest. It has the
// same shape as report.Hashes, and converts to it directly.
type Sums map[string]string

// Multi hashes one stream with every algorithm of a Set, sequentially in the
// calling goroutine. Use it where the stream is small or where the caller
// already runs one Multi per goroutine; [Parallel] spreads the algorithms
// over cores.
type Multi struct {
	set    Set
	hashes []hash.Hash
	n      int64
}

// NewMulti returns a Multi for set.
func NewMulti(set Set) *Multi {
	m := &Multi{set: set, hashes: make([]hash.Hash, len(set))}
	for i, a := range set {
		m.hashes[i] = a.New()
	}
	return m
}

// Write feeds p to every algorithm. hash.Hash.Write never returns an error
// (its documented contract), so neither does this.
func (m *Multi) Write(p []byte) (int, error) {
	for _, h := range m.hashes {
		h.Write(p)
	}
	m.n += int64(len(p))
	return len(p), nil
}

// Len is the number of bytes hashed so far.
func (m *Multi) Len() int64 { return m.n }

// Set returns the selection.
func (m *Multi) Set() Set { return m.set }

// Sums returns the digests of what was written so far; writing may go on.
func (m *Multi) Sums() Sums {
	out := make(Sums, len(m.set))
	for i, a := range m.set {
		out[a.String()] = hex.EncodeToString(m.hashes[i].Sum(nil))
	}
	return out
}

// Reset starts every algorithm afresh.
func (m *Multi) Reset() {
	for _, h := range m.hashes {
		h.Reset()
	}
	m.n = 0
}

// State is the saved running state of a Multi: for each algorithm name, the
// hash's own binary marshalling (encoding.BinaryMarshaler), plus the byte
// count. It is stored in resume journals.
type State struct {
	Length int64             `json:"length"`
	Hashes map[string][]byte `json:"hashes"`
}

// MarshalState saves the running state.
func (m *Multi) MarshalState() (State, error) {
	st := State{Length: m.n, Hashes: make(map[string][]byte, len(m.set))}
	for i, a := range m.set {
		b, err := m.hashes[i].(encoding.BinaryMarshaler).MarshalBinary()
		if err != nil {
			return State{}, fmt.Errorf("save %s state: %w", a, err)
		}
		st.Hashes[a.String()] = b
	}
	return st, nil
}

// UnmarshalState restores a state saved by MarshalState. The state must
// hold exactly the algorithms of m's Set.
func (m *Multi) UnmarshalState(st State) error {
	if len(st.Hashes) != len(m.set) {
		return fmt.Errorf("restore hash state: saved %d algorithms, want %d", len(st.Hashes), len(m.set))
	}
	for i, a := range m.set {
		b, ok := st.Hashes[a.String()]
		if !ok {
			return fmt.Errorf("restore hash state: no saved %s state", a)
		}
		if err := m.hashes[i].(encoding.BinaryUnmarshaler).UnmarshalBinary(b); err != nil {
			return fmt.Errorf("restore %s state: %w", a, err)
		}
	}
	m.n = st.Length
	return nil
}

package hashing

import (
	"context"
	"fmt"
	"io"
	"sync"
)

// streamBufferSize is the read size of SumReader: large enough that the
// per-buffer hand-off to the hash goroutines costs nothing measurable, small
// enough that cancellation is noticed within a few milliseconds.
const streamBufferSize = 4 << 20

// ParseNames turns algorithm names as reports spell them ("sha256", not
// "SHA-256") into a Set, so that digests are compared under the names
// recorded.
func ParseNames(names []string) (Set, error) {
	set := make(Set, 0, len(names))
	for _, name := range names {
		a, err := ParseAlgorithm(name)
		if err != nil || a.String() != name {
			return nil, fmt.Errorf("%w %q", ErrUnknownAlgorithm, name)
		}
		set = append(set, a)
	}
	return set, nil
}

// SumReader reads r to its end and returns the digests of set, computed in
// parallel, and the number of bytes read. It checks ctx between buffers.
// When tee is not nil, every byte read is also written to it, concurrently
// with the hashing; tee must not fail (a counter, another hasher): its
// errors are not looked at.
func SumReader(ctx context.Context, r io.Reader, set Set, tee io.Writer) (Sums, int64, error) {
	p := NewParallel(set)
	defer p.Close()
	buf := make([]byte, streamBufferSize)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return nil, n, err
		}
		k, err := io.ReadFull(r, buf)
		if k > 0 {
			var wg sync.WaitGroup
			if tee != nil {
				wg.Go(func() { _, _ = tee.Write(buf[:k]) })
			}
			p.Write(buf[:k])
			wg.Wait()
			n += int64(k)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return nil, n, err
		}
	}
	return p.Sums(), n, nil
}

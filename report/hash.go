package report

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/custodian-forensics/custodian/hashing"
)

// hashBufferSize is the read size of verification: large enough that the
// per-buffer hand-off to the hash goroutines costs nothing measurable, small
// enough that cancellation is noticed within a few milliseconds.
const hashBufferSize = 4 << 20

// hashSet turns the algorithm names of a report into a hashing.Set. Names
// must be spelled exactly as reports spell them ("sha256", not "SHA-256"),
// so that the digests found are compared under the names recorded.
func hashSet(algs []string) (hashing.Set, error) {
	set := make(hashing.Set, 0, len(algs))
	for _, name := range algs {
		a, err := hashing.ParseAlgorithm(name)
		if err != nil || a.String() != name {
			return nil, fmt.Errorf("unknown hash algorithm %q in the report", name)
		}
		set = append(set, a)
	}
	return set, nil
}

// HashStream reads r to its end and returns the digests of the algorithms
// named in algs, computed in parallel, and the number of bytes read. It
// checks ctx between buffers. When tee is not nil, every byte read is also
// written to it, concurrently with the hashing (verification of raw images
// uses this to hash the whole image while reading each segment once).
func HashStream(ctx context.Context, r io.Reader, algs []string, tee io.Writer) (Hashes, int64, error) {
	set, err := hashSet(algs)
	if err != nil {
		return nil, 0, err
	}
	p := hashing.NewParallel(set)
	defer p.Close()
	buf := make([]byte, hashBufferSize)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return nil, n, err
		}
		k, err := io.ReadFull(r, buf)
		if k > 0 {
			var wg sync.WaitGroup
			if tee != nil {
				wg.Go(func() { tee.Write(buf[:k]) })
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
	return Hashes(p.Sums()), n, nil
}

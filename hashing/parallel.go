package hashing

import (
	"sync"
)

// Parallel hashes one stream with several algorithms at once, one goroutine
// per algorithm. Write hands the same buffer to every goroutine and returns
// when all of them have consumed it, so the caller may reuse the buffer
// afterwards. It suits verification, where one reader feeds large buffers;
// the acquisition pipeline overlaps reading and hashing with its own queues.
//
// A Parallel must be closed to stop its goroutines; it is not safe for
// concurrent Writes.
type Parallel struct {
	m     *Multi
	work  []chan []byte
	done  sync.WaitGroup
	stop  sync.WaitGroup
	n     int64
	close sync.Once
}

// NewParallel starts one goroutine per algorithm of set.
func NewParallel(set Set) *Parallel {
	p := &Parallel{m: NewMulti(set), work: make([]chan []byte, len(set))}
	for i := range set {
		ch := make(chan []byte)
		p.work[i] = ch
		h := p.m.hashes[i]
		p.stop.Add(1)
		go func() {
			defer p.stop.Done()
			for b := range ch {
				h.Write(b)
				p.done.Done()
			}
		}()
	}
	return p
}

// Write feeds b to every algorithm and waits until all have hashed it.
func (p *Parallel) Write(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	p.done.Add(len(p.work))
	for _, ch := range p.work {
		ch <- b
	}
	p.done.Wait()
	p.n += int64(len(b))
	p.m.n = p.n
	return len(b), nil
}

// Sums returns the digests of everything written so far.
func (p *Parallel) Sums() Sums { return p.m.Sums() }

// Len is the number of bytes hashed so far.
func (p *Parallel) Len() int64 { return p.n }

// Close stops the goroutines. Sums remains usable.
func (p *Parallel) Close() error {
	p.close.Do(func() {
		for _, ch := range p.work {
			close(ch)
		}
		p.stop.Wait()
	})
	return nil
}

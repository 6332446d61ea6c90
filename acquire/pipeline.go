package acquire

import (
	"context"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/custodian-forensics/custodian/blockdev"
)

// block is one read of the source, shared by every consumer. A block with a
// non-nil mark carries no data: it is a marker that every consumer handles
// in stream order (used for resume checkpoints).
type block struct {
	off  int64
	data []byte
	buf  []byte // the pooled buffer behind data
	refs atomic.Int32
	mark *marker
}

// marker collects every consumer's state at one stream offset.
type marker struct {
	off    int64
	states []any // indexed like the consumers
	left   atomic.Int32
	done   chan struct{}
}

// consumer is one stage that sees every block, in order, in its own
// goroutine: a hasher, the hash-window hasher, the image writer.
type consumer interface {
	consume(b []byte) error
	// save returns the consumer's state after everything consumed so far.
	save() (any, error)
}

// pool is a fixed set of buffers: memory use is its size, whatever the
// source size. get blocks while every buffer is in use downstream.
type pool struct{ free chan []byte }

func newPool(n, size, align int) *pool {
	p := &pool{free: make(chan []byte, n)}
	for range n {
		p.free <- blockdev.AlignedBuffer(size, align)
	}
	return p
}

func (p *pool) get(ctx context.Context) ([]byte, error) {
	select {
	case b := <-p.free:
		return b, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *pool) put(b []byte) { p.free <- b }

// fanout runs the consumers, each on its own bounded queue. The first error
// of any stage cancels its context (ctx); close returns that error.
//
// The caller's cancellation (a signal) does not reach the consumers: the
// producer stops handing on blocks, and the consumers finish those they
// have, so that a checkpoint can be taken where the producer stopped
// (see imaging.stopCheckpoint). cancel stops them too.
type fanout struct {
	g      *errgroup.Group
	ctx    context.Context
	cancel context.CancelFunc
	queues []chan *block
	pool   *pool
}

func newFanout(ctx context.Context, consumers []consumer, depth int, p *pool) *fanout {
	base, cancel := context.WithCancel(context.WithoutCancel(ctx))
	g, gctx := errgroup.WithContext(base)
	f := &fanout{g: g, ctx: gctx, cancel: cancel, pool: p}
	for i, c := range consumers {
		q := make(chan *block, depth)
		f.queues = append(f.queues, q)
		g.Go(func() error {
			for b := range q {
				if b.mark != nil {
					st, err := c.save()
					if err != nil {
						return err
					}
					b.mark.states[i] = st
					if b.mark.left.Add(-1) == 0 {
						close(b.mark.done)
					}
					continue
				}
				if err := gctx.Err(); err != nil {
					return err
				}
				err := c.consume(b.data)
				f.release(b)
				if err != nil {
					return err
				}
			}
			return nil
		})
	}
	return f
}

func (f *fanout) release(b *block) {
	if b.refs.Add(-1) == 0 {
		f.pool.put(b.buf)
	}
}

// send hands b to every consumer, in order. It fails only when the pipeline
// is cancelled: a signal does not stop it half-way, so the consumers never
// see different streams.
func (f *fanout) send(b *block) error {
	if b.mark == nil {
		b.refs.Store(int32(len(f.queues)))
	}
	for _, q := range f.queues {
		select {
		case q <- b:
		case <-f.ctx.Done():
			return f.ctx.Err()
		}
	}
	return nil
}

// checkpoint sends a marker at stream offset off and waits until every
// consumer has saved its state there. The states are in consumer order.
func (f *fanout) checkpoint(off int64) ([]any, error) {
	m := &marker{off: off, states: make([]any, len(f.queues)), done: make(chan struct{})}
	m.left.Store(int32(len(f.queues)))
	if err := f.send(&block{off: off, mark: m}); err != nil {
		return nil, err
	}
	select {
	case <-m.done:
		return m.states, nil
	case <-f.ctx.Done():
		return nil, f.ctx.Err()
	}
}

// close tells the consumers no more blocks come and waits for them.
func (f *fanout) close() error {
	for _, q := range f.queues {
		close(q)
	}
	// The consumer's error says what failed ("write sdb.003: …"); a
	// "pipeline:" in front would only add a word the user cannot act on.
	err := f.g.Wait()
	f.cancel()
	return err
}

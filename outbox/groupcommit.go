package outbox

import (
	"context"
	"sync"
)

// groupCommit runs the workers' small write transactions together: while
// one transaction commits (an fsync on SQLite, a round trip on
// PostgreSQL), the requests that arrive wait, and the next commit carries
// all of them. No timer adds latency: a lone request commits at once.
// If a batch fails, each of its requests is retried in a transaction of
// its own, so that one bad request does not fail the others.
type groupCommit[TTx any] struct {
	o    *Outbox[TTx]
	reqs chan *gcRequest[TTx]
	done chan struct{}

	mu     sync.RWMutex
	closed bool
}

type gcRequest[TTx any] struct {
	ctx context.Context
	f   func(ctx context.Context, tx TTx) error
	err chan error
}

// maxGroup bounds the requests in one transaction.
const maxGroup = 128

func newGroupCommit[TTx any](o *Outbox[TTx]) *groupCommit[TTx] {
	g := &groupCommit[TTx]{o: o, reqs: make(chan *gcRequest[TTx]), done: make(chan struct{})}
	go g.run()
	return g
}

// do runs f in a shared transaction and returns once it has committed.
// f may run more than once (after a failed batch); it must only run SQL
// on tx and keep no other effect.
func (g *groupCommit[TTx]) do(ctx context.Context, f func(ctx context.Context, tx TTx) error) error {
	g.mu.RLock()
	if g.closed {
		g.mu.RUnlock()
		return g.o.inOwnTx(ctx, func(tx TTx) error { return f(ctx, tx) })
	}
	r := &gcRequest[TTx]{ctx: ctx, f: f, err: make(chan error, 1)}
	g.reqs <- r
	g.mu.RUnlock()
	return <-r.err
}

// close stops the committer after the requests already queued.
func (g *groupCommit[TTx]) close() {
	g.mu.Lock()
	if !g.closed {
		g.closed = true
		close(g.reqs)
	}
	g.mu.Unlock()
	<-g.done
}

func (g *groupCommit[TTx]) run() {
	defer close(g.done)
	batch := make([]*gcRequest[TTx], 0, maxGroup)
	for first := range g.reqs {
		batch = append(batch[:0], first)
	drain:
		for len(batch) < maxGroup {
			select {
			case r, ok := <-g.reqs:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		g.commit(batch)
	}
}

func (g *groupCommit[TTx]) commit(batch []*gcRequest[TTx]) {
	if len(batch) == 1 {
		r := batch[0]
		r.err <- g.o.inOwnTx(r.ctx, func(tx TTx) error { return r.f(r.ctx, tx) })
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	err := g.o.inOwnTx(ctx, func(tx TTx) error {
		for _, r := range batch {
			if err := r.ctx.Err(); err != nil {
				return err
			}
			if err := r.f(r.ctx, tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		for _, r := range batch {
			r.err <- nil
		}
		return
	}
	// One of them failed (or the commit did): each on its own.
	for _, r := range batch {
		r.err <- g.o.inOwnTx(r.ctx, func(tx TTx) error { return r.f(r.ctx, tx) })
	}
}

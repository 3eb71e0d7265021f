package outbox

import (
	"context"
	"sync"
)

// groupCommit runs the workers' small writes together: while one
// transaction commits (an fsync on SQLite, a round trip on PostgreSQL),
// the requests that arrive wait, and the next commit carries all of them.
// No timer adds latency: a lone request commits at once. In a group, all
// the claims go out as one statement, all the status changes as another
// (batchsql.go), then each request's own function (River's job
// completion). A group of claims only needs no transaction at all.
// If a group fails, each of its requests is retried on its own, so that
// one bad request does not fail the others.
type groupCommit[TTx any] struct {
	o    *Outbox[TTx]
	reqs chan *gcRequest[TTx]
	done chan struct{}

	mu     sync.RWMutex
	closed bool
}

// gcRequest is one worker's write: a claim, or a status change, possibly
// with the completion of its River job, or a function to run in the
// group's transaction.
type gcRequest[TTx any] struct {
	ctx      context.Context
	enqueue  []pendingMail // messages to store
	claim    *claimReq
	row      *statusRow
	complete int64                                   // River job to complete, or 0
	f        func(ctx context.Context, tx TTx) error // may be nil
	err      chan error
}

// maxGroup bounds the requests in one transaction.
const maxGroup = 128

func newGroupCommit[TTx any](o *Outbox[TTx]) *groupCommit[TTx] {
	g := &groupCommit[TTx]{o: o, reqs: make(chan *gcRequest[TTx]), done: make(chan struct{})}
	go g.run()
	return g
}

// do runs r and returns once it has committed. r.f may run more than once
// (after a failed group); it must only run SQL on tx and keep no other
// effect.
func (g *groupCommit[TTx]) do(r *gcRequest[TTx]) error {
	g.mu.RLock()
	if g.closed {
		g.mu.RUnlock()
		return g.o.runGroup(r.ctx, []*gcRequest[TTx]{r})
	}
	r.err = make(chan error, 1)
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
	// Requests whose job was cancelled meanwhile leave the group.
	live := batch[:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err <- err
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	if len(live) == 1 {
		live[0].err <- g.o.runGroup(live[0].ctx, live)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	if err := g.o.runGroup(ctx, live); err == nil {
		for _, r := range live {
			r.err <- nil
		}
		return
	}
	// One of them failed (or the commit did): each on its own.
	for _, r := range live {
		r.err <- g.o.runGroup(r.ctx, []*gcRequest[TTx]{r})
	}
}

// runGroup runs the requests of one group: one claim statement, one
// status statement, one completion of River jobs, then each request's
// function, in one transaction (none when there are only claims).
func (o *Outbox[TTx]) runGroup(ctx context.Context, group []*gcRequest[TTx]) error {
	var (
		enqueue  []pendingMail
		claims   []*claimReq
		rows     []*statusRow
		complete []int64
		fs       []*gcRequest[TTx]
	)
	for _, r := range group {
		enqueue = append(enqueue, r.enqueue...)
		if r.claim != nil {
			claims = append(claims, r.claim)
		}
		if r.row != nil {
			rows = append(rows, r.row)
		}
		if r.complete != 0 {
			complete = append(complete, r.complete)
		}
		if r.f != nil {
			fs = append(fs, r)
		}
	}
	if len(enqueue) == 0 && len(rows) == 0 && len(complete) == 0 && len(fs) == 0 {
		return o.runClaims(ctx, nil, claims)
	}
	return o.inOwnTx(ctx, func(tx TTx) error {
		if len(enqueue) > 0 {
			if err := o.insert(ctx, tx, enqueue); err != nil {
				return err
			}
		}
		if len(claims) > 0 {
			if err := o.runClaims(ctx, &tx, claims); err != nil {
				return err
			}
		}
		if len(rows) > 0 {
			if err := o.runStatus(ctx, tx, rows); err != nil {
				return err
			}
		}
		if len(complete) > 0 {
			if err := o.completeJobs(ctx, tx, complete); err != nil {
				return err
			}
		}
		for _, r := range fs {
			if err := r.f(r.ctx, tx); err != nil {
				return err
			}
		}
		return nil
	})
}

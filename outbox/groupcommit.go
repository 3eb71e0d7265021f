package outbox

import (
	"context"
	"sync"
	"time"
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
//
// Every wait is bounded, so that an unreachable database cannot hang the
// callers or Stop: each commit ends within writeTimeout (a group's own
// bound; a lone request's context, cut to writeTimeout; the lone retries
// after a failed group share one writeTimeout), a caller waits to hand its
// request over only as long as its context lives, and close waits only as
// long as its context lives.
type groupCommit[TTx any] struct {
	o    *Outbox[TTx]
	reqs chan *gcRequest[TTx]
	quit chan struct{} // closed by close
	done chan struct{} // closed when run returns

	closeOnce sync.Once
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
	g := &groupCommit[TTx]{o: o, reqs: make(chan *gcRequest[TTx]), quit: make(chan struct{}), done: make(chan struct{})}
	go g.run()
	return g
}

// do runs r and returns once it has committed, or failed. r.f may run
// more than once (after a failed group); it must only run SQL on tx and
// keep no other effect. If r.ctx ends before the committer takes r
// (another commit hangs), do returns r.ctx's error and r never runs; once
// taken, r ends within the bounds of its commit.
func (g *groupCommit[TTx]) do(r *gcRequest[TTx]) error {
	r.err = make(chan error, 1)
	select {
	case g.reqs <- r:
		return <-r.err
	case <-g.quit:
		ctx, cancel := context.WithTimeout(r.ctx, writeTimeout)
		defer cancel()
		return g.o.runGroup(ctx, []*gcRequest[TTx]{r})
	case <-r.ctx.Done():
		return r.ctx.Err()
	}
}

// close stops the committer after the requests it has taken, and waits
// for it until ctx ends. Requests that come later run alone. A committer
// that has stopped counts as stopped even if ctx has ended too (Stop's
// context ending just as River's workers finish).
func (g *groupCommit[TTx]) close(ctx context.Context) error {
	g.closeOnce.Do(func() { close(g.quit) })
	select {
	case <-g.done:
		return nil
	case <-ctx.Done():
		select {
		case <-g.done:
			return nil
		default:
			return ctx.Err()
		}
	}
}

func (g *groupCommit[TTx]) run() {
	defer close(g.done)
	batch := make([]*gcRequest[TTx], 0, maxGroup)
	for {
		select {
		case first := <-g.reqs:
			batch = append(batch[:0], first)
		case <-g.quit:
			return
		}
	drain:
		for len(batch) < maxGroup {
			select {
			case r := <-g.reqs:
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
		ctx, cancel := context.WithTimeout(live[0].ctx, writeTimeout)
		defer cancel()
		live[0].err <- g.o.runGroup(ctx, live)
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
	// One of them failed (or the commit did): each on its own, all within
	// one writeTimeout (a hung database must not hold the committer for a
	// writeTimeout per request). A request whose context ended meanwhile
	// fails at once; the workers' writes try again with a fresh bound (see
	// persist).
	deadline := time.Now().Add(writeTimeout)
	for _, r := range live {
		ctx, cancel := context.WithDeadline(r.ctx, deadline)
		r.err <- g.o.runGroup(ctx, []*gcRequest[TTx]{r})
		cancel()
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
			if _, err := o.runStatus(ctx, tx, rows); err != nil {
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

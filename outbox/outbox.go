package outbox

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/postkit/mailer"
	"github.com/riverqueue/river"
)

// An Outbox stores messages durably and sends them in the background
// through a Sender, keeping a status record for each Message-ID. TTx is
// the transaction type of its Store: *sql.Tx for outboxsqlite, pgx.Tx for
// outboxpgx. An Outbox is safe for concurrent use.
//
// An Outbox that is never started can still enqueue, list, cancel and
// retry: another process (such as `mailq work`) does the sending.
type Outbox[TTx any] struct {
	sender mailer.Sender
	store  Store[TTx]
	opts   Options
	river  *river.Client[TTx]
	q      queries
	// retryWait carries the wait chosen in Work to NextRetry, which River
	// calls right after without the error (River's NextRetry has no error
	// argument).
	retryWait sync.Map // job ID → time.Time
	// unsaved keeps the outcomes of attempts that could not be written,
	// for the next run of their job (see record).
	unsaved sync.Map // job ID → *outcome[TTx]

	// gc shares write transactions among the workers and the enqueues,
	// from Start.
	gc atomic.Pointer[groupCommit[TTx]]

	mu      sync.Mutex
	started bool
	stopped bool
}

// New returns an Outbox that stores messages in store and sends them with
// sender, which may be a *mailer.Client or anything that stands where one
// stands. It checks opts but does not touch the database: call Migrate
// (once) and Start.
func New[TTx any](sender mailer.Sender, store Store[TTx], opts Options) (*Outbox[TTx], error) {
	if sender == nil {
		return nil, fmt.Errorf("%w: nil Sender", ErrInvalidOptions)
	}
	if store == nil {
		return nil, fmt.Errorf("%w: nil Store", ErrInvalidOptions)
	}
	opts, err := opts.withDefaults(store.Dialect())
	if err != nil {
		return nil, err
	}
	o := &Outbox[TTx]{sender: sender, store: store, opts: opts, q: newQueries(store.Schema())}
	o.q.claim, o.q.status = o.claimSQL(), o.statusSQL()
	o.q.orphans = orphansSQL(o.q, store.Schema())
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &worker[TTx]{o: o}); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	if err := river.AddWorkerSafely(workers, &cleanupWorker[TTx]{o: o}); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	if err := river.AddWorkerSafely(workers, &sweepWorker[TTx]{o: o}); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	cfg := &river.Config{
		Queues:               map[string]river.QueueConfig{opts.Queue: {MaxWorkers: opts.Workers}},
		Workers:              workers,
		MaxAttempts:          opts.MaxAttempts,
		JobTimeout:           opts.JobTimeout,
		RescueStuckJobsAfter: opts.RescueAfter,
		FetchCooldown:        fetchCooldown(store.Dialect(), opts.PollInterval),
		FetchPollInterval:    opts.PollInterval,
		Logger:               opts.Logger,
		Schema:               store.Schema(),
		// River's job rows are the scheduler's state only; the record
		// lives in mail_outbox, so River may clean its rows early.
		CompletedJobRetentionPeriod: time.Hour,
	}
	cfg.PeriodicJobs = []*river.PeriodicJob{river.NewPeriodicJob(
		river.PeriodicInterval(sweepInterval),
		func() (river.JobArgs, *river.InsertOpts) {
			return sweepArgs{}, &river.InsertOpts{Queue: opts.Queue}
		},
		&river.PeriodicJobOpts{ID: "mail_outbox_sweep"},
	)}
	if opts.Retention > 0 {
		cfg.PeriodicJobs = append(cfg.PeriodicJobs, river.NewPeriodicJob(
			river.PeriodicInterval(cleanupInterval),
			func() (river.JobArgs, *river.InsertOpts) {
				return cleanupArgs{}, &river.InsertOpts{Queue: opts.Queue}
			},
			&river.PeriodicJobOpts{RunOnStart: true, ID: "mail_outbox_cleanup"},
		))
	}
	if o.river, err = river.NewClient(store.Driver(), cfg); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	return o, nil
}

// Options returns the options in effect, defaults filled in.
func (o *Outbox[TTx]) Options() Options { return o.opts }

// Start checks that the migrations were applied (a *MigrationError names
// those that were not), settles what a dead process left behind, and
// starts the workers. ctx should live as long as the Outbox runs:
// cancelling it stops the workers abruptly, as Stop's deadline does.
//
// On SQLite (one process per file) the settling is immediate: a record a
// dead process left SENDING becomes UNKNOWN (PENDING again with
// RetryUnknown), and a job it had taken but not yet begun is handed out
// again. On PostgreSQL other processes may be working, so River's rescuer
// takes over stuck jobs after Options.RescueAfter (plus up to 30 s).
//
// On both, a PENDING record whose River job is no longer live (it should
// not happen; see sweep.go) gets a new job, and a SENDING one is settled
// as after a dead process; a periodic job does the same every minute.
func (o *Outbox[TTx]) Start(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.started || o.stopped {
		return fmt.Errorf("%w: Start called twice", ErrStopped)
	}
	if err := o.CheckMigrations(ctx); err != nil {
		return err
	}
	if o.store.Dialect() == DialectSQLite {
		if err := o.settleDeadProcess(ctx); err != nil {
			return err
		}
	}
	if _, err := o.sweep(ctx); err != nil {
		return err
	}
	gc := newGroupCommit(o)
	o.gc.Store(gc)
	if err := o.river.Start(ctx); err != nil {
		_ = gc.close(context.WithoutCancel(ctx))
		return fmt.Errorf("outbox: starting workers: %w", err)
	}
	o.started = true
	return nil
}

// Stop stops taking new work and waits for the sends in flight to finish.
// If ctx ends first, the sends still in flight are cancelled: those that
// had not reached the final dot go back to PENDING without using an
// attempt, and Stop returns ctx's error once they have settled, or at
// most stopGrace (10 s) after ctx ended. Writes still unfinished then (the
// database unreachable) go on in the background, each bounded by 30 s.
func (o *Outbox[TTx]) Stop(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.started {
		return ErrStopped
	}
	if o.stopped {
		return nil
	}
	o.stopped = true
	// The group commit closes after the workers: they may still be
	// writing.
	gc := o.gc.Load()
	err := o.river.Stop(ctx)
	if err == nil {
		return gc.close(ctx)
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopGrace)
	defer cancel()
	if err2 := o.river.StopAndCancel(cctx); err2 != nil && !errors.Is(err2, context.DeadlineExceeded) {
		err = errors.Join(err, err2)
	}
	_ = gc.close(cctx)
	return err
}

// stopGrace is how long Stop waits, after its context ended, for the
// cancelled sends to settle.
const stopGrace = 10 * time.Second

// Stopped returns a channel closed once the workers have stopped, after
// Stop or when Start's context ended.
func (o *Outbox[TTx]) Stopped() <-chan struct{} { return o.river.Stopped() }

// fetchCooldown is the least time between two River fetches. On SQLite
// each fetch is a write transaction (an fsync) on the store's one
// connection, which the enqueues need too: fetching at most every
// PollInterval (100 ms at most) leaves it to them; a 10 ms cooldown cut
// the gateway's queue-mode accept rate by more than half. PostgreSQL
// fetches on a connection of their own, so a short cooldown keeps the
// workers fed.
func fetchCooldown(d Dialect, poll time.Duration) time.Duration {
	if d == DialectSQLite {
		return min(100*time.Millisecond, poll)
	}
	return min(10*time.Millisecond, poll)
}

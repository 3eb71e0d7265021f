package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// errNotClaimable means the record is not PENDING for this job.
var errNotClaimable = errors.New("outbox: record not claimable")

// errBadEnvelope means a claimed record's stored envelope does not decode.
var errBadEnvelope = errors.New("outbox: stored envelope does not decode")

// claim marks the record SENDING for this job and reads what the attempt
// needs, in one statement shared with the other workers' claims (see
// groupCommit). Only a PENDING record whose job is this one (or not yet
// chosen) can be claimed; fromSending claims a record a dead attempt left
// SENDING (at-least-once).
func (o *Outbox[TTx]) claim(ctx context.Context, job *river.Job[mailArgs], fromSending bool) (claimed, error) {
	// The claim's write does not end with the job's context: a claim
	// committed while Stop cancelled the job must be known as such (the
	// attempt then fails at once, nothing sent, and settle makes the
	// record PENDING again), not mistaken for a failed write that leaves
	// the record SENDING for the next run to call UNKNOWN.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	if !fromSending {
		cr := &claimReq{messageID: job.Args.MessageID, jobID: job.ID}
		if err := o.write(&gcRequest[TTx]{ctx: ctx, claim: cr}); err != nil {
			return claimed{}, fmt.Errorf("outbox: claiming %q: %w", job.Args.MessageID, err)
		}
		if !cr.found {
			return claimed{}, errNotClaimable
		}
		c := cr.c
		if err := json.Unmarshal([]byte(cr.env), &c.env); err != nil {
			return c, fmt.Errorf("%w: %q: %w", errBadEnvelope, job.Args.MessageID, err)
		}
		return c, nil
	}
	query := "UPDATE " + o.q.table + " SET status = ?, attempts = attempts + 1, job_id = ?, next_at = 0, updated_at = ? WHERE message_id = ? AND status = ? AND job_id = ? RETURNING attempts, envelope, body, route"
	var (
		c     claimed
		env   string
		found bool
	)
	err := o.write(&gcRequest[TTx]{ctx: ctx, f: func(ctx context.Context, tx TTx) error {
		rows, err := o.store.QueryTx(ctx, tx, query, string(StatusSending), job.ID, time.Now().UnixMicro(), job.Args.MessageID, string(StatusSending), job.ID)
		if err != nil {
			return err
		}
		found = rows.Next()
		if found {
			err = rows.Scan(&c.attempts, &env, &c.body, &c.route)
		}
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
		return err
	}})
	if err != nil {
		return claimed{}, fmt.Errorf("outbox: claiming %q: %w", job.Args.MessageID, err)
	}
	if !found {
		return claimed{}, errNotClaimable
	}
	if err := json.Unmarshal([]byte(env), &c.env); err != nil {
		return c, fmt.Errorf("%w: %q: %w", errBadEnvelope, job.Args.MessageID, err)
	}
	return c, nil
}

// write runs r in a group shared with other workers' writes (see
// groupCommit), or alone before Start.
func (o *Outbox[TTx]) write(r *gcRequest[TTx]) error {
	if g := o.gc.Load(); g != nil {
		return g.do(r)
	}
	return o.runGroup(r.ctx, []*gcRequest[TTx]{r})
}

// notClaimable decides what a job does whose record is not PENDING for it.
func (o *Outbox[TTx]) notClaimable(ctx context.Context, job *river.Job[mailArgs]) error {
	id := job.Args.MessageID
	r, err := o.get(ctx, nil, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return river.JobCancel(err) // deleted by retention
	case err != nil:
		return &storeError{err}
	case r.JobID != 0 && r.JobID != job.ID:
		return river.JobCancel(errSuperseded)
	case r.Status == StatusSending:
		// This job ran before and its process died mid-send (River's
		// rescuer gave it back): the message may have been delivered.
		if o.opts.RetryUnknown {
			c, err := o.claim(ctx, job, true)
			switch {
			case err == nil:
				return o.sendClaimed(ctx, job, c)
			case errors.Is(err, errBadEnvelope):
				return o.badEnvelope(ctx, job, c, err)
			case !errors.Is(err, errNotClaimable):
				return &storeError{err}
			}
			return river.JobCancel(errSuperseded)
		}
		if err := o.update(ctx, id, job.ID, StatusUnknown, 0, time.Time{}, errDiedWhileSending); err != nil {
			return &storeError{err}
		}
		return river.JobCancel(errDiedWhileSending)
	case r.Status == StatusSent:
		return nil
	default: // CANCELLED, FAILED, UNKNOWN: nothing to send
		return river.JobCancel(&StatusError{MessageID: id, Op: "send", Status: r.Status})
	}
}

// settleDeadProcess runs before a SQLite outbox starts. One process owns
// the file, so whatever is SENDING was left by a process that died: it
// becomes UNKNOWN (or PENDING again with RetryUnknown), and each message
// whose job that process had taken gets a new job at once, instead of
// waiting for River's rescuer.
func (o *Outbox[TTx]) settleDeadProcess(ctx context.Context) error {
	return o.inOwnTx(ctx, func(tx TTx) error {
		now := time.Now().UnixMicro()
		st := StatusUnknown
		if o.opts.RetryUnknown {
			st = StatusPending
		}
		if _, err := o.store.ExecTx(ctx, tx, "UPDATE "+o.q.table+" SET status = ?, next_at = ?, last_error = ?, updated_at = ? WHERE status = ?",
			string(st), now, errDiedWhileSending.Error(), now, string(StatusSending)); err != nil {
			return fmt.Errorf("outbox: settling records left SENDING: %w", err)
		}
		// Jobs River still counts as running belong to the dead process;
		// there are at most as many as it had workers.
		res, err := o.river.JobListTx(ctx, tx, river.NewJobListParams().
			States(rivertype.JobStateRunning).Kinds(mailArgs{}.Kind()).First(10_000))
		if err != nil {
			return fmt.Errorf("outbox: listing running jobs: %w", err)
		}
		for _, j := range res.Jobs {
			var a mailArgs
			if err := json.Unmarshal(j.EncodedArgs, &a); err != nil {
				continue
			}
			rows, err := o.store.QueryTx(ctx, tx, "SELECT 1 FROM "+o.q.table+" WHERE message_id = ? AND status = ? AND (job_id = 0 OR job_id = ?)",
				a.MessageID, string(StatusPending), j.ID)
			if err != nil {
				return err
			}
			mine := rows.Next()
			rows.Close()
			if mine {
				if err := o.reschedule(ctx, tx, a.MessageID); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// cleanupArgs are the arguments of the periodic retention job.
type cleanupArgs struct{}

// Kind implements river.JobArgs.
func (cleanupArgs) Kind() string { return "mail_outbox_cleanup" }

// cleanupInterval is how often the retention job runs.
const cleanupInterval = time.Hour

type cleanupWorker[TTx any] struct {
	river.WorkerDefaults[cleanupArgs]
	o *Outbox[TTx]
}

func (w *cleanupWorker[TTx]) Work(ctx context.Context, _ *river.Job[cleanupArgs]) error {
	n, err := w.o.DeleteFinished(ctx, time.Now().Add(-w.o.opts.Retention))
	if err == nil && n > 0 {
		w.o.opts.Logger.Info("outbox: deleted old records", "count", n)
	}
	return err
}

package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/postkit/mailer"
	"github.com/riverqueue/river"
)

// An outcome is what settle decided after an attempt: the write that
// records it, what Work then returns to River, and the event to emit once
// it is written.
type outcome[TTx any] struct {
	write gcRequest[TTx] // a status row, and for SENT the job's completion
	ret   error          // Work's result once written
	ev    *mailer.Event  // emitted once written, or nil
	next  time.Time      // a retry's time, for NextRetry, or zero
	route string         // the message's routing tag, for the hooks
}

// record writes out and returns what Work tells River. When the write
// fails (persist tried settleTries times: the database is unreachable for
// a while), the outcome is known only in memory. A record left SENDING
// would be settled on the job's next run as after a crash mid-send:
// UNKNOWN although the server answered 250, or sent a second time with
// RetryUnknown. So record keeps out under the job's ID and Work snoozes
// the job (a *storeError uses no attempt); when the job comes back, Work
// writes the kept outcome (replay) instead of claiming the record. If
// River could not write the snooze either, the job stays running until
// River's rescuer takes it: it comes back as a retry, or, on its last
// attempt, the rescuer discards it and the sweep writes the kept outcome
// (writeKept) instead of settling the record as after a crash.
//
// The outcome lives in this process only. The record becomes UNKNOWN as
// after a crash (or is sent again with RetryUnknown) if the process stops
// before the database is back, and on PostgreSQL if another process
// fetches the job first (the snoozed job, or the job the rescuer gave
// back) or, for a job the rescuer discarded, if another process runs the
// sweep first. An entry is dropped once written, or once its record is
// no longer SENDING for its job (forgetSettled, run by the sweeps this
// process runs: on PostgreSQL with several processes an entry may stay
// until this process runs one).
func (o *Outbox[TTx]) record(wctx context.Context, job *river.Job[mailArgs], out *outcome[TTx]) error {
	if err := o.persist(wctx, &out.write); err != nil {
		o.unsaved.Store(job.ID, out)
		return &storeError{fmt.Errorf("outbox: recording %s: %w", out.write.row.status, err)}
	}
	o.unsaved.Delete(job.ID)
	if !out.next.IsZero() {
		o.retryWait.Store(job.ID, out.next)
	}
	if out.ev != nil {
		o.emit(wctx, *out.ev)
	}
	return out.ret
}

// replay writes the outcome that an earlier run of job could not (see
// record). The write changes the record only if it is still SENDING for
// job, or settled as after a crash for a final outcome (see statusRow):
// not if the record moved on otherwise meanwhile, nor if the earlier
// write did commit.
func (o *Outbox[TTx]) replay(ctx context.Context, job *river.Job[mailArgs], out *outcome[TTx]) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(out.context(ctx)), writeTimeout)
	defer cancel()
	o.opts.Logger.Info("outbox: writing the outcome of an earlier attempt", "message_id", job.Args.MessageID,
		"job_id", job.ID, "status", string(out.write.row.status))
	return o.record(wctx, job, out)
}

// context returns ctx with out's routing tag, for the hooks.
func (out *outcome[TTx]) context(ctx context.Context) context.Context {
	if out.route != "" {
		return context.WithValue(ctx, routeKey{}, out.route)
	}
	return ctx
}

// sweepKept writes the outcome kept for job jobID, which the sweep found
// no longer live while the record id is SENDING for it (see writeKept),
// emits the outcome's event and drops it. It reports whether it wrote it:
// not if the record changed meanwhile, which drops it too.
func (o *Outbox[TTx]) sweepKept(ctx context.Context, id string, jobID int64, out *outcome[TTx]) (bool, error) {
	err := o.inOwnTx(ctx, func(tx TTx) error { return o.writeKept(ctx, tx, id, jobID, out) })
	if err != nil && !errors.Is(err, errSwept) {
		return false, err
	}
	o.unsaved.CompareAndDelete(jobID, out)
	if err != nil {
		return false, nil
	}
	o.opts.Logger.Info("outbox: record had no live job; the sweep wrote the outcome its attempt could not", "message_id", id,
		"job_id", jobID, "status", string(out.write.row.status))
	if out.ev != nil {
		o.emit(out.context(ctx), *out.ev)
	}
	return true, nil
}

// writeKept writes, in the sweep's tx, the outcome kept for job jobID
// (see record) whose record id the sweep found SENDING while the job is no
// longer live: River's rescuer discarded it, its snooze unwritten. The
// job is finalized, so the write does not complete it; an outcome that
// asks for another attempt (PENDING) gets a new job, due when the outcome
// said. It returns errSwept if the record is no longer SENDING for jobID.
func (o *Outbox[TTx]) writeKept(ctx context.Context, tx TTx, id string, jobID int64, out *outcome[TTx]) error {
	row := *out.write.row
	n, err := o.runStatus(ctx, tx, []*statusRow{&row})
	if err != nil {
		return fmt.Errorf("outbox: sweep: %w", err)
	}
	if n != 1 {
		return errSwept
	}
	if row.status != StatusPending {
		return nil
	}
	due := time.Now()
	if next := time.UnixMicro(row.nextAt); row.nextAt != 0 && next.After(due) {
		due = next
	}
	res, err := o.river.InsertTx(ctx, tx, mailArgs{MessageID: id}, &river.InsertOpts{Queue: o.opts.Queue, MaxAttempts: o.opts.MaxAttempts, ScheduledAt: due})
	if err != nil {
		return fmt.Errorf("outbox: sweep: scheduling %q: %w", id, err)
	}
	if n, err = o.store.ExecTx(ctx, tx, "UPDATE "+o.q.table+" SET job_id = ? WHERE message_id = ? AND job_id = ? AND status = ?",
		res.Job.ID, id, jobID, string(StatusPending)); err != nil {
		return fmt.Errorf("outbox: sweep: %w", err)
	}
	if n != 1 {
		return errSwept
	}
	return nil
}

// forgetSettled drops the kept outcomes (see record) whose record is no
// longer SENDING for their job: no write of theirs can change it any more
// (see statusRow), except over a crash guess, which it writes instead (a
// final outcome only, as the status statement does). Their job may never
// run again in this process (another process took it, or settled the
// record), and the entry would stay for ever. It looks at sweepBatch
// entries at most.
func (o *Outbox[TTx]) forgetSettled(ctx context.Context) error {
	type entry struct {
		jobID int64
		out   *outcome[TTx]
	}
	var kept []entry
	o.unsaved.Range(func(k, v any) bool {
		kept = append(kept, entry{k.(int64), v.(*outcome[TTx])})
		return len(kept) < sweepBatch
	})
	for _, e := range kept {
		id := e.out.write.row.messageID
		rows, err := o.store.Query(ctx, "SELECT status, last_error FROM "+o.q.table+" WHERE message_id = ? AND job_id = ?", id, e.jobID)
		if err != nil {
			return fmt.Errorf("outbox: sweep: %w", err)
		}
		var st, lastErr string
		found := rows.Next()
		if found {
			err = rows.Scan(&st, &lastErr)
		}
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("outbox: sweep: %w", err)
		}
		switch {
		case found && Status(st) == StatusSending:
			// Still SENDING: its job's next run or a sweep writes it.
		case found && Status(st) == StatusUnknown && lastErr == errDiedWhileSending.Error() && e.out.write.row.status != StatusPending:
			if _, err := o.sweepKept(ctx, id, e.jobID, e.out); err != nil {
				return err
			}
		default:
			o.unsaved.CompareAndDelete(e.jobID, e.out)
		}
	}
	return nil
}

package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
)

// The sweep is the outbox's safety net for its one invariant: a PENDING
// record has a live River job (available, pending, retryable, running or
// scheduled), a SENDING record the job that is sending it. A record whose
// job is finalized (discarded, cancelled, completed) or deleted would wait
// for ever. The worker's paths are not meant to leave one, but the cost
// of a silent loss is high: Start and a periodic job (every sweepInterval;
// River's leader inserts it, and whichever process fetches it runs it)
// look for such records. A PENDING one gets a new job
// due now; a SENDING one is settled as after a dead process (UNKNOWN, or
// PENDING with a new job with RetryUnknown), unless this process keeps
// its job's outcome because the database refused it (River's rescuer
// discarded the job on its last attempt; see record): the sweep then
// writes that outcome. Records never claimed (job_id 0) still have the
// job their enqueue inserted in the same transaction, which only an
// attempt can end.

// sweepArgs are the arguments of the periodic sweep job.
type sweepArgs struct{}

// Kind implements river.JobArgs.
func (sweepArgs) Kind() string { return "mail_outbox_sweep" }

// sweepInterval is how often the sweep job runs.
const sweepInterval = time.Minute

// sweepBatch bounds the records one sweep adopts.
const sweepBatch = 1000

type sweepWorker[TTx any] struct {
	river.WorkerDefaults[sweepArgs]
	o *Outbox[TTx]
}

func (w *sweepWorker[TTx]) Work(ctx context.Context, _ *river.Job[sweepArgs]) error {
	_, err := w.o.sweep(ctx)
	return err
}

// errSwept means another sweep or a worker changed the record meanwhile.
var errSwept = errors.New("outbox: record changed during the sweep")

// orphansSQL selects PENDING and SENDING records whose job is not live.
func orphansSQL(q queries, schema string) string {
	jobs := "river_job"
	if schema != "" {
		jobs = quoteIdent(schema) + ".river_job"
	}
	return "SELECT m.message_id, m.job_id, m.status FROM " + q.table + " AS m WHERE m.status IN (?, ?) AND m.job_id <> 0 " +
		"AND NOT EXISTS (SELECT 1 FROM " + jobs + " AS j WHERE j.id = m.job_id " +
		"AND j.state IN ('available', 'pending', 'retryable', 'running', 'scheduled')) LIMIT ?"
}

// sweep gives a job back to the records left without a live one and
// returns how many it changed.
func (o *Outbox[TTx]) sweep(ctx context.Context) (int, error) {
	type orphan struct {
		id     string
		jobID  int64
		status Status
	}
	rows, err := o.store.Query(ctx, o.q.orphans, string(StatusPending), string(StatusSending), sweepBatch)
	if err != nil {
		return 0, fmt.Errorf("outbox: sweep: %w", err)
	}
	var orphans []orphan
	for rows.Next() {
		var (
			r  orphan
			st string
		)
		if err := rows.Scan(&r.id, &r.jobID, &st); err != nil {
			rows.Close()
			return 0, fmt.Errorf("outbox: sweep: %w", err)
		}
		r.status = Status(st)
		orphans = append(orphans, r)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return 0, fmt.Errorf("outbox: sweep: %w", err)
	}
	rows.Close()
	n := 0
	for _, r := range orphans {
		if v, ok := o.unsaved.Load(r.jobID); ok && r.status == StatusSending {
			// The job's outcome is known here (see record): written, not
			// taken for a crash mid-send.
			written, err := o.sweepKept(ctx, r.id, r.jobID, v.(*outcome[TTx]))
			if err != nil {
				return n, err
			}
			if written {
				n++
			}
			continue
		}
		err := o.inOwnTx(ctx, func(tx TTx) error { return o.adopt(ctx, tx, r.id, r.jobID, r.status) })
		if errors.Is(err, errSwept) {
			continue
		}
		if err != nil {
			return n, err
		}
		n++
		o.opts.Logger.Warn("outbox: record had no live job; the sweep settled it", "message_id", r.id, "job_id", r.jobID, "status", string(r.status))
	}
	return n, o.forgetSettled(ctx)
}

// adopt settles the record of id, left in st by job jobID that is no
// longer live, if it is still so.
func (o *Outbox[TTx]) adopt(ctx context.Context, tx TTx, id string, jobID int64, st Status) error {
	now := time.Now().UnixMicro()
	if st == StatusSending && !o.opts.RetryUnknown {
		n, err := o.store.ExecTx(ctx, tx, "UPDATE "+o.q.table+" SET status = ?, next_at = 0, last_error = ?, updated_at = ? WHERE message_id = ? AND job_id = ? AND status = ?",
			string(StatusUnknown), errDiedWhileSending.Error(), now, id, jobID, string(StatusSending))
		if err != nil {
			return fmt.Errorf("outbox: sweep: %w", err)
		}
		if n != 1 {
			return errSwept
		}
		return nil
	}
	res, err := o.river.InsertTx(ctx, tx, mailArgs{MessageID: id}, &river.InsertOpts{Queue: o.opts.Queue, MaxAttempts: o.opts.MaxAttempts})
	if err != nil {
		return fmt.Errorf("outbox: sweep: scheduling %q: %w", id, err)
	}
	lastErr := "CASE WHEN status = 'SENDING' THEN ? ELSE last_error END"
	n, err := o.store.ExecTx(ctx, tx, "UPDATE "+o.q.table+" SET status = ?, job_id = ?, next_at = ?, last_error = "+lastErr+", updated_at = ? WHERE message_id = ? AND job_id = ? AND status = ?",
		string(StatusPending), res.Job.ID, now, errDiedWhileSending.Error(), now, id, jobID, string(st))
	if err != nil {
		return fmt.Errorf("outbox: sweep: %w", err)
	}
	if n != 1 {
		return errSwept // rolls the new job back
	}
	return nil
}

package outbox

import (
	"context"
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
// writes the kept outcome (replay) instead of claiming the record.
//
// The outcome lives in this process only: it is lost, and the record
// becomes UNKNOWN as after a crash, if the process stops before the
// database is back, or (PostgreSQL) if another process fetches the
// snoozed job first.
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
// record); the job's record is still SENDING for it.
func (o *Outbox[TTx]) replay(ctx context.Context, job *river.Job[mailArgs], out *outcome[TTx]) error {
	if out.route != "" {
		ctx = context.WithValue(ctx, routeKey{}, out.route)
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	o.opts.Logger.Info("outbox: writing the outcome of an earlier attempt", "message_id", job.Args.MessageID,
		"job_id", job.ID, "status", string(out.write.row.status))
	return o.record(wctx, job, out)
}

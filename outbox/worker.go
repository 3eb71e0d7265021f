package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/postkit/mailer"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"
)

// worker sends one message per River job. Each job run is exactly one
// SMTP attempt: the Sender's own retries are switched off by
// mailer.ContextWithRetryPolicy, and the outbox decides what happens next
// from mailer.Classify (see the README's guarantees table).
type worker[TTx any] struct {
	river.WorkerDefaults[mailArgs]
	o *Outbox[TTx]
}

// writeTimeout bounds the status writes after an attempt; they run even
// when Stop has cancelled the attempt. It also bounds every commit of the
// group commit (groupcommit.go), an enqueue's too.
const writeTimeout = 30 * time.Second

// maxErrorText bounds the stored error text.
const maxErrorText = 2000

// errSuperseded cancels a job that is no longer the one that may send its
// message (Retry or a restart gave the message a new job).
var errSuperseded = errors.New("outbox: job superseded by a newer one for the same message")

// errDiedWhileSending is the record's error after a process died mid-send.
var errDiedWhileSending = errors.New("outbox: the process sending this message stopped before the outcome was recorded; the message may have been delivered")

// NextRetry returns the time Work chose for the next attempt (and wrote
// in the record as its next attempt), or now if that has passed already:
// the status write can take longer than a short wait on a busy database,
// and River replaces a time in the past with its own policy (attempt⁴
// seconds: 16 s after the second attempt, 81 s after the third).
func (w *worker[TTx]) NextRetry(job *river.Job[mailArgs]) time.Time {
	if v, ok := w.o.retryWait.LoadAndDelete(job.ID); ok {
		if now := time.Now(); v.(time.Time).Before(now) {
			return now
		}
		return v.(time.Time)
	}
	o := w.o.opts
	return time.Now().Add(o.Backoff(o.MinWait, o.MaxWait, job.Attempt))
}

// claimed is what an attempt needs, read while marking the record SENDING.
type claimed struct {
	attempts int
	env      mailer.Envelope
	body     []byte
	route    string
}

func (w *worker[TTx]) Work(ctx context.Context, job *river.Job[mailArgs]) error {
	o := w.o
	var err error
	if out, ok := o.unsaved.Load(job.ID); ok {
		err = o.replay(ctx, job, out.(*outcome[TTx]))
	} else {
		err = o.work(ctx, job)
	}
	if se, ok := errors.AsType[*storeError](err); ok {
		// A database error is no SMTP attempt. Returned to River as an
		// error it would use one of River's attempts, and on the last
		// one River would discard the job while the record stays
		// PENDING (or SENDING) with nothing left to send it. A snooze
		// uses no attempt: the job comes back after Options.DBRetryWait.
		o.opts.Logger.Warn("outbox: database error; the message's job tries again", "message_id", job.Args.MessageID,
			"job_id", job.ID, "wait", o.opts.DBRetryWait, "error", se.err.Error())
		return river.JobSnooze(o.opts.DBRetryWait)
	}
	return err
}

// work runs one attempt of job; a database error comes back as a
// *storeError.
func (o *Outbox[TTx]) work(ctx context.Context, job *river.Job[mailArgs]) error {
	c, err := o.claim(ctx, job, false)
	switch {
	case errors.Is(err, errNotClaimable):
		return o.notClaimable(ctx, job)
	case errors.Is(err, errBadEnvelope):
		return o.badEnvelope(ctx, job, c, err)
	case err != nil:
		return &storeError{err}
	}
	return o.sendClaimed(ctx, job, c)
}

// storeError is a database error met by a job: the job snoozes instead
// of failing an attempt.
type storeError struct{ err error }

func (e *storeError) Error() string { return e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }

// badEnvelope makes FAILED a record claimed for job whose stored envelope
// does not decode: no attempt could ever send it.
func (o *Outbox[TTx]) badEnvelope(ctx context.Context, job *river.Job[mailArgs], c claimed, cause error) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	ev := mailer.Event{MessageID: job.Args.MessageID, Attempt: c.attempts, Time: time.Now(), Outcome: mailer.OutcomePermanent, Err: cause}
	out := o.failOutcome(ev, job, StatusFailed, cause)
	out.route = c.route
	return o.record(wctx, job, out)
}

// sendClaimed makes the one SMTP attempt of a claimed job and settles it.
func (o *Outbox[TTx]) sendClaimed(ctx context.Context, job *river.Job[mailArgs], c claimed) error {
	id := job.Args.MessageID
	if c.route != "" {
		ctx = context.WithValue(ctx, routeKey{}, c.route)
	}
	start := time.Now()
	o.emit(ctx, mailer.Event{MessageID: id, Status: mailer.StatusSending, Attempt: c.attempts, Time: start, Recipients: c.env.To})

	sctx := mailer.ContextWithRetryPolicy(ctx, mailer.RetryPolicy{MaxAttempts: 1})
	receipt, sendErr := o.sender.SendRaw(sctx, c.env, c.body)
	c.body = nil
	out := mailer.Classify(sendErr)
	if sendErr != nil && len(receipt.Recipients) > 0 {
		out = mailer.OutcomeDelivered // some recipients got it; the refused ones are in the error
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	return o.settle(wctx, ctx, job, c, attemptResult{receipt: receipt, err: sendErr, outcome: out, start: start})
}

type attemptResult struct {
	receipt mailer.Receipt
	err     error
	outcome mailer.Outcome
	start   time.Time
}

// settle records the outcome of an attempt and tells River what to do.
// wctx is for the writes; ctx is the job's, to tell Stop from a failure.
func (o *Outbox[TTx]) settle(wctx, ctx context.Context, job *river.Job[mailArgs], c claimed, r attemptResult) error {
	out := o.decide(ctx, job, c, r)
	out.route = c.route
	return o.record(wctx, job, out)
}

// decide chooses what an attempt's outcome makes of the record and of the
// job (see settle).
func (o *Outbox[TTx]) decide(ctx context.Context, job *river.Job[mailArgs], c claimed, r attemptResult) *outcome[TTx] {
	id := job.Args.MessageID
	var se *mailer.SendError
	errors.As(r.err, &se)
	ev := mailer.Event{MessageID: id, Attempt: c.attempts, Time: time.Now(), Duration: time.Since(r.start),
		Recipients: c.env.To, Outcome: r.outcome, Err: r.err}
	if se != nil {
		ev.Code, ev.EnhancedCode, ev.Response = se.Code, se.EnhancedCode, se.Message
	}
	stopped := ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded)

	switch {
	case r.outcome == mailer.OutcomeDelivered:
		ev.Status, ev.Response, ev.Recipients = mailer.StatusSent, r.receipt.Response, r.receipt.Recipients
		ev.Code, ev.EnhancedCode = 0, mailer.EnhancedCode{}
		return &outcome[TTx]{write: gcRequest[TTx]{row: sentRow(job, r), complete: job.ID}, ev: &ev}

	case r.outcome == mailer.OutcomeTemporary && stopped:
		// Stop cancelled the attempt before the final dot: nothing was
		// delivered. Back to PENDING without using an attempt; River
		// hands the job out again at once (to another process on PG).
		return &outcome[TTx]{write: gcRequest[TTx]{row: newStatusRow(id, job.ID, StatusPending, -1, time.Now(), r.err)},
			ret: river.JobSnooze(0)}

	case r.outcome == mailer.OutcomeTemporary && o.throttled(se) && snoozes(job) < o.opts.MaxSnoozes:
		wait := spread(max(o.opts.ThrottleWait, se.MinWait()))
		ev.Status, ev.Wait = mailer.StatusRetrying, wait
		return &outcome[TTx]{write: gcRequest[TTx]{row: newStatusRow(id, job.ID, StatusPending, -1, time.Now().Add(wait), r.err)},
			ret: river.JobSnooze(wait), ev: &ev}

	case r.outcome == mailer.OutcomeTemporary || r.outcome == mailer.OutcomeUnknown && o.opts.RetryUnknown:
		if job.Attempt >= job.MaxAttempts {
			return o.failOutcome(ev, job, StatusFailed, r.err)
		}
		wait := o.opts.Backoff(o.opts.MinWait, o.opts.MaxWait, job.Attempt)
		if se != nil {
			floor := se.MinWait()
			if o.throttled(se) {
				floor = max(floor, o.opts.ThrottleWait)
			}
			if wait < floor {
				wait = spread(floor)
			}
		}
		next := time.Now().Add(wait)
		ev.Status, ev.Wait = mailer.StatusRetrying, wait
		ev.MaybeDuplicate = r.outcome == mailer.OutcomeUnknown
		return &outcome[TTx]{write: gcRequest[TTx]{row: newStatusRow(id, job.ID, StatusPending, 0, next, r.err)},
			ret: r.err, ev: &ev, next: next}

	case r.outcome == mailer.OutcomeUnknown:
		return o.failOutcome(ev, job, StatusUnknown, r.err)

	default: // permanent
		return o.failOutcome(ev, job, StatusFailed, r.err)
	}
}

// throttled reports a reply that asks the client to slow down: 421, an
// enhanced code 4.7.x, or one the Sender marked with a least wait.
func (o *Outbox[TTx]) throttled(se *mailer.SendError) bool {
	if se == nil {
		return false
	}
	return se.Code == 421 || se.EnhancedCode[0] == 4 && se.EnhancedCode[1] == 7 || se.MinWait() > 0
}

// snoozes returns how often River has snoozed the job so far.
func snoozes(job *river.Job[mailArgs]) int {
	var md struct {
		Snoozes int `json:"snoozes"`
	}
	_ = json.Unmarshal(job.Metadata, &md)
	return md.Snoozes
}

// failOutcome records a final FAILED or UNKNOWN and cancels the job for
// good.
func (o *Outbox[TTx]) failOutcome(ev mailer.Event, job *river.Job[mailArgs], st Status, cause error) *outcome[TTx] {
	ev.Status = mailer.StatusFailed
	return &outcome[TTx]{write: gcRequest[TTx]{row: newStatusRow(job.Args.MessageID, job.ID, st, 0, time.Time{}, cause)},
		ret: river.JobCancel(cause), ev: &ev}
}

// sentRow is the record of a delivered attempt; its write completes
// River's job in the same transaction, so the two never disagree.
func sentRow(job *river.Job[mailArgs], r attemptResult) *statusRow {
	code, enh := replyCode(r.receipt.Response)
	var errText string
	if r.err != nil {
		errText = errorText(r.err)
	}
	return &statusRow{messageID: job.Args.MessageID, jobID: job.ID, status: StatusSent, code: code, enhanced: enh,
		errText: errText, response: r.receipt.Response, setResponse: true}
}

// settleTries is how often persist writes an attempt's outcome before it
// gives up (and record holds the outcome for the job's next run).
const settleTries = 3

// persist writes an attempt's outcome, trying again with a fresh bound
// when a write fails (a busy or timed-out group commit): the outcome is
// known only here, and a record left SENDING would later be taken for a
// crash mid-send. The writes set the record by its key and job, only
// while it is SENDING or settled as after a crash (see statusRow), and
// River's completion applies only to a running job, so a write that
// committed although it reported an error does nothing when repeated.
// The pause between tries is a tenth of DBRetryWait, then two, at most a
// second each: the outcome must be written before River's rescuer
// (RescueAfter) takes the job back.
func (o *Outbox[TTx]) persist(ctx context.Context, r *gcRequest[TTx]) error {
	var err error
	for try := range settleTries {
		if try > 0 {
			time.Sleep(min(time.Duration(try)*o.opts.DBRetryWait/10, time.Second))
		}
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
		req := *r
		req.ctx = wctx
		err = o.write(&req)
		cancel()
		if err == nil {
			return nil
		}
	}
	return err
}

// completeJobs marks River's jobs ids completed in tx, with one statement
// for all of them on PostgreSQL. It is what river.JobCompleteTx does for
// one job (the outbox records no job output, so there is no metadata to
// merge), through River's driver so that a group of SENT records costs one
// round trip instead of one per job. River's driver interface is not
// covered by semver: an upgrade of River that changes it fails to build.
func (o *Outbox[TTx]) completeJobs(ctx context.Context, tx TTx, ids []int64) error {
	now := time.Now()
	p := &riverdriver.JobSetStateIfRunningManyParams{Schema: o.store.Schema()}
	for _, id := range ids {
		c := riverdriver.JobSetStateCompleted(id, now, nil)
		p.ID = append(p.ID, c.ID)
		p.Attempt = append(p.Attempt, c.Attempt)
		p.ErrData = append(p.ErrData, c.ErrData)
		p.FinalizedAt = append(p.FinalizedAt, c.FinalizedAt)
		p.MetadataDoMerge = append(p.MetadataDoMerge, false)
		p.MetadataUpdates = append(p.MetadataUpdates, nil)
		p.ScheduledAt = append(p.ScheduledAt, c.ScheduledAt)
		p.State = append(p.State, c.State)
	}
	jobs, err := o.store.Driver().UnwrapExecutor(tx).JobSetStateIfRunningMany(ctx, p)
	if err != nil {
		return fmt.Errorf("outbox: completing jobs: %w", err)
	}
	if len(jobs) != len(ids) {
		return fmt.Errorf("outbox: completing jobs: %d of %d found: %w", len(jobs), len(ids), rivertype.ErrNotFound)
	}
	return nil
}

// update writes the result of a failed attempt. attemptsDelta gives an
// attempt back (-1) when it did not count.
func (o *Outbox[TTx]) update(ctx context.Context, id string, jobID int64, st Status, attemptsDelta int, next time.Time, cause error) error {
	row := newStatusRow(id, jobID, st, attemptsDelta, next, cause)
	if err := o.persist(ctx, &gcRequest[TTx]{row: row}); err != nil {
		return fmt.Errorf("outbox: recording %s: %w", st, err)
	}
	return nil
}

// newStatusRow is the change of a record to st by job jobID; next is
// the next attempt's time, or zero.
func newStatusRow(id string, jobID int64, st Status, attemptsDelta int, next time.Time, cause error) *statusRow {
	row := &statusRow{messageID: id, jobID: jobID, status: st, attemptsDelta: attemptsDelta}
	var se *mailer.SendError
	if errors.As(cause, &se) {
		row.code, row.enhanced = se.Code, se.EnhancedCode.String()
	}
	if cause != nil {
		row.errText = errorText(cause)
	}
	if !next.IsZero() {
		row.nextAt = next.UnixMicro()
	}
	return row
}

func errorText(err error) string {
	s := err.Error()
	if len(s) > maxErrorText {
		s = s[:maxErrorText] + "…"
	}
	return s
}

// replyCode reads "250 2.0.0 OK" into 250 and "2.0.0".
func replyCode(resp string) (int, string) {
	var (
		code    int
		a, b, c int
	)
	if n, _ := fmt.Sscanf(resp, "%d %d.%d.%d", &code, &a, &b, &c); n == 4 {
		return code, fmt.Sprintf("%d.%d.%d", a, b, c)
	}
	return code, ""
}

// emit calls the hooks; a panicking hook is logged and ignored.
func (o *Outbox[TTx]) emit(ctx context.Context, ev mailer.Event) {
	for _, h := range o.opts.Hooks {
		func() {
			defer func() {
				if p := recover(); p != nil {
					o.opts.Logger.Error("outbox: hook panicked", "message_id", ev.MessageID, "panic", fmt.Sprint(p))
				}
			}()
			h(ctx, ev)
		}()
	}
}

// spread returns a random wait in [d, d+d/4]. A floor (ThrottleWait, a
// reply rule's MinWait) is met by every message of a burst that one
// throttling provider stopped: waiting exactly d would bring them all back
// at the same instant, to be throttled again.
func spread(d time.Duration) time.Duration {
	extra := min(d/4, math.MaxInt64-d) // no overflow past the longest wait
	if extra <= 0 {
		return d
	}
	return d + rand.N(extra)
}

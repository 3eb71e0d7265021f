package outbox_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
	"github.com/postkit/mailer/outbox"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"
)

// riverDownStore also fails River's writes of a job's snooze while
// failSnooze is set: the database is down for River's completer too, and
// the job stays running in River's table.
type riverDownStore[TTx any] struct {
	*faultyStore[TTx]
	failSnooze *atomic.Bool
}

func (s riverDownStore[TTx]) Driver() riverdriver.Driver[TTx] {
	return snoozeFailingDriver[TTx]{Driver: s.faultyStore.Driver(), fail: s.failSnooze}
}

type snoozeFailingDriver[TTx any] struct {
	riverdriver.Driver[TTx]
	fail *atomic.Bool
}

func (d snoozeFailingDriver[TTx]) GetExecutor() riverdriver.Executor {
	return snoozeFailingExec{Executor: d.Driver.GetExecutor(), fail: d.fail}
}

type snoozeFailingExec struct {
	riverdriver.Executor
	fail *atomic.Bool
}

func (e snoozeFailingExec) JobSetStateIfRunningMany(ctx context.Context, p *riverdriver.JobSetStateIfRunningManyParams) ([]*rivertype.JobRow, error) {
	for _, st := range p.State {
		if (st == rivertype.JobStateScheduled || st == rivertype.JobStateAvailable) && e.fail.Load() {
			return nil, errInjected
		}
	}
	return e.Executor.JobSetStateIfRunningMany(ctx, p)
}

// An outcome kept in memory because the database refused its writes must
// not be lost when River cannot write the job's snooze either: the job
// stays running, and River's rescuer discards it when it was on its last
// attempt. The sweep then found the record SENDING without a live job and
// settled it as after a crash: UNKNOWN although the server answered 250,
// or, with RetryUnknown, a second delivery; the kept outcome stayed in
// memory for ever. The sweep now writes the kept outcome.
func TestKeptOutcomeOfDiscardedJob(t *testing.T) {
	bothFaultyBothModes(t, testKeptOutcomeOfDiscardedJob[*sql.Tx], testKeptOutcomeOfDiscardedJob[pgx.Tx])
}

func testKeptOutcomeOfDiscardedJob[TTx any](t *testing.T, fs *faultyStore[TTx], retryUnknown bool) {
	ctx := context.Background()
	k := keepOutcome(t, fs, retryUnknown)
	k.discardJob(t)
	if n, err := outbox.SweepNow(ctx, k.ob); err != nil || n != 1 {
		t.Fatalf("sweep changed %d records, %v: want 1", n, err)
	}
	r, err := k.ob.Status(ctx, k.id)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != outbox.StatusSent || r.Attempts != 1 || r.LastCode != 250 || len(k.srv.Messages()) != 1 {
		t.Fatalf("record %+v, server has %d messages: want SENT (250) after 1 attempt, sent once", r, len(k.srv.Messages()))
	}
	if n := outbox.KeptOutcomes(k.ob); n != 0 {
		t.Fatalf("%d outcomes still kept after the sweep wrote it", n)
	}
	if got := k.rec.statuses(k.id); len(got) == 0 || got[len(got)-1] != mailer.StatusSent.String() {
		t.Fatalf("hook saw %v, want SENT last", got)
	}
}

// A kept outcome that asks for another attempt (here a throttling reply,
// which uses no attempt) gets a new job from the sweep, as its discarded
// job cannot run again.
func TestKeptRetryOfDiscardedJob(t *testing.T) {
	bothFaulty(t, testKeptRetryOfDiscardedJob[*sql.Tx], testKeptRetryOfDiscardedJob[pgx.Tx])
}

func testKeptRetryOfDiscardedJob[TTx any](t *testing.T, fs *faultyStore[TTx]) {
	ctx := context.Background()
	k := keepOutcome(t, fs, false, mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepDataEnd, On: 1, Reply: "451 4.7.1 Slow down"}))
	k.discardJob(t)
	if n, err := outbox.SweepNow(ctx, k.ob); err != nil || n != 1 {
		t.Fatalf("sweep changed %d records, %v: want 1", n, err)
	}
	if r, err := k.ob.Status(ctx, k.id); err != nil || r.Status != outbox.StatusPending || r.Attempts != 0 || r.JobID == k.jobID {
		t.Fatalf("record %+v, %v: want PENDING, the attempt given back, with a new job", r, err)
	}
	r := waitFor(t, k.ob, k.id, is(outbox.StatusSent))
	if r.Attempts != 1 || len(k.srv.Messages()) != 1 || outbox.KeptOutcomes(k.ob) != 0 {
		t.Fatalf("record %+v, server has %d messages, %d outcomes kept: want SENT after 1 attempt, sent once, none kept",
			r, len(k.srv.Messages()), outbox.KeptOutcomes(k.ob))
	}
}

// A kept outcome whose record was settled meanwhile (on PostgreSQL by
// another process that took the job) changes nothing when written, and is
// not kept for ever: by the job's next run here, or by the sweep once the
// job is finalized.
func TestKeptOutcomeOfSettledRecord(t *testing.T) {
	for _, jobComesBack := range []bool{true, false} {
		t.Run(map[bool]string{true: "replay", false: "sweep"}[jobComesBack], func(t *testing.T) {
			bothFaulty(t,
				func(t *testing.T, st *faultyStore[*sql.Tx]) { testKeptOutcomeOfSettledRecord(t, st, jobComesBack) },
				func(t *testing.T, st *faultyStore[pgx.Tx]) { testKeptOutcomeOfSettledRecord(t, st, jobComesBack) })
		})
	}
}

func testKeptOutcomeOfSettledRecord[TTx any](t *testing.T, fs *faultyStore[TTx], jobComesBack bool) {
	ctx := context.Background()
	k := keepOutcome(t, fs, false)
	if n, err := fs.Exec(ctx, "UPDATE mail_outbox SET status = 'UNKNOWN' WHERE message_id = ?", k.id); err != nil || n != 1 {
		t.Fatalf("settling the record: %d rows, %v", n, err)
	}
	if jobComesBack {
		k.river.failSnooze.Store(false) // River's completer writes the snooze; the job runs again
		waitForKept(t, k.ob, 0)
	} else {
		k.discardJob(t)
		if n, err := outbox.SweepNow(ctx, k.ob); err != nil || n != 0 {
			t.Fatalf("sweep changed %d records, %v: want none", n, err)
		}
		if n := outbox.KeptOutcomes(k.ob); n != 0 {
			t.Fatalf("%d outcomes still kept after the sweep, for a settled record", n)
		}
	}
	if r, err := k.ob.Status(ctx, k.id); err != nil || r.Status != outbox.StatusUnknown {
		t.Fatalf("record %+v, %v: want it left UNKNOWN", r, err)
	}
}

// kept is an outbox whose one attempt's outcome is kept in memory:
// the database refused its writes, and River's write of the job's snooze
// fails too, so that the job stays running.
type kept[TTx any] struct {
	ob    *outbox.Outbox[TTx]
	fs    *faultyStore[TTx]
	river riverDownStore[TTx]
	srv   *mailertest.Server
	rec   *recorder
	id    string
	jobID int64
}

func keepOutcome[TTx any](t *testing.T, fs *faultyStore[TTx], retryUnknown bool, srvOpts ...mailertest.Option) *kept[TTx] {
	t.Helper()
	ctx := context.Background()
	k := &kept[TTx]{fs: fs, river: riverDownStore[TTx]{faultyStore: fs, failSnooze: new(atomic.Bool)},
		srv: mailertest.NewServer(t, srvOpts...), rec: &recorder{}}
	var err error
	k.ob, err = outbox.New(newClient(t, k.srv), outbox.Store[TTx](k.river),
		fast(outbox.Options{MaxAttempts: 1, RetryUnknown: retryUnknown, Hooks: []mailer.Hook{k.rec.hook}}))
	if err != nil {
		t.Fatal(err)
	}
	if err := k.ob.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	fs.failStatus.Store(3)         // every try of the SENT write after the 250 fails
	k.river.failSnooze.Store(true) // and so does River's write of the snooze
	start(t, k.ob)
	if k.id, err = k.ob.Enqueue(ctx, newMessage(t, 1)); err != nil {
		t.Fatal(err)
	}
	waitForKept(t, k.ob, 1)
	r, err := k.ob.Status(ctx, k.id)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != outbox.StatusSending {
		t.Fatalf("record %+v, want SENDING while its outcome is kept", r)
	}
	k.jobID = r.JobID
	return k
}

// waitForKept polls until ob keeps n outcomes (30 s at most).
func waitForKept[TTx any](t *testing.T, ob *outbox.Outbox[TTx], n int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); outbox.KeptOutcomes(ob) != n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d outcomes kept, want %d", outbox.KeptOutcomes(ob), n)
		}
	}
}

// discardJob does what River's rescuer does (after RescueAfter) with the
// job left running on its last attempt, then lets River write again.
func (k *kept[TTx]) discardJob(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	exec := k.fs.Driver().GetExecutor()
	job, err := exec.JobGetByID(ctx, &riverdriver.JobGetByIDParams{ID: k.jobID, Schema: k.fs.Schema()})
	if err != nil {
		t.Fatal(err)
	}
	if job.State != rivertype.JobStateRunning || job.Attempt < job.MaxAttempts {
		t.Fatalf("job %d is %s, attempt %d of %d: want running on its last attempt", job.ID, job.State, job.Attempt, job.MaxAttempts)
	}
	now := time.Now()
	errData, err := json.Marshal(rivertype.AttemptError{At: now, Attempt: job.Attempt, Error: "Stuck job rescued by JobRescuer"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.JobRescueMany(ctx, &riverdriver.JobRescueManyParams{ID: []int64{job.ID}, Error: [][]byte{errData},
		FinalizedAt: []*time.Time{&now}, ScheduledAt: []time.Time{job.ScheduledAt}, Schema: k.fs.Schema(),
		State: []string{string(rivertype.JobStateDiscarded)}, StuckHorizon: now}); err != nil {
		t.Fatal(err)
	}
	k.river.failSnooze.Store(false)
}

// An attempt still going on when its record is settled as after a crash
// (River's rescuer gave the job back after RescueAfter while a slow
// attempt went on, and the job's next run found the record SENDING): the
// attempt's real outcome, here the server's 250, replaces the guess. The
// status write used to apply only to a SENDING record, so the record
// stayed UNKNOWN while the hooks said SENT (and a Retry of it would have
// sent the message twice).
func TestLateOutcomeReplacesTheCrashGuess(t *testing.T) {
	bothFaulty(t, testLateOutcome[*sql.Tx], testLateOutcome[pgx.Tx])
}

func testLateOutcome[TTx any](t *testing.T, fs *faultyStore[TTx]) {
	ctx := context.Background()
	// The final dot's reply waits 1 s: time for the guess, written at once.
	l := guessWhileSending(t, fs, mailertest.Fault{Step: mailertest.StepDataEnd, On: 1, Delay: time.Second})
	waitFor(t, l.ob, l.id, func(r outbox.Record) bool {
		return len(l.rec.statuses(l.id)) > 0 && l.rec.statuses(l.id)[len(l.rec.statuses(l.id))-1] == mailer.StatusSent.String()
	})
	r, err := l.ob.Status(ctx, l.id)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != outbox.StatusSent || r.LastCode != 250 || len(l.srv.Messages()) != 1 {
		t.Fatalf("record %+v, server has %d messages: want SENT (250), the real outcome, not the guess", r, len(l.srv.Messages()))
	}
}

// guessed is an outbox whose one message's record was settled as after a
// crash (guessCrash) while its attempt was still going on.
type guessed[TTx any] struct {
	ob  *outbox.Outbox[TTx]
	srv *mailertest.Server
	rec *recorder
	id  string
}

// guessWhileSending enqueues a message for a server with fault, which
// should hold the final dot's reply, and writes the crash guess once the
// record is SENDING.
func guessWhileSending[TTx any](t *testing.T, fs *faultyStore[TTx], fault mailertest.Fault) *guessed[TTx] {
	t.Helper()
	ctx := context.Background()
	l := &guessed[TTx]{srv: mailertest.NewServer(t, mailertest.WithFaults(fault)), rec: &recorder{}}
	var err error
	l.ob, err = outbox.New(newClient(t, l.srv), outbox.Store[TTx](fs), fast(outbox.Options{Hooks: []mailer.Hook{l.rec.hook}}))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.ob.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	start(t, l.ob)
	if l.id, err = l.ob.Enqueue(ctx, newMessage(t, 1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, l.ob, l.id, is(outbox.StatusSending))
	guessCrash(t, fs, l.id)
	return l
}

// guessCrash settles the record id as after a crash, as the job's next
// run (notClaimable) or the sweep does.
func guessCrash[TTx any](t *testing.T, fs *faultyStore[TTx], id string) {
	t.Helper()
	if n, err := fs.Exec(context.Background(), "UPDATE mail_outbox SET status = 'UNKNOWN', last_error = ? WHERE message_id = ?",
		outbox.ErrDiedWhileSending.Error(), id); err != nil || n != 1 {
		t.Fatalf("guessing: %d rows, %v", n, err)
	}
}

// The sweep of the process that kept an outcome (SENT) writes it over a
// crash guess another run made for the same job (UNKNOWN,
// errDiedWhileSending), as the job's own late write would; it used to
// drop the outcome and leave the guess.
func TestKeptOutcomeOverTheCrashGuess(t *testing.T) {
	bothFaulty(t, testKeptOutcomeOverTheCrashGuess[*sql.Tx], testKeptOutcomeOverTheCrashGuess[pgx.Tx])
}

func testKeptOutcomeOverTheCrashGuess[TTx any](t *testing.T, fs *faultyStore[TTx]) {
	ctx := context.Background()
	k := keepOutcome(t, fs, false)
	guessCrash(t, fs, k.id)
	k.discardJob(t)
	if _, err := outbox.SweepNow(ctx, k.ob); err != nil {
		t.Fatal(err)
	}
	r, err := k.ob.Status(ctx, k.id)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != outbox.StatusSent || r.LastCode != 250 || len(k.srv.Messages()) != 1 || outbox.KeptOutcomes(k.ob) != 0 {
		t.Fatalf("record %+v, server has %d messages, %d kept: want SENT (250), sent once, none kept",
			r, len(k.srv.Messages()), outbox.KeptOutcomes(k.ob))
	}
}

// A temporary outcome (451) that arrives after the record was settled as
// after a crash leaves the guess: UNKNOWN is final and safe, and the job
// that would have retried the message was cancelled by the run that
// guessed, so a PENDING record would wait for the sweep and then ignore
// the backoff.
func TestLateTemporaryOutcomeLeavesTheGuess(t *testing.T) {
	bothFaulty(t, testLateTemporaryOutcome[*sql.Tx], testLateTemporaryOutcome[pgx.Tx])
}

func testLateTemporaryOutcome[TTx any](t *testing.T, fs *faultyStore[TTx]) {
	ctx := context.Background()
	l := guessWhileSending(t, fs, mailertest.Fault{Step: mailertest.StepDataEnd, On: 1, Delay: time.Second, Reply: "451 4.3.0 Try again later"})
	waitFor(t, l.ob, l.id, func(outbox.Record) bool { return slices.Contains(l.rec.statuses(l.id), mailer.StatusRetrying.String()) })
	if _, err := outbox.SweepNow(ctx, l.ob); err != nil {
		t.Fatal(err)
	}
	if r, err := l.ob.Status(ctx, l.id); err != nil || r.Status != outbox.StatusUnknown || r.LastError != outbox.ErrDiedWhileSending.Error() {
		t.Fatalf("record %+v, %v: want the guess (UNKNOWN) left", r, err)
	}
}

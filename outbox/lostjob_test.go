package outbox_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
	"github.com/postkit/mailer/outbox"
	"github.com/postkit/mailer/outbox/outboxpgx"
	"github.com/postkit/mailer/outbox/outboxsqlite"
)

// faultyStore fails the next claims (the statements that mark records
// SENDING) while failClaims is above zero, as a database error would.
type faultyStore[TTx any] struct {
	outbox.Store[TTx]
	failClaims atomic.Int32
	failStatus atomic.Int32 // the next status writes (SENT, PENDING, …) fail
}

func (s *faultyStore[TTx]) ExecTx(ctx context.Context, tx TTx, query string, args ...any) (int64, error) {
	if strings.Contains(query, "SET status = v.st") && s.failStatus.Add(-1) >= 0 {
		return 0, errInjected
	}
	return s.Store.ExecTx(ctx, tx, query, args...)
}

var errInjected = errors.New("injected database error")

func (s *faultyStore[TTx]) fail(query string) bool {
	return strings.Contains(query, "SET status = 'SENDING'") && s.failClaims.Add(-1) >= 0
}

func (s *faultyStore[TTx]) Query(ctx context.Context, query string, args ...any) (outbox.Rows, error) {
	if s.fail(query) {
		return nil, errInjected
	}
	return s.Store.Query(ctx, query, args...)
}

func (s *faultyStore[TTx]) QueryTx(ctx context.Context, tx TTx, query string, args ...any) (outbox.Rows, error) {
	if s.fail(query) {
		return nil, errInjected
	}
	return s.Store.QueryTx(ctx, tx, query, args...)
}

// bothFaulty runs sq on a faulty SQLite store and pg on a faulty PostgreSQL
// one (when MAILER_TEST_POSTGRES is set), in parallel.
func bothFaulty(t *testing.T, sq func(*testing.T, *faultyStore[*sql.Tx]), pg func(*testing.T, *faultyStore[pgx.Tx])) {
	t.Parallel()
	bothDrivers(t,
		func(t *testing.T) {
			t.Parallel()
			st, err := outboxsqlite.Open(filepath.Join(t.TempDir(), "outbox.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			sq(t, &faultyStore[*sql.Tx]{Store: st})
		},
		func(t *testing.T) {
			t.Parallel()
			pool, schema := pgPool(t)
			pg(t, &faultyStore[pgx.Tx]{Store: outboxpgx.New(pool, outboxpgx.WithSchema(schema))})
		})
}

// bothFaultyBothModes runs bothFaulty at most once (the default) and with
// RetryUnknown, as subtests.
func bothFaultyBothModes(t *testing.T, sq func(*testing.T, *faultyStore[*sql.Tx], bool), pg func(*testing.T, *faultyStore[pgx.Tx], bool)) {
	for _, retryUnknown := range []bool{false, true} {
		t.Run(map[bool]string{false: "at-most-once", true: "RetryUnknown"}[retryUnknown], func(t *testing.T) {
			bothFaulty(t,
				func(t *testing.T, st *faultyStore[*sql.Tx]) { sq(t, st, retryUnknown) },
				func(t *testing.T, st *faultyStore[pgx.Tx]) { pg(t, st, retryUnknown) })
		})
	}
}

// A database error on the job's last River attempt used to return a plain
// error: River discarded the job and the record stayed PENDING with no job
// left to send it. The error now uses no attempt; the message is SENT.
func TestDatabaseErrorOnLastAttempt(t *testing.T) {
	bothFaulty(t, testDatabaseErrorOnLastAttempt[*sql.Tx], testDatabaseErrorOnLastAttempt[pgx.Tx])
}

func testDatabaseErrorOnLastAttempt[TTx any](t *testing.T, st *faultyStore[TTx]) {
	ctx := context.Background()
	srv := mailertest.NewServer(t, mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepDataEnd, On: 1, Reply: "451 4.3.0 Try again later"}))
	hook := func(_ context.Context, e mailer.Event) {
		if e.Status == mailer.StatusRetrying {
			st.failClaims.Store(1) // the claim of the second (last) attempt fails
		}
	}
	ob, err := outbox.New(newClient(t, srv), st, fast(outbox.Options{MaxAttempts: 2, Hooks: []mailer.Hook{hook}}))
	if err != nil {
		t.Fatal(err)
	}
	if err := ob.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	start(t, ob)
	id, err := ob.Enqueue(ctx, newMessage(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	r := waitFor(t, ob, id, func(r outbox.Record) bool {
		return r.Status != outbox.StatusPending && r.Status != outbox.StatusSending
	})
	if r.Status != outbox.StatusSent || r.Attempts != 2 || len(srv.Messages()) != 1 || st.failClaims.Load() >= 0 {
		t.Fatalf("record %+v, server has %d messages, fault left %d: want SENT after 2 attempts, the fault used",
			r, len(srv.Messages()), st.failClaims.Load())
	}
}

// A PENDING record whose job is gone (discarded, cancelled, deleted) gets
// a new job at Start; a SENDING one is settled UNKNOWN.
func TestSweepGivesOrphansAJob(t *testing.T) {
	t.Parallel()
	bothDrivers(t,
		func(t *testing.T) {
			t.Parallel()
			srv := mailertest.NewServer(t)
			ob := openSQLite(t, newClient(t, srv), outbox.Options{})
			st := sqliteStoreOf(t, ob)
			testSweep(t, ob, srv, func(q string, args ...any) (int64, error) { return st.Exec(context.Background(), q, args...) })
		},
		func(t *testing.T) {
			t.Parallel()
			srv := mailertest.NewServer(t)
			ob, pool := openPGPool(t, newClient(t, srv), outbox.Options{})
			testSweep(t, ob, srv, func(q string, args ...any) (int64, error) {
				q = strings.Replace(strings.Replace(q, "?", "$1", 1), "?", "$2", 1)
				tag, err := pool.Exec(context.Background(), q, args...)
				return tag.RowsAffected(), err
			})
		})
}

func testSweep[TTx any](t *testing.T, ob *outbox.Outbox[TTx], srv *mailertest.Server, exec func(q string, args ...any) (int64, error)) {
	ctx := context.Background()
	pending, err := ob.Enqueue(ctx, newMessage(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	sending, err := ob.Enqueue(ctx, newMessage(t, 2))
	if err != nil {
		t.Fatal(err)
	}
	// Both jobs gone; the records name jobs that ran before.
	for _, s := range []struct {
		q    string
		args []any
	}{
		{"DELETE FROM river_job WHERE kind = ?", []any{"mail_outbox_send"}},
		{"UPDATE mail_outbox SET job_id = 1001, attempts = 3 WHERE message_id = ?", []any{pending}},
		{"UPDATE mail_outbox SET job_id = 1002, attempts = 1, status = 'SENDING' WHERE message_id = ?", []any{sending}},
	} {
		if n, err := exec(s.q, s.args...); err != nil || n == 0 {
			t.Fatalf("%s: %d rows, %v", s.q, n, err)
		}
	}
	start(t, ob)
	if r := waitFor(t, ob, pending, is(outbox.StatusSent)); r.JobID == 1001 || r.Attempts != 4 {
		t.Fatalf("PENDING record without a job: %+v", r)
	}
	if r := waitFor(t, ob, sending, is(outbox.StatusUnknown)); r.LastError == "" {
		t.Fatalf("SENDING record without a job: %+v", r)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("server has %d messages, want 1", n)
	}
}

// The write of an attempt's outcome failing once (a busy database) must not
// lose the outcome: the record left SENDING would be taken for a crash
// mid-send and end UNKNOWN although the server answered 250.
func TestOutcomeWriteFailsOnce(t *testing.T) {
	bothFaulty(t, testOutcomeWriteFailsOnce[*sql.Tx], testOutcomeWriteFailsOnce[pgx.Tx])
}

func testOutcomeWriteFailsOnce[TTx any](t *testing.T, st *faultyStore[TTx]) {
	ctx := context.Background()
	srv := mailertest.NewServer(t)
	ob, err := outbox.New(newClient(t, srv), st, fast(outbox.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := ob.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	st.failStatus.Store(1) // the SENT write after the 250 fails once
	start(t, ob)
	id, err := ob.Enqueue(ctx, newMessage(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	r := waitFor(t, ob, id, func(r outbox.Record) bool {
		return r.Status != outbox.StatusPending && r.Status != outbox.StatusSending
	})
	if r.Status != outbox.StatusSent || len(srv.Messages()) != 1 || st.failStatus.Load() >= 0 {
		t.Fatalf("record %+v, server has %d messages, fault left %d: want SENT, sent once, the fault used",
			r, len(srv.Messages()), st.failStatus.Load())
	}
}

// Every write of an attempt's outcome failing (the database unreachable for
// longer than the worker's three tries) must not lose the outcome either:
// the job snoozes and its next run writes the kept outcome. It used to
// find the record SENDING and settle it as after a crash: UNKNOWN although
// the server answered 250, or, with RetryUnknown, a second delivery.
func TestOutcomeWriteFailsEveryTry(t *testing.T) {
	bothFaultyBothModes(t, testOutcomeWriteFailsEveryTry[*sql.Tx], testOutcomeWriteFailsEveryTry[pgx.Tx])
}

func testOutcomeWriteFailsEveryTry[TTx any](t *testing.T, st *faultyStore[TTx], retryUnknown bool) {
	ctx := context.Background()
	srv := mailertest.NewServer(t)
	rec := &recorder{}
	ob, err := outbox.New(newClient(t, srv), st, fast(outbox.Options{RetryUnknown: retryUnknown, Hooks: []mailer.Hook{rec.hook}}))
	if err != nil {
		t.Fatal(err)
	}
	if err := ob.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	st.failStatus.Store(3) // every try of the SENT write after the 250 fails
	start(t, ob)
	id, err := ob.Enqueue(ctx, newMessage(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	r := waitFor(t, ob, id, func(r outbox.Record) bool {
		return r.Status != outbox.StatusPending && r.Status != outbox.StatusSending
	})
	if r.Status != outbox.StatusSent || r.Attempts != 1 || len(srv.Messages()) != 1 || st.failStatus.Load() >= 0 {
		t.Fatalf("record %+v, server has %d messages, fault left %d: want SENT after 1 attempt, sent once, the fault used",
			r, len(srv.Messages()), st.failStatus.Load())
	}
	if err := ob.Stop(ctx); err != nil { // the worker emits after the write
		t.Fatal(err)
	}
	if got := rec.statuses(id); len(got) == 0 || got[len(got)-1] != mailer.StatusSent.String() {
		t.Fatalf("hook saw %v, want SENT last", got)
	}
}

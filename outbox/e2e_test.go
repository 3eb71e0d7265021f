package outbox_test

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
	"github.com/postkit/mailer/outbox"
	"github.com/postkit/mailer/provider"
)

// transitions records, for each event, the record's status as Status
// reads it at that moment: hooks run after the status commits.
type transitions[TTx any] struct {
	ob *outbox.Outbox[TTx]
	mu sync.Mutex
	// seen maps a Message-ID to "event:STATUS" steps.
	seen map[string][]string
}

func (tr *transitions[TTx]) hook(ctx context.Context, e mailer.Event) {
	r, err := tr.ob.Status(ctx, e.MessageID)
	step := e.Status.String() + ":"
	if err != nil {
		step += err.Error()
	} else {
		step += string(r.Status)
	}
	tr.mu.Lock()
	tr.seen[e.MessageID] = append(tr.seen[e.MessageID], step)
	tr.mu.Unlock()
}

func (tr *transitions[TTx]) steps(id string) []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.seen[id])
}

// Enqueue → SENT end to end on both drivers, every transition visible
// through Status (from the hooks) and List.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	bothDrivers(t,
		func(t *testing.T) { testEndToEnd[*sql.Tx](t, openSQLite) },
		func(t *testing.T) { testEndToEnd[pgx.Tx](t, openPG) })
}

func testEndToEnd[TTx any](t *testing.T, open opener[TTx]) {
	srv := mailertest.NewServer(t)
	tr := &transitions[TTx]{seen: map[string][]string{}}
	ob := open(t, newClient(t, srv), outbox.Options{Hooks: []mailer.Hook{tr.hook}})
	tr.ob = ob
	ctx := context.Background()
	m := newMessage(t, 1)
	id, err := ob.Enqueue(ctx, m) // before Start, so that the PENDING step is seen
	if err != nil {
		t.Fatal(err)
	}
	start(t, ob)
	r := waitFor(t, ob, id, is(outbox.StatusSent))
	if r.Attempts != 1 || r.LastCode != 250 || !strings.HasPrefix(r.Response, "250") || !r.NextAttemptAt.IsZero() {
		t.Fatalf("SENT record = %+v", r)
	}
	want := []string{"pending:PENDING", "sending:SENDING", "sent:SENT"}
	for deadline := time.Now().Add(5 * time.Second); len(tr.steps(id)) < len(want) && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond) // the hook runs just after the commit that waitFor saw
	}
	if got := tr.steps(id); !slices.Equal(got, want) {
		t.Fatalf("transitions = %v, want %v", got, want)
	}
	recs, _, err := ob.List(ctx, outbox.Filter{Status: []outbox.Status{outbox.StatusSent}})
	if err != nil || len(recs) != 1 || recs[0].MessageID != id {
		t.Fatalf("List SENT = %v, %v", recs, err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("server got %d messages", len(msgs))
	}
	got := msgs[0]
	if got.Header.Get("Message-Id") != "<"+id+">" || got.Header.Get("Bcc") != "" {
		t.Fatalf("delivered header: Message-ID %q, Bcc %q", got.Header.Get("Message-Id"), got.Header.Get("Bcc"))
	}
	if !slices.Contains(got.To, "audit@example.com") || got.From != "app@example.com" {
		t.Fatalf("delivered envelope: from %q to %v; the Bcc recipient must be in it", got.From, got.To)
	}
	body, _ := m.Bytes()
	if !strings.Contains(string(got.Data), "Your code is 123456.") || len(got.Data) < len(body)-100 {
		t.Fatalf("delivered data differs from the stored message")
	}
}

// The fault cases of mailertest, each on its own server, on both drivers.
func TestFaults(t *testing.T) {
	t.Parallel()
	bothDrivers(t,
		func(t *testing.T) { testFaults[*sql.Tx](t, openSQLite) },
		func(t *testing.T) { testFaults[pgx.Tx](t, openPG) })
}

func testFaults[TTx any](t *testing.T, open opener[TTx]) {
	ctx := context.Background()
	t.Run("451 then SENT", func(t *testing.T) {
		t.Parallel()
		srv := mailertest.NewServer(t, mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepDataEnd, On: 1, Reply: "451 4.3.0 Try again later"}))
		var pendingSeen outbox.Record
		var ob *outbox.Outbox[TTx]
		hook := func(ctx context.Context, e mailer.Event) {
			if e.Status == mailer.StatusRetrying {
				pendingSeen, _ = ob.Status(ctx, e.MessageID)
			}
		}
		ob = open(t, newClient(t, srv), outbox.Options{Hooks: []mailer.Hook{hook}})
		start(t, ob)
		id, _ := ob.Enqueue(ctx, newMessage(t, 1))
		r := waitFor(t, ob, id, is(outbox.StatusSent))
		if pendingSeen.Status != outbox.StatusPending || pendingSeen.NextAttemptAt.IsZero() || pendingSeen.LastCode != 451 || pendingSeen.Attempts != 1 {
			t.Fatalf("after the 451: %+v, want PENDING with a next attempt", pendingSeen)
		}
		if r.Attempts != 2 || len(srv.Messages()) != 1 {
			t.Fatalf("SENT after %d attempts, server has %d messages", r.Attempts, len(srv.Messages()))
		}
	})
	t.Run("421 snoozes without using attempts, capped", func(t *testing.T) {
		t.Parallel()
		throttle := "421 4.7.0 Too many messages, slow down"
		srv := mailertest.NewServer(t, mailertest.WithFaults(
			mailertest.Fault{Step: mailertest.StepMAIL, On: 1, Reply: throttle},
			mailertest.Fault{Step: mailertest.StepMAIL, On: 2, Reply: throttle},
			mailertest.Fault{Step: mailertest.StepMAIL, On: 3, Reply: throttle}))
		var mu sync.Mutex
		var attemptsAfter []int
		var ob *outbox.Outbox[TTx]
		hook := func(ctx context.Context, e mailer.Event) {
			if e.Status == mailer.StatusRetrying {
				r, _ := ob.Status(ctx, e.MessageID)
				mu.Lock()
				attemptsAfter = append(attemptsAfter, r.Attempts)
				mu.Unlock()
			}
		}
		ob = open(t, newClient(t, srv), outbox.Options{MaxSnoozes: 2, MaxAttempts: 3, Hooks: []mailer.Hook{hook}})
		start(t, ob)
		id, _ := ob.Enqueue(ctx, newMessage(t, 1))
		r := waitFor(t, ob, id, is(outbox.StatusSent))
		mu.Lock()
		defer mu.Unlock()
		// Two snoozes leave the attempts at 0; past the cap the third
		// throttle counts as an attempt; the fourth try succeeds.
		if !slices.Equal(attemptsAfter, []int{0, 0, 1}) || r.Attempts != 2 {
			t.Fatalf("attempts after each throttle = %v, final %d; want [0 0 1] and 2", attemptsAfter, r.Attempts)
		}
	})
	t.Run("throttled messages come back spread out", func(t *testing.T) {
		t.Parallel()
		// Every MAIL is throttled. The snoozes wait ThrottleWait plus up to
		// a quarter more, each its own, so that the burst one throttling
		// reply stopped does not come back at one instant to be throttled
		// again.
		srv := mailertest.NewServer(t, mailertest.WithFaults(
			mailertest.Fault{Step: mailertest.StepMAIL, Reply: "421 4.7.0 Too many messages, slow down"}))
		const n = 12
		waits := make(chan time.Duration, n)
		hook := func(_ context.Context, e mailer.Event) {
			if e.Status == mailer.StatusRetrying {
				waits <- e.Wait
			}
		}
		ob := open(t, newClient(t, srv), outbox.Options{ThrottleWait: time.Hour, Hooks: []mailer.Hook{hook}})
		start(t, ob)
		msgs := make([]*mailer.Message, n)
		for i := range msgs {
			msgs[i] = newMessage(t, i)
		}
		if _, err := ob.EnqueueMany(ctx, msgs); err != nil {
			t.Fatal(err)
		}
		seen := map[time.Duration]bool{}
		for range n {
			select {
			case w := <-waits:
				if w < time.Hour || w > time.Hour+time.Hour/4 {
					t.Errorf("throttle wait %v, want within [1h, 1h15m]", w)
				}
				seen[w] = true
			case <-time.After(30 * time.Second):
				t.Fatalf("%d throttled snoozes seen, want %d", len(seen), n)
			}
		}
		if len(seen) < n-1 {
			t.Fatalf("%d distinct waits among %d throttled messages: they come back together", len(seen), n)
		}
	})
	t.Run("550 FAILED at once", func(t *testing.T) {
		t.Parallel()
		srv := mailertest.NewServer(t, mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepRCPT, Reply: "550 5.1.1 No such user"}))
		ob := open(t, newClient(t, srv), outbox.Options{})
		start(t, ob)
		id, _ := ob.Enqueue(ctx, newMessage(t, 1))
		r := waitFor(t, ob, id, is(outbox.StatusFailed))
		if r.Attempts != 1 || r.LastCode != 550 || r.LastEnhancedCode != "5.1.1" || !strings.Contains(r.LastError, "No such user") {
			t.Fatalf("FAILED record = %+v", r)
		}
		if n := srv.Count(mailertest.StepMAIL); n != 1 {
			t.Fatalf("MAIL FROM sent %d times; a 550 is not retried", n)
		}
	})
	t.Run("drop after the dot is UNKNOWN", func(t *testing.T) {
		t.Parallel()
		srv := mailertest.NewServer(t, mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepDataEnd, Drop: true}))
		ob := open(t, newClient(t, srv), outbox.Options{})
		start(t, ob)
		id, _ := ob.Enqueue(ctx, newMessage(t, 1))
		r := waitFor(t, ob, id, is(outbox.StatusUnknown))
		if r.Attempts != 1 || len(srv.Messages()) != 1 {
			t.Fatalf("UNKNOWN record = %+v; server has %d messages, want exactly 1 and no resend", r, len(srv.Messages()))
		}
	})
	t.Run("wrong password FAILED with the hint", func(t *testing.T) {
		t.Parallel()
		srv := mailertest.NewServer(t, mailertest.WithUser("alice@qq.com", "authcode"))
		c, err := mailer.New(provider.QQ("alice@qq.com", "password"), srv.Options(),
			mailer.WithAuth(mailer.AutoAuth("alice@qq.com", "password")))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		ob := open(t, c, outbox.Options{})
		start(t, ob)
		id, _ := ob.Enqueue(ctx, newMessage(t, 1))
		r := waitFor(t, ob, id, is(outbox.StatusFailed))
		if r.Attempts != 1 || r.LastCode != 535 || !strings.Contains(r.LastError, "authorization code") {
			t.Fatalf("FAILED record = %+v, want 535 with QQ's hint", r)
		}
		if strings.Contains(r.LastError, "password\"") || strings.Contains(r.LastError, "cGFzc3dvcmQ") {
			t.Fatalf("the error holds the password: %q", r.LastError)
		}
	})
}

// EnqueueTx: rolled back → no record, no job, no mail; committed →
// delivered.
func TestEnqueueTx(t *testing.T) {
	t.Parallel()
	srv := mailertest.NewServer(t)
	ob := openSQLite(t, newClient(t, srv), outbox.Options{})
	store := sqliteStoreOf(t, ob)
	db := store.DB()
	ctx := context.Background()
	if _, err := db.Exec("CREATE TABLE app_user (email TEXT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	signUp := func(n int, commit bool) string {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		m := newMessage(t, n)
		if _, err := tx.Exec("INSERT INTO app_user (email) VALUES (?)", m.To()[0].Address); err != nil {
			t.Fatal(err)
		}
		id, err := ob.EnqueueTx(ctx, tx, m)
		if err != nil {
			t.Fatal(err)
		}
		if commit {
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		}
		return id
	}
	rolledBack := signUp(1, false)
	committed := signUp(2, true)
	start(t, ob)
	waitFor(t, ob, committed, is(outbox.StatusSent))
	if _, err := ob.Status(ctx, rolledBack); !errors.Is(err, outbox.ErrNotFound) {
		t.Fatalf("rolled-back message: %v, want ErrNotFound", err)
	}
	var users, jobs int
	db.QueryRow("SELECT count(*) FROM app_user").Scan(&users)
	db.QueryRow("SELECT count(*) FROM river_job WHERE kind = 'mail_outbox_send'").Scan(&jobs)
	if users != 1 || jobs != 1 {
		t.Fatalf("%d users and %d jobs, want 1 and 1", users, jobs)
	}
	if msgs := srv.Messages(); len(msgs) != 1 || msgs[0].Header.Get("Message-Id") != "<"+committed+">" {
		t.Fatalf("server got %d messages", len(msgs))
	}
}

// Stop whose deadline ends while a send is before the final dot puts the
// message back to PENDING without using an attempt; the next start sends
// it.
func TestStopBeforeDotIsPending(t *testing.T) {
	t.Parallel()
	var blocking atomic.Bool
	blocking.Store(true)
	srv := mailertest.NewServer(t, mailertest.WithFaultFunc(func(step mailertest.Step, _ int) *mailertest.Fault {
		if step == mailertest.StepDATA && blocking.Load() {
			return &mailertest.Fault{Delay: time.Minute} // the send hangs before the final dot
		}
		return nil
	}))
	client := newClient(t, srv)
	ob := openSQLite(t, client, outbox.Options{})
	ctx := context.Background()
	if err := ob.Start(ctx); err != nil {
		t.Fatal(err)
	}
	id, _ := ob.Enqueue(ctx, newMessage(t, 1))
	for deadline := time.Now().Add(15 * time.Second); srv.Count(mailertest.StepDATA) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the send never reached DATA")
		}
		time.Sleep(5 * time.Millisecond)
	}
	sctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := ob.Stop(sctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop = %v, want its deadline", err)
	}
	r, err := ob.Status(ctx, id)
	if err != nil || r.Status != outbox.StatusPending || r.Attempts != 0 {
		t.Fatalf("after Stop: %+v, %v; want PENDING with 0 attempts", r, err)
	}
	if len(srv.Messages()) != 0 {
		t.Fatal("the message was delivered")
	}
	blocking.Store(false)
	// A new Outbox on the same store sends it.
	ob2, err := outbox.New(client, sqliteStoreOf(t, ob), fast(outbox.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	start(t, ob2)
	if r := waitFor(t, ob2, id, is(outbox.StatusSent)); r.Attempts != 1 {
		t.Fatalf("SENT after %d attempts, want 1", r.Attempts)
	}
}

// RetryUnknown: a drop after the dot is retried (at-least-once) and the
// hook marks the possible duplicate.
func TestRetryUnknown(t *testing.T) {
	t.Parallel()
	srv := mailertest.NewServer(t, mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepDataEnd, On: 1, Drop: true}))
	var sawDup atomic.Bool
	ob := openSQLite(t, newClient(t, srv), outbox.Options{RetryUnknown: true, Hooks: []mailer.Hook{func(_ context.Context, e mailer.Event) {
		if e.MaybeDuplicate {
			sawDup.Store(true)
		}
	}}})
	start(t, ob)
	id, _ := ob.Enqueue(context.Background(), newMessage(t, 1))
	r := waitFor(t, ob, id, is(outbox.StatusSent))
	if r.Attempts != 2 || len(srv.Messages()) != 2 {
		t.Fatalf("SENT after %d attempts with %d deliveries; want 2 and 2 (at-least-once)", r.Attempts, len(srv.Messages()))
	}
	ob.Stop(context.Background())
	if !sawDup.Load() {
		t.Fatal("no event marked the possible duplicate")
	}
}

// Retention: DeleteFinished removes final records only; the Message-ID
// may then be enqueued again. A panicking hook does not stop delivery.
func TestRetentionAndPanickingHook(t *testing.T) {
	t.Parallel()
	srv := mailertest.NewServer(t)
	ob := openSQLite(t, newClient(t, srv), outbox.Options{Hooks: []mailer.Hook{func(context.Context, mailer.Event) { panic("hook") }}})
	ctx := context.Background()
	sent := newMessage(t, 1)
	id, _ := ob.Enqueue(ctx, sent)
	start(t, ob)
	waitFor(t, ob, id, is(outbox.StatusSent))
	ob.Stop(ctx)
	pending, _ := ob.Enqueue(ctx, newMessage(t, 2))
	n, err := ob.DeleteFinished(ctx, time.Now().Add(time.Second))
	if err != nil || n != 1 {
		t.Fatalf("DeleteFinished = %d, %v; want the one SENT record", n, err)
	}
	if _, err := ob.Status(ctx, id); !errors.Is(err, outbox.ErrNotFound) {
		t.Fatalf("SENT record after retention: %v", err)
	}
	if r, err := ob.Status(ctx, pending); err != nil || r.Status != outbox.StatusPending {
		t.Fatalf("PENDING record after retention: %+v, %v", r, err)
	}
	if _, err := ob.Enqueue(ctx, sent); err != nil {
		t.Fatalf("the Message-ID after its record was deleted: %v", err)
	}
}

// EnqueueTx in a pgx.Tx: rolled back → nothing; committed → delivered.
func TestEnqueueTxPostgres(t *testing.T) {
	t.Parallel()
	srv := mailertest.NewServer(t)
	ob, pool := openPGPool(t, newClient(t, srv), outbox.Options{})
	ctx := context.Background()
	if _, err := pool.Exec(ctx, "CREATE TABLE app_user (email TEXT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	signUp := func(n int, commit bool) string {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		m := newMessage(t, n)
		if _, err := tx.Exec(ctx, "INSERT INTO app_user (email) VALUES ($1)", m.To()[0].Address); err != nil {
			t.Fatal(err)
		}
		id, err := ob.EnqueueTx(ctx, tx, m)
		if err != nil {
			t.Fatal(err)
		}
		if commit {
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
		return id
	}
	rolledBack := signUp(1, false)
	committed := signUp(2, true)
	start(t, ob)
	waitFor(t, ob, committed, is(outbox.StatusSent))
	if _, err := ob.Status(ctx, rolledBack); !errors.Is(err, outbox.ErrNotFound) {
		t.Fatalf("rolled-back message: %v, want ErrNotFound", err)
	}
	var users, jobs int
	pool.QueryRow(ctx, "SELECT count(*) FROM app_user").Scan(&users)
	pool.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE kind = 'mail_outbox_send'").Scan(&jobs)
	if users != 1 || jobs != 1 {
		t.Fatalf("%d users and %d jobs, want 1 and 1", users, jobs)
	}
	if msgs := srv.Messages(); len(msgs) != 1 || msgs[0].Header.Get("Message-Id") != "<"+committed+">" {
		t.Fatalf("server got %d messages", len(msgs))
	}
}

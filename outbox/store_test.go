package outbox_test

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/postkit/mailer"
	"github.com/postkit/mailer/outbox"
	"github.com/postkit/mailer/outbox/outboxsqlite"
)

// noSender is a Sender for tests that never send.
type noSender struct{ mailer.Sender }

func TestEnqueueStatusList(t *testing.T) {
	t.Parallel()
	bothDrivers(t,
		func(t *testing.T) { testEnqueueStatusList(t, openSQLite(t, noSender{}, outbox.Options{})) },
		func(t *testing.T) { testEnqueueStatusList(t, openPG(t, noSender{}, outbox.Options{})) })
}

func testEnqueueStatusList[TTx any](t *testing.T, ob *outbox.Outbox[TTx]) {
	ctx := context.Background()
	var ids []string
	for i := range 5 {
		m := newMessage(t, i)
		id, err := ob.Enqueue(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		if id != m.MessageID() {
			t.Fatalf("Enqueue returned %q, want the Message-ID %q", id, m.MessageID())
		}
		ids = append(ids, id)
	}
	r, err := ob.Status(ctx, "<"+ids[0]+">")
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != outbox.StatusPending || r.Attempts != 0 || r.NextAttemptAt.IsZero() || r.Size == 0 {
		t.Fatalf("fresh record = %+v", r)
	}
	if r.Envelope.From != "app@example.com" || !slices.Contains(r.Envelope.To, "audit@example.com") || !slices.Contains(r.Envelope.To, "user0@example.com") {
		t.Fatalf("envelope = %+v, want the sender and every recipient, Bcc included", r.Envelope)
	}
	if _, err := ob.Status(ctx, "nobody@example.com"); !errors.Is(err, outbox.ErrNotFound) {
		t.Fatalf("Status of an unknown ID: %v, want ErrNotFound", err)
	}

	// Paging: 2 + 2 + 1, oldest first, every ID once.
	var got []string
	var cur outbox.Cursor
	for page := 0; ; page++ {
		recs, next, err := ob.List(ctx, outbox.Filter{Limit: 2, After: cur, Status: []outbox.Status{outbox.StatusPending}})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			got = append(got, r.MessageID)
		}
		if next == "" {
			break
		}
		if page > 3 {
			t.Fatal("List does not end")
		}
		cur = next
	}
	slices.Sort(got)
	want := slices.Clone(ids)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("List pages = %v, want %v", got, want)
	}
	if recs, _, err := ob.List(ctx, outbox.Filter{Status: []outbox.Status{outbox.StatusSent}}); err != nil || len(recs) != 0 {
		t.Fatalf("List SENT = %v, %v; want none", recs, err)
	}
	if _, _, err := ob.List(ctx, outbox.Filter{Status: []outbox.Status{"DONE"}}); err == nil {
		t.Fatal("List accepted an unknown status")
	}

	// Cancel and Retry.
	if err := ob.Cancel(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	if err := ob.Cancel(ctx, ids[1]); !errors.Is(err, outbox.ErrWrongStatus) {
		t.Fatalf("second Cancel: %v, want ErrWrongStatus", err)
	}
	if err := ob.Retry(ctx, ids[2]); !errors.Is(err, outbox.ErrWrongStatus) {
		t.Fatalf("Retry of a PENDING message: %v, want ErrWrongStatus", err)
	}
	if err := ob.Retry(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	if r, _ := ob.Status(ctx, ids[1]); r.Status != outbox.StatusPending || r.JobID == 0 {
		t.Fatalf("after Retry: %+v, want PENDING with a new job", r)
	}
}

func TestDuplicateMessageID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("sqlite", func(t *testing.T) {
		st, err := outboxsqlite.Open(t.TempDir() + "/o.db")
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		ob, _ := outbox.New(noSender{}, st, outbox.Options{})
		if err := ob.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		testDuplicate(t, ob, func() {
			if _, err := st.DB().Exec("DELETE FROM river_job"); err != nil {
				t.Fatal(err)
			}
		})
	})
	t.Run("postgres", func(t *testing.T) {
		ob, pool := openPGPool(t, noSender{}, outbox.Options{})
		testDuplicate(t, ob, func() {
			if _, err := pool.Exec(ctx, "DELETE FROM river_job"); err != nil {
				t.Fatal(err)
			}
		})
	})
}

func testDuplicate[TTx any](t *testing.T, ob *outbox.Outbox[TTx], cleanRiver func()) {
	ctx := context.Background()
	m := newMessage(t, 1)
	if _, err := ob.Enqueue(ctx, m); err != nil {
		t.Fatal(err)
	}
	cleanRiver() // as River's cleaner does for finished jobs
	id, err := ob.Enqueue(ctx, m)
	if !errors.Is(err, outbox.ErrAlreadyEnqueued) || id != m.MessageID() {
		t.Fatalf("second Enqueue = %q, %v; want the ID and ErrAlreadyEnqueued", id, err)
	}
	// In a batch: all or nothing, naming the duplicate.
	m2 := newMessage(t, 2)
	_, err = ob.EnqueueMany(ctx, []*mailer.Message{m2, m})
	if !errors.Is(err, outbox.ErrAlreadyEnqueued) || !strings.Contains(err.Error(), m.MessageID()) {
		t.Fatalf("EnqueueMany with a duplicate: %v", err)
	}
	if _, err := ob.Status(ctx, m2.MessageID()); !errors.Is(err, outbox.ErrNotFound) {
		t.Fatalf("the batch was stored in part: %v", err)
	}
}

func TestBodyTooLarge(t *testing.T) {
	t.Parallel()
	ob := openSQLite(t, noSender{}, outbox.Options{MaxBodyBytes: 2000})
	m, err := mailer.NewMessage().From("a@example.com").To("b@example.com").Subject("big").Text(strings.Repeat("x ", 3000)).Build()
	if err != nil {
		t.Fatal(err)
	}
	_, err = ob.Enqueue(context.Background(), m)
	var tl *outbox.BodyTooLargeError
	if !errors.As(err, &tl) || !errors.Is(err, outbox.ErrBodyTooLarge) || tl.Limit != 2000 || tl.Size <= 2000 {
		t.Fatalf("Enqueue of a big message: %v", err)
	}
	if _, err := ob.Status(context.Background(), m.MessageID()); !errors.Is(err, outbox.ErrNotFound) {
		t.Fatalf("a refused message was stored: %v", err)
	}
	if _, err := ob.EnqueueRaw(context.Background(), mailer.Envelope{From: "a@example.com", To: []string{"b@example.com"}}, []byte("Subject: x\r\n\r\nno id\r\n")); !errors.Is(err, outbox.ErrNoMessageID) {
		t.Fatalf("raw message without Message-ID: %v", err)
	}
}

func TestStartFailsOnPendingMigrations(t *testing.T) {
	st, err := outboxsqlite.Open(t.TempDir() + "/o.db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ob, err := outbox.New(noSender{}, st, outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = ob.Start(context.Background())
	var me *outbox.MigrationError
	if !errors.As(err, &me) || !errors.Is(err, outbox.ErrMigrationsPending) {
		t.Fatalf("Start on an empty database: %v, want a *MigrationError", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "river") || !strings.Contains(msg, "mail_outbox: versions 1") {
		t.Fatalf("the error does not name the pending migrations: %v", msg)
	}
}

// A pool call while the caller holds the single SQLite connection in a
// transaction fails clearly after the lock wait instead of hanging.
func TestSQLiteMisuseInsideTransaction(t *testing.T) {
	t.Parallel()
	st, err := outboxsqlite.Open(t.TempDir()+"/o.db", outboxsqlite.WithLockWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ob, _ := outbox.New(noSender{}, st, outbox.Options{})
	ctx := context.Background()
	if err := ob.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	tx, err := st.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	m := newMessage(t, 1)
	if _, err := ob.Enqueue(ctx, m); !errors.Is(err, outboxsqlite.ErrConnBusy) || !strings.Contains(err.Error(), "EnqueueTx") {
		t.Fatalf("Enqueue through the pool inside a transaction: %v, want ErrConnBusy", err)
	}
	if _, err := ob.Status(ctx, m.MessageID()); !errors.Is(err, outboxsqlite.ErrConnBusy) {
		t.Fatalf("Status inside a transaction: %v, want ErrConnBusy", err)
	}
	if _, err := ob.EnqueueTx(ctx, tx, m); err != nil {
		t.Fatalf("EnqueueTx with the transaction: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if r, err := ob.Status(ctx, m.MessageID()); err != nil || r.Status != outbox.StatusPending {
		t.Fatalf("after commit: %+v, %v", r, err)
	}
}

// compile-time: both stores fit.
var (
	_                 = openSQLite
	_ opener[*sql.Tx] = openSQLite
	_ opener[pgx.Tx]  = openPG
)

package outbox_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
	"github.com/postkit/mailer/outbox"
	"github.com/postkit/mailer/outbox/outboxpgx"
	"github.com/postkit/mailer/outbox/outboxsqlite"
)

// hangingStore's Begin, once armed, blocks until release is closed,
// whatever its context: a database that stopped answering, behind a
// driver that does not give up.
type hangingStore[TTx any] struct {
	outbox.Store[TTx]
	armed   atomic.Bool
	entered chan struct{} // closed when a Begin starts to hang
	release chan struct{}
}

func newHangingStore[TTx any](st outbox.Store[TTx]) *hangingStore[TTx] {
	return &hangingStore[TTx]{Store: st, entered: make(chan struct{}), release: make(chan struct{})}
}

func (s *hangingStore[TTx]) Begin(ctx context.Context) (TTx, error) {
	if s.armed.CompareAndSwap(true, false) {
		close(s.entered)
		<-s.release
	}
	return s.Store.Begin(ctx)
}

// While a commit of the group commit hangs, an Enqueue waiting for its turn
// returns when its context ends, and Stop returns when its context ends;
// both used to wait for the hung commit, for ever if it never ended.
func TestGroupCommitHangHonoursContexts(t *testing.T) {
	t.Parallel()
	bothDrivers(t,
		func(t *testing.T) {
			t.Parallel()
			st, err := outboxsqlite.Open(filepath.Join(t.TempDir(), "outbox.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			testGroupCommitHang(t, newHangingStore[*sql.Tx](st))
		},
		func(t *testing.T) {
			t.Parallel()
			pool, schema := pgPool(t)
			testGroupCommitHang(t, newHangingStore[pgx.Tx](outboxpgx.New(pool, outboxpgx.WithSchema(schema))))
		})
}

func testGroupCommitHang[TTx any](t *testing.T, st *hangingStore[TTx]) {
	ctx := context.Background()
	srv := mailertest.NewServer(t)
	ob, err := outbox.New(newClient(t, srv), st, fast(outbox.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := ob.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	start(t, ob)
	released := false
	release := func() {
		if !released {
			released = true
			close(st.release)
		}
	}
	t.Cleanup(release)
	// guard fails the test if ch yields nothing in a long while (the
	// machine may be loaded): the wait it covers would otherwise be
	// endless.
	guard := func(what string, ch <-chan error) error {
		t.Helper()
		select {
		case err := <-ch:
			return err
		case <-time.After(25 * time.Second):
			release()
			t.Fatalf("%s still waits on the hung commit", what)
			return nil
		}
	}
	env := mailer.Envelope{From: "a@example.com", To: []string{"b@example.com"}}
	raw := []byte("From: a@example.com\r\nTo: b@example.com\r\n\r\nhi\r\n")

	st.armed.Store(true)
	first := make(chan error, 1)
	go func() { _, err := ob.EnqueueRaw(ctx, env, raw, outbox.Key("first")); first <- err }()
	<-st.entered // the committer hangs in the first enqueue's commit

	second := make(chan error, 1)
	go func() {
		sctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		_, err := ob.EnqueueRaw(sctx, env, raw, outbox.Key("second"))
		second <- err
	}()
	if err := guard("an Enqueue whose context ended", second); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Enqueue behind a hung commit: %v, want its context's deadline", err)
	}

	stopped := make(chan error, 1)
	go func() {
		sctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		stopped <- ob.Stop(sctx)
	}()
	if err := guard("Stop", stopped); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop during a hung commit: %v, want its context's deadline", err)
	}

	release()
	if err := guard("the first Enqueue", first); err != nil {
		t.Fatalf("the first Enqueue, once the database answered: %v", err)
	}
	if _, err := ob.Status(ctx, "second"); !errors.Is(err, outbox.ErrNotFound) {
		t.Fatalf("the Enqueue that gave up was stored: %v", err)
	}
}

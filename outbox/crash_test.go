package outbox_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
	"github.com/postkit/mailer/outbox"
	"github.com/postkit/mailer/outbox/outboxsqlite"
)

func longTests(t *testing.T) {
	if os.Getenv("MAILER_TEST_LONG") == "" {
		t.Skip("MAILER_TEST_LONG is not set: skipping the long run")
	}
}

// Crash safety, one quick run: a child process enqueues and works, is
// killed with SIGKILL at a random point; a new process finishes the work.
// Every SENT message reached the server exactly once, every UNKNOWN one
// at most once, and nothing is left PENDING or SENDING.
func TestCrashQuick(t *testing.T) {
	t.Parallel()
	crashRun(t, 100, time.Duration(50+rand.IntN(150))*time.Millisecond)
}

// The same, several runs of 1,000 mails killed at random points.
func TestCrashLong(t *testing.T) {
	longTests(t)
	for i := range 5 {
		kill := time.Duration(50+rand.IntN(600)) * time.Millisecond
		t.Run("", func(t *testing.T) {
			t.Logf("run %d: kill after %v", i, kill)
			crashRun(t, 1000, kill)
		})
	}
}

func crashRun(t *testing.T, n int, killAfter time.Duration) {
	srv := mailertest.NewServer(t, mailertest.WithTLS(mailertest.TLSNone))
	db := filepath.Join(t.TempDir(), "crash.db")
	// The child enqueues and works; migrate first so it can start.
	st, err := outboxsqlite.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	ob0, _ := outbox.New(noSender{}, st, outbox.Options{})
	if err := ob0.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	st.Close()

	t0 := time.Now()
	c := startChild(t, childEnv{db: db, smtp: srv.Addr(), enqueue: n, name: "A"})
	t.Logf("child ready after %v", time.Since(t0))
	time.Sleep(killAfter) // the random point of the crash
	c.kill()
	t.Logf("child killed after %v having reported %d sent; server has %d", killAfter, c.sentCount(), len(srv.Messages()))

	// A new process (here, in the test) finishes the work.
	client, err := mailer.New(mailer.WithServer(srv.Host(), srv.Port()), mailer.WithTLS(mailer.TLSNone), mailer.WithPool(20))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	st2, err := outboxsqlite.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	ob, err := outbox.New(client, st2, fast(outbox.Options{Workers: 50}))
	if err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	if err := ob.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkSettled(t, ob, srv, n, 60*time.Second)
	t.Logf("recovery took %v", time.Since(t1))
	t2 := time.Now()
	if err := ob.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Logf("stop took %v", time.Since(t2))
}

// checkSettled waits until no record is PENDING or SENDING, then checks
// the delivery counts against the records.
func checkSettled[TTx any](t *testing.T, ob *outbox.Outbox[TTx], srv *mailertest.Server, n int, within time.Duration) map[outbox.Status]int {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(within)
	for {
		recs, _, err := ob.List(ctx, outbox.Filter{Status: []outbox.Status{outbox.StatusPending, outbox.StatusSending}, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %s after %v: %+v", recs[0].Status, within, recs[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
	got := map[string]int{}
	for _, m := range srv.Messages() {
		got[trimAngle(m.Header.Get("Message-Id"))]++
	}
	byStatus := map[outbox.Status]int{}
	var cur outbox.Cursor
	total := 0
	for {
		recs, next, err := ob.List(ctx, outbox.Filter{Limit: 1000, After: cur})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			total++
			byStatus[r.Status]++
			switch r.Status {
			case outbox.StatusSent:
				if got[r.MessageID] != 1 {
					t.Errorf("SENT %s arrived %d times", r.MessageID, got[r.MessageID])
				}
			case outbox.StatusUnknown:
				if got[r.MessageID] > 1 {
					t.Errorf("UNKNOWN %s arrived %d times", r.MessageID, got[r.MessageID])
				}
			default:
				t.Errorf("record %s ended %s: %s", r.MessageID, r.Status, r.LastError)
			}
		}
		if next == "" {
			break
		}
		cur = next
	}
	if total != n {
		t.Errorf("%d records, want %d", total, n)
	}
	t.Logf("settled: %v", byStatus)
	return byStatus
}

func trimAngle(s string) string {
	if len(s) >= 2 && s[0] == '<' && s[len(s)-1] == '>' {
		return s[1 : len(s)-1]
	}
	return s
}

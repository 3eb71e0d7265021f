package gateway_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/mail"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

// pgSchema returns MAILER_TEST_POSTGRES and a fresh schema in it, dropped
// at the end of tb; it skips tb without MAILER_TEST_POSTGRES.
func pgSchema(tb testing.TB) (dsn, schema string) {
	tb.Helper()
	dsn = os.Getenv("MAILER_TEST_POSTGRES")
	if dsn == "" {
		tb.Skip("set MAILER_TEST_POSTGRES to run against PostgreSQL")
	}
	var rb [6]byte
	rand.Read(rb[:])
	schema = "mailgate_queue_" + hex.EncodeToString(rb[:])
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := pool.Exec(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		pool.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		pool.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		pool.Close()
	})
	return dsn, schema
}

// Two gateway instances on one PostgreSQL queue: every message is
// delivered once, and both instances' workers deliver.
func TestQueuePostgresTwoInstances(t *testing.T) {
	dsn, schema := pgSchema(t)
	sk := mailertest.NewServer(t, mailertest.WithTLS(mailertest.TLSNone))
	y := baseServer + `
upstreams:
  sink: {url: "smtp://` + sk.Addr() + `?tls=none", pool: 4}
tenants:
  t1:
    credentials: [{username: app1, token_sha256: "{{TOKEN:app1}}"}]
    senders: ["@t1.test"]
    route: {mode: queue, upstreams: [sink]}
queue: {driver: postgres, dsn: "` + dsn + `", schema: ` + schema + `, poll_interval: 50ms, workers: 4}
`
	e1 := start(t, setup{yaml: y})
	e2 := start(t, setup{yaml: y})
	const perInstance = 100
	var wg sync.WaitGroup
	for k, e := range []*env{e1, e2} {
		c := e.client("app1")
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perInstance / 4 {
					id := fmt.Sprintf("g%d-%d-%d@t1.test", k, w, i)
					raw := "From: app@t1.test\r\nTo: r@ext.test\r\nMessage-ID: <" + id + ">\r\n\r\nx\r\n"
					if _, err := c.SendRaw(context.Background(), mailer.Envelope{From: "app@t1.test", To: []string{"r@ext.test"}}, []byte(raw)); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	waitQueue(t, e1.g.Queue())
	got := map[string]int{}
	for _, m := range sk.Messages() {
		pm, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatal(err)
		}
		got[pm.Header.Get("Message-Id")]++
	}
	if len(got) != 2*perInstance {
		t.Fatalf("%d distinct messages at the sink, want %d", len(got), 2*perInstance)
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("%s delivered %d times", id, n)
		}
	}
	for i, e := range []*env{e1, e2} {
		n := 0
		for _, l := range e.auditLines() {
			var r struct{ Event, Outcome string }
			json.Unmarshal([]byte(l), &r)
			if r.Event == "message" && r.Outcome == "delivered" {
				n++
			}
		}
		if n == 0 {
			t.Errorf("instance %d delivered nothing", i+1)
		}
		t.Logf("instance %d delivered %d", i+1, n)
	}
	if items, err := e2.g.Queue().List(context.Background(), "t1", 5); err != nil || len(items) != 5 || !strings.HasPrefix(items[0].State, "sent") {
		t.Fatalf("List on the shared queue: %+v, %v", items, err)
	}
}

// On PostgreSQL too, a split message is committed and answered 250 when
// its session's context is already cancelled.
func TestQueuePostgresSplitStoredPastSessionEnd(t *testing.T) {
	dsn, schema := pgSchema(t)
	y := strings.ReplaceAll(queueTenants, "WEBHOOK", "http://127.0.0.1:9/unused")
	y = strings.ReplaceAll(y, "MAXDEPTH", "max_depth: 0")
	y = strings.Replace(y, "queue: {path: queue.db,", `queue: {driver: postgres, dsn: "`+dsn+`", schema: `+schema+`,`, 1)
	deliverSplitCancelled(t, start(t, setup{yaml: baseServer + y}))
}

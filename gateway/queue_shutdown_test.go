package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/postkit/mailer/gateway"
)

// Shutdown waits for a message being stored in the queue when the drain
// is over: the store is not cut by its session's end, so it must end
// before the outbox stops and the audit closes, and the session's
// "queued" audit line is written. A lone message (the batcher) and one
// split by recipient-domain rules alike.
func TestShutdownWaitsForQueueStore(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rcpts []string
	}{
		{"lone", []string{"r@ext.test"}},
		{"split", []string{"x@ext.test", "y@corp.test"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shutdownDuringStore(t, queueEnv(t, "", 0, nil, nil), tc.rcpts)
		})
	}
}

// On PostgreSQL too (where closing the pool under a store would wait for
// it).
func TestQueuePostgresShutdownWaitsForStore(t *testing.T) {
	dsn, schema := pgSchema(t)
	y := strings.ReplaceAll(queueTenants, "WEBHOOK", "http://127.0.0.1:9/unused")
	y = strings.ReplaceAll(y, "MAXDEPTH", "max_depth: 0")
	y = strings.Replace(y, "queue: {path: queue.db,", `queue: {driver: postgres, dsn: "`+dsn+`", schema: `+schema+`,`, 1)
	shutdownDuringStore(t, start(t, setup{yaml: baseServer + y}), []string{"x@ext.test", "y@corp.test"})
}

// shutdownDuringStore sends a message to rcpts through tenant t1 of e,
// holds its store until Shutdown (whose drain is over at once) waits for
// it, and checks that Shutdown did wait, that the message's audit line
// says queued, and that the queue takes no message afterwards.
func shutdownDuringStore(t *testing.T, e *env, rcpts []string) {
	t.Helper()
	storing, release, waiting := make(chan struct{}), make(chan struct{}), make(chan struct{})
	gateway.SetQueueStoreHooks(e.g, func() { close(storing); <-release }, func() { close(waiting) })
	c := e.session("app1")
	c.expect("250", "MAIL FROM:<app@t1.test>")
	for _, rc := range rcpts {
		c.expect("250", "RCPT TO:<%s>", rc)
	}
	c.expect("354", "DATA")
	w := bufio.NewWriter(c.conn)
	w.WriteString("From: app@t1.test\r\nTo: x@ext.test\r\nMessage-ID: <late@t1.test>\r\n\r\nlate\r\n.\r\n")
	w.Flush()
	<-storing

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithDeadline(context.Background(), time.Now())
		defer cancel()
		done <- e.g.Shutdown(ctx)
	}()
	select {
	case err := <-done:
		close(release)
		t.Fatalf("Shutdown returned (%v) while a message was being stored", err)
	case <-waiting:
	}
	close(release)
	<-done // the drain timed out: context.DeadlineExceeded
	queued := 0
	for _, l := range e.auditLines() {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		if m["event"] == "message" && m["message_id"] == "<late@t1.test>" && m["outcome"] == "queued" {
			queued++
		}
	}
	if queued != 1 {
		t.Fatalf("%d queued audit lines for the message, want 1", queued)
	}
	res := e.g.Queue().Deliver(context.Background(), &gateway.Transaction{ID: "after", Tenant: "t1", From: "app@t1.test",
		To: []string{"r@ext.test"}, Message: []byte("From: app@t1.test\r\n\r\nx\r\n"), Upstreams: []string{"a", "b"}})
	if res.Reply == nil || res.Reply.Code != 421 || res.Outcome != "failed" {
		t.Fatalf("Deliver after Shutdown: %+v", res)
	}
}

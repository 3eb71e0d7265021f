package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/gateway"
	"github.com/postkit/mailer/mailertest"
)

// queueTenants routes t1 in queue mode through a then b, recipients at
// corp.test (and its subdomains) through b only.
const queueTenants = `
upstreams:
  a: {{UP:a}}}
  b: {{UP:b}}}
tenants:
  t1:
    credentials: [{username: app1, token_sha256: "{{TOKEN:app1}}"}]
    senders: ["@t1.test"]
    route:
      mode: queue
      upstreams: [a, b]
      rules: [{to_domains: [corp.test, .corp.test], upstreams: [b]}]
      on_failure: {dsn: true, webhook: "WEBHOOK"}
queue: {path: queue.db, poll_interval: 20ms, min_wait: 50ms, max_wait: 100ms, max_attempts: 3, MAXDEPTH}
`

func queueEnv(t *testing.T, webhook string, maxDepth int, a, b []mailertest.Option) *env {
	t.Helper()
	if webhook == "" {
		webhook = "http://127.0.0.1:9/unused"
	}
	y := strings.ReplaceAll(queueTenants, "WEBHOOK", webhook)
	y = strings.ReplaceAll(y, "MAXDEPTH", fmt.Sprintf("max_depth: %d", maxDepth))
	return start(t, setup{yaml: baseServer + y, upstreams: map[string][]mailertest.Option{"a": a, "b": b}})
}

// waitQueue waits until the queue is empty (30 s at most).
func waitQueue(t *testing.T, q gateway.Queue) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := q.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Available+st.Retryable+st.Running+st.Held == 0 {
			if st.Oldest != 0 {
				t.Fatalf("empty queue with oldest age %v", st.Oldest)
			}
			return
		}
		if time.Now().After(deadline) {
			items, _ := q.List(context.Background(), "", 5)
			t.Fatalf("queue not drained: %+v; newest: %+v", st, items)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Queue mode answers "250 2.0.0 queued as <id>" once the message is
// committed, then delivers it; a recipient-domain rule splits a message
// between two upstreams; the audit has the queued and the delivered line.
func TestQueueModeDeliversAndSplits(t *testing.T) {
	e := queueEnv(t, "", 0, nil, nil)
	c := e.client("app1")
	const n = 16
	var wg sync.WaitGroup
	ids := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw := fmt.Sprintf("From: app@t1.test\r\nTo: r%d@ext.test\r\nMessage-ID: <q%d@t1.test>\r\nSubject: q\r\n\r\nbody %d\r\n", i, i, i)
			rc, err := c.SendRaw(context.Background(), mailer.Envelope{From: "app@t1.test", To: []string{fmt.Sprintf("r%d@ext.test", i)}}, []byte(raw))
			if err != nil {
				t.Error(err)
				return
			}
			if !strings.HasPrefix(rc.Response, "250 2.0.0 queued as ") {
				t.Errorf("reply %q", rc.Response)
			}
			ids[i] = strings.TrimPrefix(rc.Response, "250 2.0.0 queued as ")
		}()
	}
	wg.Wait()
	raw := "From: app@t1.test\r\nTo: x@ext.test, y@sub.corp.test\r\nMessage-ID: <split@t1.test>\r\n\r\nsplit\r\n"
	rc, err := c.SendRaw(context.Background(), mailer.Envelope{From: "app@t1.test", To: []string{"x@ext.test", "y@sub.corp.test", "z@corp.test"}}, []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	splitID := strings.TrimPrefix(rc.Response, "250 2.0.0 queued as ")
	q := e.g.Queue()
	if q == nil {
		t.Fatal("no Queue")
	}
	waitQueue(t, q)
	if got := len(e.ups["a"].Messages()); got != n+1 {
		t.Fatalf("upstream a has %d messages, want %d", got, n+1)
	}
	bm := e.ups["b"].Messages()
	if len(bm) != 1 || strings.Join(bm[0].To, ",") != "y@sub.corp.test,z@corp.test" {
		t.Fatalf("upstream b has %+v", bm)
	}
	if am := e.ups["a"].MessagesTo("x@ext.test"); len(am) != 1 || len(am[0].To) != 1 {
		t.Fatalf("the ext.test part of the split message: %+v", am)
	}
	items, err := q.List(context.Background(), "t1", 100)
	if err != nil || len(items) != n+2 {
		t.Fatalf("List = %d items, %v", len(items), err)
	}
	if items[0].ID != splitID+".2" && items[0].ID != splitID+".1" || items[0].State != "sent" || items[0].Tenant != "t1" {
		t.Fatalf("newest item %+v (split id %s)", items[0], splitID)
	}
	if items, _ := q.List(context.Background(), "other", 10); len(items) != 0 {
		t.Fatalf("another tenant's list: %+v", items)
	}
	// The delivered line is written by the outbox's event hook, just after
	// the record is SENT: it may trail the queue's state by a moment.
	var delivered map[string]bool
	var queued int
	for deadline := time.Now().Add(10 * time.Second); ; {
		delivered, queued = map[string]bool{}, 0
		for _, l := range e.auditLines() {
			var r struct{ Event, ID, Outcome, Mode, Upstream string }
			json.Unmarshal([]byte(l), &r)
			if r.Event == "message" && r.Outcome == "queued" && r.Mode == "queue" {
				queued++
			}
			if r.Event == "message" && r.Outcome == "delivered" && r.Upstream != "" {
				delivered[r.ID] = true
			}
		}
		if len(delivered) >= n+2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if queued != n+1 || len(delivered) != n+2 {
		t.Fatalf("audit: %d queued, %d delivered", queued, len(delivered))
	}
	for _, id := range ids {
		if !delivered[id] {
			t.Fatalf("no delivered audit line for %s", id)
		}
	}
	if err := q.Retry(context.Background(), "nosuch"); !errors.Is(err, gateway.ErrNotQueued) {
		t.Fatalf("Retry(nosuch) = %v", err)
	}
	if err := q.Writable(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A permanent failure is audited as failed, answered with an RFC 3464
// DSN to the envelope sender (parsed back here) and posted to the
// tenant's webhook as JSON without body or address.
func TestQueuePermanentFailureDSNAndWebhook(t *testing.T) {
	hooks := make(chan []byte, 4)
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hooks <- b
	}))
	defer ws.Close()
	// The first RCPT at a (the message's only recipient) is refused.
	e := queueEnv(t, ws.URL, 0, []mailertest.Option{mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepRCPT, On: 1, Reply: "550 5.1.1 No such user"})}, nil)
	c := e.client("app1")
	raw := "From: app@t1.test\r\nTo: gone@ext.test\r\nMessage-ID: <m1@t1.test>\r\n\r\nhello\r\n"
	rc, err := c.SendRaw(context.Background(), mailer.Envelope{From: "app@t1.test", To: []string{"gone@ext.test"}}, []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimPrefix(rc.Response, "250 2.0.0 queued as ")
	var body []byte
	select {
	case body = <-hooks:
	case <-time.After(30 * time.Second):
		t.Fatal("no webhook")
	}
	var fe map[string]any
	if err := json.Unmarshal(body, &fe); err != nil || fe["event"] != "message_failed" || fe["id"] != id || fe["tenant"] != "t1" || fe["enhanced"] != "5.1.1" {
		t.Fatalf("webhook %s (%v)", body, err)
	}
	if strings.Contains(string(body), "gone@") || strings.Contains(string(body), "hello") {
		t.Fatalf("webhook holds an address or the body: %s", body)
	}
	waitQueue(t, e.g.Queue())
	dsns := e.ups["a"].MessagesTo("app@t1.test")
	if len(dsns) != 1 || dsns[0].From != "" {
		t.Fatalf("DSN messages: %+v", dsns)
	}
	checkDSN(t, dsns[0].Data, "gone@ext.test", "5.1.1")
	var failed bool
	for _, l := range e.auditLines() {
		var r struct{ Event, ID, Outcome, Mode string }
		json.Unmarshal([]byte(l), &r)
		failed = failed || r.Event == "message" && r.ID == id && r.Outcome == "failed" && r.Mode == "queue"
	}
	if !failed {
		t.Fatal("no failed audit line")
	}
}

// checkDSN parses a DSN as RFC 3464 lays it out.
func checkDSN(t *testing.T, data []byte, rcpt, status string) {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("Content-Type %q", m.Header.Get("Content-Type"))
	}
	if m.Header.Get("Auto-Submitted") != "auto-replied" {
		t.Fatal("no Auto-Submitted")
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	var types []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, p.Header.Get("Content-Type"))
		if p.Header.Get("Content-Type") != "message/delivery-status" {
			continue
		}
		b, _ := io.ReadAll(p)
		groups := strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n\n")
		if len(groups) < 2 || !strings.HasPrefix(groups[0], "Reporting-MTA: dns; ") {
			t.Fatalf("delivery-status %q", b)
		}
		rh, err := mail.ReadMessage(strings.NewReader(groups[1] + "\n\n"))
		if err != nil {
			t.Fatal(err)
		}
		if rh.Header.Get("Final-Recipient") != "rfc822; "+rcpt || rh.Header.Get("Action") != "failed" || rh.Header.Get("Status") != status {
			t.Fatalf("recipient block %q", groups[1])
		}
	}
	if len(types) != 3 || !strings.HasPrefix(types[0], "text/plain") || types[2] != "text/rfc822-headers" {
		t.Fatalf("parts %v", types)
	}
}

// Past max_depth waiting messages, a new one gets 452 4.3.1; nothing is
// delivered while the upstream is down.
func TestQueueFull(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	downFault := mailertest.WithFaultFunc(func(step mailertest.Step, _ int) *mailertest.Fault {
		if step == mailertest.StepGreeting && down.Load() {
			return &mailertest.Fault{Reply: "421 4.3.2 Service not available", Close: true}
		}
		return nil
	})
	e := queueEnv(t, "", 3, []mailertest.Option{downFault}, []mailertest.Option{downFault})
	s := e.session("app1")
	for i := range 4 {
		s.expect("250", "MAIL FROM:<app@t1.test>")
		s.expect("250", "RCPT TO:<r@ext.test>")
		s.expect("354", "DATA")
		code, text := s.cmd("%s", "From: app@t1.test\r\nTo: r@ext.test\r\nMessage-ID: <full"+itoa(i)+"@t1.test>\r\n\r\nx\r\n.")
		switch {
		case i < 3 && (code != 250 || !strings.Contains(text, "queued as")):
			t.Fatalf("message %d: %d %s", i, code, text)
		case i == 3 && (code != 452 || !strings.HasPrefix(text, "4.3.1 Insufficient system storage")):
			t.Fatalf("message over max_depth: %d %s", code, text)
		}
	}
	q := e.g.Queue()
	// Full is not unready: an outage must not take the gateway out of its
	// load balancer (its sync tenants still work).
	if err := q.Writable(context.Background()); err != nil {
		t.Fatalf("Writable on a full queue: %v", err)
	}
	resp, err := httpGet("http://" + e.g.AdminAddr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/readyz with a full queue: %s", resp.Status)
	}
	st, err := q.Stats(context.Background())
	if err != nil || st.Available+st.Retryable+st.Running+st.Held != 3 || st.Oldest <= 0 {
		t.Fatalf("Stats = %+v, %v", st, err)
	}
	down.Store(false)
	// Waiting messages are made due at once by Retry. A message being sent
	// when Retry comes needs nothing, but that attempt may still meet the
	// 421 (it began while the upstream was down) and wait again: retry
	// what waits until nothing does.
	for deadline := time.Now().Add(20 * time.Second); ; {
		waiting := 0
		for _, it := range mustList(t, q) {
			if it.State == "sent" {
				continue
			}
			waiting++
			// ErrNotQueued: a worker's own retry delivered it meanwhile.
			if err := q.Retry(context.Background(), it.ID); err != nil && !errors.Is(err, gateway.ErrNotQueued) {
				t.Fatalf("Retry(%s): %v", it.ID, err)
			}
		}
		if waiting == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitQueue(t, q)
	// At a, or at b when a's attempt began while a was still down.
	if n := len(e.ups["a"].Messages()) + len(e.ups["b"].Messages()); n != 3 {
		t.Fatalf("%d delivered, want 3: %+v", n, mustList(t, q))
	}
}

func mustList(t *testing.T, q gateway.Queue) []gateway.QueueItem {
	t.Helper()
	items, err := q.List(context.Background(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	return items
}

// An upstream that may not send as the envelope sender is left out of the
// queued message's chain, as sync mode leaves it out at MAIL.
func TestQueueChainHonoursUpstreamSenders(t *testing.T) {
	y := strings.Replace(queueTenants, "a: {{UP:a}}}", `a: {{UP:a}}, senders: ["@other.test"]}`, 1)
	y = strings.ReplaceAll(y, "WEBHOOK", "http://127.0.0.1:9/unused")
	y = strings.ReplaceAll(y, "MAXDEPTH", "max_depth: 0")
	e := start(t, setup{yaml: baseServer + y})
	raw := "From: app@t1.test\r\nTo: r@ext.test\r\nMessage-ID: <senders@t1.test>\r\n\r\nx\r\n"
	rc, err := e.client("app1").SendRaw(context.Background(), mailer.Envelope{From: "app@t1.test", To: []string{"r@ext.test"}}, []byte(raw))
	if err != nil || !strings.Contains(rc.Response, "queued as") {
		t.Fatalf("%q %v", rc.Response, err)
	}
	waitQueue(t, e.g.Queue())
	if a, b := len(e.ups["a"].Messages()), len(e.ups["b"].Messages()); a != 0 || b != 1 {
		t.Fatalf("upstream a (may send only as @other.test) got %d, b got %d", a, b)
	}
}

// A message split by recipient-domain rules whose session's context has
// already ended (relay_timeout, shutdown) while it is stored is committed
// whole and answered 250, as a lone record is: a client told 4xx would
// send again a message that is delivered anyway.
func TestQueueSplitStoredPastSessionEnd(t *testing.T) {
	deliverSplitCancelled(t, queueEnv(t, "", 0, nil, nil))
}

// deliverSplitCancelled hands e's queue a split message under a context
// that is already cancelled and checks that both parts are stored and
// each delivered once through its chain.
func deliverSplitCancelled(t *testing.T, e *env) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	q := e.g.Queue()
	raw := "From: app@t1.test\r\nTo: x@ext.test, y@corp.test\r\nMessage-ID: <gone@t1.test>\r\n\r\nx\r\n"
	res := q.Deliver(ctx, &gateway.Transaction{ID: "gone-split", Tenant: "t1", From: "app@t1.test",
		To: []string{"x@ext.test", "y@corp.test"}, Message: []byte(raw), MessageID: "<gone@t1.test>", Upstreams: []string{"a", "b"}})
	if res.Reply == nil || res.Reply.Code != 250 || res.Outcome != "queued" {
		t.Fatalf("Deliver under a cancelled context: %+v", res)
	}
	ids := map[string]bool{}
	for _, it := range mustList(t, q) {
		ids[it.ID] = true
	}
	if !ids["gone-split.1"] || !ids["gone-split.2"] {
		t.Fatalf("stored records %v, want gone-split.1 and gone-split.2", ids)
	}
	waitQueue(t, q)
	if a, b := e.ups["a"].MessagesTo("x@ext.test"), e.ups["b"].MessagesTo("y@corp.test"); len(a) != 1 || len(b) != 1 {
		t.Fatalf("delivered: %d through a, %d through b; want 1 and 1", len(a), len(b))
	}
}

package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/postkit/mailer/gateway"
)

// fakeQueue is a small in-memory gateway.Queue: enough to drive the admin
// API and readiness while the real queue lives elsewhere.
type fakeQueue struct {
	mu       sync.Mutex
	items    []gateway.QueueItem
	notReady error
	ops      []string
}

func (q *fakeQueue) Deliver(_ context.Context, tx *gateway.Transaction) gateway.Result {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.items = append(q.items, gateway.QueueItem{ID: tx.ID, Tenant: tx.Tenant, MessageID: tx.MessageID, State: "available",
		EnqueuedAt: time.Now()})
	return gateway.Result{Reply: &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "queued as " + tx.ID},
		Outcome: "queued"}
}

func (q *fakeQueue) Stats(context.Context) (gateway.QueueStats, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return gateway.QueueStats{Available: int64(len(q.items)), Oldest: 90 * time.Second}, nil
}

func (q *fakeQueue) List(_ context.Context, tenant string, limit int) ([]gateway.QueueItem, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []gateway.QueueItem
	for _, it := range q.items {
		if (tenant == "" || it.Tenant == tenant) && len(out) < limit {
			out = append(out, it)
		}
	}
	return out, nil
}

func (q *fakeQueue) op(name, id string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, it := range q.items {
		if it.ID == id {
			q.ops = append(q.ops, name+" "+id)
			if name == "cancel" {
				q.items = append(q.items[:i], q.items[i+1:]...)
			}
			return nil
		}
	}
	return gateway.ErrNotQueued
}

func (q *fakeQueue) Retry(_ context.Context, id string) error  { return q.op("retry", id) }
func (q *fakeQueue) Cancel(_ context.Context, id string) error { return q.op("cancel", id) }

func (q *fakeQueue) Writable(context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.notReady
}

// GET /api/queue lists the Queue's stats and items; retry and cancel call
// it, an id it does not hold is 404; /readyz fails while the queue is not
// writable (and not because of any upstream).
func TestAdminQueue(t *testing.T) {
	q := &fakeQueue{}
	q.items = []gateway.QueueItem{{ID: "Q1", Tenant: "t1", State: "retryable", Attempts: 2}, {ID: "Q2", Tenant: "t2", State: "available"}}
	e, _ := adminEnv(t, adminServer+policyTenants, gateway.WithDelivery("queue", q))
	ops, aud := e.tokens["ops"], e.tokens["audit-team"]

	code, body := e.call("GET", "/api/queue?tenant=t1", aud)
	var got gateway.AdminQueue
	if err := json.Unmarshal([]byte(body), &got); code != 200 || err != nil {
		t.Fatalf("%d %s %v", code, body, err)
	}
	if got.Available != 2 || got.OldestSeconds != 90 || len(got.Items) != 1 || got.Items[0].ID != "Q1" || got.Items[0].Attempts != 2 {
		t.Fatalf("%+v", got)
	}
	if code, _ := e.call("GET", "/api/queue?limit=0", aud); code != 400 {
		t.Fatalf("limit=0: %d", code)
	}
	for _, k := range []struct {
		path  string
		token string
		want  int
	}{
		{"/api/queue/Q1/retry", aud, 403},
		{"/api/queue/Q1/retry", ops, 200},
		{"/api/queue/Q2/cancel", ops, 200},
		{"/api/queue/Q2/cancel", ops, 404}, // gone
		{"/api/queue/nosuch/retry", ops, 404},
	} {
		if code, body := e.call("POST", k.path, k.token); code != k.want {
			t.Errorf("POST %s: %d %s, want %d", k.path, code, body, k.want)
		}
	}
	if strings.Join(q.ops, ",") != "retry Q1,cancel Q2" {
		t.Fatalf("queue saw %v", q.ops)
	}
	ids := map[string]bool{}
	for _, a := range e.auditOf("admin") {
		if id, _ := a["id"].(string); id != "" {
			ids[id] = true
		}
	}
	if !ids["Q1"] || !ids["Q2"] || !ids["nosuch"] {
		t.Fatalf("admin lines name the queue ids %v", ids)
	}

	ready := func() int {
		resp, err := httpGet("http://" + e.g.AdminAddr() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := ready(); c != 200 {
		t.Fatalf("readyz %d", c)
	}
	q.mu.Lock()
	q.notReady = errors.New("disk full")
	q.mu.Unlock()
	if c := ready(); c != 503 {
		t.Fatalf("readyz with an unwritable queue: %d", c)
	}
	e.verifyAudit()
}

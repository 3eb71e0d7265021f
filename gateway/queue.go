package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/outbox"
)

// queue is queue mode: the Delivery that commits a message to the outbox
// before the client's 250, the Sender the outbox's workers deliver
// through (the tenant's upstream chain, read from the record's routing
// tag), and the Queue the admin API and the metrics use.
type queue struct {
	g          *Gateway
	def        *queueDef
	ob         outboxAPI
	closeStore func()
	cancel     context.CancelFunc
	http       *http.Client
	batch      *batcher

	attempts sync.Map // record key → []Attempt of its last delivery

	storeMu sync.Mutex
	stores  storeGate // the Deliver calls under way; see closeStores

	mu      sync.Mutex
	depth   int64 // estimate: the last count plus what was accepted since
	depthAt time.Time
	started bool
	stopped bool
}

var _ Queue = (*queue)(nil)

// routeTag is the routing tag stored with each record: which tenant, which
// upstream chain, and what the audit and a DSN need. It holds no
// recipient and no secret.
type routeTag struct {
	Tenant    string   `json:"t"`
	ID        string   `json:"id"` // the gateway's transaction ID
	Key       string   `json:"k"`  // the record's key: ID, or ID.N for a part
	Upstreams []string `json:"u"`
	MessageID string   `json:"mid,omitempty"`
	From      string   `json:"f,omitempty"`
	DSN       bool     `json:"dsn,omitempty"` // a DSN of ours: never answered by another
}

// tenantPrefix is the start of the routing tag of every record of tenant,
// for List.
func tenantPrefix(tenant string) string {
	b, _ := json.Marshal(tenant)
	return `{"t":` + string(b) + `,`
}

// depthRefresh is how old the depth estimate may get before a new count.
const depthRefresh = 250 * time.Millisecond

// errQueueFull is returned when max_depth messages wait.
var errQueueFull = errors.New("queue: max_depth reached")

func newQueue(g *Gateway, d *queueDef) (*queue, error) {
	q := &queue{g: g, def: d, http: &http.Client{Timeout: 10 * time.Second}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ob, closeStore, err := openOutbox(ctx, d, q, q.hook, g.log)
	if err != nil {
		return nil, err
	}
	q.ob, q.closeStore = ob, closeStore
	q.batch = &batcher{ob: ob}
	return q, nil
}

// start starts the workers.
func (q *queue) start() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.started || q.stopped {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := q.ob.Start(ctx); err != nil {
		cancel()
		return fmt.Errorf("queue: %w", err)
	}
	q.cancel, q.started = cancel, true
	return nil
}

// stop stops the workers after the sends in flight (cut when ctx ends)
// and closes the database.
func (q *queue) stop(ctx context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopped {
		return nil
	}
	q.stopped = true
	var err error
	if q.started {
		err = q.ob.Stop(ctx)
		q.cancel()
	}
	q.closeStore()
	return err
}

// part is the share of a message that goes through one chain.
type part struct {
	chain []string
	rcpts []string
}

// split groups tx's recipients by the tenant's recipient-domain rules.
func (q *queue) split(tx *Transaction) ([]part, bool) {
	s := q.g.snap.Load()
	t := s.tenants[tx.Tenant]
	// Only the upstreams that may send as tx.From, as at MAIL in sync mode.
	if t == nil || len(t.rules) == 0 {
		chain := s.sendersChain(tx.Upstreams, tx.From)
		return []part{{chain: chain, rcpts: tx.To}}, len(chain) > 0
	}
	var parts []part
	index := map[int]int{} // rule (-1: default) → part
	for _, rc := range tx.To {
		rule := -1
		dom := strings.ToLower(rc[strings.LastIndexByte(rc, '@')+1:])
		for i := range t.rules {
			if t.rules[i].matches(dom) {
				rule = i
				break
			}
		}
		k, ok := index[rule]
		if !ok {
			chain := s.sendersChain(tx.Upstreams, tx.From)
			if rule >= 0 {
				chain = s.sendersChain(t.rules[rule].chain, tx.From)
			}
			if len(chain) == 0 {
				return nil, false
			}
			k = len(parts)
			index[rule] = k
			parts = append(parts, part{chain: chain})
		}
		parts[k].rcpts = append(parts[k].rcpts, rc)
	}
	return parts, true
}

// Deliver commits tx to the queue (all its parts in one transaction) and
// answers 250 only once that commit is durable. Once the records are being
// stored, ctx no longer cuts the store (batchTimeout bounds it): a client
// told 4xx must not find its message delivered. Shutdown waits for the
// Deliver calls under way; once it does, Deliver answers 421 and stores
// nothing.
func (q *queue) Deliver(ctx context.Context, tx *Transaction) Result {
	parts, ok := q.split(tx)
	if !ok {
		return Result{Reply: errSenderRoute, Outcome: "rejected:sender_not_allowed"}
	}
	beforeStore, ok := q.beginStore()
	if !ok {
		return Result{Reply: errShuttingDown, Outcome: "failed"}
	}
	defer q.endStore()
	if err := q.admit(ctx, len(parts)); err != nil {
		return q.failed(tx, err)
	}
	items := make([]enqueueItem, len(parts))
	for i, p := range parts {
		key := tx.ID
		if len(parts) > 1 {
			key = fmt.Sprintf("%s.%d", tx.ID, i+1)
		}
		tag, _ := json.Marshal(routeTag{Tenant: tx.Tenant, ID: tx.ID, Key: key, Upstreams: p.chain,
			MessageID: cleanText(tx.MessageID, 200), From: tx.From})
		items[i] = enqueueItem{key: key, route: string(tag),
			env: mailer.Envelope{From: tx.From, To: p.rcpts, SMTPUTF8: tx.SMTPUTF8}}
	}
	if beforeStore != nil {
		beforeStore()
	}
	var err error
	if len(items) == 1 {
		err = q.batch.enqueue(outbox.RawMessage{Envelope: items[0].env, Message: tx.Message, Key: items[0].key, Route: items[0].route})
	} else {
		// Not cut by ctx, like the batcher's store: ctx is the session's
		// relay_timeout under the gateway's context, and a commit that
		// succeeds as relay_timeout or shutdown ends it would be reported
		// as an error; the client, told 4xx, would send again a message
		// that is delivered anyway. batchTimeout bounds it, and that is
		// best effort: a store reported failed because batchTimeout
		// expired during the commit may still have committed.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
		err = q.ob.(enqueuerTogether).enqueueTogether(sctx, items, tx.Message)
		cancel()
	}
	if err != nil {
		q.forget(len(parts))
		return q.failed(tx, err)
	}
	return Result{Reply: replyQueued(tx.ID), Outcome: "queued"}
}

// enqueueItem is one record of a split message.
type enqueueItem struct {
	key, route string
	env        mailer.Envelope
}

// enqueuerTogether stores several records in one transaction.
type enqueuerTogether interface {
	enqueueTogether(ctx context.Context, items []enqueueItem, msg []byte) error
}

func (q *queue) failed(tx *Transaction, err error) Result {
	switch {
	case errors.Is(err, errQueueFull), storageFull(err):
		return Result{Reply: errStorage, Outcome: "rejected:storage"}
	case errors.Is(err, outbox.ErrAlreadyEnqueued):
		// Our IDs are unique: this is a bug, not the client's doing.
	}
	q.g.log.Error("queue: enqueue failed", "id", tx.ID, "tenant", tx.Tenant, "err", err)
	return Result{Reply: errInternal(tx.ID), Outcome: "failed"}
}

// storageFull recognises a full disk (SQLite's SQLITE_FULL, PostgreSQL's
// 53100, ENOSPC) or a full database.
func storageFull(err error) bool {
	s := err.Error()
	return strings.Contains(s, "database or disk is full") || strings.Contains(s, "SQLITE_FULL") ||
		strings.Contains(s, "53100") || strings.Contains(s, "no space left on device") || strings.Contains(s, "53400")
}

// admit reserves room for n records under max_depth. The depth is an
// estimate: the last count (at most depthRefresh old) plus what this
// instance accepted since.
func (q *queue) admit(ctx context.Context, n int) error {
	max := q.def.cfg.MaxDepth
	if max <= 0 {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if now := time.Now(); now.Sub(q.depthAt) > depthRefresh {
		st, err := q.ob.Stats(ctx)
		if err != nil {
			return err
		}
		q.depth, q.depthAt = st.Depth(), now
	}
	if q.depth+int64(n) > max {
		return errQueueFull
	}
	q.depth += int64(n)
	return nil
}

// forget gives back a reservation whose enqueue failed.
func (q *queue) forget(n int) {
	if q.def.cfg.MaxDepth > 0 {
		q.mu.Lock()
		q.depth -= int64(n)
		q.mu.Unlock()
	}
}

// Stats implements Queue.
func (q *queue) Stats(ctx context.Context) (QueueStats, error) {
	st, err := q.ob.Stats(ctx)
	if err != nil {
		return QueueStats{}, err
	}
	qs := QueueStats{Available: st.Due, Retryable: st.Retrying, Running: st.Sending, Held: st.Scheduled}
	if !st.Oldest.IsZero() {
		qs.Oldest = max(time.Since(st.Oldest), 0)
	}
	return qs, nil
}

// List implements Queue: the records of tenant (all for ""), newest first.
func (q *queue) List(ctx context.Context, tenant string, limit int) ([]QueueItem, error) {
	f := outbox.Filter{Limit: limit, Newest: true}
	if tenant != "" {
		f.RoutePrefix = tenantPrefix(tenant)
	}
	recs, _, err := q.ob.List(ctx, f)
	if err != nil {
		return nil, err
	}
	items := make([]QueueItem, 0, len(recs))
	for _, r := range recs {
		var rt routeTag
		_ = json.Unmarshal([]byte(r.Route), &rt)
		items = append(items, QueueItem{ID: r.MessageID, Tenant: rt.Tenant, MessageID: rt.MessageID, State: queueState(r),
			Attempts: r.Attempts, LastError: cleanText(r.LastError, 200), EnqueuedAt: r.CreatedAt, NextAttempt: r.NextAttemptAt})
	}
	return items, nil
}

// queueState names a record's state as QueueStats counts it, or its final
// status in lower case.
func queueState(r outbox.Record) string {
	switch {
	case r.Status == outbox.StatusSending:
		return "running"
	case r.Status != outbox.StatusPending:
		return strings.ToLower(string(r.Status))
	case r.Attempts > 0:
		return "retryable"
	case r.NextAttemptAt.After(time.Now()):
		return "held"
	}
	return "available"
}

// Retry implements Queue. The ID of a split message retries each part.
func (q *queue) Retry(ctx context.Context, id string) error {
	return q.each(ctx, id, func(k string) error {
		err := q.ob.Retry(ctx, k)
		if !errors.Is(err, outbox.ErrWrongStatus) {
			return err
		}
		// Waiting for a later attempt: cancelled and retried, it gets a
		// new job due now (the old one stands down). Being sent now, it
		// needs nothing.
		if err := q.ob.Cancel(ctx, k); err == nil {
			// Cancelled, it must be made PENDING again whatever becomes
			// of the admin's request: a message answered 250 is not
			// dropped because the caller went away.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			return q.ob.Retry(rctx, k)
		}
		if r, err := q.ob.Status(ctx, k); err == nil && (r.Status == outbox.StatusSending || r.Status == outbox.StatusPending) {
			return nil
		}
		return ErrNotQueued
	})
}

// Cancel implements Queue.
func (q *queue) Cancel(ctx context.Context, id string) error {
	return q.each(ctx, id, func(k string) error {
		if err := q.ob.Cancel(ctx, k); errors.Is(err, outbox.ErrWrongStatus) {
			return ErrNotQueued
		} else {
			return err
		}
	})
}

// each runs f on id, or on the parts id.1, id.2, … of a split message.
func (q *queue) each(ctx context.Context, id string, f func(string) error) error {
	if id == "" || len(id) > 200 {
		return ErrNotQueued
	}
	err := f(id)
	if !errors.Is(err, outbox.ErrNotFound) {
		return err
	}
	var errs []error
	for n := 1; ; n++ {
		err := f(fmt.Sprintf("%s.%d", id, n))
		if errors.Is(err, outbox.ErrNotFound) {
			if n == 1 {
				return ErrNotQueued
			}
			return errors.Join(errs...)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
}

// Writable implements Queue: the store answers. A full queue is not a
// readiness failure: an upstream outage fills it, and taking every
// instance out of its load balancer would stop the sync and capture
// tenants too; each message meets the limit with 452 4.3.1 instead.
func (q *queue) Writable(ctx context.Context) error {
	_, err := q.ob.Stats(ctx)
	return err
}

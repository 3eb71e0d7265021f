package gateway

import (
	"context"
	"errors"
	"time"
)

// Queue is implemented by a Delivery that holds accepted messages durably
// (queue mode). When the delivery registered for mode "queue" implements
// it, the admin API (/api/queue), readiness (/readyz) and the metrics
// (mailgate_queue_jobs, mailgate_queue_oldest_seconds) use it.
type Queue interface {
	Delivery
	// Stats counts the queue's jobs by state and ages its oldest one.
	Stats(ctx context.Context) (QueueStats, error)
	// List returns up to limit queued messages, newest first; tenant ""
	// means all tenants.
	List(ctx context.Context, tenant string, limit int) ([]QueueItem, error)
	// Retry makes a held, failed or waiting message due now.
	Retry(ctx context.Context, id string) error
	// Cancel stops a message that has not been delivered yet.
	Cancel(ctx context.Context, id string) error
	// Writable reports whether the queue can take a message now (store
	// open and writable); readiness fails while it returns an error.
	Writable(ctx context.Context) error
}

// ErrNotQueued is returned by a Queue's Retry and Cancel for an id it does
// not hold (or no longer can change).
var ErrNotQueued = errors.New("gateway: no such queued message")

// QueueStats is the durable queue's state.
type QueueStats struct {
	Available int64 // due, waiting for a worker
	Retryable int64 // waiting for their next attempt
	Running   int64 // being delivered
	Held      int64 // scheduled later or paused
	// Oldest is the age of the oldest message not yet finished; 0 when the
	// queue is empty.
	Oldest time.Duration
}

// QueueItem is one queued message as the admin API lists it. It holds no
// message body and no envelope recipient; LastError is the last attempt's
// error as the upstream worded it (cut to 200 characters), which may quote
// a recipient ("550 5.1.1 <bob@example.com>: no such user").
type QueueItem struct {
	ID          string    `json:"id"` // as in "250 2.0.0 queued as <id>"
	Tenant      string    `json:"tenant"`
	MessageID   string    `json:"message_id,omitempty"`
	State       string    `json:"state"`
	Attempts    int       `json:"attempts"`
	LastError   string    `json:"last_error,omitempty"`
	EnqueuedAt  time.Time `json:"enqueued_at"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
}

package mailer

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// Status is a step in the life of one Send: pending, then sending, then
// either sent or failed, with retrying and sending again in between as
// often as the RetryPolicy allows.
type Status uint8

// Statuses, in life-cycle order.
const (
	// StatusPending: Send accepted the message; no attempt has started.
	StatusPending Status = iota + 1
	// StatusSending: an attempt is starting (Event.Attempt says which).
	StatusSending
	// StatusRetrying: the attempt failed and another follows after
	// Event.Wait.
	StatusRetrying
	// StatusSent: the message was delivered to at least one recipient.
	// Event.Err lists recipients that were refused, if any. Terminal.
	StatusSent
	// StatusFailed: Send gives up; Event.Err holds the final error.
	// Terminal.
	StatusFailed
)

// String returns "pending", "sending", "retrying", "sent" or "failed".
func (s Status) String() string {
	switch s {
	case StatusPending:
		return "pending"
	case StatusSending:
		return "sending"
	case StatusRetrying:
		return "retrying"
	case StatusSent:
		return "sent"
	case StatusFailed:
		return "failed"
	}
	return "status(?)"
}

// Terminal reports whether s ends a Send: StatusSent or StatusFailed. Every
// Send produces exactly one terminal event.
func (s Status) Terminal() bool { return s == StatusSent || s == StatusFailed }

// MarshalText implements encoding.TextMarshaler, for JSON logs and outboxes.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Event describes one step in the life of a Send. New fields may be added;
// a Hook should read only the fields it needs. Events never hold
// credentials or message content.
type Event struct {
	// MessageID is the Message-ID of the message, without angle brackets.
	MessageID string
	// Account names the account of a Group ([Failover], [RoundRobin])
	// the send goes through; "" outside a Group.
	Account string
	// Status is the step.
	Status Status
	// Attempt numbers the attempt the event belongs to, from 1; 0 for
	// StatusPending.
	Attempt int
	// Time is when the event happened.
	Time time.Time
	// Duration is how long the attempt took (StatusRetrying) or the whole
	// Send took (StatusSent, StatusFailed).
	Duration time.Duration
	// Wait is how long Send waits before the next attempt (StatusRetrying).
	Wait time.Duration
	// Recipients are the envelope recipients concerned: all of them for
	// StatusPending, those of this attempt for StatusSending and
	// StatusRetrying, the ones that got the message for StatusSent, the
	// ones that did not for StatusFailed.
	Recipients []string
	// Outcome is the class of the attempt that ended (StatusRetrying,
	// StatusSent, StatusFailed).
	Outcome Outcome
	// Code and EnhancedCode are the server's reply code: the reply to the
	// end of data for StatusSent, the failing reply otherwise; 0 when there
	// was no reply.
	Code         int
	EnhancedCode EnhancedCode
	// Response is the server's sanitised reply text.
	Response string
	// MaybeDuplicate is set once an attempt ended with an unknown outcome
	// and another attempt was made: the message may arrive more than once,
	// always with the same Message-ID.
	MaybeDuplicate bool
	// Err is the error of the attempt (StatusRetrying) or the final error
	// (StatusFailed, and StatusSent when some recipients were refused).
	Err error
}

// A Hook observes events. See WithHook for when and where hooks run.
type Hook func(ctx context.Context, e Event)

const (
	// hookQueueSize is how many events may wait for slow hooks.
	hookQueueSize = 1024
	// hookWait bounds how long Send waits for room in a full queue.
	hookWait = time.Second
)

// WithHook adds a hook that observes every Send: one StatusPending, one
// StatusSending per attempt, one StatusRetrying per retry, and exactly one
// terminal StatusSent or StatusFailed event. Hooks are additive.
//
// Hooks run on one goroutine per Client, in the order the events happen and
// the hooks were added, so they never run concurrently with each other. The
// context passed to a hook carries the values of Send's context but is
// never cancelled. A hook that panics is recovered and logged; delivery
// goes on. A slow hook cannot stall delivery for long: events wait in a
// queue of 1024, and when the queue is full Send waits at most one second
// per event for room, then drops the event and logs it at Error level.
// Close waits until queued events are delivered to the hooks.
func WithHook(h Hook) Option {
	return func(c *config) error {
		if h == nil {
			return configError("WithHook", "nil hook")
		}
		c.hooks = append(c.hooks[:len(c.hooks):len(c.hooks)], h)
		return nil
	}
}

// dispatcher delivers events to hooks on its own goroutine.
type dispatcher struct {
	hooks   []Hook
	log     *slog.Logger
	queue   chan queuedEvent
	done    chan struct{}
	dropped atomic.Int64
	wait    time.Duration
}

type queuedEvent struct {
	ctx context.Context
	ev  Event
}

func newDispatcher(hooks []Hook, size int, log *slog.Logger) *dispatcher {
	if len(hooks) == 0 {
		return nil
	}
	if size <= 0 {
		size = hookQueueSize
	}
	d := &dispatcher{
		hooks: hooks, log: log, wait: hookWait,
		queue: make(chan queuedEvent, size), done: make(chan struct{}),
	}
	go d.run()
	return d
}

// emit queues ev, waiting a bounded time for room.
func (d *dispatcher) emit(ctx context.Context, ev Event) {
	if d == nil {
		return
	}
	q := queuedEvent{ctx: context.WithoutCancel(ctx), ev: ev}
	select {
	case d.queue <- q:
		return
	default:
	}
	t := time.NewTimer(d.wait)
	defer t.Stop()
	select {
	case d.queue <- q:
	case <-t.C:
		n := d.dropped.Add(1)
		d.log.LogAttrs(ctx, slog.LevelError, "mailer: hooks too slow, event dropped",
			slog.String("message_id", ev.MessageID), slog.String("status", ev.Status.String()),
			slog.Int64("dropped_total", n))
	}
}

func (d *dispatcher) run() {
	defer close(d.done)
	for q := range d.queue {
		for _, h := range d.hooks {
			d.call(h, q)
		}
	}
}

func (d *dispatcher) call(h Hook, q queuedEvent) {
	defer func() {
		if r := recover(); r != nil {
			d.log.LogAttrs(q.ctx, slog.LevelError, "mailer: hook panicked",
				slog.String("message_id", q.ev.MessageID), slog.String("status", q.ev.Status.String()),
				slog.String("panic", fmt.Sprint(r)))
		}
	}()
	h(q.ctx, q.ev)
}

// close delivers the queued events and stops the goroutine. No emit may
// follow.
func (d *dispatcher) close() {
	if d == nil {
		return
	}
	close(d.queue)
	<-d.done
}

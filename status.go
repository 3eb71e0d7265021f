package mailer

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
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

// WithHook adds a hook that observes every Send: one StatusPending, one
// StatusSending per attempt, one StatusRetrying per retry, and exactly one
// terminal StatusSent or StatusFailed event. Hooks are additive. A call
// refused before its message is pending (a nil or invalid Message, an
// invalid Envelope or empty body for SendRaw, a closed Client) returns its
// error and produces no event: no delivery started, so there is nothing
// for a hook to follow, and the caller has the error.
//
// Hooks are called synchronously, on the goroutine that sends the message
// (the caller of Send, or one of SendAll's workers), in the order the
// events happen and the hooks were added. So:
//   - every event reaches every hook exactly once, and the events of one
//     message arrive in order;
//   - the terminal event has been handled by every hook before Send, or
//     SendAll for that message, returns its result: a hook that writes a
//     status row has written it when the caller sees the result;
//   - nothing is queued or dropped: a slow hook slows the sending of its
//     message instead (backpressure). The time a hook takes adds to the
//     time of Send, but while a hook runs its message holds no connection
//     (StatusSending comes before the attempt takes one, StatusRetrying and
//     the terminal event after it gave it back);
//   - hooks of different messages run concurrently (SendAll runs twice as
//     many workers as the pool has connections; see [Client.SendAll]), so a
//     hook must be safe for concurrent use, and one slow database write
//     does not stop the other messages.
//
// The cost: with a hook that takes 2 ms per event, three events per
// message, a pool of 8 (16 workers) sends at most 16 / 6 ms ≈ 2,600
// messages a second (1,300 measured on a busy 2-core machine, against 160
// when hooks ran on one goroutine: BenchmarkThroughputHook in package
// bench). Each Send with hooks also spends a few microseconds on
// bookkeeping (finding its goroutine, for Close). A hook that must not
// slow sending should hand events to its own queue.
//
// The context passed to a hook carries the values of Send's context but
// is never cancelled, so that a hook can still record a failure caused by
// cancellation. A hook that panics is recovered and logged at Error level;
// delivery goes on and the other hooks still see the event. A hook may call
// Send or SendAll on the same Client; it must not call Close or Shutdown on
// it, which would wait for the hook's own Send: they return
// ErrCloseInHook instead.
func WithHook(h Hook) Option {
	return func(c *config) error {
		if h == nil {
			return configError("WithHook", "nil hook")
		}
		c.hooks = append(c.hooks[:len(c.hooks):len(c.hooks)], h)
		return nil
	}
}

// hookSet calls a Client's hooks.
type hookSet struct {
	hooks []Hook
	log   *slog.Logger

	// running counts, per goroutine, the hook calls in progress, so that
	// Close can tell that it was called from a hook.
	mu      sync.Mutex
	running map[uint64]int
}

func newHookSet(hooks []Hook, log *slog.Logger) *hookSet {
	if len(hooks) == 0 {
		return nil
	}
	return &hookSet{hooks: hooks, log: log, running: map[uint64]int{}}
}

// emit calls every hook with ev on the calling goroutine, whose id is gid.
func (h *hookSet) emit(ctx context.Context, gid uint64, ev Event) {
	h.mu.Lock()
	h.running[gid]++
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		if h.running[gid]--; h.running[gid] == 0 {
			delete(h.running, gid)
		}
		h.mu.Unlock()
	}()
	for _, hook := range h.hooks {
		h.call(ctx, hook, ev)
	}
}

func (h *hookSet) call(ctx context.Context, hook Hook, ev Event) {
	defer func() {
		if r := recover(); r != nil {
			h.log.LogAttrs(ctx, slog.LevelError, "mailer: hook panicked",
				slog.String("message_id", ev.MessageID), slog.String("status", ev.Status.String()),
				slog.String("panic", fmt.Sprint(r)))
		}
	}()
	hook(ctx, ev)
}

// inHook reports whether the calling goroutine is inside one of the hooks.
func (h *hookSet) inHook() bool {
	if h == nil {
		return false
	}
	gid := goroutineID()
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.running[gid] > 0
}

// goroutineID returns the id of the calling goroutine, read from the first
// line of its stack trace ("goroutine 42 [running]:"). Go offers no other
// way; it walks the whole stack (several microseconds on a deep one), so it
// is used once per Send that has hooks, once per SendAll worker, and by
// Close.
func goroutineID() uint64 {
	var buf [40]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b, _ = bytes.CutPrefix(b, []byte("goroutine "))
	var id uint64
	for _, ch := range b {
		if ch < '0' || ch > '9' {
			break
		}
		id = id*10 + uint64(ch-'0')
	}
	return id
}

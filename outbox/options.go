package outbox

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/postkit/mailer"
)

// Defaults of [Options]. River's own defaults (rescue after an hour, 25
// attempts over about 20 days, 100 ms between fetches) are wrong for mail;
// these replace them.
const (
	DefaultWorkers      = 10
	DefaultMaxAttempts  = 10
	DefaultMinWait      = time.Minute
	DefaultMaxWait      = time.Hour
	DefaultThrottleWait = 2 * time.Minute
	DefaultMaxSnoozes   = 50
	DefaultDBRetryWait  = time.Second
	DefaultJobTimeout   = 2 * time.Minute
	DefaultRetention    = 30 * 24 * time.Hour
	DefaultMaxBodyBytes = 25 << 20
	DefaultQueue        = "mail_outbox"
	// rescueMargin is added to JobTimeout for the default RescueAfter.
	rescueMargin = 30 * time.Second
)

// ErrInvalidOptions is wrapped by every error about an invalid [Options]
// field.
var ErrInvalidOptions = errors.New("outbox: invalid options")

// Options configure an Outbox. The zero value means every default.
type Options struct {
	// Workers is how many messages are sent at once by this process.
	// Default 10; the Sender's pool bounds the real concurrency.
	Workers int
	// MaxAttempts is how many SMTP attempts a message gets before it is
	// FAILED. Default 10. Each attempt of the outbox is exactly one SMTP
	// attempt: the Sender's own retries are switched off.
	MaxAttempts int
	// Backoff computes the wait after a temporary failure, between MinWait
	// and MaxWait (defaults: 1 minute and 1 hour). Nil means
	// mailer.ExponentialBackoff. A server's hint (a ReplyRule's MinWait)
	// is honoured when larger.
	Backoff          mailer.Backoff
	MinWait, MaxWait time.Duration
	// ThrottleWait is the least pause after a throttling reply (421, an
	// enhanced code 4.7.x, or a reply the Sender marks with a wait such as
	// 163's "451 DT:SPM"). A pause does not use an attempt. Each pause is
	// drawn between it and a quarter more, so that the messages one
	// throttling reply stopped come back spread out. Default 2 minutes.
	ThrottleWait time.Duration
	// MaxSnoozes caps the throttling pauses of one message; past it a
	// throttling reply counts as an ordinary temporary failure. Default 50.
	MaxSnoozes int
	// DBRetryWait is how long a job waits after a database error (a
	// claim or a status write that failed) before it tries again; the
	// wait uses no attempt. A tenth of it, then two tenths (at most a
	// second each), also separate the three tries of writing an attempt's
	// outcome. Default 1 s.
	DBRetryWait time.Duration
	// JobTimeout bounds one attempt, big attachments included. Default 2
	// minutes.
	JobTimeout time.Duration
	// RescueAfter is how long a job may stay running before another
	// process takes it over (PostgreSQL; River's rescuer runs every 30 s,
	// so the takeover happens within RescueAfter + 30 s plus a leader
	// election). It must be at least JobTimeout. Default JobTimeout + 30 s
	// (River's default would be an hour).
	RescueAfter time.Duration
	// RetryUnknown chooses at-least-once delivery: a message whose outcome
	// is unknown (connection lost after the final dot, process died while
	// sending) is sent again, so it may arrive twice with the same
	// Message-ID. The default, false, makes it UNKNOWN and final: it
	// arrives at most once.
	RetryUnknown bool
	// Retention is how long final records (SENT, FAILED, UNKNOWN,
	// CANCELLED) are kept; a periodic job deletes older ones, after which
	// their Message-IDs may be enqueued again. Default 30 days; negative
	// keeps them for ever.
	Retention time.Duration
	// MaxBodyBytes limits the stored message; Enqueue returns a
	// *BodyTooLargeError past it. Default 25 MiB.
	MaxBodyBytes int64
	// Queue is the River queue the outbox's jobs use. Default
	// "mail_outbox".
	Queue string
	// PollInterval is the longest a due message waits to be noticed when
	// no notification wakes the worker. Default 100 ms on SQLite (which
	// has no LISTEN/NOTIFY) and 1 s on PostgreSQL.
	PollInterval time.Duration
	// Hooks observe each message with the core's Event: StatusPending when
	// enqueued, StatusSending per attempt, StatusRetrying, and
	// StatusSent or StatusFailed (Outcome says unknown for UNKNOWN). They
	// run after the status is committed, on the worker's goroutine; a
	// panic is recovered. They are best effort: read Status for truth.
	Hooks []mailer.Hook
	// Logger receives the outbox's and River's logs. Nil discards them.
	Logger *slog.Logger
}

func (o Options) withDefaults(d Dialect) (Options, error) {
	bad := func(field, format string, args ...any) (Options, error) {
		return o, fmt.Errorf("%w: %s: %s", ErrInvalidOptions, field, fmt.Sprintf(format, args...))
	}
	switch {
	case o.Workers < 0 || o.Workers > 10000:
		return bad("Workers", "%d out of range 0..10000", o.Workers)
	case o.MaxAttempts < 0 || o.MaxAttempts > 1000:
		return bad("MaxAttempts", "%d out of range 0..1000", o.MaxAttempts)
	case o.MinWait < 0 || o.MaxWait < 0 || o.ThrottleWait < 0 || o.DBRetryWait < 0 || o.JobTimeout < 0 || o.RescueAfter < 0 || o.PollInterval < 0:
		return bad("MinWait/MaxWait/ThrottleWait/DBRetryWait/JobTimeout/RescueAfter/PollInterval", "negative duration")
	case o.MaxWait > 0 && o.MinWait > o.MaxWait:
		return bad("MinWait", "%v above MaxWait %v", o.MinWait, o.MaxWait)
	case o.MaxSnoozes < 0:
		return bad("MaxSnoozes", "negative")
	case o.MaxBodyBytes < 0:
		return bad("MaxBodyBytes", "negative")
	}
	for i, h := range o.Hooks {
		if h == nil {
			return bad("Hooks", "hook %d is nil", i)
		}
	}
	if o.Workers == 0 {
		o.Workers = DefaultWorkers
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.MinWait == 0 {
		o.MinWait = DefaultMinWait
	}
	if o.MaxWait == 0 {
		o.MaxWait = max(DefaultMaxWait, o.MinWait)
	}
	if o.Backoff == nil {
		o.Backoff = mailer.ExponentialBackoff
	}
	if o.ThrottleWait == 0 {
		o.ThrottleWait = DefaultThrottleWait
	}
	if o.MaxSnoozes == 0 {
		o.MaxSnoozes = DefaultMaxSnoozes
	}
	if o.DBRetryWait == 0 {
		o.DBRetryWait = DefaultDBRetryWait
	}
	if o.JobTimeout == 0 {
		o.JobTimeout = DefaultJobTimeout
	}
	if o.RescueAfter == 0 {
		o.RescueAfter = o.JobTimeout + rescueMargin
	}
	if o.RescueAfter < o.JobTimeout {
		return bad("RescueAfter", "%v below JobTimeout %v", o.RescueAfter, o.JobTimeout)
	}
	if o.Retention == 0 {
		o.Retention = DefaultRetention
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.Queue == "" {
		o.Queue = DefaultQueue
	}
	if o.PollInterval == 0 {
		o.PollInterval = time.Second
		if d == DialectSQLite {
			o.PollInterval = 100 * time.Millisecond
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

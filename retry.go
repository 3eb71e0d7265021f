package mailer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Retry defaults. See [RetryPolicy].
const (
	DefaultMaxAttempts  = 3
	DefaultMinWait      = time.Second
	DefaultMaxWait      = 30 * time.Second
	DefaultThrottleWait = time.Minute
)

// Backoff returns how long to wait before attempt+1, after attempt failed.
// minWait and maxWait come from the RetryPolicy.
type Backoff func(minWait, maxWait time.Duration, attempt int) time.Duration

// ExponentialBackoff is the default Backoff: minWait doubled after each
// attempt, capped at maxWait, with ±50% random jitter so that many clients
// do not retry in step. The interval is computed by
// github.com/cenkalti/backoff/v4; the jitter is drawn within [minWait,
// maxWait] rather than cut to its bounds, which would send every draw
// below minWait (half of the first retries) or above maxWait back at the
// same instant.
func ExponentialBackoff(minWait, maxWait time.Duration, attempt int) time.Duration {
	if maxWait < minWait {
		maxWait = minWait
	}
	b := &backoff.ExponentialBackOff{
		InitialInterval: minWait,
		Multiplier:      2,
		MaxInterval:     maxWait,
		Stop:            backoff.Stop,
		Clock:           backoff.SystemClock,
	}
	b.Reset()
	d := minWait
	for range max(attempt, 1) {
		d = b.NextBackOff() // no randomization: the interval itself
	}
	lo := clamp(d/2, minWait, maxWait)
	hi := maxWait // d+d/2, without overflowing, at most maxWait
	if d < maxWait && d/2 < maxWait-d {
		hi = d + d/2
	}
	return lo + randDuration(hi-lo)
}

// randDuration returns a random duration in [0, d], or 0 if d <= 0.
func randDuration(d time.Duration) time.Duration {
	switch {
	case d <= 0:
		return 0
	case d == math.MaxInt64:
		return rand.N(d)
	}
	return rand.N(d + 1)
}

// spread returns a random wait in [d, d+d/4], and at most limit when
// limit > d: a floor (ThrottleWait, a ReplyRule's MinWait) that many
// messages meet at once, when a provider throttles a whole burst, must
// not bring them all back at the same instant to be throttled again; but
// a wait whose floor fits before the context's deadline (limit) is not
// drawn past it, where Send would give up instead of waiting.
func spread(d, limit time.Duration) time.Duration {
	extra := d / 4
	if room := limit - d; room < extra {
		extra = max(room, 0)
	}
	if extra > math.MaxInt64-d {
		extra = math.MaxInt64 - d
	}
	return d + randDuration(extra)
}

// ConstantBackoff always waits minWait. It suits tests.
func ConstantBackoff(minWait, maxWait time.Duration, attempt int) time.Duration { return minWait }

// RetryPolicy controls how Send retries. The zero value means all defaults:
// 3 attempts, exponential backoff from 1 s to 30 s with jitter, at least a
// minute after a throttling reply (ThrottleWait), and at-least-once
// delivery.
//
// Whether an attempt is retried depends on its outcome ([Classify]):
// delivered and permanent outcomes end Send; temporary ones are retried;
// an unknown outcome (the connection was lost after the end of data) is
// retried with the same Message-ID unless AtMostOnce is set. When only some
// recipients failed temporarily, only those are retried.
type RetryPolicy struct {
	// MaxAttempts is the total number of attempts, including the first.
	// Zero means DefaultMaxAttempts; 1 disables retries.
	MaxAttempts int
	// MinWait and MaxWait bound the backoff between attempts. Zero means
	// DefaultMinWait and DefaultMaxWait.
	MinWait, MaxWait time.Duration
	// ThrottleWait is the least wait after a throttling reply (the wait
	// is drawn between it and a quarter more, so that the messages one
	// throttling reply stopped do not all come back at once): a 4yz
	// reply that says the sender is rate limited, throttled, over a limit
	// or a quota, sending too many connections or messages, or that the
	// server is busy ([SendError.Throttled]). Other temporary replies, such
	// as "421 4.3.2 shutting down" or STARTTLS's "454 4.7.0 TLS not
	// available", get the ordinary backoff, over a new connection. A
	// ReplyRule's MinWait, when larger, wins (provider presets set it for
	// their own throttling replies). Zero means DefaultThrottleWait.
	ThrottleWait time.Duration
	// Backoff computes the wait. Nil means ExponentialBackoff.
	Backoff Backoff
	// Classify classifies the error of an attempt. Nil means Classify.
	Classify func(err error) Outcome
	// AtMostOnce stops after an unknown outcome instead of retrying, so the
	// message never arrives twice but may not arrive at all; Send then
	// returns an error matching ErrMaybeDelivered.
	AtMostOnce bool
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.MinWait <= 0 {
		p.MinWait = DefaultMinWait
	}
	if p.MaxWait <= 0 {
		p.MaxWait = max(DefaultMaxWait, p.MinWait)
	}
	if p.ThrottleWait <= 0 {
		p.ThrottleWait = DefaultThrottleWait
	}
	if p.Backoff == nil {
		p.Backoff = ExponentialBackoff
	}
	if p.Classify == nil {
		p.Classify = Classify
	}
	return p
}

// WithRetry sets the retry policy. See [RetryPolicy] for the defaults.
func WithRetry(p RetryPolicy) Option {
	return func(c *config) error {
		switch {
		case p.MaxAttempts < 0 || p.MaxAttempts > 100:
			return configError("WithRetry", "MaxAttempts %d out of range 0..100", p.MaxAttempts)
		case p.MinWait < 0:
			return configError("WithRetry", "MinWait %v is negative", p.MinWait)
		case p.MaxWait < 0:
			return configError("WithRetry", "MaxWait %v is negative", p.MaxWait)
		case p.ThrottleWait < 0:
			return configError("WithRetry", "ThrottleWait %v is negative", p.ThrottleWait)
		case p.MaxWait > 0 && p.MinWait > p.MaxWait:
			return configError("WithRetry", "MinWait %v above MaxWait %v", p.MinWait, p.MaxWait)
		}
		c.retry = p
		return nil
	}
}

// waitFor returns how long to wait after attempt failed with err.
// A floor it spreads (see spread) stays within left, the time to the
// context's deadline (math.MaxInt64 without one), when the floor fits.
func (p RetryPolicy) waitFor(attempt int, err *SendError, left time.Duration) time.Duration {
	wait := p.Backoff(p.MinWait, p.MaxWait, attempt)
	if err == nil {
		return wait
	}
	floor := err.MinWait()
	if isThrottling(err) {
		floor = max(floor, p.ThrottleWait)
	}
	if wait < floor {
		wait = spread(floor, left)
	}
	return wait
}

// isThrottling reports a reply that asks the client to slow down (see
// SendError.Throttled), in e or in any of its rejections.
func isThrottling(e *SendError) bool {
	if e.Code/100 == 4 && throttleText.MatchString(e.Message) {
		return true
	}
	for _, r := range e.Rejections {
		if isThrottling(r) {
			return true
		}
	}
	return false
}

// throttleText matches the words servers use when they limit a sender:
// Gmail's "421 4.7.28 … rate limited", Microsoft's "451 4.7.500 Server
// busy", QQ Mail's "Connection frequency limited", "too many connections".
var throttleText = regexp.MustCompile(`(?i)\b(rate|rates|rated|throttl\w*|limit\w*|frequen\w*|slow down|(server|system|service) (is )?(too )?busy|quota|too many (connections|sessions|messages|mails|emails|requests))\b`)

func clamp(d, lo, hi time.Duration) time.Duration {
	return min(max(d, lo), hi)
}

// giveUp wraps the last error of an attempt with the reason Send stopped
// early (the context ended, or the wait would outlast its deadline), so
// that the error keeps the last reply's stage, code and classification.
func giveUp(last *SendError, reason error) *SendError {
	se := *last
	se.Err = &stopError{reason: reason, last: last.Err}
	return &se
}

// stopError joins the reason Send stopped and the last attempt's error.
type stopError struct {
	reason error
	last   error
}

func (e *stopError) Error() string {
	if e.last == nil {
		return e.reason.Error()
	}
	return fmt.Sprintf("%v (last attempt: %v)", e.reason, e.last)
}

func (e *stopError) Unwrap() []error {
	if e.last == nil {
		return []error{e.reason}
	}
	return []error{e.reason, e.last}
}

// errWaitTooLong is the reason given when the next wait would outlast the
// context's deadline.
var errWaitTooLong = errors.New("mailer: the wait before the next attempt would outlast the context deadline")

// sleep waits d or until ctx ends, whichever is first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return contextErr(ctx)
	case <-t.C:
		return nil
	}
}

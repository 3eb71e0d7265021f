package mailer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/textproto"
	"os"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	gomail "github.com/wneessen/go-mail"
)

// fakeClient returns a Client whose attempts are answered by results in
// turn, recording the time and recipients of each attempt. It runs inside a
// synctest bubble, so waits take no real time.
func fakeClient(t *testing.T, results []attemptResult, opts ...Option) (*Client, *[]time.Time, *[][]string, *[]Event) {
	t.Helper()
	var (
		mu     sync.Mutex
		events []Event
		times  []time.Time
		rcpts  [][]string
	)
	opts = append([]Option{WithServer("smtp.example.com", 587), WithHook(func(_ context.Context, e Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	})}, opts...)
	c, err := New(opts...)
	require.NoError(t, err)
	n := 0
	c.attemptFn = func(ctx context.Context, p *payload, r []string) attemptResult {
		times = append(times, time.Now())
		rcpts = append(rcpts, r)
		res := results[min(n, len(results)-1)]
		n++
		if res.err != nil {
			e := *res.err
			res.err = c.finish(&e) // reply rules, as a real attempt applies them
		}
		return res
	}
	return c, &times, &rcpts, &events
}

func tempErr(code int, enh EnhancedCode) attemptResult {
	return attemptResult{err: &SendError{Stage: StageMail, Code: code, EnhancedCode: enh, Message: "try later"}}
}

func delivered(rcpts ...string) attemptResult {
	return attemptResult{delivered: rcpts, response: "250 2.0.0 OK"}
}

func msg(t *testing.T) *Message {
	m, err := NewMessage().From("a@example.com").To("b@example.com").Subject("s").Text("t").Build()
	require.NoError(t, err)
	return m
}

// TestBackoffTiming: the waits between attempts follow the policy, with a
// fake clock.
func TestBackoffTiming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, times, _, events := fakeClient(t, []attemptResult{
			tempErr(451, EnhancedCode{4, 3, 0}), tempErr(451, EnhancedCode{4, 3, 0}),
			tempErr(451, EnhancedCode{4, 3, 0}), delivered("b@example.com"),
		}, WithRetry(RetryPolicy{MaxAttempts: 5, MinWait: time.Second, MaxWait: 3 * time.Second}))
		rcpt, err := c.Send(t.Context(), msg(t))
		require.NoError(t, err)
		require.NoError(t, c.Close())
		assert.Equal(t, 4, rcpt.Attempts)
		require.Len(t, *times, 4)
		// Exponential with ±50% jitter, capped at MaxWait: 1 s, 2 s, 4 s→3 s.
		bounds := [][2]time.Duration{{time.Second, 1500 * time.Millisecond}, {time.Second, 3 * time.Second}, {1500 * time.Millisecond, 3 * time.Second}}
		var waits []time.Duration
		for _, e := range *events {
			if e.Status == StatusRetrying {
				waits = append(waits, e.Wait)
			}
		}
		require.Len(t, waits, 3)
		for i, b := range bounds {
			gap := (*times)[i+1].Sub((*times)[i])
			assert.Equal(t, waits[i], gap, "the wait announced is the wait taken")
			assert.GreaterOrEqual(t, gap, b[0], "wait %d", i)
			assert.LessOrEqual(t, gap, b[1], "wait %d", i)
		}
	})
}

// TestThrottleWait: a 4yz reply that speaks of rate limiting waits at
// least ThrottleWait, and a rule's MinWait (163's 451 DT:SPM) wins when
// larger; other 421s and 4.7.x replies get the ordinary backoff.
func TestThrottleWait(t *testing.T) {
	for _, tc := range []struct {
		name    string
		res     attemptResult
		rules   []ReplyRule
		atLeast time.Duration
	}{
		{"421 too many connections", tempMsg(421, EnhancedCode{4, 7, 0}, "Too many connections, slow down"), nil, time.Minute},
		{"4.7.28 rate limited", tempMsg(421, EnhancedCode{4, 7, 28}, "unusual rate of mail; rate limited"), nil, time.Minute},
		{"QQ frequency", tempMsg(421, EnhancedCode{}, "Connection frequency limited"), nil, time.Minute},
		{"Microsoft busy", tempMsg(451, EnhancedCode{4, 7, 500}, "Server busy. Please try again later"), nil, time.Minute},
		{"451 DT:SPM rule", tempErr(451, EnhancedCode{}),
			[]ReplyRule{{Code: 451, Contains: "try later", MinWait: 2 * time.Minute}}, 2 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				opts := []Option{WithRetry(RetryPolicy{MinWait: time.Second})}
				if tc.rules != nil {
					opts = append(opts, WithReplyRules(tc.rules...))
				}
				c, times, _, _ := fakeClient(t, []attemptResult{tc.res, delivered("b@example.com")}, opts...)
				_, err := c.Send(t.Context(), msg(t))
				require.NoError(t, err)
				require.NoError(t, c.Close())
				assert.GreaterOrEqual(t, (*times)[1].Sub((*times)[0]), tc.atLeast)
			})
		})
	}
	for _, tc := range []struct {
		name string
		res  attemptResult
	}{
		{"421 4.3.2 shutting down", tempMsg(421, EnhancedCode{4, 3, 2}, "Service shutting down")},
		{"454 4.7.0 TLS not available", tempMsg(454, EnhancedCode{4, 7, 0}, "TLS not available due to temporary reason")},
		{"421 try again later", tempMsg(421, EnhancedCode{4, 7, 0}, "Try again later, closing connection")},
		{"452 too many recipients", tempMsg(452, EnhancedCode{4, 5, 3}, "Too many recipients")},
		{"450 mailbox busy", tempMsg(450, EnhancedCode{4, 2, 1}, "Mailbox busy, try later")},
		{"separate", tempMsg(451, EnhancedCode{4, 3, 0}, "please operate separately; generated error")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, times, _, _ := fakeClient(t, []attemptResult{tc.res, delivered("b@example.com")},
					WithRetry(RetryPolicy{MinWait: time.Second, MaxWait: 2 * time.Second}))
				_, err := c.Send(t.Context(), msg(t))
				require.NoError(t, err)
				require.NoError(t, c.Close())
				assert.LessOrEqual(t, (*times)[1].Sub((*times)[0]), 2*time.Second)
				assert.False(t, tc.res.err.Throttled())
			})
		})
	}
}

func tempMsg(code int, enh EnhancedCode, text string) attemptResult {
	return attemptResult{err: &SendError{Stage: StageMail, Code: code, EnhancedCode: enh, Message: text}}
}

// TestCancelDuringWait: a cancelled context ends the wait at once; the
// error carries the context error and the last reply's classification.
func TestCancelDuringWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, times, _, events := fakeClient(t, []attemptResult{tempMsg(421, EnhancedCode{4, 7, 0}, "rate limited")},
			WithRetry(RetryPolicy{ThrottleWait: time.Hour}))
		ctx, cancel := context.WithCancel(t.Context())
		var err error
		done := make(chan struct{})
		start := time.Now()
		go func() {
			defer close(done)
			_, err = c.Send(ctx, msg(t))
		}()
		time.Sleep(10 * time.Second) // fake time: Send is waiting its hour
		synctest.Wait()
		cancel()
		<-done
		require.NoError(t, c.Close())
		assert.Len(t, *times, 1)
		assert.Equal(t, 10*time.Second, time.Since(start), "returned as soon as cancelled")
		assert.ErrorIs(t, err, context.Canceled)
		var se *SendError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, 421, se.Code)
		assert.Equal(t, OutcomeTemporary, Classify(err))
		assert.Contains(t, err.Error(), "421 4.7.0 rate limited")
		assert.Contains(t, err.Error(), "stopped: context canceled")
		last := (*events)[len(*events)-1]
		assert.Equal(t, StatusFailed, last.Status)
		assert.Equal(t, 421, last.Code)
	})
}

// TestGiveUpWithinDeadline: a wait that would outlast the deadline is not
// started.
func TestGiveUpWithinDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, times, _, _ := fakeClient(t, []attemptResult{tempMsg(421, EnhancedCode{}, "rate limit exceeded")})
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		start := time.Now()
		_, err := c.Send(ctx, msg(t))
		require.NoError(t, c.Close())
		assert.Zero(t, time.Since(start))
		assert.Len(t, *times, 1)
		assert.ErrorIs(t, err, errWaitTooLong)
	})
}

// TestRetryOnlyFailedRecipients: permanent refusals are final; temporary
// ones are retried alone.
func TestRetryOnlyFailedRecipients(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		first := attemptResult{
			delivered: []string{"b@example.com"}, response: "250 OK",
			refused: []*SendError{
				{Stage: StageRcpt, Code: 550, Recipients: []string{"c@example.com"}},
				{Stage: StageRcpt, Code: 450, Recipients: []string{"d@example.com"}},
			},
		}
		c, _, rcpts, events := fakeClient(t, []attemptResult{first, delivered("d@example.com")},
			WithRetry(RetryPolicy{MinWait: time.Millisecond, Backoff: ConstantBackoff}))
		m, err := NewMessage().From("a@example.com").To("b@example.com", "c@example.com", "d@example.com").Subject("s").Text("t").Build()
		require.NoError(t, err)
		rcpt, err := c.Send(t.Context(), m)
		require.NoError(t, c.Close())
		assert.Equal(t, [][]string{{"b@example.com", "c@example.com", "d@example.com"}, {"d@example.com"}}, *rcpts)
		assert.Equal(t, []string{"b@example.com", "d@example.com"}, rcpt.Recipients)
		var se *SendError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, []string{"c@example.com"}, se.Recipients)
		assert.Equal(t, 2, se.Attempts)
		last := (*events)[len(*events)-1]
		assert.Equal(t, StatusSent, last.Status)
		assert.Equal(t, se, last.Err)
	})
}

// TestExponentialBackoffBounds checks the default backoff stays in range
// and that its jitter is spread there, not piled on a bound: cutting
// ±50% to [minWait, maxWait] sent half of the first retries (and most of
// the late ones) back at the same instant.
func TestExponentialBackoffBounds(t *testing.T) {
	for attempt := 1; attempt <= 10; attempt++ {
		interval := min(time.Second<<(attempt-1), 30*time.Second)
		lo := max(interval/2, time.Second)
		hi := min(interval*3/2, 30*time.Second)
		atBound := 0
		for range 400 {
			d := ExponentialBackoff(time.Second, 30*time.Second, attempt)
			assert.GreaterOrEqual(t, d, lo, "attempt %d", attempt)
			assert.LessOrEqual(t, d, hi, "attempt %d", attempt)
			if d == time.Second || d == 30*time.Second {
				atBound++
			}
		}
		assert.Less(t, atBound, 10, "attempt %d: draws on a bound", attempt)
	}
	assert.Equal(t, 2*time.Second, ExponentialBackoff(2*time.Second, time.Second, 1), "maxWait below minWait")
	assert.Equal(t, time.Second, ConstantBackoff(time.Second, time.Minute, 7))
}

// TestThrottleWaitSpread: the floor of a throttling reply (ThrottleWait)
// or of a rule's MinWait is met with a wait drawn in [floor, floor+25%],
// so that the messages one throttling reply stopped come back spread out
// rather than all at once to be throttled again.
func TestThrottleWaitSpread(t *testing.T) {
	p := RetryPolicy{ThrottleWait: time.Minute}.withDefaults()
	throttled := tempMsg(421, EnhancedCode{4, 7, 0}, "Too many connections, slow down").err
	rule := &SendError{Code: 451, Message: "DT:SPM", minWait: 4 * time.Minute}
	for _, tc := range []struct {
		err   *SendError
		floor time.Duration
	}{{throttled, time.Minute}, {rule, 4 * time.Minute}} {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := p.waitFor(1, tc.err, math.MaxInt64)
			assert.GreaterOrEqual(t, d, tc.floor)
			assert.LessOrEqual(t, d, tc.floor+tc.floor/4)
			seen[d] = true
		}
		assert.Greater(t, len(seen), 150, "distinct waits after %q", tc.err.Message)
	}
}

// TestHookPanicsAndSlowHooks: a panicking hook is recovered and the
// hooks after it still see the event; a slow hook slows Send by its own
// time (backpressure, on a fake clock) and loses nothing: every event has
// been handled when Send returns.
func TestHookPanicsAndSlowHooks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var seen []Status
		c, err := New(WithServer("smtp.example.com", 587),
			WithHook(func(context.Context, Event) { panic("boom") }),
			WithHook(func(context.Context, Event) { time.Sleep(time.Second) }),
			WithHook(func(_ context.Context, e Event) {
				mu.Lock()
				seen = append(seen, e.Status)
				mu.Unlock()
			}))
		require.NoError(t, err)
		c.attemptFn = func(context.Context, *payload, []string) attemptResult { return delivered("b@example.com") }
		start := time.Now()
		_, err = c.Send(t.Context(), msg(t))
		require.NoError(t, err)
		assert.Equal(t, 3*time.Second, time.Since(start), "three events, one second each")
		mu.Lock()
		assert.Equal(t, []Status{StatusPending, StatusSending, StatusSent}, seen, "all handled before Send returned")
		mu.Unlock()
		require.NoError(t, c.Close())
	})
}

// TestClassify covers the classifier on errors that are not ours.
func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want Outcome
	}{
		{nil, OutcomeDelivered},
		{&SendError{Stage: StageDataEnd, Err: errors.New("EOF")}, OutcomeUnknown},
		{&SendError{Stage: StageData, Code: 552}, OutcomePermanent},
		{context.DeadlineExceeded, OutcomeTemporary},
		{ErrTLSRequired, OutcomePermanent},
		{&FieldError{Field: "To", Err: ErrInvalidAddress}, OutcomePermanent},
		{errors.Join(errors.New("x"), &SendError{Code: 421}), OutcomeTemporary},
		{&SendError{Rejections: []*SendError{{Code: 550}, {Stage: StageDataEnd, Err: ErrMaybeDelivered}}}, OutcomeUnknown},
		{&SendError{Code: 550, outcome: OutcomeTemporary}, OutcomeTemporary},
		{errors.New("something else"), OutcomePermanent},
		{&textproto.Error{Code: 452, Msg: "4.2.2 mailbox full"}, OutcomeTemporary},
		{fmt.Errorf("wrapped: %w", &textproto.Error{Code: 554, Msg: "5.7.1 spam"}), OutcomePermanent},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, OutcomeTemporary},
		{io.ErrUnexpectedEOF, OutcomeTemporary},
		{&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, OutcomePermanent},
		{x509.HostnameError{Host: "x"}, OutcomePermanent},
		{os.ErrDeadlineExceeded, OutcomeTemporary},
		{&gomail.SendError{Reason: gomail.ErrSMTPReset}, OutcomeDelivered},
		{&SendError{Stage: StageMail, Err: textproto.ProtocolError("short response: \x00\x00")}, OutcomeTemporary},
		{&SendError{Stage: StageDataEnd, Err: textproto.ProtocolError("short response")}, OutcomeUnknown},
		{&gomail.SendError{Reason: gomail.ErrSMTPDataClose}, OutcomeUnknown},
		{&gomail.SendError{Reason: gomail.ErrSMTPMailFrom}, OutcomeTemporary},
		{&gomail.SendError{Reason: gomail.ErrGetSender}, OutcomePermanent},
	} {
		assert.Equal(t, tc.want, Classify(tc.err), "%v", tc.err)
	}
}

// TestSpreadThrottleWaitFitsTheDeadline: a throttling floor that fits
// before the context's deadline is not spread past it, where Send would
// give up instead of waiting; a huge floor does not overflow.
func TestSpreadThrottleWaitFitsTheDeadline(t *testing.T) {
	for range 50 {
		synctest.Test(t, func(t *testing.T) {
			c, times, _, _ := fakeClient(t, []attemptResult{tempMsg(421, EnhancedCode{4, 7, 0}, "Too many messages, slow down"), delivered("b@example.com")},
				WithRetry(RetryPolicy{MinWait: time.Millisecond, MaxWait: time.Millisecond, ThrottleWait: 400 * time.Millisecond}))
			ctx, cancel := context.WithTimeout(t.Context(), 440*time.Millisecond)
			defer cancel()
			_, err := c.Send(ctx, msg(t))
			require.NoError(t, err, "ThrottleWait 400 ms fits a 440 ms deadline")
			require.NoError(t, c.Close())
			assert.GreaterOrEqual(t, (*times)[1].Sub((*times)[0]), 400*time.Millisecond)
		})
	}
	p := RetryPolicy{ThrottleWait: math.MaxInt64}.withDefaults()
	throttled := tempMsg(421, EnhancedCode{4, 7, 0}, "Too many connections, slow down").err
	for _, floor := range []time.Duration{math.MaxInt64, math.MaxInt64 / 10 * 9} {
		p.ThrottleWait = floor
		for range 100 {
			assert.GreaterOrEqual(t, p.waitFor(1, throttled, math.MaxInt64), floor)
		}
	}
	// An unbounded MaxWait keeps its jitter at late attempts.
	seen := map[time.Duration]bool{}
	for range 50 {
		d := ExponentialBackoff(time.Second, math.MaxInt64, 40)
		assert.Positive(t, d)
		seen[d] = true
	}
	assert.Greater(t, len(seen), 40)
}

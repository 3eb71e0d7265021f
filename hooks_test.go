package mailer_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

// statusBook records, per Message-ID, the statuses a hook saw, as a user's
// status table would.
type statusBook struct {
	mu   sync.Mutex
	rows map[string][]mailer.Status
}

func (b *statusBook) hook(_ context.Context, e mailer.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.rows == nil {
		b.rows = map[string][]mailer.Status{}
	}
	b.rows[e.MessageID] = append(b.rows[e.MessageID], e.Status)
}

// terminal returns how many terminal events id got so far.
func (b *statusBook) terminal(id string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, s := range b.rows[id] {
		if s.Terminal() {
			n++
		}
	}
	return n
}

// checkRow asserts the events of one message came in life-cycle order with
// exactly one terminal event, last.
func (b *statusBook) checkRow(t *testing.T, id string) {
	t.Helper()
	b.mu.Lock()
	row := b.rows[id]
	b.mu.Unlock()
	require.GreaterOrEqual(t, len(row), 3, "%s: %v", id, row)
	assert.Equal(t, mailer.StatusPending, row[0], "%s: %v", id, row)
	assert.Equal(t, mailer.StatusSending, row[1], "%s: %v", id, row)
	assert.True(t, row[len(row)-1].Terminal(), "%s: %v", id, row)
	for _, s := range row[:len(row)-1] {
		assert.False(t, s.Terminal(), "%s: %v", id, row)
	}
}

// TestHooksLoseNothing: a hook that panics, one that is slow now and then
// and one that records status rows, 1,000 messages (10,000 under
// MAILER_TEST_LONG) through SendAll over a pool of 8 and some through
// concurrent Sends: every message has exactly one terminal event, after
// its pending and sending events, and it has been handled when SendAll or
// Send returns.
func TestHooksLoseNothing(t *testing.T) {
	inMemory(t, func(t *testing.T) {
		n := 1000
		if os.Getenv("MAILER_TEST_LONG") != "" {
			n = 10000
		}
		srv := mailertest.NewServer(t, mem)
		book := &statusBook{}
		var sending, panicked, slow atomic.Int64
		c := newClient(t, serverOnly(srv), mailer.WithPool(8),
			mailer.WithHook(func(_ context.Context, e mailer.Event) {
				if e.Status == mailer.StatusSending && sending.Add(1)%3 == 0 {
					panicked.Add(1)
					panic("hook bug")
				}
			}),
			mailer.WithHook(func(_ context.Context, e mailer.Event) {
				if e.Status.Terminal() && slow.Add(1) <= 50 {
					time.Sleep(time.Millisecond) // a slow database write, the subject of the test
				}
			}),
			mailer.WithHook(book.hook))

		msgs := make([]*mailer.Message, n)
		for i := range msgs {
			m, err := mailer.NewMessage().From("app@example.com").To(fmt.Sprintf("user%d@example.com", i)).
				Subject("Status").Text("Hello").Build()
			require.NoError(t, err)
			msgs[i] = m
		}
		receipts, err := c.SendAll(bg, msgs...)
		require.NoError(t, err)
		for i, r := range receipts {
			require.Equal(t, msgs[i].MessageID(), r.MessageID)
			require.Equal(t, 1, book.terminal(r.MessageID), "terminal event of message %d handled before SendAll returned", i)
			book.checkRow(t, r.MessageID)
		}

		// Send, from several goroutines: each terminal event is handled
		// before that Send returns.
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := g; i < 200; i += 8 {
					r, err := c.Send(bg, msgs[i])
					if !assert.NoError(t, err) {
						return
					}
					assert.Equal(t, 2, book.terminal(r.MessageID), "second Send of message %d", i)
				}
			})
		}
		wg.Wait()
		assert.Len(t, srv.Messages(), n+200)
		assert.Equal(t, int64(n+200)/3, panicked.Load(), "the panicking hook ran")
	})
}

// TestSlowHookDoesNotSerialise: a hook blocked on one message's event holds
// that message only; other messages are sent meanwhile.
func TestSlowHookDoesNotSerialise(t *testing.T) {
	srv := mailertest.NewServer(t)
	blocked := make(chan struct{})
	release := make(chan struct{})
	first := testMessage(t)
	c := newClient(t, serverOnly(srv), mailer.WithHook(func(_ context.Context, e mailer.Event) {
		if e.MessageID == first.MessageID() && e.Status == mailer.StatusSent {
			close(blocked)
			<-release
		}
	}))
	done := make(chan error, 1)
	go func() {
		_, err := c.Send(bg, first)
		done <- err
	}()
	<-blocked
	for range 3 {
		_, err := c.Send(bg, testMessage(t))
		require.NoError(t, err)
	}
	select {
	case err := <-done:
		t.Fatalf("Send returned %v before its hook handled the terminal event", err)
	default:
	}
	close(release)
	require.NoError(t, <-done)
	assert.Len(t, srv.Messages(), 4)
}

// TestCloseFromHook: Close and Shutdown called from a hook of the same
// Client return ErrCloseInHook instead of waiting for themselves; the
// Send goes on, and the Client stays open. Another Client may be closed
// from a hook, and so may the same one from another goroutine.
func TestCloseFromHook(t *testing.T) {
	srv := mailertest.NewServer(t)
	other := newClient(t, serverOnly(srv))
	var c *mailer.Client
	errs := make(chan error, 3)
	c = newClient(t, serverOnly(srv), mailer.WithHook(func(ctx context.Context, e mailer.Event) {
		if e.Status.Terminal() {
			errs <- c.Close()
			errs <- c.Shutdown(ctx)
			errs <- other.Close()
		}
	}))
	done := make(chan error, 1)
	go func() {
		_, err := c.Send(bg, testMessage(t))
		done <- err
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second): // a hang guard, not a timing
		t.Fatal("Close from a hook deadlocked")
	}
	assert.ErrorIs(t, <-errs, mailer.ErrCloseInHook)
	assert.ErrorIs(t, <-errs, mailer.ErrCloseInHook)
	assert.NoError(t, <-errs)
	_, err := c.Send(bg, testMessage(t))
	require.NoError(t, err, "the Client is still open")

	var d *mailer.Client
	closed := make(chan error, 1)
	d = newClient(t, serverOnly(srv), mailer.WithHook(func(_ context.Context, e mailer.Event) {
		if e.Status.Terminal() {
			go func() { closed <- d.Close() }()
		}
	}))
	_, err = d.Send(bg, testMessage(t))
	require.NoError(t, err)
	require.NoError(t, <-closed)
	_, err = d.Send(bg, testMessage(t))
	assert.ErrorIs(t, err, mailer.ErrClientClosed)
}

// TestShutdownBound: Shutdown returns when its context ends although a Send
// is stuck waiting for the reply to its end of data: the Send is cancelled
// with an error matching ErrClientClosed, and Shutdown returns the
// context's error.
func TestShutdownBound(t *testing.T) {
	atEnd := make(chan struct{})
	srv := mailertest.NewServer(t, mailertest.WithFaultFunc(func(step mailertest.Step, _ int) *mailertest.Fault {
		if step != mailertest.StepDataEnd {
			return nil
		}
		close(atEnd)
		return &mailertest.Fault{Step: step, Delay: time.Hour}
	}))
	var book statusBook
	c := newClient(t, serverOnly(srv), mailer.WithHook(book.hook))
	m := testMessage(t)
	done := make(chan error, 1)
	go func() {
		_, err := c.Send(bg, m)
		done <- err
	}()
	<-atEnd
	ctx, cancel := context.WithCancel(bg)
	cancel() // a deadline that has passed
	err := c.Shutdown(ctx)
	assert.ErrorIs(t, err, context.Canceled)
	err = <-done
	assert.ErrorIs(t, err, mailer.ErrClientClosed)
	assert.ErrorIs(t, err, mailer.ErrMaybeDelivered, "the data was sent")
	assert.Equal(t, mailer.OutcomeUnknown, mailer.Classify(err))
	assert.Equal(t, 1, book.terminal(m.MessageID()))
	_, err = c.Send(bg, m)
	assert.ErrorIs(t, err, mailer.ErrClientClosed)
	assert.NoError(t, c.Close())
}

// TestShutdownDuringRetryWait: a send that Shutdown cancels while it waits
// to retry a 451 keeps the temporary class of that reply (nothing was
// delivered; an outbox may send it again), and says why it stopped.
func TestShutdownDuringRetryWait(t *testing.T) {
	inMemory(t, func(t *testing.T) {
		srv := mailertest.NewServer(t, mem, fault(mailertest.StepMAIL, 0, "451 4.3.0 Try again later"))
		retrying := make(chan struct{}, 1)
		c := newClient(t, serverOnly(srv), mailer.WithRetry(mailer.RetryPolicy{MinWait: time.Hour, MaxWait: time.Hour}),
			mailer.WithHook(func(_ context.Context, e mailer.Event) {
				if e.Status == mailer.StatusRetrying {
					retrying <- struct{}{}
				}
			}))
		done := make(chan error, 1)
		go func() {
			_, err := c.Send(bg, testMessage(t))
			done <- err
		}()
		<-retrying
		ctx, cancel := context.WithCancel(bg)
		cancel()
		assert.ErrorIs(t, c.Shutdown(ctx), context.Canceled)
		err := <-done
		assert.ErrorIs(t, err, mailer.ErrClientClosed)
		assert.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, 451, sendErr(t, err).Code)
		assert.Equal(t, mailer.OutcomeTemporary, mailer.Classify(err))
	})
}

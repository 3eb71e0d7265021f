package mailer_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

// TestSendAll: one receipt per message in order, errors joined per message.
func TestSendAll(t *testing.T) {
	srv := mailertest.NewServer(t, mailertest.WithFaults(
		mailertest.Fault{Step: mailertest.StepRCPT, On: 3, Reply: "550 5.1.1 No such user"}))
	c := newClient(t, serverOnly(srv), mailer.WithPool(1))
	msgs := batch(t, 5)
	msgs[1] = nil
	receipts, err := c.SendAll(bg, msgs...)
	require.Len(t, receipts, 5)
	require.Error(t, err)
	assert.ErrorIs(t, err, mailer.ErrNilMessage)
	assert.Contains(t, err.Error(), "message 1")
	var se *mailer.SendError
	require.True(t, errors.As(err, &se))
	assert.Equal(t, 550, se.Code)
	failedID := se.MessageID
	delivered := 0
	for i, r := range receipts {
		if r.MessageID == "" {
			continue
		}
		delivered++
		assert.Equal(t, msgs[i].MessageID(), r.MessageID, "receipt %d belongs to message %d", i, i)
		assert.NotEqual(t, failedID, r.MessageID)
	}
	assert.Equal(t, 3, delivered)
	assert.Zero(t, receipts[1].MessageID)

	receipts, err = c.SendAll(bg)
	assert.NoError(t, err)
	assert.Empty(t, receipts)
}

// TestCloseWhileSending: Close waits for the sends in flight, closes every
// connection, and leaves no goroutine; Send and SendAll fail afterwards.
func TestCloseWhileSending(t *testing.T) {
	inMemory(t, func(t *testing.T) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		srv := mailertest.NewServer(t, mem, mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepDataEnd, Delay: 2 * time.Millisecond}))
		c, err := mailer.New(serverOnly(srv), mailer.WithPool(4), mailer.WithHook(func(context.Context, mailer.Event) {}))
		require.NoError(t, err)
		msgs := batch(t, 200)
		type result struct {
			receipts []mailer.Receipt
			err      error
		}
		done := make(chan result, 1)
		go func() {
			r, err := c.SendAll(bg, msgs...)
			done <- result{r, err}
		}()
		var single sync.WaitGroup
		var singleErrs atomic.Int64
		for i := range 8 {
			single.Add(1)
			go func() {
				defer single.Done()
				if _, err := c.Send(bg, numbered(t, 1000+i)); err != nil {
					singleErrs.Add(1)
					assert.ErrorIs(t, err, mailer.ErrClientClosed)
				}
			}()
		}
		require.Eventually(t, func() bool { return len(srv.Messages()) >= 20 }, 5*time.Second, time.Millisecond)
		require.NoError(t, c.Close())
		select {
		case r := <-done:
			require.NoError(t, r.err, "Close waited for the whole batch")
			assert.Len(t, r.receipts, len(msgs))
		default:
			t.Fatal("Close returned before SendAll")
		}
		single.Wait()
		assert.Equal(t, len(msgs)+8-int(singleErrs.Load()), len(srv.Messages()))
		assert.LessOrEqual(t, srv.MaxConcurrent(), 4)
		require.Eventually(t, func() bool { return srv.Open() == 0 }, 5*time.Second, time.Millisecond,
			"every connection closed")
		assert.Equal(t, srv.Connections(), count(srv, "QUIT"), "each with QUIT")

		_, err = c.Send(bg, numbered(t, 1))
		assert.ErrorIs(t, err, mailer.ErrClientClosed)
		receipts, err := c.SendAll(bg, msgs[:2]...)
		assert.ErrorIs(t, err, mailer.ErrClientClosed)
		assert.Len(t, receipts, 2)
		require.NoError(t, srv.Close()) // before goleak looks
	})
}

// TestSendAllRetryDoesNotStall: while a message waits to be retried, the
// rest of the batch goes on over the connection it is not using.
func TestSendAllRetryDoesNotStall(t *testing.T) {
	inMemory(t, func(t *testing.T) {
		msgs := batch(t, 20)
		// The first attempt of msgs[0] fails, whichever of SendAll's
		// two workers takes the connection first.
		first := "<" + msgs[0].MessageID() + ">"
		srv := mailertest.NewServer(t, mem, mailertest.WithAttemptFaultFunc(func(id string, n int) *mailertest.Fault {
			if id == first && n == 1 {
				return &mailertest.Fault{Reply: "451 4.3.0 Try again"}
			}
			return nil
		}))
		c := newClient(t, serverOnly(srv), mailer.WithPool(1), mailer.WithRetry(mailer.RetryPolicy{
			MaxAttempts: 2, MinWait: 1500 * time.Millisecond, MaxWait: 1500 * time.Millisecond, Backoff: mailer.ConstantBackoff}))
		receipts, err := c.SendAll(bg, msgs...)
		require.NoError(t, err)
		assert.Equal(t, 2, receipts[0].Attempts)
		got := srv.Messages()
		require.Len(t, got, 20)
		assert.Equal(t, first, got[19].Header.Get("Message-Id"),
			"the other 19 went while the first waited")
		assert.Equal(t, 1, srv.MaxConcurrent())
	})
}

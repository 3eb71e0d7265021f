package mailer_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

// TestStats follows one connection through the pool: busy while the server
// holds the first message's final dot, idle after, gone after Close.
func TestStats(t *testing.T) {
	hold, held := make(chan struct{}), make(chan struct{})
	srv, err := mailertest.Start(mailertest.WithFaultFunc(func(step mailertest.Step, n int) *mailertest.Fault {
		if step == mailertest.StepDataEnd && n == 1 {
			close(held)
			<-hold
		}
		return nil
	}))
	require.NoError(t, err)
	defer srv.Close()
	c, err := mailer.New(srv.Options(), mailer.WithPool(2))
	require.NoError(t, err)
	assert.Equal(t, mailer.PoolStats{}, c.Stats())

	done := make(chan error, 1)
	go func() {
		_, err := c.Send(context.Background(), numbered(t, 1))
		done <- err
	}()
	<-held
	assert.Equal(t, mailer.PoolStats{Open: 1, Busy: 1}, c.Stats(), "while the message is on the wire")
	close(hold)
	require.NoError(t, <-done)
	assert.Equal(t, mailer.PoolStats{Open: 1, Idle: 1}, c.Stats(), "after the send")
	require.NoError(t, c.Close())
	assert.Equal(t, mailer.PoolStats{}, c.Stats(), "after Close")
}

// TestStatsRateLimit counts a send that waited for the rate limit and gave
// up because its context would end first.
func TestStatsRateLimit(t *testing.T) {
	srv, err := mailertest.Start()
	require.NoError(t, err)
	defer srv.Close()
	c, err := mailer.New(srv.Options(), mailer.WithRateLimit(1, time.Hour), mailer.WithRetry(mailer.RetryPolicy{MaxAttempts: 1}))
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Send(context.Background(), numbered(t, 1))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = c.Send(ctx, numbered(t, 2))
	require.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
	st := c.Stats()
	assert.Equal(t, uint64(1), st.RateWaits)
	assert.Equal(t, uint64(1), st.RateRejects)
}

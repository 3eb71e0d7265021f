package mailer_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

// TestRateLimit: 50 messages a second, measured from the times the server
// accepted them over more than 2 s, stays within 10%, however many
// goroutines send. The seconds are the bubble's fake ones: the test takes
// no real time, and no stall of a loaded machine bunches the sends.
func TestRateLimit(t *testing.T) {
	inMemory(t, func(t *testing.T) {
		srv := mailertest.NewServer(t, mem, mailertest.WithTLS(mailertest.TLSNone))
		c := newClient(t, serverOnly(srv), mailer.WithTLS(mailer.TLSNone),
			mailer.WithPool(8), mailer.WithRateLimit(50, time.Second))
		msgs := batch(t, 111)
		var wg sync.WaitGroup
		for part := range 3 { // SendAll and Send from other goroutines share the limit
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := c.SendAll(bg, msgs[part*37:(part+1)*37]...)
				assert.NoError(t, err)
			}()
		}
		wg.Wait()
		got := srv.Messages()
		require.Len(t, got, len(msgs))
		first, last := got[0].Time, got[len(got)-1].Time
		span := last.Sub(first)
		rate := float64(len(got)-1) / span.Seconds()
		t.Logf("%d messages in %v: %.2f msgs/s", len(got), span, rate)
		assert.Greater(t, span, 2*time.Second)
		assert.InDelta(t, 50, rate, 5, "within 10%% of 50 msgs/s")
		// No one-second window holds more than 10% over 50. (A stall of the
		// process lets the sends it held back go in quick succession.)
		for i := range got {
			n := 0
			for j := i; j < len(got) && got[j].Time.Sub(got[i].Time) < time.Second; j++ {
				n++
			}
			assert.LessOrEqual(t, n, 55, "window starting at message %d", i)
		}
	})
}

// TestRateLimitHonoursContext: a Send whose turn would come after its
// context's deadline fails at once instead of waiting.
func TestRateLimitHonoursContext(t *testing.T) {
	inMemory(t, func(t *testing.T) {
		srv := mailertest.NewServer(t, mem)
		c := newClient(t, serverOnly(srv), mailer.WithRateLimit(1, time.Hour))
		_, err := c.Send(bg, numbered(t, 1))
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(bg, 5*time.Second)
		defer cancel()
		start := time.Now()
		_, err = c.Send(ctx, numbered(t, 2))
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, time.Since(start), time.Second, "no wait that cannot end in time")
		assert.Len(t, srv.Messages(), 1)

		ctx, cancel = context.WithCancel(bg)
		go func() { time.Sleep(20 * time.Millisecond); cancel() }()
		_, err = c.Send(ctx, numbered(t, 3))
		assert.ErrorIs(t, err, context.Canceled)
	})
}

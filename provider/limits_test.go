package provider_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/provider"
)

// TestLimitsApplied: every preset's published limits become the Client's
// pool and rate settings; what a provider does not publish keeps the
// Client's default.
func TestLimitsApplied(t *testing.T) {
	for _, p := range provider.All() {
		t.Run(p.Name, func(t *testing.T) {
			c, err := mailer.New(p.Option("user@example.com", "secret"))
			require.NoError(t, err)
			defer c.Close()
			l, got := p.Limits, c.PoolSettings()
			want := mailer.PoolSettings{
				Size: mailer.DefaultPoolSize, MessagesPerConnection: mailer.DefaultMessagesPerConnection,
				IdleCheck: mailer.DefaultIdleCheck, IdleTimeout: mailer.DefaultIdleTimeout,
			}
			if l.MaxConnections > 0 {
				want.Size = l.MaxConnections
			}
			if l.MessagesPerConnection > 0 {
				want.MessagesPerConnection = l.MessagesPerConnection
			}
			if l.Messages > 0 {
				want.RateLimit = float64(l.Messages) / l.Per.Seconds()
			}
			if l.IdleTimeout > 0 {
				want.IdleTimeout = l.IdleTimeout
			}
			assert.InDelta(t, want.RateLimit, got.RateLimit, 1e-9)
			got.RateLimit = want.RateLimit
			assert.Equal(t, want, got)
		})
	}
}

// TestLimitsOverridable: options after a preset override its limits.
func TestLimitsOverridable(t *testing.T) {
	c, err := mailer.New(provider.Microsoft365("user@example.com", "secret"))
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, 3, c.PoolSettings().Size)
	assert.InDelta(t, 0.5, c.PoolSettings().RateLimit, 1e-9, "30 per minute")

	c, err = mailer.New(provider.Microsoft365("user@example.com", "secret"),
		mailer.WithPool(1), mailer.WithRateLimit(0, 0))
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, 1, c.PoolSettings().Size)
	assert.Zero(t, c.PoolSettings().RateLimit, "no limit")

	c, err = mailer.New(provider.SendGrid("key"), mailer.WithMessagesPerConnection(10))
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, 10, c.PoolSettings().MessagesPerConnection)

	c, err = mailer.New(provider.SES("eu-west-1", "user", "secret"))
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, 10*time.Second, c.PoolSettings().IdleTimeout)

	// The server-only option of a relay carries the limits too.
	p, ok := provider.Lookup("microsoft365")
	require.True(t, ok)
	c, err = mailer.New(p.Server())
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, 3, c.PoolSettings().Size)
}

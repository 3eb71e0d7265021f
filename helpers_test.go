package mailer_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

// testMessage builds a small valid message.
func testMessage(t testing.TB) *mailer.Message {
	t.Helper()
	m, err := mailer.NewMessage().
		From("Alice <alice@example.com>").
		To("bob@example.com").
		Subject("Reset your password").
		Text("Your code is 123456.").
		Build()
	require.NoError(t, err)
	return m
}

// newClient returns a Client made of opts, closed by t.Cleanup. It makes a
// single attempt per Send unless opts set a RetryPolicy themselves: tests
// of one attempt's classification read better without retries, and the
// retry tests say what they want.
func newClient(t testing.TB, opts ...mailer.Option) *mailer.Client {
	t.Helper()
	c, err := mailer.New(append([]mailer.Option{noRetry}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// sendErr asserts err is a *SendError and returns it.
func sendErr(t testing.TB, err error) *mailer.SendError {
	t.Helper()
	require.Error(t, err)
	var se *mailer.SendError
	require.True(t, errors.As(err, &se), "want *SendError, got %T: %v", err, err)
	return se
}

// hasCommand reports whether a client command starting with verb was seen.
func hasCommand(srv *mailertest.Server, verb string) bool {
	return slices.ContainsFunc(srv.Commands(), func(c string) bool {
		return strings.HasPrefix(strings.ToUpper(c), verb)
	})
}

// serverOnly returns options reaching srv's address (over its own
// dialer, which also reaches a server on the in-memory network) and
// trusting its CA, without credentials.
func serverOnly(srv *mailertest.Server) mailer.Option {
	return mailer.Options(mailer.WithServer(srv.Host(), srv.Port()), mailer.WithRootCAs(srv.CertPool()),
		mailer.WithDialContext(srv.DialContext))
}

// inMemory runs f in a testing/synctest bubble, where time is virtual,
// with mem to give a mailertest server that the bubble can reach: tests
// of timeouts, deadlines and retry waits then take no real time and hold
// under any load.
func inMemory(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	synctest.Test(t, f)
}

// mem is mailertest.WithInMemoryNetwork, short for the bubbled tests.
var mem = mailertest.WithInMemoryNetwork()

var bg = context.Background()

// noRetry makes one attempt per Send.
var noRetry = mailer.WithRetry(mailer.RetryPolicy{MaxAttempts: 1})

// fastRetry retries at once, for tests of the retry logic over the network.
func fastRetry(attempts int) mailer.Option {
	return mailer.WithRetry(mailer.RetryPolicy{
		MaxAttempts: attempts, MinWait: time.Millisecond, MaxWait: time.Millisecond,
		ThrottleWait: time.Millisecond, Backoff: mailer.ConstantBackoff,
	})
}

// writeFile writes data to a new file in a temporary directory.
func writeFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, data, 0o600))
	return p
}

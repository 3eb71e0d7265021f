package mailer_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

// pipeServer returns a dial function whose connections are in-memory
// pipes served by serve, on a goroutine of its own, so that a test in a
// synctest bubble runs on the fake clock. The server end is closed when
// serve returns.
func pipeServer(serve func(c net.Conn)) mailer.Option {
	return mailer.WithDialContext(func(ctx context.Context, _, _ string) (net.Conn, error) {
		client, server := net.Pipe()
		go func() {
			defer server.Close()
			serve(server)
		}()
		return client, nil
	})
}

// silent accepts the connection and says nothing until the client leaves,
// as a port that expects implicit TLS does with a client speaking clear
// text.
func silent(c net.Conn) { _, _ = bufio.NewReader(c).ReadString(0) }

// scripted greets with greeting, then answers each command with the reply
// for its verb ("EHLO", "STARTTLS", …; "250 ok" when none), and hangs up
// after a 421.
func scripted(greeting string, replies map[string]string) func(net.Conn) {
	return func(c net.Conn) {
		r := bufio.NewReader(c)
		if _, err := c.Write([]byte(greeting + "\r\n")); err != nil || strings.HasPrefix(greeting, "421") {
			return
		}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			verb, _, _ := strings.Cut(strings.TrimSpace(line), " ")
			reply, ok := replies[strings.ToUpper(verb)]
			if !ok {
				reply = "250 ok"
			}
			if _, err := c.Write([]byte(reply + "\r\n")); err != nil || strings.HasPrefix(reply, "421") || verb == "QUIT" {
				return
			}
		}
	}
}

// sendTimed sends a message with the default retry policy and timeouts
// and returns the error and the time it took on the fake clock.
func sendTimed(t *testing.T, opts ...mailer.Option) (error, time.Duration, []mailer.Event) {
	var log eventLog
	c, err := mailer.New(append([]mailer.Option{mailer.WithServer("smtp.example.com", 587), mailer.WithHook(log.hook)}, opts...)...)
	require.NoError(t, err)
	start := time.Now()
	_, err = c.Send(context.Background(), testMessage(t))
	took := time.Since(start)
	require.NoError(t, c.Close())
	return err, took, log.all()
}

// TestSilentServerBounded: a server that accepts the connection and never
// greets holds Send, under the defaults, for three dial timeouts and the
// backoff between them (about 33 s, against 93 s with the old 30 s dial
// timeout), and the error says what a silent port may mean.
func TestSilentServerBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		err, took, _ := sendTimed(t, pipeServer(silent))
		se := sendErr(t, err)
		assert.Equal(t, mailer.StageDial, se.Stage)
		assert.Equal(t, 3, se.Attempts)
		assert.True(t, se.Timeout())
		assert.Contains(t, se.Error(), "no greeting within 10s")
		assert.Contains(t, se.Error(), "smtps://")
		assert.GreaterOrEqual(t, took, 3*mailer.DefaultDialTimeout)
		assert.LessOrEqual(t, took, 3*mailer.DefaultDialTimeout+5*time.Second)
	})
}

// TestOrdinary421And454: a 421 greeting from a server shutting down and
// STARTTLS's 454 are temporary failures retried with the ordinary backoff
// (seconds), not the minute of throttling; a 421 that speaks of a rate
// limit still waits ThrottleWait.
func TestOrdinary421And454(t *testing.T) {
	for _, tc := range []struct {
		name    string
		serve   func(net.Conn)
		stage   mailer.Stage
		atLeast time.Duration
		atMost  time.Duration
	}{
		{"421 4.3.2 greeting", scripted("421 4.3.2 Service shutting down", nil), mailer.StageDial, 0, 5 * time.Second},
		{"454 STARTTLS", scripted("220 mx.test", map[string]string{
			"EHLO": "250-mx.test\r\n250 STARTTLS", "STARTTLS": "454 4.7.0 TLS not available due to temporary reason",
		}), mailer.StageTLS, 0, 5 * time.Second},
		{"421 rate limited", scripted("421 4.7.0 Too many connections from your IP, slow down", nil),
			mailer.StageDial, 2 * mailer.DefaultThrottleWait, 2*mailer.DefaultThrottleWait*5/4 + 5*time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				err, took, events := sendTimed(t, pipeServer(tc.serve))
				se := sendErr(t, err)
				assert.Equal(t, tc.stage, se.Stage)
				assert.Equal(t, 3, se.Attempts)
				assert.Equal(t, mailer.OutcomeTemporary, mailer.Classify(err))
				assert.GreaterOrEqual(t, took, tc.atLeast)
				assert.LessOrEqual(t, took, tc.atMost)
				assert.Equal(t, tc.atLeast > 0, se.Throttled())
				for _, e := range events {
					if e.Status == mailer.StatusRetrying {
						assert.GreaterOrEqual(t, e.Wait, tc.atLeast/2)
					}
				}
			})
		})
	}
}

// TestPort465NeedsImplicitTLS: smtp:// on port 465 means implicit TLS
// (as in Symfony's mailer); STARTTLS asked for explicitly on port 465 is a
// configuration error, not a minute of timeouts.
func TestPort465NeedsImplicitTLS(t *testing.T) {
	c, err := mailer.New(mailer.WithURL("smtp://smtp.example.com:465"))
	require.NoError(t, err)
	assert.Equal(t, mailer.TLSImplicit, c.TLSMode())
	require.NoError(t, c.Close())

	for _, opts := range [][]mailer.Option{
		{mailer.WithURL("smtp://smtp.example.com:465?tls=required")},
		{mailer.WithURL("smtp://smtp.example.com:465?tls=opportunistic")},
		{mailer.WithServer("smtp.example.com", 465), mailer.WithTLS(mailer.TLSStartTLS)},
		{mailer.WithTLS(mailer.TLSOpportunistic), mailer.WithServer("smtp.example.com", 465)},
	} {
		_, err := mailer.New(opts...)
		assert.ErrorIs(t, err, mailer.ErrWrongTLSMode)
		assert.ErrorIs(t, err, mailer.ErrInvalidConfig)
		assert.ErrorContains(t, err, "port 465 expects implicit TLS")
		assert.ErrorContains(t, err, "smtps://")
	}
}

// TestWrongTLSModeFailsAtOnce: implicit TLS against a server that greets
// in clear text (a STARTTLS port), and clear text against a server that
// answers with TLS, fail at the first attempt with a permanent error that
// names the fix.
func TestWrongTLSModeFailsAtOnce(t *testing.T) {
	srv := mailertest.NewServer(t) // STARTTLS
	c := newClient(t, serverOnly(srv), mailer.WithTLS(mailer.TLSImplicit), fastRetry(3))
	_, err := c.Send(bg, testMessage(t))
	se := sendErr(t, err)
	assert.ErrorIs(t, err, mailer.ErrWrongTLSMode)
	assert.Equal(t, mailer.OutcomePermanent, mailer.Classify(err))
	assert.Equal(t, 1, se.Attempts)
	assert.Contains(t, se.Error(), "use smtp://")
	assert.Contains(t, se.Error(), `"220 `)

	synctest.Test(t, func(t *testing.T) {
		// A server that speaks TLS first and gives up on the client with
		// a TLS alert record.
		err, took, _ := sendTimed(t, pipeServer(func(c net.Conn) {
			_, _ = c.Write([]byte{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32})
		}))
		se := sendErr(t, err)
		assert.ErrorIs(t, err, mailer.ErrWrongTLSMode)
		assert.Equal(t, 1, se.Attempts)
		assert.Contains(t, se.Error(), "use smtps://")
		assert.Less(t, took, time.Second)
	})
}

// TestNoSuchHostIsPermanent: a server name that does not exist in DNS
// fails at once, permanently, with a hint to check its spelling.
func TestNoSuchHostIsPermanent(t *testing.T) {
	dnsErr := &net.DNSError{Err: "no such host", Name: "smtp.exmaple.com", IsNotFound: true}
	c := newClient(t, mailer.WithServer("smtp.exmaple.com", 587), fastRetry(3),
		mailer.WithDialContext(func(context.Context, string, string) (net.Conn, error) {
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: dnsErr}
		}))
	_, err := c.Send(bg, testMessage(t))
	se := sendErr(t, err)
	assert.Equal(t, 1, se.Attempts)
	assert.Equal(t, mailer.OutcomePermanent, mailer.Classify(err))
	assert.False(t, se.Temporary())
	assert.Contains(t, se.Hint, `"smtp.exmaple.com" does not exist in DNS`)
	assert.True(t, errors.As(err, new(*net.DNSError)))

	// A resolver that failed for now is still temporary.
	temp := &net.DNSError{Err: "server misbehaving", Name: "smtp.example.com", IsTemporary: true}
	assert.Equal(t, mailer.OutcomeTemporary, mailer.Classify(&net.OpError{Op: "dial", Net: "tcp", Err: temp}))
}

// TestTokenSourceBounded: an XOAUTH2 token source that does not answer
// (a token endpoint behind a firewall that drops packets) holds a Send
// with a context without deadline for the command timeout, not for ever.
// Nothing was sent, so the failure is temporary.
func TestTokenSourceBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := mailertest.NewServer(t, mem, mailertest.WithToken(testUser, testToken))
		hanging := mailer.TokenFunc(func(ctx context.Context) (string, error) {
			<-ctx.Done()
			return "", ctx.Err()
		})
		c := newClient(t, serverOnly(srv), mailer.WithAuth(mailer.XOAUTH2Auth(testUser, hanging)),
			mailer.WithTimeouts(mailer.Timeouts{Command: 3 * time.Second}))
		start := time.Now()
		_, err := c.Send(context.Background(), testMessage(t))
		se := sendErr(t, err)
		assert.Equal(t, mailer.StageAuth, se.Stage)
		assert.ErrorIs(t, err, mailer.ErrAuth)
		assert.Equal(t, mailer.OutcomeTemporary, mailer.Classify(err))
		assert.Equal(t, 3*time.Second, time.Since(start))
		assert.False(t, hasCommand(srv, "AUTH"))
	})
}

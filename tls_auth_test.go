package mailer_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

const (
	testUser     = "alice@example.com"
	testPassword = "S3cr3t-Δ-XYZ"
	testToken    = "ya29.test-access-token"
)

// tlsCase pairs a client TLS mode with the server that suits it.
type tlsCase struct {
	client  mailer.TLSMode
	server  mailertest.TLSMode
	wantTLS bool
	extra   []mailer.Option
}

var tlsCases = []tlsCase{
	{client: mailer.TLSStartTLS, server: mailertest.TLSStartTLS, wantTLS: true},
	{client: mailer.TLSImplicit, server: mailertest.TLSImplicit, wantTLS: true},
	{client: mailer.TLSOpportunistic, server: mailertest.TLSStartTLS, wantTLS: true},
	{client: mailer.TLSOpportunistic, server: mailertest.TLSNone, wantTLS: false,
		extra: []mailer.Option{mailer.WithInsecureAuth()}},
	{client: mailer.TLSNone, server: mailertest.TLSNone, wantTLS: false,
		extra: []mailer.Option{mailer.WithInsecureAuth()}},
}

type authCase struct {
	name     string
	auth     func(secret string) mailer.Auth
	wantMech string
	token    bool
}

var authCases = []authCase{
	{name: "PLAIN", auth: func(s string) mailer.Auth { return mailer.PlainAuth(testUser, s) }, wantMech: "PLAIN"},
	{name: "LOGIN", auth: func(s string) mailer.Auth { return mailer.LoginAuth(testUser, s) }, wantMech: "LOGIN"},
	{name: "CRAM-MD5", auth: func(s string) mailer.Auth { return mailer.CRAMMD5Auth(testUser, s) }, wantMech: "CRAM-MD5"},
	{name: "XOAUTH2", auth: func(s string) mailer.Auth { return mailer.XOAUTH2Auth(testUser, mailer.StaticToken(s)) },
		wantMech: "XOAUTH2", token: true},
	{name: "AUTO", auth: func(s string) mailer.Auth { return mailer.AutoAuth(testUser, s) }, wantMech: "CRAM-MD5"},
}

// TestTLSModesTimesMechanisms sends through every client TLS mode with every
// mechanism and checks what the server saw; then the same with a wrong
// secret.
func TestTLSModesTimesMechanisms(t *testing.T) {
	for _, tc := range tlsCases {
		for _, ac := range authCases {
			name := fmt.Sprintf("%s-server-%s/%s", tc.client, tc.server, ac.name)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				srv := mailertest.NewServer(t, mailertest.WithTLS(tc.server),
					mailertest.WithUser(testUser, testPassword), mailertest.WithToken(testUser, testToken))
				secret := testPassword
				if ac.token {
					secret = testToken
				}
				opts := append([]mailer.Option{serverOnly(srv), mailer.WithTLS(tc.client), mailer.WithAuth(ac.auth(secret))}, tc.extra...)
				c := newClient(t, opts...)

				rcpt, err := c.Send(bg, testMessage(t))
				require.NoError(t, err)
				assert.NotEmpty(t, rcpt.MessageID)
				assert.Contains(t, rcpt.Response, "250")
				msgs := srv.Messages()
				require.Len(t, msgs, 1)
				assert.Equal(t, ac.wantMech, msgs[0].AuthMechanism)
				assert.Equal(t, testUser, msgs[0].AuthUser)
				assert.Equal(t, tc.wantTLS, msgs[0].TLS)

				// The same with a wrong secret: 535 at the auth stage,
				// permanent, and nothing sent.
				bad := append([]mailer.Option{serverOnly(srv), mailer.WithTLS(tc.client), mailer.WithAuth(ac.auth("wrong"))}, tc.extra...)
				_, err = newClient(t, bad...).Send(bg, testMessage(t))
				se := sendErr(t, err)
				assert.Equal(t, mailer.StageAuth, se.Stage)
				assert.Equal(t, 535, se.Code)
				assert.Equal(t, mailer.EnhancedCode{5, 7, 8}, se.EnhancedCode)
				assert.False(t, se.Temporary())
				assert.Equal(t, mailer.OutcomePermanent, mailer.Classify(err))
				assert.ErrorIs(t, err, mailer.ErrAuth)
				assert.Len(t, srv.Messages(), 1)
				assert.NotContains(t, err.Error(), "wrong")
			})
		}
	}
}

// TestCleartextCredentialsRefused: credentials never cross a connection
// without TLS, loopback included, unless WithInsecureAuth says so.
func TestCleartextCredentialsRefused(t *testing.T) {
	for _, mode := range []mailer.TLSMode{mailer.TLSNone, mailer.TLSOpportunistic} {
		for _, ac := range authCases {
			t.Run(mode.String()+"/"+ac.name, func(t *testing.T) {
				t.Parallel()
				srv := mailertest.NewServer(t, mailertest.WithTLS(mailertest.TLSNone),
					mailertest.WithUser(testUser, testPassword), mailertest.WithToken(testUser, testToken))
				c := newClient(t, serverOnly(srv), mailer.WithTLS(mode), mailer.WithAuth(ac.auth(testPassword)))
				_, err := c.Send(bg, testMessage(t))
				se := sendErr(t, err)
				assert.ErrorIs(t, err, mailer.ErrInsecureAuth)
				assert.Equal(t, mailer.StageAuth, se.Stage)
				assert.Equal(t, mailer.OutcomePermanent, mailer.Classify(err))
				assert.False(t, hasCommand(srv, "AUTH"), "transcript: %v", srv.Commands())
				assert.False(t, hasCommand(srv, "MAIL"), "transcript: %v", srv.Commands())
				assert.Empty(t, srv.Messages())
			})
		}
	}
}

// TestStartTLSRequiredNotOffered: no STARTTLS, no fallback, nothing sent.
func TestStartTLSRequiredNotOffered(t *testing.T) {
	t.Run("not offered", func(t *testing.T) {
		srv := mailertest.NewServer(t, mailertest.WithTLS(mailertest.TLSNone), mailertest.WithUser(testUser, testPassword))
		c := newClient(t, serverOnly(srv), mailer.WithAuth(mailer.PlainAuth(testUser, testPassword)))
		assert.Equal(t, mailer.TLSStartTLS, c.TLSMode(), "STARTTLS is the default")
		_, err := c.Send(bg, testMessage(t))
		se := sendErr(t, err)
		assert.ErrorIs(t, err, mailer.ErrTLSRequired)
		assert.Equal(t, mailer.StageTLS, se.Stage)
		assert.False(t, hasCommand(srv, "AUTH"))
		assert.False(t, hasCommand(srv, "MAIL"))
	})
	t.Run("offered but refused", func(t *testing.T) {
		for _, mode := range []mailer.TLSMode{mailer.TLSStartTLS, mailer.TLSOpportunistic} {
			srv := mailertest.NewServer(t, mailertest.WithUser(testUser, testPassword),
				mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepSTARTTLS, Reply: "454 4.7.0 TLS not available due to temporary reason"}))
			c := newClient(t, serverOnly(srv), mailer.WithTLS(mode), mailer.WithAuth(mailer.PlainAuth(testUser, testPassword)))
			_, err := c.Send(bg, testMessage(t))
			se := sendErr(t, err)
			assert.Equal(t, mailer.StageTLS, se.Stage)
			assert.Equal(t, 454, se.Code)
			assert.False(t, hasCommand(srv, "AUTH"), "%s: no fallback to clear text", mode)
			assert.False(t, hasCommand(srv, "MAIL"))
		}
	})
}

// TestUnknownCA: an untrusted certificate stops the attempt before AUTH;
// trusting the CA makes the same server work.
func TestUnknownCA(t *testing.T) {
	for _, tc := range []struct {
		server mailertest.TLSMode
		client mailer.TLSMode
	}{
		{mailertest.TLSStartTLS, mailer.TLSStartTLS},
		{mailertest.TLSImplicit, mailer.TLSImplicit},
	} {
		t.Run(tc.server.String(), func(t *testing.T) {
			srv := mailertest.NewServer(t, mailertest.WithTLS(tc.server), mailertest.WithUser(testUser, testPassword))
			auth := mailer.WithAuth(mailer.PlainAuth(testUser, testPassword))

			untrusted := newClient(t, mailer.WithServer(srv.Host(), srv.Port()), mailer.WithTLS(tc.client), auth)
			_, err := untrusted.Send(bg, testMessage(t))
			se := sendErr(t, err)
			var certErr *tls.CertificateVerificationError
			assert.True(t, errors.As(err, &certErr), "want a certificate error, got %v", err)
			var unknown x509.UnknownAuthorityError
			assert.True(t, errors.As(err, &unknown))
			assert.Equal(t, mailer.OutcomePermanent, mailer.Classify(err))
			assert.Contains(t, []mailer.Stage{mailer.StageDial, mailer.StageTLS}, se.Stage)
			assert.False(t, hasCommand(srv, "AUTH"))
			assert.Empty(t, srv.Messages())

			trusted := newClient(t, mailer.WithServer(srv.Host(), srv.Port()), mailer.WithTLS(tc.client), auth,
				mailer.WithRootCAs(srv.CertPool()))
			_, err = trusted.Send(bg, testMessage(t))
			require.NoError(t, err)
			assert.Len(t, srv.Messages(), 1)
		})
	}
}

// TestCAFile trusts the server's CA through a PEM file.
func TestCAFile(t *testing.T) {
	srv := mailertest.NewServer(t)
	path := writeFile(t, "ca.pem", srv.CAPEM())
	c := newClient(t, mailer.WithServer(srv.Host(), srv.Port()), mailer.WithCAFile(path))
	_, err := c.Send(bg, testMessage(t))
	require.NoError(t, err)

	_, err = mailer.New(mailer.WithServer("smtp.example.com", 587), mailer.WithCAFile(writeFile(t, "bad.pem", []byte("not a certificate"))))
	assert.ErrorIs(t, err, mailer.ErrInvalidConfig)
	_, err = mailer.New(mailer.WithServer("smtp.example.com", 587), mailer.WithCAFile(t.TempDir()+"/missing.pem"))
	assert.ErrorIs(t, err, mailer.ErrInvalidConfig)
}

// TestAuthMechanismNotOffered: a mechanism the server does not offer fails
// before any AUTH command.
func TestAuthMechanismNotOffered(t *testing.T) {
	srv := mailertest.NewServer(t, mailertest.WithUser(testUser, testPassword), mailertest.WithMechanisms("LOGIN"))
	c := newClient(t, serverOnly(srv), mailer.WithAuth(mailer.PlainAuth(testUser, testPassword)))
	_, err := c.Send(bg, testMessage(t))
	se := sendErr(t, err)
	assert.Equal(t, mailer.StageAuth, se.Stage)
	assert.ErrorIs(t, err, mailer.ErrAuthUnsupported)
	assert.ErrorIs(t, err, mailer.ErrAuth)
	assert.False(t, hasCommand(srv, "AUTH"))

	// AutoAuth falls back to what is offered.
	c = newClient(t, serverOnly(srv), mailer.WithAuth(mailer.AutoAuth(testUser, testPassword)))
	_, err = c.Send(bg, testMessage(t))
	require.NoError(t, err)
	assert.Equal(t, "LOGIN", srv.Messages()[0].AuthMechanism)
}

// TestTokenSource: XOAUTH2 asks the source for a token on each connection
// and reports a failing source without leaking it.
func TestTokenSource(t *testing.T) {
	srv := mailertest.NewServer(t, mailertest.WithToken(testUser, testToken))
	calls := 0
	src := mailer.TokenFunc(func(ctx context.Context) (string, error) {
		calls++
		return testToken, nil
	})
	c := newClient(t, serverOnly(srv), mailer.WithAuth(mailer.XOAUTH2Auth(testUser, src)), mailer.WithMessagesPerConnection(1))
	for range 2 {
		_, err := c.Send(bg, testMessage(t))
		require.NoError(t, err)
	}
	assert.Equal(t, 2, calls)

	failing := mailer.TokenFunc(func(ctx context.Context) (string, error) {
		return "", errors.New("oauth2: token expired")
	})
	c = newClient(t, serverOnly(srv), mailer.WithAuth(mailer.XOAUTH2Auth(testUser, failing)))
	_, err := c.Send(bg, testMessage(t))
	se := sendErr(t, err)
	assert.Equal(t, mailer.StageAuth, se.Stage)
	assert.ErrorIs(t, err, mailer.ErrAuth)
	assert.Contains(t, err.Error(), "token expired")
}

package mailer_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in       string
		host     string
		port     int
		tls      mailer.TLSMode
		user     string
		mech     mailer.Mechanism
		helo     string
		timeout  time.Duration
		redacted string
	}{
		{in: "smtp://smtp.example.com", host: "smtp.example.com", port: 587, tls: mailer.TLSStartTLS,
			redacted: "smtp://smtp.example.com:587"},
		{in: "smtps://smtp.qq.com", host: "smtp.qq.com", port: 465, tls: mailer.TLSImplicit,
			redacted: "smtps://smtp.qq.com:465"},
		{in: "SMTPS://alice%40qq.com:auth-code@smtp.qq.com:465", host: "smtp.qq.com", port: 465, tls: mailer.TLSImplicit,
			user: "alice@qq.com", mech: mailer.MechanismAuto, redacted: "smtps://alice%40qq.com:REDACTED@smtp.qq.com:465"},
		{in: "smtps://alice@qq.com:auth-code@smtp.qq.com", host: "smtp.qq.com", port: 465, tls: mailer.TLSImplicit,
			user: "alice@qq.com", mech: mailer.MechanismAuto},
		{in: "smtp://u:p%2Fw%23d%3F@[2001:db8::1]:2525?auth=login", host: "2001:db8::1", port: 2525, tls: mailer.TLSStartTLS,
			user: "u", mech: mailer.MechanismLogin, redacted: "smtp://u:REDACTED@[2001:db8::1]:2525?auth=login"},
		{in: "smtp://[::1]", host: "::1", port: 587, tls: mailer.TLSStartTLS},
		{in: "smtp://relay.corp.local:25?tls=none&helo=app1.corp.local", host: "relay.corp.local", port: 25, tls: mailer.TLSNone,
			helo: "app1.corp.local", redacted: "smtp://relay.corp.local:25?helo=app1.corp.local&tls=none"},
		{in: "smtp://relay:25?tls=opportunistic&timeout=15s", host: "relay", port: 25, tls: mailer.TLSOpportunistic,
			timeout: 15 * time.Second},
		{in: "smtp://a:b@h?auth=PLAIN", host: "h", port: 587, tls: mailer.TLSStartTLS, user: "a", mech: mailer.MechanismPlain},
		{in: "smtp://a:b@h?auth=cram-md5", host: "h", port: 587, tls: mailer.TLSStartTLS, user: "a", mech: mailer.MechanismCRAMMD5},
		{in: "smtps://me%40gmail.com:ya29.tok@smtp.gmail.com?auth=xoauth2", host: "smtp.gmail.com", port: 465, tls: mailer.TLSImplicit,
			user: "me@gmail.com", mech: mailer.MechanismXOAUTH2, redacted: "smtps://me%40gmail.com:REDACTED@smtp.gmail.com:465?auth=xoauth2"},
		{in: "smtps://h?tls=required", host: "h", port: 465, tls: mailer.TLSImplicit},
	} {
		t.Run(tc.in, func(t *testing.T) {
			u, err := mailer.ParseURL(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.host, u.Host)
			assert.Equal(t, tc.port, u.Port)
			assert.Equal(t, tc.tls, u.TLS)
			assert.Equal(t, tc.user, u.Auth.Username())
			assert.Equal(t, tc.mech, u.Auth.Mechanism())
			assert.Equal(t, tc.helo, u.HELO)
			assert.Equal(t, tc.timeout, u.Timeout)
			if tc.redacted != "" {
				assert.Equal(t, tc.redacted, u.String())
			}
			// The String form parses back to the same URL (secret aside).
			back, err := mailer.ParseURL(strings.Replace(u.String(), "REDACTED", "x", 1))
			require.NoError(t, err)
			assert.Equal(t, u.Host, back.Host)
			assert.Equal(t, u.Port, back.Port)
			assert.Equal(t, u.TLS, back.TLS)

			c, err := mailer.New(u.Option())
			require.NoError(t, err)
			assert.Equal(t, tc.tls, c.TLSMode())
		})
	}
}

func TestParseURLErrors(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"http://smtp.example.com", `URL scheme: "http" is not supported`},
		{"smtp.example.com:587", "scheme"},
		{"", "missing scheme"},
		{"smtp:smtp.example.com", "missing //"},
		{"smtp://", "URL host: empty host"},
		{"smtp://h:99999", `URL port: invalid port "99999"`},
		{"smtp://h:0", `invalid port "0"`},
		{"smtp://h/path", `URL path: unexpected path "/path"`},
		{"smtp://h?foo=1", `URL query key "foo": unknown key`},
		{"smtp://h?tls=maybe", `URL query key "tls": "maybe" is not one of`},
		{"smtps://h?tls=none", `URL query key "tls": "none" is only valid with smtp://`},
		{"smtps://h?tls=opportunistic", `"opportunistic" is only valid with smtp://`},
		{"smtp://u:p@h?auth=ntlm", `URL query key "auth": "ntlm" is not one of`},
		{"smtp://h?auth=plain", `URL query key "auth": given without a user`},
		{"smtp://h?timeout=soon", `URL query key "timeout"`},
		{"smtp://h?timeout=-5s", `URL query key "timeout"`},
		{"smtp://h?helo=bad%20name", `URL query key "helo"`},
		{"smtp://h?tls=none&tls=required", `URL query key "tls": given 2 times`},
		{"smtp://user@h", `URL password: missing password`},
		{"smtp://:pw@h", "URL user: empty user name"},
		{"smtp://u:pa#ss@h", `"#" before the last @: if the user name or password contains "#", escape it as %23`},
		{"smtp://u:p@h_ost!:25", `URL host: invalid host "h_ost!"`},
		{"smtp://u:pa ss@h", "percent-escape"},
		{"smtp://u:p@h#frag", "unexpected fragment"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			_, err := mailer.ParseURL(tc.in)
			require.Error(t, err)
			assert.ErrorIs(t, err, mailer.ErrInvalidConfig)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "pa#ss")

			_, err = mailer.New(mailer.WithURL(tc.in))
			assert.ErrorIs(t, err, mailer.ErrInvalidConfig)
		})
	}
}

// TestSecretsNeverPrinted: no way of printing a Client, URL or Auth shows a
// password or token.
func TestSecretsNeverPrinted(t *testing.T) {
	const pw = "S3cr3t-Δ-XYZ"
	u, err := mailer.ParseURL("smtps://alice%40qq.com:" + url.PathEscape(pw) + "@smtp.qq.com")
	require.NoError(t, err)
	c, err := mailer.New(u.Option())
	require.NoError(t, err)
	auths := []mailer.Auth{
		mailer.PlainAuth("u", pw), mailer.LoginAuth("u", pw), mailer.CRAMMD5Auth("u", pw),
		mailer.AutoAuth("u", pw), mailer.XOAUTH2Auth("u", mailer.StaticToken(pw)),
	}
	values := []any{u, *u, c, u.Auth}
	for _, a := range auths {
		values = append(values, a, &a, struct{ A mailer.Auth }{a}, struct{ a mailer.Auth }{a})
	}
	var logs strings.Builder
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for i, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			out := fmt.Sprintf(verb, v)
			assert.NotContains(t, out, pw, "value %d with %s: %s", i, verb, out)
		}
		js, _ := json.Marshal(v)
		assert.NotContains(t, string(js), pw)
		log.Info("value", "v", v)
	}
	assert.NotContains(t, logs.String(), pw)
	assert.Contains(t, c.String(), "smtp.qq.com:465")
	assert.Contains(t, c.String(), "alice@qq.com")
}

func TestOptionErrors(t *testing.T) {
	for name, opt := range map[string]mailer.Option{
		"WithServer empty host":  mailer.WithServer("", 587),
		"WithServer bad host":    mailer.WithServer("smtp example.com", 587),
		"WithServer bad port":    mailer.WithServer("h", 70000),
		"WithTLS unknown":        mailer.WithTLS(mailer.TLSMode(42)),
		"WithAuth empty user":    mailer.WithAuth(mailer.PlainAuth("", "pw")),
		"WithAuth empty pw":      mailer.WithAuth(mailer.LoginAuth("u", "")),
		"WithAuth CRLF":          mailer.WithAuth(mailer.PlainAuth("u\r\n", "pw")),
		"WithAuth nil token":     mailer.WithAuth(mailer.XOAUTH2Auth("u", nil)),
		"WithRootCAs nil":        mailer.WithRootCAs(nil),
		"WithTLSConfig nil":      mailer.WithTLSConfig(nil),
		"WithHELO CRLF":          mailer.WithHELO("host\r\nMAIL FROM:<x@y>"),
		"WithTimeouts negative":  mailer.WithTimeouts(mailer.Timeouts{Dial: -1}),
		"WithDialContext nil":    mailer.WithDialContext(nil),
		"WithReplyRules no hint": mailer.WithReplyRules(mailer.ReplyRule{Code: 535}),
		"WithURL bad":            mailer.WithURL("ftp://x"),
	} {
		t.Run(name, func(t *testing.T) {
			c, err := mailer.New(mailer.WithServer("smtp.example.com", 587), opt)
			assert.Nil(t, c)
			var ce *mailer.ConfigError
			require.ErrorAs(t, err, &ce)
			assert.ErrorIs(t, err, mailer.ErrInvalidConfig)
			assert.True(t, strings.HasPrefix(err.Error(), "mailer: "), err.Error())
		})
	}
	_, err := mailer.New()
	assert.ErrorIs(t, err, mailer.ErrNoServer)

	_, err = mailer.New(mailer.WithServer("h", 25), mailer.InvalidOption("provider.SES", errors.New("bad region")))
	assert.EqualError(t, err, "mailer: provider.SES: bad region")
	assert.ErrorIs(t, err, mailer.ErrInvalidConfig)

	// A user name that is the secret itself (Postmark) is redacted too.
	assert.NotContains(t, mailer.PlainAuth("tok-123", "tok-123").String(), "tok-123")
}

func TestDefaults(t *testing.T) {
	c, err := mailer.New(mailer.WithServer("smtp.example.com", 0))
	require.NoError(t, err)
	assert.Equal(t, "smtp.example.com:587", c.Addr())
	assert.Equal(t, mailer.TLSStartTLS, c.TLSMode())
	assert.True(t, c.Auth().IsZero())

	c, err = mailer.New(mailer.WithServer("smtp.example.com", 465))
	require.NoError(t, err)
	assert.Equal(t, mailer.TLSImplicit, c.TLSMode(), "465 means implicit TLS")

	c, err = mailer.New(mailer.WithServer("smtp.example.com", 0), mailer.WithTLS(mailer.TLSImplicit))
	require.NoError(t, err)
	assert.Equal(t, "smtp.example.com:465", c.Addr())

	// Later options override earlier ones, as after a preset.
	c, err = mailer.New(mailer.WithURL("smtps://u:p@smtp.qq.com"), mailer.WithServer("smtp.qq.com", 587), mailer.WithTLS(mailer.TLSStartTLS))
	require.NoError(t, err)
	assert.Equal(t, "smtp.qq.com:587", c.Addr())
	assert.Equal(t, mailer.TLSStartTLS, c.TLSMode())
	assert.Equal(t, "u", c.Auth().Username())
}

// TestURLAgainstServer: a URL from the test server works end to end.
func TestURLAgainstServer(t *testing.T) {
	for _, mode := range []mailertest.TLSMode{mailertest.TLSStartTLS, mailertest.TLSImplicit} {
		srv := mailertest.NewServer(t, mailertest.WithTLS(mode), mailertest.WithUser("alice@example.com", "p@ss/w:rd"))
		c := newClient(t, mailer.WithURL(srv.URL()), mailer.WithRootCAs(srv.CertPool()))
		_, err := c.Send(bg, testMessage(t))
		require.NoError(t, err, srv.URL())
		assert.Equal(t, "alice@example.com", srv.Messages()[0].AuthUser)
	}
}

// TestOptionErrorsNameTheField: an option with several fields says which
// one is wrong (and which rule, for WithReplyRules).
func TestOptionErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		opt  mailer.Option
		want []string
	}{
		{mailer.WithTimeouts(mailer.Timeouts{Dial: -time.Second}), []string{"WithTimeouts", "Dial", "-1s"}},
		{mailer.WithTimeouts(mailer.Timeouts{Command: -time.Second}), []string{"WithTimeouts", "Command", "-1s"}},
		{mailer.WithTimeouts(mailer.Timeouts{DataEnd: -time.Second}), []string{"WithTimeouts", "DataEnd", "-1s"}},
		{mailer.WithRetry(mailer.RetryPolicy{MinWait: -time.Second}), []string{"WithRetry", "MinWait", "-1s"}},
		{mailer.WithRetry(mailer.RetryPolicy{MaxWait: -time.Second}), []string{"WithRetry", "MaxWait", "-1s"}},
		{mailer.WithRetry(mailer.RetryPolicy{ThrottleWait: -time.Second}), []string{"WithRetry", "ThrottleWait", "-1s"}},
		{mailer.WithReplyRules(mailer.ReplyRule{Hint: "a"}, mailer.ReplyRule{Hint: "b", MinWait: -time.Second}),
			[]string{"WithReplyRules", "rule 2", "MinWait", "-1s"}},
		{mailer.WithReplyRules(mailer.ReplyRule{Hint: "a", Outcome: 9}), []string{"WithReplyRules", "rule 1", "Outcome"}},
		{mailer.WithReplyRules(mailer.ReplyRule{Hint: "a"}, mailer.ReplyRule{Code: 535}),
			[]string{"WithReplyRules", "rule 2", "Hint"}},
	} {
		_, err := mailer.New(mailer.WithServer("smtp.example.com", 587), tc.opt)
		var ce *mailer.ConfigError
		require.ErrorAs(t, err, &ce)
		for _, w := range tc.want {
			assert.Contains(t, err.Error(), w)
		}
	}
}

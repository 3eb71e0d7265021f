// The failure paths of the send command: secrets, half-built messages, partial delivery, stalls, TLS trust, error wording.

package main

import (
	"context"
	"encoding/base64"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

// TestNoSecretInErrors makes AUTH fail with credentials given each way and
// checks that the secret shows nowhere.
func TestNoSecretInErrors(t *testing.T) {
	const secret = "wr0ng-S3cret-Xy" // #nosec: a test password
	srv, caFile := newServer(t)
	withPassword := (&url.URL{Scheme: "smtp", Host: srv.Addr(), User: url.UserPassword("alice@example.com", secret)}).String()
	plain := "smtp://" + srv.Addr()
	base := []string{"-ca", caFile, "-from", "alice@example.com", "-to", "bob@example.com", "-subject", "hi"}

	tests := []struct {
		name string
		args []string
		env  map[string]string
	}{
		{name: "password in -url", args: append([]string{"-url", withPassword}, base...)},
		{name: "password in MAILER_URL", args: base, env: map[string]string{"MAILER_URL": withPassword}},
		{name: "-password flag", args: append([]string{"-url", plain, "-user", "alice@example.com", "-password", secret}, base...)},
		{name: "MAILER_PASSWORD", args: append([]string{"-url", plain}, base...),
			env: map[string]string{"MAILER_USER": "alice@example.com", "MAILER_PASSWORD": secret}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runSend(t, tt.env, tt.args...)
			assert.Equal(t, 1, got.code)
			line := requireOneLine(t, got.stderr)
			assert.Contains(t, line, "failed at auth: 535")
			assert.NotContains(t, got.stdout+got.stderr, secret)
			assert.NotContains(t, got.stdout+got.stderr, url.QueryEscape(secret))
		})
	}
	assert.Empty(t, srv.Messages())

	t.Run("invalid URL with a password", func(t *testing.T) {
		for _, raw := range []string{
			"smtp://alice:" + secret + "@[::1",
			"smtp://alice:" + secret + "@example.com:99999",
			"smtp://alice:" + secret + "@example.com/path",
			"smtp://alice:" + secret + "@exa mple.com",
			"smtp://alice:" + secret + "@example.com?auth=nope",
			"ftp://alice:" + secret + "@example.com",
			// An unescaped "/", "?" or "#" cuts the password short: the
			// rest must not be quoted as a path, query or port.
			"smtp://alice:12345/" + secret + "@example.com",
			"smtp://alice:pw:587?tls=" + secret + "@example.com",
			"smtp://alice:pw?auth=" + secret + "@example.com",
			"smtp://alice:ab#" + secret + "@example.com",
			// A token given as the user, without a password.
			"smtp://" + secret + "@example.com",
		} {
			got := runSend(t, nil, "-url", raw, "-to", "bob@example.com", "-subject", "hi")
			assert.Equal(t, 2, got.code, raw)
			assert.NotContains(t, got.stderr, secret, raw)
			requireOneLine(t, got.stderr)
		}
	})
}

// TestNoEchoedSecretInJSON: a server that echoes the AUTH exchange in its
// refusal puts no secret into the -json output or stderr.
func TestNoEchoedSecretInJSON(t *testing.T) {
	const secret = "s3cret-Pa55" // the password of newServer's account
	b64 := base64.StdEncoding.EncodeToString
	echo := "535 5.7.8 Authentication failed: " + secret + " " + b64([]byte(secret)) + " " +
		b64([]byte("\x00alice@example.com\x00"+secret))
	srv, caFile := newServer(t, mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepAUTH, Reply: echo}))
	got := runSend(t, map[string]string{"MAILER_USER": "alice@example.com", "MAILER_PASSWORD": secret},
		"-json", "-url", "smtp://"+srv.Addr(), "-ca", caFile, "-from", "alice@example.com", "-to", "bob@example.com", "-subject", "hi")
	assert.Equal(t, 1, got.code)
	assert.Contains(t, got.stdout, "Authentication failed")
	for _, n := range []string{secret, b64([]byte(secret)), strings.TrimRight(b64([]byte(secret)), "="),
		b64([]byte("\x00alice@example.com\x00" + secret))} {
		assert.NotContains(t, got.stdout+got.stderr, n)
	}
}

// TestInvalidMessageSendsNothing checks that a bad message is refused before
// any connection.
func TestInvalidMessageSendsNothing(t *testing.T) {
	srv, caFile := newServer(t)
	missing := filepath.Join(t.TempDir(), "missing.pdf")
	img := writeFile(t, "logo.png", []byte("png"))
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "invalid to", args: []string{"-to", "bob@@example.com"}, want: `-to "bob@@example.com"`},
		{name: "invalid cc", args: []string{"-to", "bob@example.com", "-cc", "carol"}, want: `-cc "carol"`},
		{name: "invalid bcc", args: []string{"-to", "bob@example.com", "-bcc", "x@-bad-.com"}, want: "-bcc"},
		{name: "CRLF in header", args: []string{"-to", "bob@example.com", "-header", "X-Tag: a\r\nBcc: eve@example.com"}, want: `-header "X-Tag" "a\r\nBcc: eve@example.com": invalid header`},
		{name: "LF in header", args: []string{"-to", "bob@example.com", "-header", "X-Tag: a\nb"}, want: "line break"},
		{name: "bad header name", args: []string{"-to", "bob@example.com", "-header", "X Tag: a"}, want: `-header "X Tag"`},
		{name: "missing attachment", args: []string{"-to", "bob@example.com", "-attach", missing}, want: "-attach"},
		{name: "missing inline", args: []string{"-to", "bob@example.com", "-html", "x", "-inline", "logo=" + missing}, want: "-inline"},
		{name: "bad content id", args: []string{"-to", "bob@example.com", "-html", "x", "-inline", "a b=" + img}, want: `-inline "a b"`},
		{name: "two problems", args: []string{"-to", "bob@", "-attach", missing}, want: `-to "bob@": invalid address`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"-url", srv.URL(), "-ca", caFile, "-subject", "hi"}, tt.args...)
			got := runSend(t, nil, args...)
			assert.Equal(t, 2, got.code)
			line := requireOneLine(t, got.stderr)
			assert.Contains(t, line, tt.want)
			assert.Empty(t, got.stdout)
		})
	}
	assert.Zero(t, srv.Connections(), "an invalid message must not open a connection")
}

func TestPartialDelivery(t *testing.T) {
	srv, caFile := newServer(t, mailertest.WithFaults(mailertest.Fault{
		Step: mailertest.StepRCPT, On: 2, Reply: "550 5.1.1 No such user",
	}))
	got := runSend(t, nil, "-url", srv.URL(), "-ca", caFile,
		"-to", "bob@example.com", "-to", "ghost@example.com", "-subject", "hi")
	assert.Equal(t, 1, got.code)
	assert.Contains(t, got.stdout, "sent ")
	line := requireOneLine(t, got.stderr)
	assert.Contains(t, line, "refused some recipients")
	assert.Contains(t, line, "550 5.1.1 No such user (ghost@example.com)")
	require.Len(t, srv.Messages(), 1)
	assert.Equal(t, []string{"bob@example.com"}, srv.Messages()[0].To)
}

func TestStalledServer(t *testing.T) {
	// stallAtDATA stalls at DATA and closes reached when it gets there.
	stallAtDATA := func() (mailertest.Option, <-chan struct{}) {
		reached := make(chan struct{})
		var once sync.Once
		return mailertest.WithFaultFunc(func(step mailertest.Step, _ int) *mailertest.Fault {
			if step != mailertest.StepDATA {
				return nil
			}
			once.Do(func() { close(reached) })
			return &mailertest.Fault{Delay: time.Minute}
		}), reached
	}

	t.Run("interrupted", func(t *testing.T) {
		t.Parallel()
		stall, reached := stallAtDATA()
		// Without PIPELINING the client sends DATA only once it has read
		// the RCPT reply: when the server has DATA, the client is in DATA.
		srv, caFile := newServer(t, stall, mailertest.WithoutPipelining())
		ctx, cancel := context.WithCancel(t.Context())
		go func() { <-reached; cancel() }() // interrupted in DATA, however long the way there took
		start := time.Now()
		got := runSendContext(ctx, nil, "-url", srv.URL(), "-ca", caFile, "-to", "bob@example.com", "-subject", "hi")
		cancel()
		assert.Less(t, time.Since(start), 5*time.Second)
		assert.Equal(t, 1, got.code)
		line := requireOneLine(t, got.stderr)
		assert.Contains(t, line, "interrupted during DATA")
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		stall, _ := stallAtDATA()
		srv, caFile := newServer(t, stall)
		start := time.Now()
		// The timeout must run out in DATA, after dial, STARTTLS and AUTH:
		// 2 s leaves that way twenty times what it takes under load.
		got := runSend(t, nil, "-url", srv.URL(), "-ca", caFile, "-timeout", "2s", "-to", "bob@example.com", "-subject", "hi")
		assert.Less(t, time.Since(start), 10*time.Second)
		assert.Equal(t, 1, got.code)
		line := requireOneLine(t, got.stderr)
		assert.Contains(t, line, "timed out (-timeout 2s) during DATA")
	})
}

func TestUnknownCA(t *testing.T) {
	srv, _ := newServer(t)
	got := runSend(t, nil, "-url", srv.URL(), "-to", "bob@example.com", "-subject", "hi")
	assert.Equal(t, 1, got.code)
	line := requireOneLine(t, got.stderr)
	assert.Contains(t, line, "failed at starttls")
	assert.Contains(t, line, "trust it with -ca FILE")
	assert.Zero(t, srv.Count(mailertest.StepAUTH), "no AUTH before the certificate is trusted")
}

func TestDescribeSendError(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		partly  bool
		timeout bool
		want    string
	}{
		{
			name: "reply with hint",
			err: &mailer.SendError{Stage: mailer.StageAuth, Code: 535, Message: "Login Fail. Please enter your authorization code to login",
				Hint: "QQ Mail needs the authorization code (授权码), not the QQ password"},
			want: "sending via smtp.qq.com:465 failed at auth: 535 Login Fail. Please enter your authorization code to login; " +
				"hint: QQ Mail needs the authorization code (授权码), not the QQ password",
		},
		{
			name: "temporary",
			err:  &mailer.SendError{Stage: mailer.StageRcpt, Code: 451, EnhancedCode: mailer.EnhancedCode{4, 3, 0}, Message: "Try later", Recipients: []string{"bob@example.com"}},
			want: "sending via smtp.qq.com:465 failed at RCPT TO: 451 4.3.0 Try later (bob@example.com); this is temporary: try again later",
		},
		{
			name: "maybe delivered",
			err:  &mailer.SendError{Stage: mailer.StageDataEnd, Err: mailer.ErrMaybeDelivered},
			want: "sending via smtp.qq.com:465 failed at end of data: connection lost after end of data; message may have been delivered; " +
				"the server may have accepted the message: check before sending it again",
		},
		{
			name:    "timed out",
			err:     &mailer.SendError{Stage: mailer.StageDial, Err: context.DeadlineExceeded},
			timeout: true,
			want:    "timed out (-timeout 1s) during dial with smtp.qq.com:465",
		},
		{
			name: "interrupted",
			err:  &mailer.SendError{Stage: mailer.StageData, Err: context.Canceled},
			want: "interrupted during DATA with smtp.qq.com:465",
		},
		{
			name:   "some recipients refused",
			err:    &mailer.SendError{Stage: mailer.StageRcpt, Code: 550, Message: "No such user", Recipients: []string{"ghost@example.com"}},
			partly: true,
			want:   "sent, but smtp.qq.com:465 refused some recipients at RCPT TO: 550 No such user (ghost@example.com)",
		},
		{
			name: "not a SendError",
			err:  mailer.ErrClientClosed,
			want: "sending via smtp.qq.com:465 failed: client is closed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := describeSendError(tt.err, "smtp.qq.com:465", time.Second, tt.timeout, tt.partly)
			assert.Equal(t, tt.want, got)
		})
	}
}

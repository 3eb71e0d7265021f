package main

import (
	"bytes"
	"encoding/hex"
	"mime"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type result struct {
	code           int
	stdout, stderr string
}

var fixedNow = time.Date(2024, 3, 15, 9, 30, 0, 0, time.UTC)

func runWith(t *testing.T, env map[string]string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), func(k string) string { return env[k] }, func() time.Time { return fixedNow }, &stdout, &stderr,
		mailer.WithRetry(mailertest.FastRetry()))
	return result{code, stdout.String(), stderr.String()}
}

var linkRe = regexp.MustCompile(`https://\S+/reset\?token=\S+`)

// tokenOf returns the token of the first reset link in s.
func tokenOf(t *testing.T, s string) string {
	t.Helper()
	link := linkRe.FindString(s)
	require.NotEmpty(t, link, s)
	u, err := url.Parse(link)
	require.NoError(t, err)
	return u.Query().Get("token")
}

func TestZeroConfig(t *testing.T) {
	dir := t.TempDir()
	got := runWith(t, map[string]string{"MAILER_PREVIEW_DIR": dir, "MAILER_LOCALE": "zh-CN"})
	require.Equal(t, 0, got.code, got.stderr)
	assert.Contains(t, got.stdout, "Subject: 重置您的 Acme 密码\n")
	assert.Contains(t, got.stdout, "链接 30 分钟内有效")

	// The random key is printed as a note; the link verifies with it, for
	// the recipient, until it expires.
	m := regexp.MustCompile(`random key ([0-9a-f]{64})`).FindStringSubmatch(got.stderr)
	require.NotNil(t, m, got.stderr)
	key, err := hex.DecodeString(m[1])
	require.NoError(t, err)
	tok := tokenOf(t, got.stdout)
	user, err := verifyToken(key, tok, passwordHashOf, fixedNow.Add(29*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, "you@example.com", user)
	_, err = verifyToken(key, tok, passwordHashOf, fixedNow.Add(30*time.Minute))
	assert.ErrorIs(t, err, errExpired)

	html, err := os.ReadFile(filepath.Join(dir, "password-reset.preview.html"))
	require.NoError(t, err)
	assert.Contains(t, string(html), `href="https://acme.example/reset?token=`+tok+`"`)
	assert.Contains(t, got.stdout, "HTML preview: "+filepath.Join(dir, "password-reset.preview.html"))
}

func TestSendViaEnv(t *testing.T) {
	srv := mailertest.NewServer(t, mailertest.WithUser("alice@example.com", "s3cret-Pa55"))
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, srv.CAPEM(), 0o600))
	key := string(testKey)
	got := runWith(t, map[string]string{
		"MAILER_URL": srv.URL(), "MAILER_CA_FILE": ca, "MAILER_TO": "bob@example.com",
		"MAILER_FROM": "Acme <alice@example.com>", "MAILER_RESET_KEY": key,
		"MAILER_RESET_URL": "https://app.example.com/account/reset",
	})
	require.Equal(t, 0, got.code, got.stderr)
	assert.Empty(t, got.stderr, "no note with a configured key")
	assert.True(t, strings.HasPrefix(got.stdout, "sent "), got.stdout)

	msgs := srv.Messages()
	require.Len(t, msgs, 1)
	subject, err := new(mime.WordDecoder).DecodeHeader(msgs[0].Header.Get("Subject"))
	require.NoError(t, err)
	assert.Equal(t, "Reset your Acme password", subject)
	data := strings.ReplaceAll(strings.ReplaceAll(string(msgs[0].Data), "=\r\n", ""), "=3D", "=")
	link := regexp.MustCompile(`https://app\.example\.com/account/reset\?token=[A-Za-z0-9_.-]+`).FindString(data)
	require.NotEmpty(t, link, "the link is in the message")
	u, err := url.Parse(link)
	require.NoError(t, err)
	user, err := verifyToken(testKey, u.Query().Get("token"), passwordHashOf, fixedNow)
	require.NoError(t, err)
	assert.Equal(t, "bob@example.com", user)
}

func TestErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := l.Addr().String()
	require.NoError(t, l.Close())
	for _, tt := range []struct {
		name string
		env  map[string]string
		code int
		want string
	}{
		{"short key", map[string]string{"MAILER_RESET_KEY": "short"}, 2, "at least 32"},
		{"bad reset url", map[string]string{"MAILER_RESET_URL": "ftp://x"}, 2, "MAILER_RESET_URL"},
		{"bad recipient", map[string]string{"MAILER_TO": "bob@"}, 2, "MAILER_TO"},
		{"no server", map[string]string{"MAILER_URL": "smtp://" + closed, "MAILER_FROM": "a@example.com",
			"MAILER_TO": "b@example.com", "MAILER_RESET_KEY": string(testKey)}, 1, "failed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := runWith(t, tt.env)
			assert.Equal(t, tt.code, got.code, got.stderr)
			assert.Empty(t, got.stdout)
			assert.Contains(t, got.stderr, tt.want)
		})
	}
}

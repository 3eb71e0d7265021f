package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

// TestMain fails the run if a test leaves a goroutine behind: the local
// test server and every Client must be closed by run.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// result is what one run of the tool produced.
type result struct {
	code           int
	stdout, stderr string
}

// runSend runs the tool with args and an environment holding only env.
func runSend(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	return runSendContext(t.Context(), env, args...)
}

func runSendContext(ctx context.Context, env map[string]string, args ...string) result {
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, func(k string) string { return env[k] }, &stdout, &stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// requireOneLine asserts that stderr holds exactly one line and returns it.
func requireOneLine(t *testing.T, stderr string) string {
	t.Helper()
	require.True(t, strings.HasSuffix(stderr, "\n"), "stderr %q", stderr)
	require.Equal(t, 1, strings.Count(stderr, "\n"), "want one line on stderr, got %q", stderr)
	require.True(t, strings.HasPrefix(stderr, "send: "), "stderr %q", stderr)
	return strings.TrimSuffix(stderr, "\n")
}

// writeFile writes data to name in a temporary directory.
func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, data, 0o600))
	return p
}

// newServer starts a STARTTLS server with one account and returns it with
// a file holding its CA certificate.
func newServer(t *testing.T, opts ...mailertest.Option) (*mailertest.Server, string) {
	t.Helper()
	opts = append([]mailertest.Option{mailertest.WithUser("alice@example.com", "s3cret-Pa55")}, opts...)
	srv := mailertest.NewServer(t, opts...)
	return srv, writeFile(t, "ca.pem", srv.CAPEM())
}

// closedPort returns "127.0.0.1:port" where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func TestExitCodes(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.txt")
	ok := []string{"-to", "you@example.com", "-subject", "hi"}
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantCode   int
		wantStderr string // a part of the one stderr line
	}{
		{name: "zero config", args: ok, wantCode: 0},
		{name: "zero config body only", args: []string{"-to", "you@example.com", "-text", "hello"}, wantCode: 0},
		{name: "unknown flag", args: []string{"-x"}, wantCode: 2, wantStderr: "flag provided but not defined: -x"},
		{name: "missing flag value", args: []string{"-to"}, wantCode: 2, wantStderr: "flag needs an argument: -to"},
		{name: "bad duration", args: append([]string{"-timeout", "soon"}, ok...), wantCode: 2, wantStderr: "-timeout"},
		{name: "negative timeout", args: append([]string{"-timeout", "-1s"}, ok...), wantCode: 2, wantStderr: "-timeout -1s is negative"},
		{name: "positional argument", args: append(ok, "bob@example.com"), wantCode: 2, wantStderr: "unexpected argument"},
		{name: "no recipient", args: []string{"-subject", "hi"}, wantCode: 2, wantStderr: "-to is required"},
		{name: "empty message", args: []string{"-to", "you@example.com"}, wantCode: 2, wantStderr: "message is empty"},
		{name: "text and text file", args: append([]string{"-text", "a", "-text-file", "b"}, ok...), wantCode: 2, wantStderr: "-text or -text-file"},
		{name: "html and html file", args: append([]string{"-html", "a", "-html-file", "b"}, ok...), wantCode: 2, wantStderr: "-html or -html-file"},
		{name: "missing text file", args: append([]string{"-text-file", missing}, ok...), wantCode: 2, wantStderr: "-text-file"},
		{name: "invalid address", args: []string{"-to", "bob@", "-subject", "hi"}, wantCode: 2, wantStderr: `-to "bob@": invalid address`},
		{name: "invalid from", args: append([]string{"-from", "nobody"}, ok...), wantCode: 2, wantStderr: `-from "nobody"`},
		{name: "line break in subject", args: []string{"-to", "you@example.com", "-subject", "hi\r\nBcc: x@example.com"}, wantCode: 2, wantStderr: "-subject"},
		{name: "header without colon", args: append([]string{"-header", "X-Tag"}, ok...), wantCode: 2, wantStderr: "want 'Name: value'"},
		{name: "managed header", args: append([]string{"-header", "Content-Type: text/html"}, ok...), wantCode: 2, wantStderr: `-header "Content-Type"`},
		{name: "inline without html", args: append([]string{"-inline", "logo=" + missing}, ok...), wantCode: 2, wantStderr: "-inline needs -html"},
		{name: "inline without cid", args: append([]string{"-html", "x", "-inline", missing}, ok...), wantCode: 2, wantStderr: "want CID=FILE"},
		{name: "missing attachment", args: append([]string{"-attach", missing}, ok...), wantCode: 2, wantStderr: `-attach "` + missing + `": no such file`},
		{name: "unknown provider", args: append([]string{"-provider", "nope"}, ok...), wantCode: 2, wantStderr: `unknown -provider "nope"; known: gmail`},
		{name: "provider without password", args: append([]string{"-provider", "qq", "-user", "alice@qq.com"}, ok...), wantCode: 2, wantStderr: "授权码"},
		{name: "provider without user", args: append([]string{"-provider", "qq", "-password", "code"}, ok...), wantCode: 2, wantStderr: "-provider qq"},
		{name: "url and provider", args: append([]string{"-url", "smtp://example.com", "-provider", "qq"}, ok...), wantCode: 2, wantStderr: "either -url or -provider"},
		{name: "bad url scheme", args: append([]string{"-url", "http://example.com"}, ok...), wantCode: 2, wantStderr: "-url: URL scheme"},
		{name: "bad url key", args: append([]string{"-url", "smtp://example.com?tsl=none"}, ok...), wantCode: 2, wantStderr: `"tsl"`},
		{name: "bad env url", args: ok, env: map[string]string{"MAILER_URL": "smtp://"}, wantCode: 2, wantStderr: "$MAILER_URL"},
		{name: "url without sender", args: append([]string{"-url", "smtp://example.com"}, ok...), wantCode: 2, wantStderr: "-from is required"},
		{name: "missing ca file", args: append([]string{"-url", "smtp://example.com", "-from", "a@example.com", "-ca", missing}, ok...), wantCode: 2, wantStderr: "-ca " + missing + ": no such file"},
		{name: "user without server", args: append([]string{"-user", "alice"}, ok...), wantCode: 2, wantStderr: "-user needs -provider or -url"},
		{name: "password without user", args: append([]string{"-url", "smtp://example.com", "-from", "a@example.com", "-password", "x"}, ok...), wantCode: 2, wantStderr: "-password needs -user"},
		// One attempt: the default three wait seconds between them.
		{name: "connection refused", args: append([]string{"-url", "smtp://" + closedPort(t), "-from", "a@example.com", "-retries", "1"}, ok...), wantCode: 1, wantStderr: "failed at dial"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runSend(t, tt.env, tt.args...)
			assert.Equal(t, tt.wantCode, got.code, "stderr: %s", got.stderr)
			if tt.wantCode == 0 {
				return
			}
			assert.Empty(t, got.stdout)
			line := requireOneLine(t, got.stderr)
			assert.Contains(t, line, tt.wantStderr)
		})
	}
}

func TestHelp(t *testing.T) {
	got := runSend(t, nil, "-h")
	assert.Equal(t, 0, got.code)
	assert.Empty(t, got.stderr)
	for _, want := range []string{
		"Usage: send", "-provider qq -user alice@qq.com", "授权码", "$MAILER_PASSWORD",
		"smtps://alice%40example.com", "-ca /etc/ssl/corp-ca.pem", "Exit status", "qq-exmail", "mailpit",
	} {
		assert.Contains(t, got.stdout, want)
	}
	// Every flag is explained.
	newFlagSet(&options{}).VisitAll(func(f *flag.Flag) {
		assert.Contains(t, got.stdout, "\n  -"+f.Name+" ", "flag -%s is not in the usage text", f.Name)
	})
}

func TestZeroConfig(t *testing.T) {
	got := runSend(t, nil, "-to", "you@example.com", "-subject", "重置您的密码", "-text", "hello, 世界")
	require.Equal(t, 0, got.code, got.stderr)
	assert.Contains(t, got.stderr, "local test server")
	assert.Contains(t, got.stderr, "-provider")

	m, err := mail.ReadMessage(strings.NewReader(got.stdout))
	require.NoError(t, err, got.stdout)
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	require.NoError(t, err)
	assert.Equal(t, "重置您的密码", subject)
	assert.Contains(t, m.Header.Get("From"), localFrom)
	assert.Equal(t, "hello, 世界", strings.TrimSpace(textOf(t, m.Header, m.Body)["text/plain"]))
}

func TestZeroConfigJSON(t *testing.T) {
	got := runSend(t, nil, "-json", "-to", "you@example.com", "-bcc", "hidden@example.com", "-subject", "hi", "-text", "hello")
	require.Equal(t, 0, got.code, got.stderr)

	var r struct {
		MessageID  string   `json:"message_id"`
		Response   string   `json:"response"`
		Recipients []string `json:"recipients"`
		Attempts   int      `json:"attempts"`
		Duration   string   `json:"duration"`
		Received   string   `json:"received"`
	}
	require.NoError(t, json.Unmarshal([]byte(got.stdout), &r), got.stdout)
	assert.NotEmpty(t, r.MessageID)
	assert.True(t, strings.HasPrefix(r.Response, "250"), r.Response)
	assert.Equal(t, []string{"you@example.com", "hidden@example.com"}, r.Recipients)
	assert.Equal(t, 1, r.Attempts)
	_, err := time.ParseDuration(r.Duration)
	assert.NoError(t, err)
	assert.Contains(t, r.Received, "Subject: hi\r\n")
	assert.Contains(t, r.Received, "<"+r.MessageID+">")
	assert.NotContains(t, r.Received, "hidden@example.com", "Bcc must not be in the message")
}

// TestSendToServer sends a full message by URL over STARTTLS and AUTH to a
// server whose CA is trusted with -ca.
func TestSendToServer(t *testing.T) {
	srv, caFile := newServer(t)
	attachment := writeFile(t, "report.txt", []byte("quarterly numbers\n"))
	logo := writeFile(t, "logo.png", []byte("\x89PNG\r\n\x1a\nnot really"))

	got := runSend(t, nil,
		"-url", srv.URL(), "-ca", caFile,
		"-from", "Alice <alice@example.com>",
		"-to", "bob@example.com", "-to", "Carol <carol@example.com>",
		"-cc", "dave@example.com", "-bcc", "hidden@example.com",
		"-reply-to", "support@example.com",
		"-subject", "Report",
		"-text", "See the report.",
		"-html", `<p>See the report.</p><img src="cid:logo">`,
		"-attach", attachment,
		"-inline", "logo="+logo,
		"-header", "X-Campaign: spring",
	)
	require.Equal(t, 0, got.code, got.stderr)
	assert.Empty(t, got.stderr)
	assert.Regexp(t, `^sent \S+@example\.com to bob@example\.com, carol@example\.com, dave@example\.com, hidden@example\.com: 250 .*\(1 attempt, .*\)\n$`, got.stdout)
	assert.NotContains(t, got.stdout, "s3cret-Pa55")

	msgs := srv.Messages()
	require.Len(t, msgs, 1)
	m := msgs[0]
	assert.True(t, m.TLS, "sent over TLS")
	assert.Equal(t, "alice@example.com", m.AuthUser)
	assert.Equal(t, "alice@example.com", m.From)
	assert.ElementsMatch(t, []string{"bob@example.com", "carol@example.com", "dave@example.com", "hidden@example.com"}, m.To)

	require.NotNil(t, m.Header)
	assert.Contains(t, m.Header.Get("Cc"), "dave@example.com")
	assert.Contains(t, m.Header.Get("Reply-To"), "support@example.com")
	assert.Equal(t, "spring", m.Header.Get("X-Campaign"))
	assert.Empty(t, m.Header.Get("Bcc"))
	assert.NotContains(t, string(m.Data), "hidden@example.com", "Bcc must be in the envelope only")

	pm, err := mail.ReadMessage(bytes.NewReader(m.Data))
	require.NoError(t, err)
	parts := textOf(t, pm.Header, pm.Body)
	assert.Equal(t, "See the report.", strings.TrimSpace(parts["text/plain"]))
	assert.Equal(t, "quarterly numbers\n", parts["file:report.txt"])
	// The Content-ID may be completed with a domain ("logo@example.com"),
	// and the HTML's reference with it: they must agree.
	var cid string
	for key := range parts {
		if id, ok := strings.CutPrefix(key, "cid:"); ok && (id == "logo" || strings.HasPrefix(id, "logo@")) {
			cid = id
		}
	}
	require.NotEmpty(t, cid, "no inline part with Content-ID logo; parts: %v", keys(parts))
	assert.Contains(t, parts["text/html"], `src="cid:`+cid+`"`)
	assert.Contains(t, parts["cid:"+cid], "not really")
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestEnvironment(t *testing.T) {
	srv, caFile := newServer(t)
	plain := "smtp://" + srv.Addr() // no credentials in the URL

	t.Run("url, user, password and ca", func(t *testing.T) {
		env := map[string]string{
			"MAILER_URL": plain, "MAILER_USER": "alice@example.com",
			"MAILER_PASSWORD": "s3cret-Pa55", "MAILER_CA_FILE": caFile,
		}
		got := runSend(t, env, "-to", "bob@example.com", "-subject", "from env")
		require.Equal(t, 0, got.code, got.stderr)
		msgs := srv.Messages()
		require.NotEmpty(t, msgs)
		m := msgs[len(msgs)-1]
		assert.Equal(t, "alice@example.com", m.AuthUser)
		assert.Equal(t, "alice@example.com", m.From, "the user is the default sender")
		assert.Equal(t, "from env", m.Header.Get("Subject"))
	})
	t.Run("flags win over the environment", func(t *testing.T) {
		env := map[string]string{
			"MAILER_URL": "smtp://" + closedPort(t), "MAILER_USER": "nobody@example.com",
			"MAILER_PASSWORD": "wrong-password", "MAILER_CA_FILE": "/nonexistent/ca.pem",
		}
		got := runSend(t, env, "-url", plain, "-ca", caFile, "-user", "alice@example.com",
			"-password", "s3cret-Pa55", "-to", "bob@example.com", "-subject", "flags")
		require.Equal(t, 0, got.code, got.stderr)
	})
	t.Run("provider flag ignores MAILER_URL", func(t *testing.T) {
		env := map[string]string{"MAILER_URL": plain}
		got := runSend(t, env, "-provider", "qq", "-to", "bob@example.com", "-subject", "x")
		assert.Equal(t, 2, got.code)
		assert.Contains(t, got.stderr, "$MAILER_PASSWORD")
	})
}

// TestProviderOptions checks the Client that -provider configures, without
// sending anything.
func TestProviderOptions(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{
			args: []string{"-provider", "qq", "-user", "alice@qq.com"},
			env:  map[string]string{"MAILER_PASSWORD": "auth-code-1234"},
			want: "mailer.Client(smtp.qq.com:465 tls=implicit auth=PLAIN(alice@qq.com, [REDACTED]))",
		},
		{
			args: []string{"-provider", "Foxmail"},
			env:  map[string]string{"MAILER_USER": "bob@foxmail.com", "MAILER_PASSWORD": "auth-code-1234"},
			want: "mailer.Client(smtp.qq.com:465 tls=implicit auth=PLAIN(bob@foxmail.com, [REDACTED]))",
		},
		{
			args: []string{"-provider", "ses-eu-west-1", "-user", "AKIAEXAMPLE", "-password", "smtp-secret"},
			want: "mailer.Client(email-smtp.eu-west-1.amazonaws.com:465 tls=implicit auth=PLAIN(AKIAEXAMPLE, [REDACTED]))",
		},
		{
			args: []string{"-provider", "mailpit"},
			want: "mailer.Client(127.0.0.1:1025 tls=none)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.args[1], func(t *testing.T) {
			args := append(tt.args, "-to", "x@example.com", "-subject", "x")
			o, err := parseFlags(args, func(k string) string { return tt.env[k] })
			require.NoError(t, err)
			target, err := resolveTarget(o)
			require.NoError(t, err)
			c, err := mailer.New(target.options...)
			require.NoError(t, err)
			t.Cleanup(func() { _ = c.Close() })
			assert.Equal(t, tt.want, c.String())
		})
	}

	t.Run("default sender", func(t *testing.T) {
		o, err := parseFlags([]string{"-provider", "163", "-user", "alice@163.com", "-password", "code", "-to", "x@example.com", "-subject", "x"},
			func(string) string { return "" })
		require.NoError(t, err)
		target, err := resolveTarget(o)
		require.NoError(t, err)
		assert.Equal(t, "alice@163.com", target.from)
	})
}

func TestURLGetsProviderHints(t *testing.T) {
	assert.NotEmpty(t, providerRules("smtp.qq.com"))
	assert.NotEmpty(t, providerRules("SMTP.163.com"))
	assert.Empty(t, providerRules("127.0.0.1"))
	assert.Empty(t, providerRules("mail.example.com"))
}

// TestBinary builds the command and runs it as "go run" would, with nothing
// configured.
func TestBinary(t *testing.T) {
	if os.Getenv("MAILER_TEST_LONG") == "" {
		t.Skip("builds a binary: set MAILER_TEST_LONG=1 to run it, as .ci/run does")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH")
	}
	bin := filepath.Join(t.TempDir(), "send")
	build := exec.Command(goTool, "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	cmd := exec.Command(bin, "-to", "you@example.com", "-subject", "hi", "-text", "hello")
	cmd.Env = cleanEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	assert.Contains(t, stdout.String(), "Subject: hi\r\n")
	assert.Contains(t, stdout.String(), "hello")
	assert.Contains(t, stderr.String(), "local test server")

	cmd = exec.Command(bin, "-to", "bob@")
	cmd.Env = cleanEnv()
	err = cmd.Run()
	var exitErr *exec.ExitError
	require.ErrorAs(t, err, &exitErr)
	assert.Equal(t, 2, exitErr.ExitCode())
}

// cleanEnv is the environment without the MAILER_ variables.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MAILER_") {
			env = append(env, kv)
		}
	}
	return env
}

// textOf walks a MIME message and returns its leaves by kind: "text/plain"
// and "text/html" bodies, "file:NAME" for attachments and "cid:ID" for
// inline parts, each decoded.
func textOf(t *testing.T, h mail.Header, body io.Reader) map[string]string {
	t.Helper()
	out := map[string]string{}
	walk(t, h, body, out)
	return out
}

// header is a mail.Header or a textproto.MIMEHeader.
type header interface{ Get(string) string }

func walk(t *testing.T, h header, body io.Reader, out map[string]string) {
	t.Helper()
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	mt, params, err := mime.ParseMediaType(ct)
	require.NoError(t, err, ct)
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return
			}
			require.NoError(t, err)
			walk(t, p.Header, p, out)
		}
	}
	data, err := io.ReadAll(decode(h.Get("Content-Transfer-Encoding"), body))
	require.NoError(t, err)
	key := mt
	if cid := h.Get("Content-ID"); cid != "" {
		key = "cid:" + strings.Trim(cid, "<>")
	} else if disp, dp, err := mime.ParseMediaType(h.Get("Content-Disposition")); err == nil && disp == "attachment" {
		name, _ := new(mime.WordDecoder).DecodeHeader(dp["filename"])
		key = "file:" + name
	}
	out[key] = string(data)
}

// decode undoes a Content-Transfer-Encoding.
func decode(cte string, r io.Reader) io.Reader {
	switch strings.ToLower(cte) {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, r) // line breaks are skipped
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	}
	return r
}

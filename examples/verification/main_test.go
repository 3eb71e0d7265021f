package main

import (
	"bytes"
	"mime"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

// TestMain fails the run if a test leaves a goroutine behind: the local
// test server and the Client must be closed by run.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type result struct {
	code           int
	stdout, stderr string
}

// runWith runs the program with an environment holding only env.
func runWith(t *testing.T, env map[string]string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), func(k string) string { return env[k] }, &stdout, &stderr,
		mailer.WithRetry(mailertest.FastRetry()))
	return result{code, stdout.String(), stderr.String()}
}

func TestNewCode(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		c, err := newCode()
		require.NoError(t, err)
		assert.Regexp(t, `^[0-9]{6}$`, c)
		seen[c] = true
	}
	assert.Greater(t, len(seen), 190, "codes repeat too often")
}

var subjectRe = regexp.MustCompile(`(?m)^Subject: (.*)$`)

func TestZeroConfig(t *testing.T) {
	for _, tt := range []struct{ locale, subject, body string }{
		{"", `^([0-9]{6}) is your Acme verification code$`, "Enter this code to confirm it's you:"},
		{"zh-CN", `^Acme 验证码：([0-9]{6})$`, "请输入以下验证码完成验证："},
		{"zh_TW", `^Acme 验证码：([0-9]{6})$`, "请输入以下验证码完成验证："},
	} {
		t.Run(tt.locale, func(t *testing.T) {
			dir := t.TempDir()
			got := runWith(t, map[string]string{"MAILER_PREVIEW_DIR": dir, "MAILER_LOCALE": tt.locale})
			require.Equal(t, 0, got.code, got.stderr)
			m := subjectRe.FindStringSubmatch(got.stdout)
			require.NotNil(t, m, got.stdout)
			code := regexp.MustCompile(tt.subject).FindStringSubmatch(m[1])
			require.NotNil(t, code, "subject %q", m[1])
			assert.Contains(t, got.stdout, "To: you@example.com\n")
			assert.Contains(t, got.stdout, "Content-Type: multipart/alternative(text/plain, text/html)\n")
			assert.Contains(t, got.stdout, tt.body)
			assert.Contains(t, got.stdout, "\n    "+code[1]+"\n", "the text part shows the code")

			preview := filepath.Join(dir, "verification.preview.html")
			assert.Contains(t, got.stdout, "HTML preview: "+preview+"\n")
			html, err := os.ReadFile(preview)
			require.NoError(t, err)
			assert.Contains(t, string(html), ">"+code[1]+"</td>")
			assert.Contains(t, got.stderr, "nothing left this machine")
			assert.Contains(t, got.stderr, "MAILER_PROVIDER")
		})
	}
}

// TestSendViaEnv sends to a mailertest server configured the way a real
// one is: URL, CA file, account, recipient and locale from the environment.
func TestSendViaEnv(t *testing.T) {
	srv := mailertest.NewServer(t, mailertest.WithUser("alice@example.com", "s3cret-Pa55"))
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, srv.CAPEM(), 0o600))
	got := runWith(t, map[string]string{
		"MAILER_URL": "smtp://" + srv.Addr(), "MAILER_USER": "alice@example.com", "MAILER_PASSWORD": "s3cret-Pa55",
		"MAILER_CA_FILE": ca, "MAILER_TO": "Bob <bob@example.com>", "MAILER_LOCALE": "zh-CN",
	})
	require.Equal(t, 0, got.code, got.stderr)
	assert.Regexp(t, `^sent \S+@example\.com to bob@example\.com: 250 `, got.stdout)
	assert.Empty(t, got.stderr)

	msgs := srv.Messages()
	require.Len(t, msgs, 1)
	assert.True(t, msgs[0].TLS)
	assert.Equal(t, "alice@example.com", msgs[0].AuthUser)
	assert.Equal(t, "alice@example.com", msgs[0].From, "MAILER_USER is the default sender")
	assert.Equal(t, []string{"bob@example.com"}, msgs[0].To)
	subject, err := new(mime.WordDecoder).DecodeHeader(msgs[0].Header.Get("Subject"))
	require.NoError(t, err)
	assert.Regexp(t, `^Acme 验证码：[0-9]{6}$`, subject)
}

func TestConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"bad url", map[string]string{"MAILER_URL": "http://example.com"}, "MAILER_URL: "},
		{"url without recipient", map[string]string{"MAILER_URL": "smtp://example.com", "MAILER_FROM": "a@example.com"}, "set MAILER_TO"},
		{"url without sender", map[string]string{"MAILER_URL": "smtp://example.com", "MAILER_TO": "b@example.com"}, "set MAILER_FROM"},
		{"unknown provider", map[string]string{"MAILER_PROVIDER": "nope"}, `unknown preset "nope"`},
		{"provider without password", map[string]string{"MAILER_PROVIDER": "qq", "MAILER_USER": "a@qq.com"}, "MAILER_PASSWORD"},
		{"url and provider", map[string]string{"MAILER_URL": "smtp://example.com", "MAILER_PROVIDER": "qq"}, "not both"},
		{"user without server", map[string]string{"MAILER_USER": "a@example.com"}, "MAILER_USER needs MAILER_URL or MAILER_PROVIDER"},
		{"bad recipient", map[string]string{"MAILER_TO": "bob@"}, "invalid address"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := runWith(t, tt.env)
			assert.Equal(t, 2, got.code)
			assert.Empty(t, got.stdout)
			assert.Contains(t, got.stderr, tt.want)
			assert.Equal(t, 1, strings.Count(got.stderr, "\n"), "one line: %q", got.stderr)
		})
	}
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

func TestSendFailure(t *testing.T) {
	got := runWith(t, map[string]string{
		"MAILER_URL": "smtp://" + closedPort(t), "MAILER_FROM": "a@example.com", "MAILER_TO": "b@example.com",
	})
	assert.Equal(t, 1, got.code)
	assert.Empty(t, got.stdout)
	assert.Contains(t, got.stderr, "failed")
}

// TestBinary builds the program and runs it as a newcomer would, with
// nothing configured, and with a server that is not there.
func TestBinary(t *testing.T) {
	if os.Getenv("MAILER_TEST_LONG") == "" {
		t.Skip("builds a binary: set MAILER_TEST_LONG=1 to run it, as .ci/run does")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH")
	}
	bin := filepath.Join(t.TempDir(), "verification")
	out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)

	dir := t.TempDir()
	cmd := exec.Command(bin)
	cmd.Dir = dir // the preview goes to the current directory
	cmd.Env = cleanEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	assert.Contains(t, stdout.String(), "verification code")
	assert.FileExists(t, filepath.Join(dir, "verification.preview.html"))

	cmd = exec.Command(bin)
	cmd.Env = append(cleanEnv(), "MAILER_URL=smtp://"+closedPort(t), "MAILER_FROM=a@example.com", "MAILER_TO=b@example.com")
	err = cmd.Run()
	var exitErr *exec.ExitError
	require.ErrorAs(t, err, &exitErr)
	assert.Equal(t, 1, exitErr.ExitCode())
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

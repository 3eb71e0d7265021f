package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/postkit/mailer/mailertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var summary = regexp.MustCompile(`^sent (\d+), failed (\d+), elapsed [0-9.]+m?s, \d+ msgs/s\n$`)

func bulk(t *testing.T, env map[string]string, terminal bool, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, func(k string) string { return env[k] }, &out, &errOut, terminal)
	return code, out.String(), errOut.String()
}

// TestLocalServer: without a URL, bulk sends to a local test server and
// prints one summary line.
func TestLocalServer(t *testing.T) {
	code, out, errOut := bulk(t, nil, false, "-n", "150", "-pool", "3")
	assert.Equal(t, 0, code, errOut)
	assert.Regexp(t, summary, out)
	assert.True(t, strings.HasPrefix(out, "sent 150, failed 0,"), out)
	assert.Regexp(t, `^bulk: no -url and no \$MAILER_URL: sending to a local test server on 127\.0\.0\.1:\d+; nothing leaves this machine\n$`,
		errOut, "one note, and no progress bar when stderr is not a terminal")
}

// TestEmptyURL: -url "$MAILER_URL" with the variable unset says that the
// messages go to the local test server instead of silently sending there.
func TestEmptyURL(t *testing.T) {
	code, out, errOut := bulk(t, nil, false, "-url", "", "-n", "3")
	assert.Equal(t, 0, code, errOut)
	assert.True(t, strings.HasPrefix(out, "sent 3, failed 0,"), out)
	assert.Contains(t, errOut, "bulk: -url is empty (is the variable unset?): sending to a local test server on 127.0.0.1:")
}

// TestProgressBar: on a terminal (or with -progress on) a bar is redrawn
// on stderr and ends at 100%.
func TestProgressBar(t *testing.T) {
	code, out, errOut := bulk(t, nil, true, "-n", "50")
	assert.Equal(t, 0, code)
	assert.Regexp(t, summary, out)
	assert.Contains(t, errOut, "\r[")
	assert.Contains(t, errOut, "] 100% 50/50 sent 50 failed 0")
	assert.True(t, strings.HasSuffix(errOut, "\n"))

	_, _, errOut = bulk(t, nil, true, "-n", "5", "-progress", "off")
	assert.NotContains(t, errOut, "\r[")
	assert.Equal(t, 1, strings.Count(errOut, "\n"), "only the note: %q", errOut)
}

// TestURLWithFailures: with $MAILER_URL the messages go to that server,
// personalised and over the pool; refused ones are counted as failed.
func TestURLWithFailures(t *testing.T) {
	srv := mailertest.NewServer(t, mailertest.WithUser("alice@example.com", "s3cret"),
		mailertest.WithFaultFunc(func(s mailertest.Step, n int) *mailertest.Fault {
			if s == mailertest.StepRCPT && n%10 == 0 {
				return &mailertest.Fault{Reply: "550 5.1.1 No such user"}
			}
			return nil
		}))
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, srv.CAPEM(), 0o600))
	code, out, errOut := bulk(t, map[string]string{"MAILER_URL": srv.URL()}, false,
		"-n", "100", "-pool", "2", "-ca", ca, "-from", "alice@example.com", "-to", "bob+%d@example.com")
	assert.Equal(t, 1, code)
	assert.True(t, strings.HasPrefix(out, "sent 90, failed 10,"), out)
	assert.Contains(t, errOut, "550 5.1.1")
	assert.NotContains(t, out+errOut, "s3cret")
	msgs := srv.Messages()
	require.Len(t, msgs, 90)
	assert.LessOrEqual(t, srv.MaxConcurrent(), 2)
	seen := map[string]bool{}
	for _, m := range msgs {
		assert.Regexp(t, `^bob\+\d+@example\.com$`, m.To[0])
		assert.Contains(t, string(m.Data), "Hello Customer ")
		assert.Greater(t, len(m.Data), 2000, "about 2 KB")
		seen[m.To[0]] = true
	}
	assert.Len(t, seen, 90, "one message per recipient")
}

// TestInvalidFlags: bad flags exit with 2 and send nothing.
func TestInvalidFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-n", "0"}, {"-pool", "0"}, {"-rate", "-1"}, {"-to", "nobody@example.com"}, {"-progress", "maybe"},
		{"extra"}, {"-url", "ftp://example.com"},
	} {
		t.Run(fmt.Sprint(args), func(t *testing.T) {
			code, out, errOut := bulk(t, nil, false, args...)
			assert.Equal(t, 2, code)
			assert.Empty(t, out)
			assert.NotEmpty(t, errOut)
		})
	}
}

// TestStatsAndProfile: -stats ends with the allocation count that
// bench/cmd/table reads, and -cpuprofile writes a profile.
func TestStatsAndProfile(t *testing.T) {
	prof := filepath.Join(t.TempDir(), "cpu.pprof")
	code, out, errOut := bulk(t, nil, false, "-n", "20", "-stats", "-cpuprofile", prof)
	assert.Equal(t, 0, code, errOut)
	assert.Regexp(t, summary, out)
	assert.Regexp(t, `\nbulk: allocations \d+ \([0-9.]+ a message\)\n$`, errOut)
	fi, err := os.Stat(prof)
	require.NoError(t, err)
	assert.Positive(t, fi.Size())
}

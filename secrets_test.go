package mailer_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestNoSecretsAnywhere runs successful and failing sessions with every
// mechanism and Debug logging on, and looks for the password, the token and
// their base64 forms in every log line, error and event.
func TestNoSecretsAnywhere(t *testing.T) {
	const (
		user     = "alice@example.com"
		password = "S3cr3t-Δ-XYZ"
		token    = "ya29.a0AfH6SMB-secret-token"
	)
	b64 := base64.StdEncoding.EncodeToString
	needles := []string{
		password, token,
		b64([]byte(password)), b64([]byte(token)),
		b64([]byte("\x00" + user + "\x00" + password)),                        // AUTH PLAIN
		b64([]byte("user=" + user + "\x01auth=Bearer " + token + "\x01\x01")), // AUTH XOAUTH2
		strings.TrimRight(b64([]byte(password)), "="),
	}

	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var out []string
	var mu sync.Mutex
	record := func(s string) {
		mu.Lock()
		out = append(out, s)
		mu.Unlock()
	}
	hook := mailer.WithHook(func(_ context.Context, e mailer.Event) {
		record(fmt.Sprintf("%+v", e))
		js, _ := json.Marshal(e)
		record(string(js))
	})

	auths := map[string]func(secret string) mailer.Auth{
		"PLAIN":    func(s string) mailer.Auth { return mailer.PlainAuth(user, s) },
		"LOGIN":    func(s string) mailer.Auth { return mailer.LoginAuth(user, s) },
		"CRAM-MD5": func(s string) mailer.Auth { return mailer.CRAMMD5Auth(user, s) },
		"AUTO":     func(s string) mailer.Auth { return mailer.AutoAuth(user, s) },
		"XOAUTH2":  func(s string) mailer.Auth { return mailer.XOAUTH2Auth(user, mailer.StaticToken(s)) },
	}
	for name, auth := range auths {
		secret := password
		if name == "XOAUTH2" {
			secret = token
		}
		// A server that echoes the AUTH exchange in its refusal.
		echo := "535 5.7.8 Authentication failed: " + strings.Join([]string{
			secret, b64([]byte(secret)), strings.TrimRight(b64([]byte(secret)), "="),
			b64([]byte("\x00" + user + "\x00" + secret)), b64([]byte("user=" + user + "\x01auth=Bearer " + secret + "\x01\x01")),
			"(" + secret + ")", "x" + b64([]byte("xy"+secret+"z")),
		}, " ")
		for _, tc := range []struct {
			desc   string
			secret string
			faults []mailertest.Fault
		}{
			{"echoed by the server", secret, []mailertest.Fault{{Step: mailertest.StepAUTH, Reply: echo}}},
			{"ok", secret, nil},
			{"wrong secret", secret + "-wrong", nil},
			{"retried then failed", secret, []mailertest.Fault{{Step: mailertest.StepMAIL, Reply: "451 4.3.0 try later"}}},
			{"unknown outcome", secret, []mailertest.Fault{{Step: mailertest.StepDataEnd, On: 1, Drop: true}}},
		} {
			srv := mailertest.NewServer(t, mailertest.WithUser(user, password), mailertest.WithToken(user, token),
				mailertest.WithFaults(tc.faults...))
			c := newClient(t, mailer.WithServer(srv.Host(), srv.Port()), mailer.WithRootCAs(srv.CertPool()),
				mailer.WithAuth(auth(tc.secret)), mailer.WithLogger(logger), fastRetry(2), hook)
			rcpt, err := c.Send(bg, testMessage(t))
			record(fmt.Sprintf("%s %s: %+v %v %#v", name, tc.desc, rcpt, err, err))
			record(c.String())
			for _, l := range srv.Transcript() {
				if tc.faults == nil || tc.faults[0].Reply != echo { // the server's own record holds the echo
					record(l.String())
				}
			}
			_ = c.Close()
		}
	}
	u, err := mailer.ParseURL("smtps://alice%40example.com:" + strings.ReplaceAll(password, "Δ", "%CE%94") + "@smtp.example.com?auth=plain")
	assert.NoError(t, err)
	record(u.String())
	_, err = mailer.ParseURL("smtps://alice:" + password + "@smtp.example.com?auth=bogus")
	record(fmt.Sprint(err))

	for _, raw := range secretURLs {
		u, err := mailer.ParseURL(raw.url)
		record(fmt.Sprintf("%v %+v %#v", err, err, u))
		if u != nil {
			record(fmt.Sprintf("%v %+v %#v %s %v %+v %#v", u, u, u, u, *u, *u, *u))
			c, err := mailer.New(u.Option())
			record(fmt.Sprintf("%v %v %+v %#v", err, c, c, c))
		}
	}

	all := logs.String() + strings.Join(out, "\n")
	assert.Contains(t, logs.String(), "smtp authenticated", "Debug logging was on")
	assert.Contains(t, logs.String(), "mailer retrying")
	for _, n := range needles {
		assert.NotContains(t, all, n)
	}
	for _, raw := range secretURLs {
		for _, f := range raw.fragments {
			assert.NotContains(t, all, f, raw.url)
		}
	}
	assert.Contains(t, all, "Authentication failed", "the echoing server's reply is shown")
}

// secretURLs are server URLs whose password or token must not show, in
// whole or in part, in an error or a printed URL.
var secretURLs = []struct {
	url       string
	fragments []string
}{
	// An unescaped "/", "?" or "#" in the password ends the user part
	// early: what follows must not be quoted as a path, query or port.
	{"smtp://alice:pw-12345/secretpart@smtp.example.com", []string{"secretpart", "pw-12345"}},
	{"smtp://alice:hunter2:587?tls=SECRETVALUE@smtp.example.com", []string{"SECRETVALUE", "hunter2"}},
	{"smtp://alice:pass?auth=S3CRETKEY@smtp.example.com", []string{"S3CRETKEY"}},
	{"smtp://alice:ab#cdSECRETFRAG@smtp.example.com", []string{"SECRETFRAG"}},
	{"smtps://alice:p/q?r#SECRETMIX@smtp.example.com", []string{"SECRETMIX"}},
	{"smtp://alice:SECRETPORT@smtp.example.com:99999", []string{"SECRETPORT"}},
	// One slash after the scheme: no host, and the user part reads as
	// a path, which must not be quoted either.
	{"smtp:/alice:SLASHSECRET@smtp.example.com", []string{"SLASHSECRET"}},
	{"smtps:/alice:SLASHSECRET2@smtp.qq.com:465", []string{"SLASHSECRET2"}},
	// A token given as the user with no password.
	{"smtp://tok-USERTOKEN-123@smtp.postmarkapp.com", []string{"USERTOKEN"}},
	// Postmark's server token is both user and password.
	{"smtp://POSTMARKTOKEN:POSTMARKTOKEN@smtp.postmarkapp.com?auth=plain", []string{"POSTMARKTOKEN"}},
	{"smtp://XOAUTHTOKEN:XOAUTHTOKEN@smtp.example.com?auth=xoauth2", []string{"XOAUTHTOKEN"}},
}

// TestURLErrorsNameTheCharacter: a password cut short by an unescaped
// character gets an error that says which, and how to escape it.
func TestURLErrorsNameTheCharacter(t *testing.T) {
	for raw, want := range map[string]string{
		"smtp://alice:pw-12345/secretpart@smtp.example.com":         `"/"`,
		"smtp://alice:hunter2:587?tls=SECRETVALUE@smtp.example.com": `%3F`,
		"smtp://alice:ab#cd@smtp.example.com":                       `%23`,
	} {
		_, err := mailer.ParseURL(raw)
		assert.ErrorIs(t, err, mailer.ErrInvalidConfig)
		assert.ErrorContains(t, err, want, raw)
		assert.ErrorContains(t, err, "escape it as", raw)
	}
}

// TestLogRecords: one Debug record per attempt, one Warn per retry, one
// Info or Warn per outcome, with the keys of CONVENTIONS.md.
func TestLogRecords(t *testing.T) {
	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := mailertest.NewServer(t, fault(mailertest.StepMAIL, 1, "451 4.3.0 try later"))
	c := newClient(t, serverOnly(srv), mailer.WithLogger(logger), fastRetry(3))
	_, err := c.Send(bg, testMessage(t))
	assert.NoError(t, err)

	srv2 := mailertest.NewServer(t, fault(mailertest.StepRCPT, 0, "550 5.1.1 no such user"))
	_, err = newClient(t, serverOnly(srv2), mailer.WithLogger(logger)).Send(bg, testMessage(t))
	assert.Error(t, err)

	counts := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if !assert.NoError(t, json.Unmarshal([]byte(line), &rec)) {
			continue
		}
		key := fmt.Sprint(rec["level"], " ", rec["msg"])
		counts[key]++
		if rec["msg"] == "mailer retrying" {
			assert.Equal(t, "MAIL FROM", rec["stage"])
			assert.EqualValues(t, 451, rec["code"])
			assert.Contains(t, rec, "wait")
			assert.EqualValues(t, 1, rec["attempt"])
		}
		assert.NotEmpty(t, rec["message_id"], line)
	}
	assert.Equal(t, 3, counts["DEBUG mailer attempt"])
	assert.Equal(t, 1, counts["WARN mailer retrying"])
	assert.Equal(t, 1, counts["INFO mailer sent"])
	assert.Equal(t, 1, counts["WARN mailer failed"])
}

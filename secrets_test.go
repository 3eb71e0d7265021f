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
		for _, tc := range []struct {
			desc   string
			secret string
			faults []mailertest.Fault
		}{
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
				record(l.String())
			}
			_ = c.Close()
		}
	}
	u, err := mailer.ParseURL("smtps://alice%40example.com:" + strings.ReplaceAll(password, "Δ", "%CE%94") + "@smtp.example.com?auth=plain")
	assert.NoError(t, err)
	record(u.String())
	_, err = mailer.ParseURL("smtps://alice:" + password + "@smtp.example.com?auth=bogus")
	record(fmt.Sprint(err))

	all := logs.String() + strings.Join(out, "\n")
	assert.Contains(t, logs.String(), "smtp authenticated", "Debug logging was on")
	assert.Contains(t, logs.String(), "mailer retrying")
	for _, n := range needles {
		assert.NotContains(t, all, n)
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

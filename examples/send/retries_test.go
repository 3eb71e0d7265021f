package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer/mailertest"
)

type jsonOut struct {
	MessageID      string `json:"message_id"`
	Attempts       int    `json:"attempts"`
	MaybeDuplicate bool   `json:"maybe_duplicate"`
	Error          string `json:"error"`
	Events         []struct {
		Status  string `json:"status"`
		Attempt int    `json:"attempt"`
		Wait    string `json:"wait"`
		Outcome string `json:"outcome"`
		Code    int    `json:"code"`
	} `json:"events"`
}

func statuses(o jsonOut) []string {
	var s []string
	for _, e := range o.Events {
		s = append(s, e.Status)
	}
	return s
}

// TestRetriesAndEvents: -retries sets the attempts in all, and -json shows
// the status events, on success and on failure.
func TestRetriesAndEvents(t *testing.T) {
	t.Run("retried then sent", func(t *testing.T) {
		t.Parallel() // waits the default backoff (up to 1 s) alongside the other slow tests
		srv, ca := newServer(t, mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepMAIL, On: 1, Reply: "451 4.3.0 Try again"}))
		got := runSend(t, nil, "-url", srv.URL(), "-ca", ca, "-retries", "2", "-json",
			"-to", "bob@example.com", "-subject", "hi", "-text", "hello")
		require.Equal(t, 0, got.code, got.stderr)
		var out jsonOut
		require.NoError(t, json.Unmarshal([]byte(got.stdout), &out), got.stdout)
		assert.Equal(t, 2, out.Attempts)
		assert.Equal(t, []string{"pending", "sending", "retrying", "sending", "sent"}, statuses(out))
		assert.Equal(t, 451, out.Events[2].Code)
		assert.Equal(t, "temporary", out.Events[2].Outcome)
		assert.NotEmpty(t, out.Events[2].Wait)
		assert.Len(t, srv.Messages(), 1)
	})
	t.Run("one attempt only", func(t *testing.T) {
		srv, ca := newServer(t, mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepMAIL, Reply: "451 4.3.0 Try again"}))
		got := runSend(t, nil, "-url", srv.URL(), "-ca", ca, "-retries", "1", "-json",
			"-to", "bob@example.com", "-subject", "hi", "-text", "hello")
		require.Equal(t, 1, got.code)
		requireOneLine(t, got.stderr)
		var out jsonOut
		require.NoError(t, json.Unmarshal([]byte(got.stdout), &out), got.stdout)
		assert.Equal(t, []string{"pending", "sending", "failed"}, statuses(out))
		assert.Equal(t, 1, out.Attempts)
		assert.NotEmpty(t, out.MessageID)
		assert.Contains(t, out.Error, "451 4.3.0 Try again")
		assert.Equal(t, 1, srv.Count(mailertest.StepMAIL))
	})
	t.Run("bad value", func(t *testing.T) {
		for _, v := range []string{"0", "-1", "101", "x"} {
			got := runSend(t, nil, "-retries", v, "-to", "bob@example.com", "-subject", "hi")
			assert.Equal(t, 2, got.code, v)
		}
	})
}

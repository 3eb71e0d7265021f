package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	t.Setenv("MAILER_URL", "")
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	want := []string{"in-process test server", "stored: PENDING", "event: sending (attempt 1)", "event: sent (attempt 1)", "final: SENT after 1 attempt(s): 250"}
	for _, w := range want {
		if !strings.Contains(out.String(), w) {
			t.Fatalf("output lacks %q:\n%s", w, out.String())
		}
	}
}

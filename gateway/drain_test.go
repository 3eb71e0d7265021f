package gateway_test

import (
	"bufio"
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Shutdown with one idle session and one in the middle of a big DATA:
// the idle one gets 421 at once, the message completes and is relayed,
// and Shutdown returns without error.
func TestShutdownDrainsDataInFlight(t *testing.T) {
	t.Parallel()
	e := relayEnv(t, nil, nil)
	idle := e.session("app1")
	busy := e.session("app1")
	busy.expect("250", "MAIL FROM:<a@t1.test>")
	busy.expect("250", "RCPT TO:<r@ext.example>")
	busy.expect("354", "DATA")
	line := strings.Repeat("x", 998) + "\r\n"
	w := bufio.NewWriterSize(busy.conn, 64<<10)
	w.WriteString(msg("a@t1.test", "r@ext.example", "big"))
	// 1 MiB: the 10 MiB case is TestProcessSignals in cmd/mailgate (-race
	// makes go-smtp's byte-by-byte DATA reader slow in process).
	size := 1 << 20
	lines := size/1000 + 1
	for range lines / 2 {
		w.WriteString(line)
	}
	w.Flush()

	health := e.g.HealthAddr()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- e.g.Shutdown(ctx)
	}()
	if code, text := idle.read(); code != 421 {
		t.Fatalf("idle session: %d %s", code, text)
	}
	// Draining: not ready any more, so a load balancer stops sending.
	if resp, err := httpGet("http://" + health + "/readyz"); err != nil || resp.StatusCode != 503 {
		t.Fatalf("/readyz while draining: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	for range lines - lines/2 {
		w.WriteString(line)
	}
	w.WriteString(".\r\n")
	w.Flush()
	if code, text := busy.read(); code != 250 {
		t.Fatalf("message in flight: %d %s", code, text)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Shutdown did not return within 30s")
	}
	msgs := e.ups["a"].Messages()
	if len(msgs) != 1 || len(msgs[0].Data) < size {
		t.Fatalf("%d messages upstream", len(msgs))
	}
	// New connections are refused.
	if c, err := dialQuiet(e.addr("submission")); err == nil {
		c.Close()
		t.Fatal("a connection was accepted after Shutdown")
	}
}

// Shutdown right after Start, before the listeners' serve goroutines have
// necessarily run (as on a loaded machine): it must still return, and
// promptly. It once waited forever for a listener go-smtp had not seen yet.
func TestShutdownRightAfterStart(t *testing.T) {
	t.Parallel()
	for range 20 {
		e := relayEnv(t, nil, nil)
		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			done <- e.g.Shutdown(ctx)
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("Shutdown right after Start did not return within 15s")
		}
	}
}

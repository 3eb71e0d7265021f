package mailertest_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

// A test of what your code does when the server stalls: in a
// testing/synctest bubble, on the in-memory network, the 30 s timeout
// takes no real time, and a busy machine cannot make the test flaky.
// (An example cannot run a bubble: this one shows the test's body.)
func ExampleWithInMemoryNetwork() {
	var t *testing.T // your test's
	synctest.Test(t, func(t *testing.T) {
		srv := mailertest.NewServer(t, mailertest.WithInMemoryNetwork(),
			mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepDataEnd, Delay: time.Hour}))
		c, err := mailer.New(srv.Options(), // includes the in-memory dialer
			mailer.WithTimeouts(mailer.Timeouts{DataEnd: 30 * time.Second}),
			mailer.WithRetry(mailer.RetryPolicy{MaxAttempts: 1}))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		msg, _ := mailer.NewMessage().From("app@example.com").To("bob@example.com").Subject("hi").Text("hello").Build()
		start := time.Now()
		_, err = c.Send(context.Background(), msg)
		if !errors.Is(err, mailer.ErrMaybeDelivered) || time.Since(start) != 30*time.Second {
			t.Errorf("after %v: %v", time.Since(start), err) // the fake clock: exactly 30 s
		}
	})
}

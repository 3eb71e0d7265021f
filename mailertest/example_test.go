package mailertest_test

import (
	"context"
	"fmt"
	"log"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

// In a test, use mailertest.NewServer(t, …), which closes the server when
// the test ends. Start does the same outside tests.
func Example() {
	srv, err := mailertest.Start(mailertest.WithUser("app@example.com", "secret"))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	c, err := mailer.New(srv.Options()) // address, STARTTLS, trust in its CA, credentials
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	msg, err := mailer.NewMessage().From("app@example.com").To("bob@example.com").
		Subject("Welcome").Text("Thanks for signing up.").Build()
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.Send(context.Background(), msg); err != nil {
		log.Fatal(err)
	}

	got := srv.Messages()[0]
	fmt.Println(got.To, got.Header.Get("Subject"), got.TLS, got.AuthUser)
	// Output: [bob@example.com] Welcome true app@example.com
}

// A fault refuses the first attempt at RCPT; the Client retries.
func ExampleWithFaults() {
	srv, err := mailertest.Start(mailertest.WithFaults(
		mailertest.Fault{Step: mailertest.StepRCPT, On: 1, Reply: "450 4.2.1 Mailbox busy, try later"},
	))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	c, err := mailer.New(srv.Options(), mailer.WithRetry(mailer.RetryPolicy{MinWait: 1, Backoff: mailer.ConstantBackoff}))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	msg, _ := mailer.NewMessage().From("app@example.com").To("bob@example.com").Subject("Hi").Text("Hi").Build()
	receipt, err := c.Send(context.Background(), msg)
	fmt.Println(receipt.Attempts, err, len(srv.Messages()))
	// Output: 2 <nil> 1
}

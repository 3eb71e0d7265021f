package mailer_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

// SendAll sends a batch over the Client's pool of connections; receipts
// line up with the messages.
func ExampleClient_SendAll() {
	srv, err := mailertest.Start() // a test server; use a real one with mailer.WithURL
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	c, err := mailer.New(srv.Options(),
		mailer.WithPool(2),                     // at most 2 connections at once
		mailer.WithRateLimit(100, time.Second)) // at most 100 messages a second
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	var msgs []*mailer.Message
	for _, to := range []string{"ann@example.com", "bob@example.com", "cai@example.com"} {
		m, err := mailer.NewMessage().From("news@example.com").To(to).
			Subject("Our news").Text("Hello " + to).Build()
		if err != nil {
			log.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	receipts, err := c.SendAll(context.Background(), msgs...)
	if err != nil {
		log.Print(err) // one *mailer.SendError per failed message, joined
	}
	for i, r := range receipts {
		fmt.Println(r.Recipients, r.MessageID == msgs[i].MessageID())
	}
	// Output:
	// [ann@example.com] true
	// [bob@example.com] true
	// [cai@example.com] true
}

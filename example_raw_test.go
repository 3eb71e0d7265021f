package mailer_test

import (
	"context"
	"fmt"
	"log"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

// SendRaw sends a message rendered elsewhere (an .eml file, a message
// relayed by a gateway, a body signed with DKIM) to the envelope given,
// here with a VERP bounce address and DSN parameters.
func ExampleClient_SendRaw() {
	srv, err := mailertest.Start(mailertest.WithDSN()) // an SMTP server on 127.0.0.1, for the example
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	c, err := mailer.New(srv.Options())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	raw := []byte("From: Shop <shop@example.com>\r\n" +
		"To: bob@example.com\r\n" +
		"Subject: Your order has shipped\r\n" +
		"Message-ID: <order-1042@example.com>\r\n" +
		"\r\n" +
		"Your order 1042 is on its way.\r\n")
	env := mailer.Envelope{
		From: "bounces+bob=example.com@example.com",
		To:   []string{"bob@example.com"},
		DSN:  mailer.DSN{Notify: mailer.NotifyFailure, Return: mailer.ReturnHeaders, EnvelopeID: "order-1042"},
	}
	receipt, err := c.SendRaw(context.Background(), env, raw)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("sent", receipt.MessageID)
	for _, cmd := range srv.Commands()[3:5] { // after EHLO, STARTTLS, EHLO
		fmt.Println(cmd)
	}
	// Output:
	// sent order-1042@example.com
	// MAIL FROM:<bounces+bob=example.com@example.com> SIZE=157 RET=HDRS ENVID=order-1042
	// RCPT TO:<bob@example.com> NOTIFY=FAILURE
}

// Bytes and Envelope render a Message once, for storing it (an outbox
// keeps both) or signing it, and sending it later with SendRaw exactly as
// Send would have sent it. Bcc recipients are in the envelope only.
func ExampleMessage_Bytes() {
	m, err := mailer.NewMessage().
		From("Shop <shop@example.com>").
		To("bob@example.com").
		Bcc("audit@example.com").
		Subject("Your receipt").
		Text("Thank you for your order.").
		Build()
	if err != nil {
		log.Fatal(err)
	}
	raw, err := m.Bytes()
	if err != nil {
		log.Fatal(err)
	}
	env := m.Envelope()
	fmt.Println("MAIL FROM:", env.From)
	fmt.Println("RCPT TO:", env.To)

	srv, err := mailertest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	c, err := mailer.New(srv.Options())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := c.SendRaw(context.Background(), env, raw); err != nil {
		log.Fatal(err)
	}
	got := srv.Messages()[0]
	fmt.Println("same bytes as Bytes:", string(got.Data) == string(raw))
	fmt.Println("Bcc in the headers:", got.Header.Get("Bcc") != "")
	// Output:
	// MAIL FROM: shop@example.com
	// RCPT TO: [bob@example.com audit@example.com]
	// same bytes as Bytes: true
	// Bcc in the headers: false
}

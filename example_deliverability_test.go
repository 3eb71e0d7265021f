package mailer_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

// Signing every message with DKIM. The key is a PEM file (here a test key;
// make one with `openssl genpkey -algorithm ed25519 -out dkim.pem`), and
// DNSRecord says what to publish.
func ExampleWithDKIM() {
	pemBytes, err := os.ReadFile("testdata/dkim/ed25519.pem")
	if err != nil {
		log.Fatal(err)
	}
	key, err := mailer.ParseDKIMKey(pemBytes)
	if err != nil {
		log.Fatal(err)
	}
	dkim := mailer.DKIM{Domain: "example.com", Selector: "mail2026", Key: key}

	srv, err := mailertest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	c, err := mailer.New(srv.Options(), mailer.WithDKIM(dkim))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	msg, _ := mailer.NewMessage().From("Shop <orders@example.com>").To("bob@example.net").
		Subject("Your order").Text("It has shipped.").Build()
	if _, err := c.Send(context.Background(), msg); err != nil {
		log.Fatal(err) // a From outside example.com fails with ErrDKIMAlignment
	}
	received := string(srv.Messages()[0].Data)
	fmt.Println(strings.HasPrefix(received, "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.com;"))

	s, _ := mailer.NewDKIMSigner(dkim)
	fmt.Println(s.DNSRecord().Name)
	// Output:
	// true
	// mail2026._domainkey.example.com
}

// Two accounts, the second used only when the first cannot take the
// message without risk of sending it twice.
func ExampleFailover() {
	// The primary answers "421 … down for maintenance" to every connection.
	primary, err := mailertest.Start(mailertest.WithFaults(mailertest.Fault{
		Step: mailertest.StepGreeting, Reply: "421 4.3.2 down for maintenance",
	}))
	if err != nil {
		log.Fatal(err)
	}
	defer primary.Close()
	backup, err := mailertest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer backup.Close()

	a, _ := mailer.New(primary.Options())
	b, _ := mailer.New(backup.Options())
	defer a.Close()
	defer b.Close()
	g := mailer.Failover(mailer.Named("ses", a), mailer.Named("postmark", b))

	msg, _ := mailer.NewMessage().From("app@example.com").To("bob@example.net").Subject("Hi").Text("Hi").Build()
	rcpt, err := g.Send(context.Background(), msg)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("delivered by", rcpt.Account)
	// Output: delivered by postmark
}

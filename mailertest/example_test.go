package mailertest_test

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

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
	msg, err := mailer.NewMessage().From("Acme <app@example.com>").To("张伟 <zhang@example.com>").
		Subject("欢迎注册 Acme").Text("您的验证码是 493817。").
		AttachBytes("terms.txt", []byte("Be nice.")).Build()
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.Send(context.Background(), msg); err != nil {
		log.Fatal(err)
	}

	// The message as a mail client shows it: subject, names and body are
	// decoded (on the wire they are RFC 2047 and base64).
	got := srv.MessagesTo("zhang@example.com")[0]
	fmt.Println(got.Subject, got.HeaderTo[0].Name, got.Text)
	fmt.Println(strings.Contains(got.Text, "493817"), got.Attachments[0].Filename, string(got.Attachments[0].Data))
	fmt.Println(got.TLS, got.AuthUser)
	// Output:
	// 欢迎注册 Acme 张伟 您的验证码是 493817。
	// true terms.txt Be nice.
	// true app@example.com
}

// A failure path of your own code, such as a server that keeps answering
// 451, takes milliseconds with FastRetry instead of the seconds of the
// default backoff.
func ExampleFastRetry() {
	srv, err := mailertest.Start(mailertest.WithFaults(
		mailertest.Fault{Step: mailertest.StepMAIL, Reply: "451 4.3.0 Try again later"},
		mailertest.Fault{Step: mailertest.StepMAIL, On: 2, Reply: "451 4.3.0 Try again later"},
		mailertest.Fault{Step: mailertest.StepMAIL, On: 3, Reply: "451 4.3.0 Try again later"},
	))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	c, err := mailer.New(srv.Options(), mailer.WithRetry(mailertest.FastRetry()))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	msg, _ := mailer.NewMessage().From("app@example.com").To("bob@example.com").Subject("Hi").Text("Hi").Build()
	_, err = c.Send(context.Background(), msg)
	fmt.Println(mailer.Classify(err), srv.Count(mailertest.StepMAIL))
	// Output: temporary 3
}

// Code that sends from a background worker: wait for its mail with a
// deadline, without sleeping.
func ExampleServer_WaitForMessages() {
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
	go func() { // the worker of the code under test
		for _, to := range []string{"a@example.com", "b@example.com"} {
			msg, _ := mailer.NewMessage().From("app@example.com").To(to).Subject("Report").Text("…").Build()
			_, _ = c.Send(context.Background(), msg)
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msgs, err := srv.WaitForMessages(ctx, 2)
	if err != nil {
		log.Fatal(err) // such as "mailertest: 1 of 2 messages arrived: context deadline exceeded"
	}
	fmt.Println(len(msgs), len(srv.MessagesWithSubject("Report")))
	// Output: 2 2
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

// A server where every message's first attempt fails, in whatever order
// the messages come: the retries of a queue or worker are then certain.
func ExampleWithAttemptFaultFunc() {
	srv, err := mailertest.Start(mailertest.WithAttemptFaultFunc(func(_ string, attempt int) *mailertest.Fault {
		if attempt == 1 {
			return &mailertest.Fault{Reply: "451 4.3.0 Try again later"}
		}
		return nil
	}))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	c, err := mailer.New(srv.Options(), mailer.WithRetry(mailertest.FastRetry()))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	msg, _ := mailer.NewMessage().From("app@example.com").To("bob@example.com").Subject("Hi").Text("Hi").Build()
	_, err = c.Send(context.Background(), msg)
	fmt.Println(err, srv.Count(mailertest.StepDataEnd), len(srv.Messages()))
	// Output: <nil> 2 1
}

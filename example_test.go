package mailer_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync/atomic"
	"time"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

// A Client for a company relay on port 587 with STARTTLS, LOGIN and an
// in-house CA, sending a password-reset code.
func Example() {
	c, err := mailer.New(
		mailer.WithServer("mail.corp.example", 587),
		mailer.WithAuth(mailer.LoginAuth("svc-mailer", "password")),
		mailer.WithCAFile("/etc/ssl/corp-ca.pem"),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	msg, err := mailer.NewMessage().
		From("系统通知 <noreply@corp.example>").
		To("bob@example.com").
		Subject("重置您的密码").
		Text("验证码：123456，10 分钟内有效。").
		Build()
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	receipt, err := c.Send(ctx, msg)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("sent %s: %s", receipt.MessageID, receipt.Response)
}

// New with a URL; the printed Client never shows the password.
func ExampleNew_url() {
	c, err := mailer.New(mailer.WithURL("smtps://alice%40qq.com:auth-code@smtp.qq.com"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Println(c)
	// Output: mailer.Client(smtp.qq.com:465 tls=implicit auth=AUTO(alice@qq.com, [REDACTED]))
}

func ExampleParseURL() {
	u, err := mailer.ParseURL("smtp://relay%40corp.example:pw@[2001:db8::25]:2525?auth=login&timeout=20s")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(u.Host, u.Port, u.TLS, u.Auth.Mechanism(), u.Timeout)
	fmt.Println(u)

	_, err = mailer.ParseURL("smtps://h?tls=none")
	fmt.Println(err)
	// Output:
	// 2001:db8::25 2525 starttls LOGIN 20s
	// smtp://relay%40corp.example:REDACTED@[2001:db8::25]:2525?auth=login&timeout=20s
	// mailer: URL query key "tls": "none" is only valid with smtp://
}

func ExampleClient_Send() {
	srv, err := mailertest.Start() // an SMTP server on 127.0.0.1, for the example
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	c, err := mailer.New(srv.Options())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	msg, err := mailer.NewMessage().From("app@example.com").To("bob@example.com").
		Subject("Your code").Text("123456").Build()
	if err != nil {
		log.Fatal(err)
	}
	receipt, err := c.Send(context.Background(), msg)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(receipt.Recipients, receipt.Attempts, receipt.Response)
	// Output: [bob@example.com] 1 250 2.0.0 OK: queued
}

// Inspecting a failure: the stage, the reply and whether to try later.
func ExampleSendError() {
	err := fmt.Errorf("sending reset mail: %w", &mailer.SendError{
		Stage: mailer.StageRcpt, Code: 550, EnhancedCode: mailer.EnhancedCode{5, 1, 1},
		Message: "no such user", Recipients: []string{"bob@example.com"}, Attempts: 1,
	})
	var se *mailer.SendError
	if errors.As(err, &se) {
		fmt.Println(se.Stage, se.Code, se.EnhancedCode, se.Temporary(), mailer.Classify(err))
		fmt.Println(se)
	}
	// Output:
	// RCPT TO 550 5.1.1 false permanent
	// mailer: RCPT TO: 550 5.1.1 no such user (bob@example.com)
}

// A policy for a background job with a generous deadline: more attempts,
// longer waits, and never a duplicate.
func ExampleRetryPolicy() {
	c, err := mailer.New(
		mailer.WithServer("smtp.example.com", 587),
		mailer.WithRetry(mailer.RetryPolicy{
			MaxAttempts: 6,
			MinWait:     5 * time.Second,
			MaxWait:     5 * time.Minute,
			AtMostOnce:  true, // after an unknown outcome, stop: Send returns ErrMaybeDelivered
		}),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
}

// A hook counting deliveries and failures, as for metrics.
func ExampleWithHook() {
	srv, err := mailertest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	var sent, failed atomic.Int64 // hooks of different messages may run concurrently
	c, err := mailer.New(srv.Options(), mailer.WithHook(func(ctx context.Context, e mailer.Event) {
		switch e.Status {
		case mailer.StatusSent:
			sent.Add(1)
		case mailer.StatusFailed:
			failed.Add(1)
		}
	}))
	if err != nil {
		log.Fatal(err)
	}
	msg, _ := mailer.NewMessage().From("app@example.com").To("bob@example.com").Subject("Hi").Text("Hi").Build()
	for range 3 {
		if _, err := c.Send(context.Background(), msg); err != nil {
			log.Fatal(err)
		}
	}
	// Each Send returned after its hooks had handled its terminal event.
	fmt.Println(sent.Load(), failed.Load())
	c.Close()
	// Output: 3 0
}

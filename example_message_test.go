package mailer_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/postkit/mailer"
)

func ExampleMessageBuilder_Build() {
	m, err := mailer.NewMessage().
		From("系统通知 <noreply@example.com>").
		To("张三 <zhangsan@example.com>").
		Bcc("audit@example.com").
		Subject("重置您的密码").
		HTML(`<p>点击 <a href="https://example.com/reset?t=abc">重置密码</a>。</p>`).
		MessageID("reset-42@example.com").
		Build()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Subject())
	fmt.Println(m.Recipients())
	fmt.Println(m.MessageID())
	fmt.Println(m.Text()) // derived from the HTML
	// Output:
	// 重置您的密码
	// [zhangsan@example.com audit@example.com]
	// reset-42@example.com
	// 点击 重置密码 (https://example.com/reset?t=abc) 。
}

// Build reports every problem at once, each naming its field.
func ExampleMessageBuilder_Build_errors() {
	_, err := mailer.NewMessage().
		From("noreply@example.com").
		To("bob@example.com> ORCPT=rfc822;evil@example.com").
		Subject("Hello\r\nBcc: evil@example.com").
		Header("Content-Type", "text/html").
		Build()
	var fe *mailer.FieldError
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		if errors.As(e, &fe) {
			fmt.Println(fe.Field)
		}
	}
	fmt.Println(errors.Is(err, mailer.ErrInvalidAddress), errors.Is(err, mailer.ErrInvalidHeader))
	// Output:
	// To
	// Subject
	// Header
	// true true
}

func ExampleMessage_WriteTo() {
	m, err := mailer.NewMessage().
		From("Example <noreply@example.com>").
		To("bob@example.com").
		Subject("Your code is 123456").
		Text("Your verification code is 123456.\n").
		Date(time.Date(2024, 3, 15, 9, 30, 0, 0, time.UTC)).
		MessageID("code-1@example.com").
		UserAgent("").
		Build()
	if err != nil {
		log.Fatal(err)
	}
	var eml strings.Builder
	if _, err := m.WriteTo(&eml); err != nil {
		log.Fatal(err)
	}
	fmt.Print(strings.ReplaceAll(eml.String(), "\r\n", "\n"))
	// Output:
	// Date: Fri, 15 Mar 2024 09:30:00 +0000
	// From: Example <noreply@example.com>
	// To: bob@example.com
	// Subject: Your code is 123456
	// Message-ID: <code-1@example.com>
	// MIME-Version: 1.0
	// Content-Type: text/plain; charset=utf-8
	// Content-Transfer-Encoding: 7bit
	//
	// Your verification code is 123456.
}

// Inline images are referenced from the HTML as "cid:NAME"; Build completes
// the Content-ID with the sender's domain.
func ExampleMessageBuilder_Embed() {
	logo, err := os.ReadFile("testdata/logo.png")
	if err != nil {
		log.Fatal(err)
	}
	m, err := mailer.NewMessage().
		From("shop@example.com").To("bob@example.com").
		Subject("Your receipt").
		Text("Thanks for your order.").
		HTML(`<img src="cid:logo" alt="Shop"><p>Thanks for your order.</p>`).
		Embed("logo", "logo.png", logo).
		AttachFile("testdata/receipt.pdf").
		Build()
	if err != nil {
		log.Fatal(err)
	}
	if _, err := m.WriteTo(os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// List-Unsubscribe with RFC 8058 one-click, and a high priority.
func ExampleMessageBuilder_ListUnsubscribe() {
	m, err := mailer.NewMessage().
		From("news@example.com").To("bob@example.com").
		Subject("Security alert").
		Text("A new sign-in to your account.").
		ListUnsubscribe("https://example.com/unsubscribe?u=42", "mailto:unsubscribe@example.com").
		OneClickUnsubscribe().
		Priority(mailer.PriorityHigh).
		Build()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.ListUnsubscribe(), m.Priority())
	// Output:
	// [https://example.com/unsubscribe?u=42 mailto:unsubscribe@example.com] high
}

// A calendar invitation that mail clients offer to accept: the attachment's
// content type carries the iTIP method.
func ExampleContentType() {
	ics := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:42@example.com\r\n" +
		"DTSTART:20270101T100000Z\r\nSUMMARY:Kick-off\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
	msg, err := mailer.NewMessage().From("app@example.com").To("bob@example.com").
		Subject("Invitation: Kick-off").Text("You are invited to the kick-off.").
		AttachBytes("invite.ics", []byte(ics), mailer.ContentType("text/calendar; method=REQUEST")).
		Build()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(msg.Attachments())
	// Output: [invite.ics]
}

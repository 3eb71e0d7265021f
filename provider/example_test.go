package provider_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"golang.org/x/oauth2"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/provider"
)

// A complete send through QQ Mail. The authorization code comes from QQ
// Mail's settings, never the QQ password.
func Example() {
	c, err := mailer.New(provider.QQ("alice@qq.com", os.Getenv("QQ_AUTH_CODE")))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	msg, err := mailer.NewMessage().
		From("系统通知 <alice@qq.com>"). // QQ Mail sends only as the logged-in account
		To("bob@example.com").
		Subject("重置您的密码").
		Text("Your code is 123456").
		Build()
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.Send(context.Background(), msg); err != nil {
		log.Fatal(err) // a *mailer.SendError; its Hint explains QQ's "535 Login Fail"
	}
}

func ExampleQQ() {
	c, err := mailer.New(provider.QQ("alice@qq.com", "authorization-code"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c) // the code is never printed
	// Output: mailer.Client(smtp.qq.com:465 tls=implicit auth=PLAIN(alice@qq.com, [REDACTED]))
}

// Options after a preset adjust it: here Gmail on its STARTTLS port.
func ExampleGmail() {
	c, err := mailer.New(provider.Gmail("alice@gmail.com", "app-password"),
		mailer.WithServer("smtp.gmail.com", 587),
		mailer.WithTLS(mailer.TLSStartTLS))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Addr(), c.TLSMode(), c.Auth().Mechanism())
	// Output: smtp.gmail.com:587 starttls PLAIN
}

func ExampleSES() {
	c, err := mailer.New(provider.SES("eu-west-1", "AKIAEXAMPLE", "smtp-password"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Addr())

	_, err = mailer.New(provider.SES("europe", "AKIAEXAMPLE", "smtp-password"))
	fmt.Println(err)
	// Output:
	// email-smtp.eu-west-1.amazonaws.com:465
	// mailer: provider.SES: invalid AWS region "europe"; want a region such as us-east-1 or eu-west-1
}

// Mailpit catches mail on the developer's machine: no TLS, no credentials.
func ExampleMailpit() {
	c, err := mailer.New(provider.Mailpit())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c)
	// Output: mailer.Client(127.0.0.1:1025 tls=none)
}

func ExampleLookup() {
	for _, name := range []string{"Foxmail", "netease", "Microsoft 365", "ses-ap-southeast-1", "sina"} {
		p, ok := provider.Lookup(name)
		if !ok {
			fmt.Printf("%s: unknown\n", name)
			continue
		}
		fmt.Printf("%s: %s\n", name, p)
	}
	// Output:
	// Foxmail: qq: smtp.qq.com:465 implicit PLAIN
	// netease: 163: smtp.163.com:465 implicit PLAIN
	// Microsoft 365: microsoft365: smtp.office365.com:587 starttls LOGIN
	// ses-ap-southeast-1: ses-ap-southeast-1: email-smtp.ap-southeast-1.amazonaws.com:465 implicit PLAIN
	// sina: unknown
}

func ExampleForAddress() {
	for _, addr := range []string{"bob@foxmail.com", "Carol <carol@googlemail.com>", "dave@live.com", "erin@example.com"} {
		if p, ok := provider.ForAddress(addr); ok {
			fmt.Printf("%s → %s (%s)\n", addr, p.Title, p.Addr())
		} else {
			fmt.Printf("%s → no preset\n", addr)
		}
	}
	// Output:
	// bob@foxmail.com → QQ Mail (smtp.qq.com:465)
	// Carol <carol@googlemail.com> → Gmail (smtp.gmail.com:465)
	// dave@live.com → Outlook.com / Hotmail (smtp-mail.outlook.com:587)
	// erin@example.com → no preset
}

// A provider named in configuration, with its credentials.
func ExamplePreset_Option() {
	cfg := struct{ Provider, User, Password string }{"163", "alice@163.com", "authorization-code"}

	p, ok := provider.Lookup(cfg.Provider)
	if !ok {
		log.Fatalf("unknown mail provider %q", cfg.Provider)
	}
	c, err := mailer.New(p.Option(cfg.User, cfg.Password))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c)
	// Output: mailer.Client(smtp.163.com:465 tls=implicit auth=PLAIN(alice@163.com, [REDACTED]))
}

// The published limits, which the presets apply to the Client's pool and
// rate limit.
func ExampleAll() {
	for _, p := range provider.All() {
		l := p.Limits
		if l.MaxConnections == 0 && l.MessagesPerConnection == 0 && l.Messages == 0 && l.RecipientsPerDay == 0 {
			continue
		}
		fmt.Printf("%s: connections %d, messages/connection %d, rate %d per %v, recipients/day %d\n",
			p.Name, l.MaxConnections, l.MessagesPerConnection, l.Messages, l.Per, l.RecipientsPerDay)
	}
	// Output:
	// gmail: connections 0, messages/connection 0, rate 0 per 0s, recipients/day 500
	// microsoft365: connections 3, messages/connection 0, rate 30 per 1m0s, recipients/day 10000
	// sendgrid: connections 0, messages/connection 5000, rate 0 per 0s, recipients/day 0
}

// The default path to Gmail: OAuth 2.0 with a refresh token stored after
// the account owner signed in once. The Client refreshes access tokens
// itself.
func ExampleGmailOAuth2Config() {
	ctx := context.Background()
	conf := provider.GmailOAuth2Config(os.Getenv("GOOGLE_CLIENT_ID"), os.Getenv("GOOGLE_CLIENT_SECRET"), "http://127.0.0.1:8085/callback")
	tok := &oauth2.Token{RefreshToken: os.Getenv("GMAIL_REFRESH_TOKEN")} // stored after conf.Exchange
	c, err := mailer.New(provider.GmailOAuth2("alice@gmail.com", mailer.OAuth2Config(ctx, conf, tok)))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Println(c.Auth().Mechanism())
	// Output: XOAUTH2
}

// Microsoft 365 with OAuth 2.0, the path Microsoft requires once basic
// authentication is off for the tenant.
func ExampleMicrosoft365OAuth2Config() {
	ctx := context.Background()
	conf := provider.Microsoft365OAuth2Config("contoso.onmicrosoft.com", "app-id", os.Getenv("MS_CLIENT_SECRET"), "http://localhost:8085/callback")
	tok := &oauth2.Token{RefreshToken: os.Getenv("MS_REFRESH_TOKEN")}
	c, err := mailer.New(provider.Microsoft365OAuth2("alice@contoso.com", mailer.OAuth2Config(ctx, conf, tok)))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Println(c.Addr(), conf.Scopes)
	// Output: smtp.office365.com:587 [https://outlook.office.com/SMTP.Send offline_access]
}

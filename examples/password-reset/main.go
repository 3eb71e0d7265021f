// Command password-reset sends a password-reset mail with a signed,
// expiring link, using the built-in "password-reset" template in English
// or Chinese.
//
// Try it with nothing configured: it starts an SMTP test server on
// 127.0.0.1, sends the mail to it, prints the message as received and
// writes password-reset.preview.html to open in a browser:
//
//	go run ./examples/password-reset
//	MAILER_LOCALE=zh-CN go run ./examples/password-reset
//
// Send for real as with examples/verification (MAILER_URL, or
// MAILER_PROVIDER with MAILER_USER and MAILER_PASSWORD; MAILER_TO,
// MAILER_FROM, MAILER_CA_FILE, MAILER_LOCALE). Two more variables:
//
//	MAILER_RESET_KEY  the HMAC key, at least 32 bytes; without it a random
//	                  key is made for this run and printed as a note
//	MAILER_RESET_URL  the page that receives the token
//	                  (default https://acme.example/reset)
//
// The token is base64url(user "|" expiry) "." base64url(HMAC-SHA256(key,
// user "|" expiry "|" SHA-256(password hash))); verifyToken checks it.
// Signing the user's current password hash makes the link work only once:
// it stops verifying when the password changes, so the mail can say so. Exit status: 0 sent, 1 sending
// failed, 2 bad configuration (nothing sent).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/internal/exampleenv"
	"github.com/postkit/mailer/templates"
)

// linkTTL is how long a reset link stays valid.
const linkTTL = 30 * time.Minute

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Getenv, time.Now, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the program; it returns the exit status. Tests add options, such
// as a fast retry policy.
func run(ctx context.Context, getenv func(string) string, now func() time.Time, stdout, stderr io.Writer, opts ...mailer.Option) int {
	key, page, ok := resetSettings(getenv, stderr)
	if !ok {
		return exampleenv.ExitInvalid
	}
	// The server, TLS and credentials come from MAILER_URL or
	// MAILER_PROVIDER; with neither, from a test server on 127.0.0.1.
	cfg, err := exampleenv.FromEnv(getenv)
	if err != nil {
		fmt.Fprintln(stderr, "password-reset:", err)
		return exampleenv.ExitInvalid
	}
	if err := cfg.Start(); err != nil {
		fmt.Fprintln(stderr, "password-reset:", err)
		return exampleenv.ExitFailed
	}
	defer cfg.Close()

	// Parse the templates once, when the program starts.
	set, err := templates.Parse(templates.FS, nil)
	if err != nil {
		fmt.Fprintln(stderr, "password-reset:", err)
		return exampleenv.ExitInvalid
	}
	// One Client for the whole program: it is safe for concurrent use and
	// keeps its connections open between mails.
	c, err := mailer.New(append(cfg.Options, opts...)...)
	if err != nil {
		fmt.Fprintf(stderr, "password-reset: %s: %s\n", cfg.Server, exampleenv.OneLine(err.Error()))
		return exampleenv.ExitInvalid
	}
	defer c.Close()

	rcpt, err := mailer.ParseAddress(cfg.To)
	if err != nil {
		fmt.Fprintln(stderr, "password-reset: MAILER_TO:", exampleenv.OneLine(err.Error()))
		return exampleenv.ExitInvalid
	}
	link := *page
	q := link.Query()
	q.Set("token", newToken(key, rcpt.Address, passwordHashOf(rcpt.Address), now().Add(linkTTL)))
	link.RawQuery = q.Encode()
	msg, err := mailer.NewMessage().From(cfg.From).To(cfg.To).
		Template(set, templates.NamePasswordReset, cfg.Locale, templates.PasswordReset{
			Brand:     templates.Brand{Product: "Acme", SupportEmail: "help@acme.example"},
			URL:       link.String(),
			Expires:   linkTTL,
			SingleUse: true, // the token is signed with the password hash: see newToken
		}).
		Build() // every problem with the message at once, before any connection
	if err != nil {
		fmt.Fprintln(stderr, "password-reset:", exampleenv.OneLine(err.Error()))
		return exampleenv.ExitInvalid
	}
	receipt, err := c.Send(ctx, msg)
	if err != nil {
		fmt.Fprintf(stderr, "password-reset: sending via %s (%s) failed: %s\n", c.Addr(), cfg.Server, exampleenv.OneLine(err.Error()))
		return exampleenv.ExitFailed
	}
	fmt.Fprintf(stdout, "sent %s to %s: %s\n", receipt.MessageID, strings.Join(receipt.Recipients, ", "), receipt.Response)
	return cfg.Report("password-reset", stdout, stderr) // a local run: show what the test server received
}

// resetSettings reads the HMAC key and the reset page from the
// environment, making a random key when none is set.
func resetSettings(getenv func(string) string, stderr io.Writer) (key []byte, page *url.URL, ok bool) {
	key = []byte(getenv("MAILER_RESET_KEY"))
	switch {
	case len(key) == 0:
		key = make([]byte, 32)
		_, _ = rand.Read(key) // never fails (crypto/rand)
		fmt.Fprintf(stderr, "password-reset: note: MAILER_RESET_KEY is not set; this run signs with the random key %s (links stop verifying when the key changes)\n",
			hex.EncodeToString(key))
	case len(key) < minKeyLen:
		fmt.Fprintf(stderr, "password-reset: MAILER_RESET_KEY has %d bytes; use at least %d random bytes\n", len(key), minKeyLen)
		return nil, nil, false
	}
	base := getenv("MAILER_RESET_URL")
	if base == "" {
		base = "https://acme.example/reset"
	}
	page, err := url.Parse(base)
	if err != nil || page.Scheme != "https" && page.Scheme != "http" || page.Host == "" {
		fmt.Fprintf(stderr, "password-reset: MAILER_RESET_URL %q is not an http(s) URL\n", base)
		return nil, nil, false
	}
	return key, page, true
}

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
// user "|" expiry)); verifyToken checks it. Exit status: 0 sent, 1 sending
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

// run is the program; it returns the exit status.
func run(ctx context.Context, getenv func(string) string, now func() time.Time, stdout, stderr io.Writer) int {
	set, err := mailer.ParseTemplates(templates.FS, nil)
	if err != nil {
		fmt.Fprintln(stderr, "password-reset:", err)
		return exampleenv.ExitInvalid
	}
	key := []byte(getenv("MAILER_RESET_KEY"))
	switch {
	case len(key) == 0:
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			fmt.Fprintln(stderr, "password-reset:", err)
			return exampleenv.ExitFailed
		}
		fmt.Fprintf(stderr, "password-reset: note: MAILER_RESET_KEY is not set; this run signs with the random key %s (links stop verifying when the key changes)\n",
			hex.EncodeToString(key))
	case len(key) < minKeyLen:
		fmt.Fprintf(stderr, "password-reset: MAILER_RESET_KEY has %d bytes; use at least %d random bytes\n", len(key), minKeyLen)
		return exampleenv.ExitInvalid
	}
	base := getenv("MAILER_RESET_URL")
	if base == "" {
		base = "https://acme.example/reset"
	}
	page, err := url.Parse(base)
	if err != nil || page.Scheme != "https" && page.Scheme != "http" || page.Host == "" {
		fmt.Fprintf(stderr, "password-reset: MAILER_RESET_URL %q is not an http(s) URL\n", base)
		return exampleenv.ExitInvalid
	}

	return exampleenv.Main(ctx, "password-reset", getenv, func(from, to, locale string) (*mailer.Message, error) {
		rcpt, err := mailer.ParseAddress(to)
		if err != nil {
			return nil, fmt.Errorf("MAILER_TO: %w", err)
		}
		link := *page
		q := link.Query()
		q.Set("token", newToken(key, rcpt.Address, now().Add(linkTTL)))
		link.RawQuery = q.Encode()
		return mailer.NewMessage().From(from).To(to).
			Template(set, templates.NamePasswordReset, locale, templates.PasswordReset{
				Brand:   templates.Brand{Product: "Acme", SupportEmail: "help@acme.example"},
				URL:     link.String(),
				Expires: linkTTL,
			}).
			Build()
	}, stdout, stderr)
}

// Command verification sends a one-time verification code with the
// built-in "verification" template, in English or Chinese.
//
// Try it with nothing configured: it starts an SMTP test server on
// 127.0.0.1, sends the mail to it, prints the message as received and
// writes verification.preview.html to open in a browser:
//
//	go run ./examples/verification
//	MAILER_LOCALE=zh-CN go run ./examples/verification
//
// Send for real through a provider or any server:
//
//	read -rsp 'Authorization code (授权码): ' MAILER_PASSWORD && echo && export MAILER_PASSWORD
//	MAILER_PROVIDER=qq MAILER_USER=alice@qq.com MAILER_TO=bob@example.com \
//		go run ./examples/verification
//	MAILER_URL=smtps://smtp.163.com MAILER_USER=alice@163.com MAILER_TO=bob@example.com \
//		go run ./examples/verification
//
// Other variables: MAILER_CA_FILE, MAILER_FROM, MAILER_LOCALE,
// MAILER_PREVIEW_DIR. Exit status: 0 sent, 1 sending failed, 2 bad
// configuration (nothing sent).
//
// A real service stores a hash of the code with its expiry and the number
// of attempts, and compares in constant time; this program only sends.
package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/internal/exampleenv"
	"github.com/postkit/mailer/templates"
)

// codeTTL is how long a code stays valid.
const codeTTL = 10 * time.Minute

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the program; it returns the exit status. Tests add options, such
// as a fast retry policy.
func run(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer, opts ...mailer.Option) int {
	// The server, TLS and credentials come from MAILER_URL or
	// MAILER_PROVIDER; with neither, from a test server on 127.0.0.1.
	cfg, err := exampleenv.FromEnv(getenv)
	if err != nil {
		fmt.Fprintln(stderr, "verification:", err)
		return exampleenv.ExitInvalid
	}
	if err := cfg.Start(); err != nil {
		fmt.Fprintln(stderr, "verification:", err)
		return exampleenv.ExitFailed
	}
	defer cfg.Close()

	// Parse the templates once, when the program starts.
	set, err := templates.Parse(templates.FS, nil)
	if err != nil {
		fmt.Fprintln(stderr, "verification:", err)
		return exampleenv.ExitInvalid
	}
	// One Client for the whole program: it is safe for concurrent use and
	// keeps its connections open between mails.
	c, err := mailer.New(append(cfg.Options, opts...)...)
	if err != nil {
		fmt.Fprintf(stderr, "verification: %s: %s\n", cfg.Server, exampleenv.OneLine(err.Error()))
		return exampleenv.ExitInvalid
	}
	defer c.Close()

	code, err := newCode()
	if err != nil {
		fmt.Fprintln(stderr, "verification:", err)
		return exampleenv.ExitFailed
	}
	msg, err := mailer.NewMessage().From(cfg.From).To(cfg.To).
		Template(set, templates.NameVerification, cfg.Locale, templates.Verification{
			Brand:   templates.Brand{Product: "Acme", SupportEmail: "help@acme.example"},
			Code:    code,
			Expires: codeTTL,
		}).
		Build() // every problem with the message at once, before any connection
	if err != nil {
		fmt.Fprintln(stderr, "verification:", exampleenv.OneLine(err.Error()))
		return exampleenv.ExitInvalid
	}
	receipt, err := c.Send(ctx, msg)
	if err != nil {
		fmt.Fprintf(stderr, "verification: sending via %s (%s) failed: %s\n", c.Addr(), cfg.Server, exampleenv.OneLine(err.Error()))
		return exampleenv.ExitFailed
	}
	fmt.Fprintf(stdout, "sent %s to %s: %s\n", receipt.MessageID, strings.Join(receipt.Recipients, ", "), receipt.Response)
	return cfg.Report("verification", stdout, stderr) // a local run: show what the test server received
}

// newCode returns a random six-digit code, "000000" to "999999", from
// crypto/rand: every code is equally likely.
func newCode() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
}

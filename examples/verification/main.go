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

// run is the program; it returns the exit status.
func run(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) int {
	// Parse the templates once, when the program starts.
	set, err := mailer.ParseTemplates(templates.FS, nil)
	if err != nil {
		fmt.Fprintln(stderr, "verification:", err)
		return exampleenv.ExitInvalid
	}
	code, err := newCode()
	if err != nil {
		fmt.Fprintln(stderr, "verification:", err)
		return exampleenv.ExitFailed
	}
	return exampleenv.Main(ctx, "verification", getenv, func(from, to, locale string) (*mailer.Message, error) {
		return mailer.NewMessage().From(from).To(to).
			Template(set, templates.NameVerification, locale, templates.Verification{
				Brand:   templates.Brand{Product: "Acme", SupportEmail: "help@acme.example"},
				Code:    code,
				Expires: codeTTL,
			}).
			Build()
	}, stdout, stderr)
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

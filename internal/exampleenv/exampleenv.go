// Package exampleenv is the configuration and delivery code shared by the
// example programs examples/verification and examples/password-reset: it
// reads the MAILER_* environment variables and either sends for real or,
// with nothing configured, delivers to an in-process mailertest server,
// prints what it received and writes an HTML preview.
//
// Variables:
//
//	MAILER_URL        smtp://… or smtps://… (see mailer.ParseURL); or
//	MAILER_PROVIDER   a preset name such as qq, 163 or gmail, with
//	MAILER_USER       the account (also added to a MAILER_URL without one)
//	MAILER_PASSWORD   its password, authorization code (授权码) or app password
//	MAILER_CA_FILE    PEM file of a private CA to trust
//	MAILER_FROM       the sender (default: MAILER_USER when it is an address)
//	MAILER_TO         the recipient (required when sending for real)
//	MAILER_LOCALE     the mail's locale, such as en or zh-CN (default en)
//	MAILER_PREVIEW_DIR  where the local run writes its .preview.html (default: the current directory)
package exampleenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
	"github.com/postkit/mailer/provider"
)

// Exit statuses of the example programs.
const (
	ExitOK      = 0 // sent
	ExitFailed  = 1 // sending failed
	ExitInvalid = 2 // bad configuration or message: nothing was sent
)

// localFrom and localTo are the addresses of a local run.
const (
	localFrom = "Acme <noreply@acme.example>"
	localTo   = "you@example.com"
)

// Config is the configuration read from the environment.
type Config struct {
	// Local means no server was configured: Run uses a mailertest server.
	Local bool
	// Options configure the Client for a real server.
	Options []mailer.Option
	// Server says which variables chose the server, for messages.
	Server string
	// From, To and Locale are the sender, the recipient and the locale.
	From, To, Locale string
	// PreviewDir is where a local run writes the HTML preview.
	PreviewDir string
}

// FromEnv reads the configuration through getenv (os.Getenv in main).
func FromEnv(getenv func(string) string) (*Config, error) {
	c := &Config{
		From: getenv("MAILER_FROM"), To: getenv("MAILER_TO"),
		Locale: getenv("MAILER_LOCALE"), PreviewDir: getenv("MAILER_PREVIEW_DIR"),
	}
	if c.Locale == "" {
		c.Locale = "en"
	}
	rawURL, name := getenv("MAILER_URL"), getenv("MAILER_PROVIDER")
	user, password, ca := getenv("MAILER_USER"), getenv("MAILER_PASSWORD"), getenv("MAILER_CA_FILE")
	switch {
	case rawURL != "" && name != "":
		return nil, errors.New("set either MAILER_URL or MAILER_PROVIDER, not both")
	case rawURL != "":
		u, err := mailer.ParseURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("MAILER_URL: %s", strings.TrimPrefix(err.Error(), "mailer: "))
		}
		c.Server, c.Options = "$MAILER_URL", []mailer.Option{u.Option()}
		if u.Auth.IsZero() && user != "" {
			if password == "" {
				return nil, errors.New("MAILER_USER needs MAILER_PASSWORD")
			}
			c.Options = append(c.Options, mailer.WithAuth(mailer.AutoAuth(user, password)))
		} else if !u.Auth.IsZero() {
			user = u.Auth.Username()
		}
	case name != "":
		p, ok := provider.Lookup(name)
		if !ok {
			return nil, fmt.Errorf("MAILER_PROVIDER: unknown preset %q (such as qq, 163, gmail, outlook)", name)
		}
		if p.Mechanism != "" && (user == "" || password == "") {
			return nil, fmt.Errorf("MAILER_PROVIDER %s needs MAILER_USER and MAILER_PASSWORD: %s", p.Name, FirstSentence(p.Notes))
		}
		c.Server, c.Options = "MAILER_PROVIDER "+p.Name, []mailer.Option{p.Option(user, password)}
	default:
		for _, v := range []string{"MAILER_USER", "MAILER_PASSWORD", "MAILER_CA_FILE"} {
			if getenv(v) != "" {
				return nil, fmt.Errorf("%s needs MAILER_URL or MAILER_PROVIDER", v)
			}
		}
		c.Local, c.Server = true, "local test server"
		if c.From == "" {
			c.From = localFrom
		}
		if c.To == "" {
			c.To = localTo
		}
		return c, nil
	}
	if ca != "" {
		c.Options = append(c.Options, mailer.WithCAFile(ca))
	}
	if c.From == "" {
		if _, err := mailer.ParseAddress(user); err != nil {
			return nil, errors.New("set MAILER_FROM: the user name is not an address")
		}
		c.From = user
	}
	if c.To == "" {
		return nil, errors.New("set MAILER_TO to the address that should receive the mail")
	}
	return c, nil
}

// BuildFunc makes the message from the sender, recipient and locale.
type BuildFunc func(from, to, locale string) (*mailer.Message, error)

// Main is the whole of an example program after its own setup: it reads
// the configuration, builds the message and sends it, and returns the
// exit status. name names the preview file (NAME.preview.html).
func Main(ctx context.Context, name string, getenv func(string) string, build BuildFunc, stdout, stderr io.Writer) int {
	cfg, err := FromEnv(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return ExitInvalid
	}
	msg, err := build(cfg.From, cfg.To, cfg.Locale)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %s\n", name, oneLine(err.Error()))
		return ExitInvalid
	}
	if cfg.Local {
		if err := sendLocal(ctx, cfg, name, msg, stdout, stderr); err != nil {
			fmt.Fprintf(stderr, "%s: %s\n", name, oneLine(err.Error()))
			return ExitFailed
		}
		return ExitOK
	}
	c, err := mailer.New(cfg.Options...)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %s: %s\n", name, cfg.Server, oneLine(err.Error()))
		return ExitInvalid
	}
	defer c.Close()
	receipt, err := c.Send(ctx, msg)
	if err != nil {
		fmt.Fprintf(stderr, "%s: sending via %s (%s) failed: %s\n", name, c.Addr(), cfg.Server, oneLine(err.Error()))
		return ExitFailed
	}
	fmt.Fprintf(stdout, "sent %s to %s: %s\n", receipt.MessageID, strings.Join(receipt.Recipients, ", "), receipt.Response)
	return ExitOK
}

// sendLocal delivers msg to a mailertest server started for the purpose,
// prints what the server received and writes the HTML preview.
func sendLocal(ctx context.Context, cfg *Config, name string, msg *mailer.Message, stdout, stderr io.Writer) error {
	srv, err := mailertest.Start()
	if err != nil {
		return fmt.Errorf("starting the local test server: %w", err)
	}
	defer srv.Close()
	c, err := mailer.New(srv.Options())
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Send(ctx, msg); err != nil {
		return err
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		return fmt.Errorf("the local test server recorded %d messages, want 1", len(msgs))
	}
	got, err := Decode(msgs[0].Data)
	if err != nil {
		return fmt.Errorf("reading the received message: %w", err)
	}
	fmt.Fprintf(stdout, "--- received by the local test server on %s (STARTTLS), %d bytes ---\n", c.Addr(), len(msgs[0].Data))
	got.Print(stdout)
	fmt.Fprintln(stdout, "--- end of message ---")
	if got.HTML != "" {
		path, err := filepath.Abs(filepath.Join(cfg.PreviewDir, name+".preview.html"))
		if err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(got.HTML), 0o644); err != nil {
			return fmt.Errorf("writing the preview: %w", err)
		}
		fmt.Fprintf(stdout, "HTML preview: %s\n", path)
	}
	fmt.Fprintf(stderr, "%s: nothing left this machine: the mail went to a test server on 127.0.0.1.\n", name)
	fmt.Fprintf(stderr, "%s: to send for real, set MAILER_URL, or MAILER_PROVIDER (qq, 163, gmail, …) with MAILER_USER and MAILER_PASSWORD, and MAILER_TO.\n", name)
	return nil
}

// FirstSentence returns s up to and including its first full stop: the
// gist of a preset's notes, for an error message.
func FirstSentence(s string) string {
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}

// oneLine makes s fit on one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Package exampleenv is the set-up shared by the example programs
// examples/verification and examples/password-reset, kept out of their
// main.go so that it shows only the library: it reads the MAILER_*
// environment variables into mailer options and, with nothing configured,
// starts an in-process mailertest server instead, then prints what that
// server received and writes an HTML preview.
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

	srv *mailertest.Server // the local test server, after Start
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

// Start makes the configuration ready to send. With nothing configured it
// starts a mailertest server on 127.0.0.1 and points Options at it; Close
// stops it. For a real server it does nothing.
func (c *Config) Start() error {
	if !c.Local {
		return nil
	}
	srv, err := mailertest.Start()
	if err != nil {
		return fmt.Errorf("starting the local test server: %w", err)
	}
	c.srv, c.Options = srv, []mailer.Option{srv.Options()}
	return nil
}

// Close stops the local test server, if Start started one.
func (c *Config) Close() {
	if c.srv != nil {
		_ = c.srv.Close()
	}
}

// Report shows what a local run delivered: it prints the message as the
// test server received it, writes the HTML preview (NAME.preview.html)
// and says on stderr that nothing left the machine. It does nothing when
// sending for real. It returns the exit status.
func (c *Config) Report(name string, stdout, stderr io.Writer) int {
	if c.srv == nil {
		return ExitOK
	}
	if err := c.report(name, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "%s: %s\n", name, OneLine(err.Error()))
		return ExitFailed
	}
	return ExitOK
}

func (c *Config) report(name string, stdout, stderr io.Writer) error {
	msgs := c.srv.Messages()
	if len(msgs) != 1 {
		return fmt.Errorf("the local test server recorded %d messages, want 1", len(msgs))
	}
	got, err := Decode(msgs[0].Data)
	if err != nil {
		return fmt.Errorf("reading the received message: %w", err)
	}
	fmt.Fprintf(stdout, "--- received by the local test server on %s (STARTTLS), %d bytes ---\n", c.srv.Addr(), len(msgs[0].Data))
	got.Print(stdout)
	fmt.Fprintln(stdout, "--- end of message ---")
	if got.HTML != "" {
		path, err := filepath.Abs(filepath.Join(c.PreviewDir, name+".preview.html"))
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

// OneLine makes s fit on one line, for an error message.
func OneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Command send sends one e-mail with github.com/postkit/mailer.
//
// With nothing configured it starts an SMTP test server on 127.0.0.1 (package
// mailertest), delivers the message to it over STARTTLS and prints the
// message as received, so that it can be tried without an account:
//
//	go run ./examples/send -to you@example.com -subject hi -text hello
//
// With -provider, -url or $MAILER_URL it sends for real:
//
//	read -rsp 'Authorization code (授权码): ' MAILER_PASSWORD && echo && export MAILER_PASSWORD
//	go run ./examples/send -provider qq -user alice@qq.com -to bob@example.com -subject 你好 -text 测试
//
// Run "send -h" for every flag. Exit status: 0 sent; 1 sending failed; 2
// invalid flags or message (nothing sent). Errors go to stderr as one line
// that never contains a password or token.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Exit statuses.
const (
	exitSent    = 0 // the message was delivered
	exitFailed  = 1 // sending failed (or was interrupted)
	exitInvalid = 2 // invalid flags or message: nothing was sent
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program: it parses args (without the program name),
// reads the environment through env, sends, and returns the exit status.
// The result goes to stdout; errors go to stderr as one line each.
func run(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, env)
	if errors.Is(err, flag.ErrHelp) {
		printUsage(stdout)
		return exitSent
	}
	if err == nil {
		err = execute(ctx, o, stdout, stderr)
	}
	if err == nil {
		return exitSent
	}
	var secrets []string
	if o != nil {
		secrets = o.secrets()
	}
	fmt.Fprintln(stderr, oneLine(redact("send: "+err.Error(), secrets)))
	var ie *invalidError
	if errors.As(err, &ie) {
		return exitInvalid
	}
	return exitFailed
}

// invalidError reports bad flags, configuration or message: nothing was
// sent and the exit status is 2.
type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }

func invalidf(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

// redact replaces every secret in s. Secrets shorter than 4 bytes are left
// alone: replacing them would mangle ordinary words, and the library never
// puts secrets in errors in the first place; this is a second line of
// defence.
func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[REDACTED]")
		}
	}
	return s
}

// oneLine makes s fit on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

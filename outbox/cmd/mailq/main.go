// Command mailq is the operator's tool for the outbox, like Postfix's
// mailq and postsuper: it creates the tables, enqueues mail, runs workers,
// lists and shows status records, and retries or cancels messages.
//
// Usage:
//
//	mailq [-db PATH|URL] COMMAND [flags]
//
//	migrate                          create or update the tables
//	enqueue -from A -to B -subject S -text T [-n N]
//	enqueue -eml FILE [-n N]         store messages; prints their Message-IDs
//	work [-exit-when-idle]           send until SIGINT/SIGTERM, then drain
//	list [-status S] [-json]         status records, oldest first
//	show ID [-json]                  one record
//	retry ID                         send a FAILED/UNKNOWN/CANCELLED message again
//	cancel ID                        cancel a PENDING message
//
// -db is a SQLite file (default ./mailq.db, or $MAILQ_DB) or a
// postgres:// URL. work sends through -url (or $MAILER_URL), an SMTP URL
// as mailer.ParseURL reads it; with neither, it delivers to an in-process
// test server and says so. Flags may come before or after the command.
//
// work stops at SIGINT or SIGTERM after the sends in flight (at most
// 30 s); a second signal cancels them, and those before the final dot
// are PENDING again.
//
// Exit status: 0 success, 1 the operation failed, 2 usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// The first SIGINT or SIGTERM ends ctx: work stops taking mail and
	// drains. The second ends force: the sends still in flight are
	// cancelled.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, interrupt := context.WithCancel(context.Background())
	force, interruptAgain := context.WithCancel(context.Background())
	go func() {
		<-sigs
		interrupt()
		<-sigs
		interruptAgain()
	}()
	os.Exit(runForce(ctx, force, os.Args[1:], os.Stdout, os.Stderr))
}

// usageError is a command-line mistake: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

const usage = `usage: mailq [-db PATH|URL] COMMAND [flags]

commands:
  migrate                         create or update the outbox tables
  enqueue [message flags] [-n N]  store a message (or N numbered copies); prints Message-IDs
  enqueue -eml FILE [-n N]        store a ready message file
  work [-exit-when-idle]          send until SIGINT/SIGTERM, then drain
  list [-status S] [-json]        status records, oldest first
  show ID [-json]                 one record
  retry ID                        send a FAILED, UNKNOWN or CANCELLED message again
  cancel ID                       cancel a PENDING message

-db is a SQLite file (default ./mailq.db or $MAILQ_DB) or a postgres:// URL.
work sends through -url or $MAILER_URL; with neither, to an in-process test server.
Run "mailq COMMAND -h" for a command's flags.
`

// run is main without the process and its second signal.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runForce(ctx, context.Background(), args, stdout, stderr)
}

// runForce is main without the process: it returns the exit status. ctx
// ends at the first signal, force at the second.
func runForce(ctx, force context.Context, args []string, stdout, stderr io.Writer) int {
	g := globalFlags{db: envOr("MAILQ_DB", "mailq.db"), url: os.Getenv("MAILER_URL")}
	fs := flag.NewFlagSet("mailq", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	g.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return 0
		}
		fmt.Fprintf(stderr, "mailq: %v\n%s", err, usage)
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	err := dispatch(ctx, force, cmd, rest, &g, stdout, stderr)
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "mailq %s: %v\n", cmd, err)
		return 2
	default:
		fmt.Fprintf(stderr, "mailq %s: %v\n", cmd, err)
		return 1
	}
}

// globalFlags may be given before or after the command.
type globalFlags struct {
	db, url, ca string
}

func (g *globalFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&g.db, "db", g.db, "SQLite file or postgres:// URL")
	fs.StringVar(&g.url, "url", g.url, "SMTP server URL (default $MAILER_URL)")
	fs.StringVar(&g.ca, "ca", g.ca, "PEM file of a CA to trust for the SMTP server")
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// parse parses a command's flags, which may come before or after its
// arguments ("show ID -json"), and returns the arguments; "--" ends the
// flags. Help prints the flags and returns flag.ErrHelp.
func parse(fs *flag.FlagSet, args []string, stdout io.Writer) ([]string, error) {
	fs.SetOutput(io.Discard)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(stdout)
				fmt.Fprintf(stdout, "usage of mailq %s:\n", fs.Name())
				fs.PrintDefaults()
				return nil, flag.ErrHelp
			}
			return nil, usagef("%v", err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		// Parse stopped at an argument, or after a "--" that it dropped.
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

func dispatch(ctx, force context.Context, cmd string, args []string, g *globalFlags, stdout, stderr io.Writer) error {
	switch cmd {
	case "migrate", "enqueue", "work", "list", "show", "retry", "cancel":
	default:
		return usagef("unknown command %q\n%s", cmd, usage)
	}
	c := &command{name: cmd, g: g, stdout: stdout, stderr: stderr, forced: force.Done()}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	g.register(fs)
	c.register(fs)
	pos, err := parse(fs, args, stdout)
	if err != nil {
		return err
	}
	if err := c.check(pos); err != nil {
		return err
	}
	return withOutbox(ctx, c)
}

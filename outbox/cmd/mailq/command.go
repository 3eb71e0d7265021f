package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
	"github.com/postkit/mailer/outbox"
	"github.com/postkit/mailer/outbox/outboxpgx"
	"github.com/postkit/mailer/outbox/outboxsqlite"
)

// list is a repeatable string flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

// command holds every command's flags; check says which apply.
type command struct {
	name           string
	g              *globalFlags
	stdout, stderr io.Writer
	forced         <-chan struct{} // closed at the second signal (work.go)

	// enqueue
	from, subject, text, textFile, html, htmlFile, replyTo, eml string
	to, cc, bcc, attach, headers                                list
	n                                                           int
	// work
	exitWhenIdle bool
	workers      int
	// list, show
	status string
	json   bool
	limit  int
	// show, retry, cancel
	id string
}

func (c *command) register(fs *flag.FlagSet) {
	switch c.name {
	case "enqueue":
		fs.StringVar(&c.from, "from", "", "From address (also the envelope sender)")
		fs.Var(&c.to, "to", "To address (repeatable)")
		fs.Var(&c.cc, "cc", "Cc address (repeatable)")
		fs.Var(&c.bcc, "bcc", "Bcc address (repeatable)")
		fs.StringVar(&c.replyTo, "reply-to", "", "Reply-To address")
		fs.StringVar(&c.subject, "subject", "", "subject")
		fs.StringVar(&c.text, "text", "", "plain-text body")
		fs.StringVar(&c.textFile, "text-file", "", "file holding the plain-text body")
		fs.StringVar(&c.html, "html", "", "HTML body")
		fs.StringVar(&c.htmlFile, "html-file", "", "file holding the HTML body")
		fs.Var(&c.attach, "attach", "file to attach (repeatable)")
		fs.Var(&c.headers, "header", `extra header "Name: value" (repeatable)`)
		fs.StringVar(&c.eml, "eml", "", "a ready RFC 5322 message file to enqueue as is (-from/-to set the envelope)")
		fs.IntVar(&c.n, "n", 1, "enqueue N numbered copies")
	case "work":
		fs.BoolVar(&c.exitWhenIdle, "exit-when-idle", false, "stop (after draining) when nothing is due")
		fs.IntVar(&c.workers, "workers", 0, "concurrent sends (default 10)")
	case "list":
		fs.StringVar(&c.status, "status", "", "only records in this status (PENDING, SENDING, SENT, FAILED, UNKNOWN, CANCELLED)")
		fs.BoolVar(&c.json, "json", false, "print JSON")
		fs.IntVar(&c.limit, "limit", 0, "print at most N records (default all)")
	case "show":
		fs.BoolVar(&c.json, "json", false, "print JSON")
	}
}

// check validates the flags and the command's arguments, args.
func (c *command) check(args []string) error {
	switch c.name {
	case "show", "retry", "cancel":
		if len(args) != 1 {
			return usagef("needs exactly one Message-ID")
		}
		c.id = args[0]
		return nil
	}
	if len(args) != 0 {
		return usagef("unexpected argument %q", args[0])
	}
	switch c.name {
	case "enqueue":
		if c.n < 1 || c.n > 1_000_000 {
			return usagef("-n %d out of range 1..1000000", c.n)
		}
		if c.eml == "" && (c.from == "" || len(c.to)+len(c.cc)+len(c.bcc) == 0) {
			return usagef("needs -from and at least one -to/-cc/-bcc, or -eml FILE")
		}
	case "list":
		if c.status != "" && !outbox.Status(strings.ToUpper(c.status)).Valid() {
			return usagef("unknown -status %q", c.status)
		}
		if c.limit < 0 {
			return usagef("negative -limit")
		}
	case "work":
		if c.workers < 0 {
			return usagef("negative -workers")
		}
	}
	return nil
}

// withOutbox opens the store named by -db and runs the command on it.
func withOutbox(ctx context.Context, c *command) error {
	var sender mailer.Sender = idleSender{}
	if c.name == "work" {
		client, closeFn, err := c.sender()
		if err != nil {
			return err
		}
		defer closeFn()
		sender = client
	}
	opts := outbox.Options{Workers: c.workers}
	if c.name == "work" {
		opts.Hooks = []mailer.Hook{c.printEvent}
	}
	db := c.g.db
	if strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://") {
		pool, err := pgxpool.New(ctx, db)
		if err != nil {
			return fmt.Errorf("-db: %w", err)
		}
		defer pool.Close()
		ob, err := outbox.New(sender, outboxpgx.New(pool), opts)
		if err != nil {
			return err
		}
		return execute(ctx, c, ob)
	}
	st, err := outboxsqlite.Open(db)
	if err != nil {
		return err
	}
	defer st.Close()
	ob, err := outbox.New(sender, st, opts)
	if err != nil {
		return err
	}
	return execute(ctx, c, ob)
}

// sender returns the client work sends with: -url/$MAILER_URL, or an
// in-process test server.
func (c *command) sender() (mailer.Sender, func(), error) {
	if c.g.url == "" {
		srv, err := mailertest.Start()
		if err != nil {
			return nil, nil, err
		}
		client, err := mailer.New(srv.Options())
		if err != nil {
			srv.Close()
			return nil, nil, err
		}
		fmt.Fprintf(c.stderr, "mailq work: no -url or $MAILER_URL: delivering to an in-process test server at %s; nothing leaves this machine\n", srv.Addr())
		return client, func() { client.Close(); srv.Close() }, nil
	}
	opts := []mailer.Option{mailer.WithURL(c.g.url)}
	if c.g.ca != "" {
		opts = append(opts, mailer.WithCAFile(c.g.ca))
	}
	client, err := mailer.New(opts...)
	if err != nil {
		return nil, nil, usagef("-url: %v", err)
	}
	return client, func() { client.Close() }, nil
}

// idleSender stands in for a Sender in commands that never send.
type idleSender struct{}

func (idleSender) Send(context.Context, *mailer.Message) (mailer.Receipt, error) {
	return mailer.Receipt{}, mailer.ErrClientClosed
}

func (idleSender) SendRaw(context.Context, mailer.Envelope, []byte) (mailer.Receipt, error) {
	return mailer.Receipt{}, mailer.ErrClientClosed
}

// execute runs the command on an outbox of either store.
func execute[TTx any](ctx context.Context, c *command, ob *outbox.Outbox[TTx]) error {
	switch c.name {
	case "migrate":
		if err := ob.Migrate(ctx); err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, "migrated")
		return nil
	case "enqueue":
		return c.enqueue(ctx, ob.EnqueueMany, ob.EnqueueRaw)
	case "work":
		return work(ctx, c, ob)
	case "list":
		return list_(ctx, c, ob)
	case "show":
		r, err := ob.Status(ctx, c.id)
		if err != nil {
			return err
		}
		return c.printRecords([]outbox.Record{r}, true)
	case "retry":
		if err := ob.Retry(ctx, c.id); err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, "PENDING", c.id)
		return nil
	case "cancel":
		if err := ob.Cancel(ctx, c.id); err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, "CANCELLED", c.id)
		return nil
	}
	return usagef("unknown command %q", c.name)
}

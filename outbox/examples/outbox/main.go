// Command outbox shows the durable outbox in a few lines: it stores a
// "user" row and the password-reset mail for that user in one SQLite
// transaction, runs the worker, and prints each status change of the mail.
//
// With no configuration it uses a SQLite file in a temporary directory and
// an in-process test server, so nothing leaves the machine. With
// MAILER_URL (an SMTP URL as mailer.ParseURL reads it) it sends through
// that server; MAIL_FROM and MAIL_TO then say who sends and receives.
//
// It lives in the outbox module (github.com/postkit/mailer/outbox), not
// in the core's examples/, because the core module must not depend on
// River or a database driver.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
	"github.com/postkit/mailer/outbox"
	"github.com/postkit/mailer/outbox/outboxsqlite"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "outbox:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	// 1. A Client: MAILER_URL, or the test server.
	from, to := os.Getenv("MAIL_FROM"), os.Getenv("MAIL_TO")
	var clientOpts mailer.Option
	if u := os.Getenv("MAILER_URL"); u != "" {
		clientOpts = mailer.WithURL(u)
	} else {
		srv, err := mailertest.Start()
		if err != nil {
			return err
		}
		defer srv.Close()
		clientOpts = srv.Options()
		fmt.Fprintf(out, "no MAILER_URL: sending to an in-process test server\n")
	}
	if from == "" {
		from = "noreply@example.com"
	}
	if to == "" {
		to = "alice@example.com"
	}
	client, err := mailer.New(clientOpts)
	if err != nil {
		return err
	}
	defer client.Close()

	// 2. The outbox on a SQLite file; the application's own table lives
	// in the same database.
	dir, err := os.MkdirTemp("", "outbox-example-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	store, err := outboxsqlite.Open(filepath.Join(dir, "app.db"))
	if err != nil {
		return err
	}
	defer store.Close()
	final := make(chan struct{})
	ob, err := outbox.New(client, store, outbox.Options{
		Hooks: []mailer.Hook{func(_ context.Context, e mailer.Event) {
			fmt.Fprintf(out, "event: %s (attempt %d)\n", e.Status, e.Attempt)
			if e.Status.Terminal() {
				close(final)
			}
		}},
	})
	if err != nil {
		return err
	}
	if err := ob.Migrate(ctx); err != nil {
		return err
	}
	db := store.DB()
	if _, err := db.ExecContext(ctx, "CREATE TABLE app_user (email TEXT PRIMARY KEY, reset_code TEXT)"); err != nil {
		return err
	}

	// 3. The user row and the mail commit together, or neither does.
	msg, err := mailer.NewMessage().From(from).To(to).
		Subject("Reset your password").
		Text("Your reset code is 493817. It expires in 15 minutes.").Build()
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "INSERT INTO app_user (email, reset_code) VALUES (?, ?)", to, "493817"); err != nil {
		return err
	}
	id, err := ob.EnqueueTx(ctx, tx, msg) // inside tx, use only tx
	if err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	r, err := ob.Status(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "stored: %s\n", r.Status)

	// 4. The worker sends it; Stop drains.
	if err := ob.Start(ctx); err != nil {
		return err
	}
	select {
	case <-final:
	case <-time.After(2 * time.Minute):
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := ob.Stop(sctx); err != nil {
		return err
	}
	r, err = ob.Status(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "final: %s after %d attempt(s): %s%s\n", r.Status, r.Attempts, r.Response, r.LastError)
	return nil
}

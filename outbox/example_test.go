package outbox_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
	"github.com/postkit/mailer/outbox"
	"github.com/postkit/mailer/outbox/outboxsqlite"
)

// A password-reset mail stored in the same transaction as the
// application's own row, then sent by the outbox's worker.
func ExampleOutbox_EnqueueTx() {
	ctx := context.Background()
	srv, err := mailertest.Start() // stands in for the provider
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	client, err := mailer.New(srv.Options())
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	store, err := outboxsqlite.Open(filepath.Join(dir, "app.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	done := make(chan struct{})
	ob, err := outbox.New(client, store, outbox.Options{Hooks: []mailer.Hook{func(_ context.Context, e mailer.Event) {
		if e.Status.Terminal() {
			close(done)
		}
	}}})
	if err != nil {
		log.Fatal(err)
	}
	if err := ob.Migrate(ctx); err != nil {
		log.Fatal(err)
	}

	db := store.DB()
	db.ExecContext(ctx, "CREATE TABLE app_user (email TEXT PRIMARY KEY)")
	msg, _ := mailer.NewMessage().From("noreply@example.com").To("alice@example.com").
		Subject("Reset your password").Text("Your code is 493817.").Build()
	tx, _ := db.BeginTx(ctx, nil)
	tx.ExecContext(ctx, "INSERT INTO app_user (email) VALUES (?)", "alice@example.com")
	id, err := ob.EnqueueTx(ctx, tx, msg) // inside tx, use only tx
	if err != nil {
		log.Fatal(err)
	}
	tx.Commit()

	if err := ob.Start(ctx); err != nil {
		log.Fatal(err)
	}
	<-done
	ob.Stop(ctx)
	rec, _ := ob.Status(ctx, id)
	fmt.Println(rec.Status, rec.Attempts, rec.Response)
	// Output: SENT 1 250 2.0.0 OK: queued
}

// Listing records page by page, for a dashboard.
func ExampleOutbox_List() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	store, _ := outboxsqlite.Open(filepath.Join(dir, "app.db"))
	defer store.Close()
	ob, _ := outbox.New(noSender{}, store, outbox.Options{})
	ob.Migrate(ctx)
	for i := range 3 {
		m, _ := mailer.NewMessage().From("app@example.com").To(fmt.Sprintf("u%d@example.com", i)).Subject("hi").Text("hi").Build()
		ob.Enqueue(ctx, m)
	}
	f := outbox.Filter{Status: []outbox.Status{outbox.StatusPending}, Limit: 2}
	for page := 1; ; page++ {
		recs, next, err := ob.List(ctx, f)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("page", page, len(recs), "records")
		if next == "" {
			break
		}
		f.After = next
	}
	// Output:
	// page 1 2 records
	// page 2 1 records
}

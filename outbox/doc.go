// Package outbox is a durable outbox for mail: a message enqueued here
// survives a crash of the process and has a status record, keyed by its
// Message-ID, from PENDING to SENT, FAILED, UNKNOWN or CANCELLED. River
// schedules the work; SQLite (package outboxsqlite) is the embedded
// default and PostgreSQL (package outboxpgx) lets several instances share
// it.
//
// It is for transactional mail that must not be lost (password resets,
// receipts, alerts), not for bulk sending: a newsletter goes through
// mailer.Client.SendAll.
//
//	store, err := outboxsqlite.Open("app.db")
//	ob, err := outbox.New(client, store, outbox.Options{})
//	err = ob.Migrate(ctx)
//	err = ob.Start(ctx)
//	defer ob.Stop(ctx)
//	id, err := ob.EnqueueTx(ctx, tx, msg) // in the application's own transaction
//	rec, err := ob.Status(ctx, id)
//
// Semantics, in short (the README has the full table):
//   - Each attempt of the outbox is exactly one SMTP attempt of the Sender
//     (mailer.ContextWithRetryPolicy with MaxAttempts 1); mailer.Classify
//     decides what follows.
//   - SENT commits in the same transaction as River's completion of the job.
//   - A temporary failure (4xx, network error before the final dot) leaves
//     the record PENDING with NextAttemptAt; after Options.MaxAttempts it is
//     FAILED. A permanent one (5xx, rejected credentials, TLS policy) is
//     FAILED at once, with the provider's hint in LastError.
//   - A throttling reply (421, 4.7.x, or one with a least wait such as 163's
//     "451 DT:SPM") pauses the message without using an attempt, at most
//     Options.MaxSnoozes times.
//   - A connection lost after the final dot, or a process that died while
//     SENDING, makes the record UNKNOWN: it may have been delivered and is
//     not sent again, unless Options.RetryUnknown chooses at-least-once.
//   - Stop whose deadline ends before the final dot puts the message back to
//     PENDING without using an attempt.
//   - The Message-ID is the idempotency key for as long as the record is
//     kept (Options.Retention): a second Enqueue returns ErrAlreadyEnqueued.
//
// River's job rows carry only the Message-ID, never an address or a body.
package outbox

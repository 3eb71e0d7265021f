package gateway

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/postkit/mailer"
	"github.com/postkit/mailer/outbox"
	"github.com/postkit/mailer/outbox/outboxpgx"
	"github.com/postkit/mailer/outbox/outboxsqlite"
)

// outboxAPI is what the queue uses of an *outbox.Outbox, whichever its
// store's transaction type.
type outboxAPI interface {
	EnqueueRaw(ctx context.Context, env mailer.Envelope, msg []byte, opts ...outbox.EnqueueOption) (string, error)
	EnqueueRawMany(ctx context.Context, msgs []outbox.RawMessage) ([]string, error)
	Stats(ctx context.Context) (outbox.Stats, error)
	List(ctx context.Context, f outbox.Filter) ([]outbox.Record, outbox.Cursor, error)
	Status(ctx context.Context, id string) (outbox.Record, error)
	Retry(ctx context.Context, id string) error
	Cancel(ctx context.Context, id string) error
	Migrate(ctx context.Context) error
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// openOutbox opens the queue's database and the outbox on it, migrated
// but not started. closeStore closes the database.
func openOutbox(ctx context.Context, d *queueDef, sender mailer.Sender, hook mailer.Hook, log *slog.Logger) (ob outboxAPI, closeStore func(), err error) {
	c := d.cfg
	opts := outbox.Options{
		Workers: c.Workers, MaxAttempts: c.MaxAttempts, MinWait: c.MinWait, MaxWait: c.MaxWait,
		ThrottleWait: c.ThrottleWait, Retention: c.Retention, PollInterval: c.PollInterval,
		JobTimeout: c.SendTimeout + 10*time.Second, Hooks: []mailer.Hook{hook}, Logger: log,
		RetryUnknown: c.RetryUnknown != nil && *c.RetryUnknown,
		// Bodies were already limited by the tenant's size limit.
		MaxBodyBytes: 1 << 40,
	}
	switch c.Driver {
	case "postgres":
		pool, err := pgxpool.New(ctx, d.dsn)
		if err != nil {
			return nil, nil, fmt.Errorf("queue: %w", err)
		}
		var sopts []outboxpgx.Option
		if c.Schema != "" {
			sopts = append(sopts, outboxpgx.WithSchema(c.Schema))
		}
		st := outboxpgx.New(pool, sopts...)
		o, err := outbox.New(sender, st, opts)
		if err == nil {
			err = o.Migrate(ctx)
		}
		if err != nil {
			pool.Close()
			return nil, nil, fmt.Errorf("queue: %w", err)
		}
		return &obWrap[pgx.Tx]{o, o.EnqueueRawTx, st.Begin, st.Commit, st.Rollback}, pool.Close, nil
	default:
		st, err := outboxsqlite.Open(d.path)
		if err != nil {
			return nil, nil, fmt.Errorf("queue: %w", err)
		}
		o, err := outbox.New(sender, st, opts)
		if err == nil {
			err = o.Migrate(ctx)
		}
		if err != nil {
			st.Close()
			return nil, nil, fmt.Errorf("queue: %w", err)
		}
		return &obWrap[*sql.Tx]{o, o.EnqueueRawTx, st.Begin, st.Commit, st.Rollback}, func() { st.Close() }, nil
	}
}

// obWrap is an outbox with what storing several records in one
// transaction needs (a message split by recipient-domain rules is stored
// whole or not at all).
type obWrap[TTx any] struct {
	outboxAPI
	enqueueTx func(ctx context.Context, tx TTx, env mailer.Envelope, msg []byte, opts ...outbox.EnqueueOption) (string, error)
	begin     func(ctx context.Context) (TTx, error)
	commit    func(ctx context.Context, tx TTx) error
	rollback  func(ctx context.Context, tx TTx) error
}

func (w *obWrap[TTx]) enqueueTogether(ctx context.Context, items []enqueueItem, msg []byte) (err error) {
	tx, err := w.begin(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = w.rollback(context.WithoutCancel(ctx), tx)
		}
	}()
	for _, it := range items {
		if _, err = w.enqueueTx(ctx, tx, it.env, msg, outbox.Key(it.key), outbox.Route(it.route)); err != nil {
			return err
		}
	}
	return w.commit(ctx, tx)
}

// Package outboxpgx is the PostgreSQL store of the outbox, over a pgx v5
// pool. Any number of processes may run an Outbox on one database: River
// shares the work among them (FOR UPDATE SKIP LOCKED, LISTEN/NOTIFY), and
// when one dies its jobs are rescued by another after
// Options.RescueAfter plus up to 30 s.
//
//	pool, err := pgxpool.New(ctx, "postgres://…")
//	ob, err := outbox.New(client, outboxpgx.New(pool), outbox.Options{})
//	err = ob.Migrate(ctx) // once, before starting the processes
//	err = ob.Start(ctx)
package outboxpgx

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/postkit/mailer/outbox"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

// Store is an outbox.Store over a pgx pool. Its methods are safe for
// concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	driver *riverpgxv5.Driver
	schema string
}

// An Option configures a Store.
type Option func(*Store)

// WithSchema puts River's tables and mail_outbox in schema instead of the
// connection's search_path. The schema must exist.
func WithSchema(schema string) Option { return func(s *Store) { s.schema = schema } }

// New returns a Store over pool. The pool stays the caller's to close.
func New(pool *pgxpool.Pool, opts ...Option) *Store {
	s := &Store{pool: pool, driver: riverpgxv5.New(pool)}
	for _, o := range opts {
		if o != nil {
			o(s)
		}
	}
	return s
}

// Pool returns the pool.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Driver implements outbox.Store.
func (s *Store) Driver() riverdriver.Driver[pgx.Tx] { return s.driver }

// Dialect implements outbox.Store.
func (s *Store) Dialect() outbox.Dialect { return outbox.DialectPostgres }

// Schema implements outbox.Store.
func (s *Store) Schema() string { return s.schema }

// Begin implements outbox.Store.
func (s *Store) Begin(ctx context.Context) (pgx.Tx, error) { return s.pool.Begin(ctx) }

// Commit implements outbox.Store.
func (s *Store) Commit(ctx context.Context, tx pgx.Tx) error { return tx.Commit(ctx) }

// Rollback implements outbox.Store.
func (s *Store) Rollback(ctx context.Context, tx pgx.Tx) error {
	if err := tx.Rollback(ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return err
	}
	return nil
}

// ExecTx implements outbox.Store.
func (s *Store) ExecTx(ctx context.Context, tx pgx.Tx, query string, args ...any) (int64, error) {
	tag, err := tx.Exec(ctx, rebind(query), args...)
	return tag.RowsAffected(), err
}

// QueryTx implements outbox.Store.
func (s *Store) QueryTx(ctx context.Context, tx pgx.Tx, query string, args ...any) (outbox.Rows, error) {
	rows, err := tx.Query(ctx, rebind(query), args...)
	if err != nil {
		return nil, err
	}
	return pgxRows{rows}, nil
}

// Exec implements outbox.Store.
func (s *Store) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := s.pool.Exec(ctx, rebind(query), args...)
	return tag.RowsAffected(), err
}

// Query implements outbox.Store.
func (s *Store) Query(ctx context.Context, query string, args ...any) (outbox.Rows, error) {
	rows, err := s.pool.Query(ctx, rebind(query), args...)
	if err != nil {
		return nil, err
	}
	return pgxRows{rows}, nil
}

type pgxRows struct{ pgx.Rows }

func (r pgxRows) Close() error {
	r.Rows.Close()
	return r.Rows.Err()
}

// rebind turns the outbox's "?" placeholders into $1, $2, … The outbox's
// queries have no "?" inside literals.
func rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

var _ outbox.Store[pgx.Tx] = (*Store)(nil)

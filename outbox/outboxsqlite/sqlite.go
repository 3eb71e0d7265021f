// Package outboxsqlite is the embedded store of the outbox: one SQLite
// file, through the pure-Go modernc.org/sqlite driver (no cgo), in WAL mode
// with synchronous=FULL, so that a committed Enqueue survives a crash or a
// power loss, over a single connection.
//
// One process per file: SQLite is not the way to share work between
// instances (use outboxpgx). Because the pool has one connection, a
// transaction holds it: inside a transaction use only that transaction
// (Outbox.EnqueueTx); a call through the pool meanwhile waits, and fails
// with ErrConnBusy after the lock wait instead of hanging.
//
//	store, err := outboxsqlite.Open("mail.db")
//	ob, err := outbox.New(client, store, outbox.Options{})
//	err = ob.Migrate(ctx)
//	err = ob.Start(ctx)
package outboxsqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/postkit/mailer/outbox"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// DefaultLockWait is how long a call through the pool waits for the
// single connection before failing with ErrConnBusy.
const DefaultLockWait = 10 * time.Second

// ErrConnBusy means the single SQLite connection stayed busy for the whole
// lock wait, almost always because a transaction is open on the same
// *sql.DB and the outbox was called through the pool instead of with that
// transaction.
var ErrConnBusy = errors.New("outboxsqlite: the database's only connection stayed busy; is a transaction open on this *sql.DB? Inside a transaction, use EnqueueTx with it")

// Store is an outbox.Store over one SQLite database. Its methods are safe
// for concurrent use.
type Store struct {
	db       *sql.DB
	driver   *riversqlite.Driver
	owned    bool
	lockWait time.Duration
}

// An Option configures a Store.
type Option func(*Store)

// WithLockWait sets how long a call through the pool waits for the single
// connection (default DefaultLockWait) before ErrConnBusy.
func WithLockWait(d time.Duration) Option {
	return func(s *Store) {
		if d > 0 {
			s.lockWait = d
		}
	}
}

// DSN returns the data source name Open uses for path: WAL journal,
// synchronous=FULL, a 10 s busy timeout and foreign keys on.
func DSN(path string) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)"
}

// Open opens (creating if needed) the SQLite file at path with DSN(path)
// and a single connection, which keeps its statements prepared (River's
// and the outbox's queries are not parsed again at every run). Close
// closes it.
func Open(path string, opts ...Option) (*Store, error) {
	cn, err := newCachingConnector(DSN(path))
	if err != nil {
		return nil, fmt.Errorf("outboxsqlite: %w", err)
	}
	db := sql.OpenDB(cn)
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("outboxsqlite: opening %s: %w", path, err)
	}
	s := New(db, opts...)
	s.owned = true
	return s, nil
}

// New returns a Store over db, an application's own SQLite pool opened
// with the modernc driver. It must have a single connection
// (db.SetMaxOpenConns(1)), WAL and synchronous=FULL (see DSN): SQLite
// has one writer, and the outbox enqueues inside the application's
// transactions on it. Close does not close db.
func New(db *sql.DB, opts ...Option) *Store {
	s := &Store{db: db, driver: riversqlite.New(db), lockWait: DefaultLockWait}
	for _, o := range opts {
		if o != nil {
			o(s)
		}
	}
	return s
}

// DB returns the database, for the application's own transactions.
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the database if Open opened it.
func (s *Store) Close() error {
	if s.owned {
		return s.db.Close()
	}
	return nil
}

// Driver implements outbox.Store.
func (s *Store) Driver() riverdriver.Driver[*sql.Tx] { return s.driver }

// Dialect implements outbox.Store.
func (s *Store) Dialect() outbox.Dialect { return outbox.DialectSQLite }

// Schema implements outbox.Store; SQLite has none.
func (s *Store) Schema() string { return "" }

// conn waits at most the lock wait for the connection.
func (s *Store) conn(ctx context.Context) (*sql.Conn, error) {
	wctx, cancel := context.WithTimeout(ctx, s.lockWait)
	defer cancel()
	c, err := s.db.Conn(wctx)
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w (waited %v)", ErrConnBusy, s.lockWait)
		}
		return nil, err
	}
	return c, nil
}

// Begin implements outbox.Store. It first makes sure the connection
// frees up within the lock wait, so that a call made while the caller
// holds a transaction fails with ErrConnBusy instead of hanging.
func (s *Store) Begin(ctx context.Context) (*sql.Tx, error) {
	c, err := s.conn(ctx)
	if err != nil {
		return nil, err
	}
	c.Close()
	return s.db.BeginTx(ctx, nil)
}

// Commit implements outbox.Store.
func (s *Store) Commit(_ context.Context, tx *sql.Tx) error { return tx.Commit() }

// Rollback implements outbox.Store.
func (s *Store) Rollback(_ context.Context, tx *sql.Tx) error {
	if err := tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return err
	}
	return nil
}

// ExecTx implements outbox.Store.
func (s *Store) ExecTx(ctx context.Context, tx *sql.Tx, query string, args ...any) (int64, error) {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// QueryTx implements outbox.Store.
func (s *Store) QueryTx(ctx context.Context, tx *sql.Tx, query string, args ...any) (outbox.Rows, error) {
	return tx.QueryContext(ctx, query, args...)
}

// Exec implements outbox.Store.
func (s *Store) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	c, err := s.conn(ctx)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	res, err := c.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Query implements outbox.Store.
func (s *Store) Query(ctx context.Context, query string, args ...any) (outbox.Rows, error) {
	c, err := s.conn(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := c.QueryContext(ctx, query, args...)
	if err != nil {
		c.Close()
		return nil, err
	}
	return &connRows{Rows: rows, conn: c}, nil
}

// connRows gives the connection back when the rows are closed.
type connRows struct {
	*sql.Rows
	conn *sql.Conn
}

func (r *connRows) Close() error {
	err := r.Rows.Close()
	if r.conn != nil {
		r.conn.Close()
		r.conn = nil
	}
	return err
}

var _ outbox.Store[*sql.Tx] = (*Store)(nil)

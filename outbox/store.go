package outbox

import (
	"context"

	"github.com/riverqueue/river/riverdriver"
)

// Dialect names the SQL dialect of a Store.
type Dialect string

// Dialects the outbox knows.
const (
	DialectSQLite   Dialect = "sqlite"
	DialectPostgres Dialect = "postgres"
)

// A Store is the database under an Outbox: the River driver for its job
// tables and the plumbing to run the outbox's own SQL on the mail_outbox
// table, in the caller's transaction type TTx. Packages outboxsqlite
// (TTx = *sql.Tx) and outboxpgx (TTx = pgx.Tx) provide one; this interface
// may gain methods, so implement it only inside this module.
//
// Queries are written with "?" placeholders; a Store whose database wants
// another style ($1, $2, …) rewrites them.
type Store[TTx any] interface {
	// Driver returns the River driver over the same database.
	Driver() riverdriver.Driver[TTx]
	// Dialect says which DDL to use.
	Dialect() Dialect
	// Schema returns the schema that qualifies table names, or "".
	Schema() string
	// Begin starts a transaction on the store's pool.
	Begin(ctx context.Context) (TTx, error)
	// Commit commits tx.
	Commit(ctx context.Context, tx TTx) error
	// Rollback rolls tx back; after Commit it does nothing.
	Rollback(ctx context.Context, tx TTx) error
	// ExecTx runs a statement in tx and returns the rows affected.
	ExecTx(ctx context.Context, tx TTx, query string, args ...any) (int64, error)
	// QueryTx runs a query in tx.
	QueryTx(ctx context.Context, tx TTx, query string, args ...any) (Rows, error)
	// Exec runs a statement on the pool and returns the rows affected.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	// Query runs a query on the pool.
	Query(ctx context.Context, query string, args ...any) (Rows, error)
}

// Rows is the result of a query, as database/sql's *sql.Rows.
type Rows interface {
	// Next advances to the next row; false at the end or on error.
	Next() bool
	// Scan copies the current row's columns into dest.
	Scan(dest ...any) error
	// Err returns the error that ended the iteration, if any.
	Err() error
	// Close releases the rows; it is safe to call more than once.
	Close() error
}

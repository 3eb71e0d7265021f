package outboxsqlite

import (
	"container/list"
	"context"
	"database/sql/driver"
	"reflect"

	sqlite "modernc.org/sqlite"
)

// The modernc driver parses and plans every statement that database/sql
// runs without an explicit Prepare, and River's SQLite driver runs all of
// its queries that way: the job completion statement alone took a third of
// the outbox's CPU. The connections Open makes keep their statements
// prepared instead, by query text, and reuse them (SQLite re-prepares a
// statement by itself after a schema change).

// stmtCacheSize bounds the statements kept prepared per connection: River
// and the outbox use a few dozen distinct queries.
const stmtCacheSize = 128

// cachingConnector makes connections with a statement cache.
type cachingConnector struct {
	base driver.Connector
}

func newCachingConnector(dsn string) (*cachingConnector, error) {
	base, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return &cachingConnector{base: base}, nil
}

func (c *cachingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.base.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &cachingConn{base: dc, stmts: map[string]*list.Element{}, lru: list.New()}, nil
}

func (c *cachingConnector) Driver() driver.Driver { return c.base.Driver() }

// baseConn is what the modernc connection implements and the cache uses.
type baseConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
}

// cachingConn is one connection with its prepared statements. database/sql
// uses a connection from one goroutine at a time, and closes rows under
// the same lock, so it needs no lock of its own.
type cachingConn struct {
	base  driver.Conn
	stmts map[string]*list.Element // query → element of lru holding *cachedStmt
	lru   *list.List               // most recently used first
}

type cachedStmt struct {
	query string
	stmt  driver.Stmt
	busy  bool // rows of it are open: a second use would reset them
}

type stmtExecQuerier interface {
	driver.StmtExecContext
	driver.StmtQueryContext
}

// get returns the idle cached statement for query, preparing it if needed,
// or nil when it is busy or cannot be cached.
func (c *cachingConn) get(ctx context.Context, query string) (*cachedStmt, error) {
	if e, ok := c.stmts[query]; ok {
		cs := e.Value.(*cachedStmt)
		if cs.busy {
			return nil, nil
		}
		c.lru.MoveToFront(e)
		return cs, nil
	}
	bc, ok := c.base.(driver.ConnPrepareContext)
	if !ok {
		return nil, nil
	}
	st, err := bc.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if _, ok := st.(stmtExecQuerier); !ok {
		st.Close()
		return nil, nil
	}
	cs := &cachedStmt{query: query, stmt: st}
	c.stmts[query] = c.lru.PushFront(cs)
	c.evict()
	return cs, nil
}

// drop removes cs from the cache and closes it.
func (c *cachingConn) drop(cs *cachedStmt) {
	if e, ok := c.stmts[cs.query]; ok && e.Value == cs {
		c.lru.Remove(e)
		delete(c.stmts, cs.query)
	}
	cs.stmt.Close()
}

// evict closes the least recently used idle statements past the bound.
func (c *cachingConn) evict() {
	for e := c.lru.Back(); e != nil && c.lru.Len() > stmtCacheSize; {
		prev := e.Prev()
		if cs := e.Value.(*cachedStmt); !cs.busy {
			c.lru.Remove(e)
			delete(c.stmts, cs.query)
			cs.stmt.Close()
		}
		e = prev
	}
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	cs, err := c.get(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.base.(driver.ExecerContext).ExecContext(ctx, query, args)
	}
	return cs.stmt.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	cs, err := c.get(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.base.(driver.QueryerContext).QueryContext(ctx, query, args)
	}
	rows, err := cs.stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	cs.busy = true
	return &cachedRows{Rows: rows, cs: cs, c: c}, nil
}

// Prepare and PrepareContext serve database/sql's explicit statements,
// which it closes itself: they are not cached.
func (c *cachingConn) Prepare(query string) (driver.Stmt, error) { return c.base.Prepare(query) }

func (c *cachingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.base.(driver.ConnPrepareContext).PrepareContext(ctx, query)
}

func (c *cachingConn) Begin() (driver.Tx, error) { return c.base.Begin() } //nolint:staticcheck // driver.Conn requires it

func (c *cachingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.base.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

// Close finalizes the cached statements, then closes the connection.
func (c *cachingConn) Close() error {
	for e := c.lru.Front(); e != nil; e = e.Next() {
		e.Value.(*cachedStmt).stmt.Close()
	}
	c.lru.Init()
	clear(c.stmts)
	return c.base.Close()
}

func (c *cachingConn) Ping(ctx context.Context) error {
	if p, ok := c.base.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *cachingConn) ResetSession(ctx context.Context) error {
	if r, ok := c.base.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *cachingConn) IsValid() bool {
	if v, ok := c.base.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

// cachedRows marks its statement idle again when closed.
type cachedRows struct {
	driver.Rows
	cs *cachedStmt
	c  *cachingConn
}

// Close resets the statement for its next use; if that fails, the
// statement leaves the cache.
func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	if cs := r.cs; cs != nil {
		r.cs = nil
		cs.busy = false
		if err != nil {
			r.c.drop(cs)
		}
	}
	return err
}

func (r *cachedRows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *cachedRows) ColumnTypeLength(i int) (int64, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeLength); ok {
		return t.ColumnTypeLength(i)
	}
	return 0, false
}

func (r *cachedRows) ColumnTypeNullable(i int) (bool, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeNullable); ok {
		return t.ColumnTypeNullable(i)
	}
	return false, false
}

func (r *cachedRows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypePrecisionScale); ok {
		return t.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}

func (r *cachedRows) ColumnTypeScanType(i int) reflect.Type {
	if t, ok := r.Rows.(driver.RowsColumnTypeScanType); ok {
		return t.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}

var (
	_ baseConn                              = (*cachingConn)(nil)
	_ driver.Pinger                         = (*cachingConn)(nil)
	_ driver.SessionResetter                = (*cachingConn)(nil)
	_ driver.Validator                      = (*cachingConn)(nil)
	_ driver.RowsColumnTypeScanType         = (*cachedRows)(nil)
	_ driver.RowsColumnTypeDatabaseTypeName = (*cachedRows)(nil)
)

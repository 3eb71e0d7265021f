package outbox_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
	"github.com/postkit/mailer/outbox"
	"github.com/postkit/mailer/outbox/outboxpgx"
	"github.com/postkit/mailer/outbox/outboxsqlite"
)

// fast are options that make every wait of the outbox short, for tests.
func fast(o outbox.Options) outbox.Options {
	if o.MinWait == 0 {
		o.MinWait, o.MaxWait = 20*time.Millisecond, 50*time.Millisecond
	}
	if o.Backoff == nil {
		o.Backoff = mailer.ConstantBackoff
	}
	if o.ThrottleWait == 0 {
		o.ThrottleWait = 20 * time.Millisecond
	}
	if o.PollInterval == 0 {
		o.PollInterval = 50 * time.Millisecond
	}
	if o.DBRetryWait == 0 {
		o.DBRetryWait = 50 * time.Millisecond
	}
	return o
}

// opener makes a migrated, not yet started Outbox on a fresh database.
type opener[TTx any] func(t *testing.T, s mailer.Sender, o outbox.Options) *outbox.Outbox[TTx]

func openSQLite(t *testing.T, s mailer.Sender, o outbox.Options) *outbox.Outbox[*sql.Tx] {
	t.Helper()
	st, err := outboxsqlite.Open(filepath.Join(t.TempDir(), "outbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ob, err := outbox.New(s, st, fast(o))
	if err != nil {
		t.Fatal(err)
	}
	sqliteStores.Store(ob, st)
	if err := ob.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return ob
}

var schemaChars = regexp.MustCompile(`[^a-z0-9_]+`)

// pgPool returns a pool on a schema of its own for t, dropped at the end.
// It skips t when MAILER_TEST_POSTGRES is unset.
func pgPool(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	url := os.Getenv("MAILER_TEST_POSTGRES")
	if url == "" {
		t.Skip("MAILER_TEST_POSTGRES is not set: skipping the PostgreSQL test")
	}
	ctx := context.Background()
	schema := fmt.Sprintf("t_%s_%d", schemaChars.ReplaceAllString(strings.ToLower(t.Name()), "_"), time.Now().UnixNano()%1e9)
	if len(schema) > 46 { // River's limit
		schema = "t" + schema[len(schema)-45:]
	}
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("PostgreSQL at MAILER_TEST_POSTGRES: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	cfg.MaxConns = 20
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pool.Close()
		c, err := pgx.Connect(ctx, url)
		if err == nil {
			_, _ = c.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
			c.Close(ctx)
		}
	})
	return pool, schema
}

func openPG(t *testing.T, s mailer.Sender, o outbox.Options) *outbox.Outbox[pgx.Tx] {
	t.Helper()
	ob, _ := openPGPool(t, s, o)
	return ob
}

func openPGPool(t *testing.T, s mailer.Sender, o outbox.Options) (*outbox.Outbox[pgx.Tx], *pgxpool.Pool) {
	t.Helper()
	pool, schema := pgPool(t)
	ob, err := outbox.New(s, outboxpgx.New(pool, outboxpgx.WithSchema(schema)), fast(o))
	if err != nil {
		t.Fatal(err)
	}
	if err := ob.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return ob, pool
}

// bothDrivers runs f on SQLite and on PostgreSQL.
func bothDrivers(t *testing.T, sqliteF func(t *testing.T), pgF func(t *testing.T)) {
	t.Run("sqlite", sqliteF)
	t.Run("postgres", pgF)
}

// newClient returns a client of srv; the outbox owns retries.
func newClient(t *testing.T, srv *mailertest.Server, opts ...mailer.Option) *mailer.Client {
	t.Helper()
	c, err := mailer.New(append([]mailer.Option{srv.Options()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func newMessage(t testing.TB, n int) *mailer.Message {
	t.Helper()
	m, err := mailer.NewMessage().From("app@example.com").To(fmt.Sprintf("user%d@example.com", n)).
		Bcc("audit@example.com").Subject(fmt.Sprintf("Reset %d", n)).Text("Your code is 123456.").Build()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// start starts ob and stops it at the end of t.
func start[TTx any](t *testing.T, ob *outbox.Outbox[TTx]) {
	t.Helper()
	if err := ob.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = ob.Stop(ctx)
	})
}

// waitFor polls the record of id until cond holds (30 s at most: the
// machine may be loaded).
func waitFor[TTx any](t *testing.T, ob *outbox.Outbox[TTx], id string, cond func(outbox.Record) bool) outbox.Record {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := ob.Status(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if cond(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("record of %s stuck at %+v", id, r)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func is(s outbox.Status) func(outbox.Record) bool {
	return func(r outbox.Record) bool { return r.Status == s }
}

// recorder collects hook events.
type recorder struct {
	mu     sync.Mutex
	events []mailer.Event
}

func (r *recorder) hook(_ context.Context, e mailer.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) statuses(id string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if e.MessageID == id {
			out = append(out, e.Status.String())
		}
	}
	return out
}

var sqliteStores sync.Map // *outbox.Outbox[*sql.Tx] → *outboxsqlite.Store

func sqliteStoreOf(t *testing.T, ob *outbox.Outbox[*sql.Tx]) *outboxsqlite.Store {
	v, ok := sqliteStores.Load(ob)
	if !ok {
		t.Fatal("not an outbox of openSQLite")
	}
	return v.(*outboxsqlite.Store)
}

package outbox

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river/rivermigrate"
)

// The outbox's own migrations, one list per dialect; the version is the
// index + 1. Append, never edit: a database records the versions it ran.
// Times are Unix microseconds in BIGINT columns, the same on both
// dialects.
var migrations = map[Dialect][]string{
	DialectSQLite: {`
CREATE TABLE {{T}} (
  message_id    TEXT PRIMARY KEY,
  job_id        BIGINT NOT NULL DEFAULT 0,
  status        TEXT NOT NULL,
  attempts      INTEGER NOT NULL DEFAULT 0,
  next_at       BIGINT NOT NULL DEFAULT 0,
  last_code     INTEGER NOT NULL DEFAULT 0,
  last_enhanced TEXT NOT NULL DEFAULT '',
  last_error    TEXT NOT NULL DEFAULT '',
  response      TEXT NOT NULL DEFAULT '',
  envelope      TEXT NOT NULL,
  size          BIGINT NOT NULL,
  body          BLOB NOT NULL,
  created_at    BIGINT NOT NULL,
  updated_at    BIGINT NOT NULL
);
CREATE INDEX {{T}}_created ON {{T}} (created_at, message_id);
CREATE INDEX {{T}}_status_updated ON {{T}} (status, updated_at);`, `
ALTER TABLE {{T}} ADD COLUMN route TEXT NOT NULL DEFAULT ''`},
	DialectPostgres: {`
CREATE TABLE {{T}} (
  message_id    TEXT PRIMARY KEY,
  job_id        BIGINT NOT NULL DEFAULT 0,
  status        TEXT NOT NULL,
  attempts      INTEGER NOT NULL DEFAULT 0,
  next_at       BIGINT NOT NULL DEFAULT 0,
  last_code     INTEGER NOT NULL DEFAULT 0,
  last_enhanced TEXT NOT NULL DEFAULT '',
  last_error    TEXT NOT NULL DEFAULT '',
  response      TEXT NOT NULL DEFAULT '',
  envelope      TEXT NOT NULL,
  size          BIGINT NOT NULL,
  body          BYTEA NOT NULL,
  created_at    BIGINT NOT NULL,
  updated_at    BIGINT NOT NULL
);
CREATE INDEX {{I}}_created ON {{T}} (created_at, message_id);
CREATE INDEX {{I}}_status_updated ON {{T}} (status, updated_at);`, `
ALTER TABLE {{T}} ADD COLUMN route TEXT NOT NULL DEFAULT ''`},
}

// Migrate brings the database up to date: River's migrations, then the
// outbox's own table. It is idempotent and safe to run at every start of
// a single process; with several processes on PostgreSQL, run it once
// (for example `mailq migrate`) before starting them.
func (o *Outbox[TTx]) Migrate(ctx context.Context) error {
	m, err := rivermigrate.New(o.store.Driver(), &rivermigrate.Config{Schema: o.store.Schema(), Logger: o.opts.Logger})
	if err != nil {
		return fmt.Errorf("outbox: river migrator: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("outbox: river migrations: %w", err)
	}
	if _, err := o.store.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+o.q.versions+` (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("outbox: creating %s: %w", o.q.versions, err)
	}
	have, err := o.appliedVersions(ctx)
	if err != nil {
		return err
	}
	for i, ddl := range migrations[o.store.Dialect()] {
		v := i + 1
		if have[v] {
			continue
		}
		if err := o.applyMigration(ctx, v, ddl); err != nil {
			return err
		}
	}
	return nil
}

func (o *Outbox[TTx]) applyMigration(ctx context.Context, v int, ddl string) (err error) {
	tx, err := o.store.Begin(ctx)
	if err != nil {
		return fmt.Errorf("outbox: migration %d: %w", v, err)
	}
	defer func() {
		if err != nil {
			_ = o.store.Rollback(context.WithoutCancel(ctx), tx)
		}
	}()
	ddl = strings.ReplaceAll(ddl, "{{T}}", o.q.table)
	ddl = strings.ReplaceAll(ddl, "{{I}}", "mail_outbox")
	for stmt := range strings.SplitSeq(ddl, ";") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if _, err = o.store.ExecTx(ctx, tx, stmt); err != nil {
			return fmt.Errorf("outbox: migration %d: %w", v, err)
		}
	}
	if _, err = o.store.ExecTx(ctx, tx, `INSERT INTO `+o.q.versions+` (version, applied_at) VALUES (?, ?)`, v, time.Now().UnixMicro()); err != nil {
		return fmt.Errorf("outbox: migration %d: %w", v, err)
	}
	return o.store.Commit(ctx, tx)
}

// appliedVersions returns the outbox migrations recorded; none when the
// versions table does not exist.
func (o *Outbox[TTx]) appliedVersions(ctx context.Context) (map[int]bool, error) {
	rows, err := o.store.Query(ctx, `SELECT version FROM `+o.q.versions)
	if err != nil {
		if isMissingTable(err) {
			return map[int]bool{}, nil
		}
		return nil, fmt.Errorf("outbox: reading %s: %w", o.q.versions, err)
	}
	defer rows.Close()
	have := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		have[v] = true
	}
	return have, rows.Err()
}

func isMissingTable(err error) bool {
	s := err.Error()
	return strings.Contains(s, "no such table") || strings.Contains(s, "does not exist") || strings.Contains(s, "42P01")
}

// CheckMigrations returns a *MigrationError naming every migration that
// Migrate would apply, or nil. Start calls it.
func (o *Outbox[TTx]) CheckMigrations(ctx context.Context) error {
	var pending []string
	m, err := rivermigrate.New(o.store.Driver(), &rivermigrate.Config{Schema: o.store.Schema(), Logger: o.opts.Logger})
	if err != nil {
		return fmt.Errorf("outbox: river migrator: %w", err)
	}
	res, err := m.Validate(ctx, nil)
	if err != nil {
		return fmt.Errorf("outbox: checking river migrations: %w", err)
	}
	if !res.OK {
		pending = append(pending, "river: "+strings.Join(res.Messages, "; "))
	}
	have, err := o.appliedVersions(ctx)
	if err != nil {
		return err
	}
	var missing []string
	for i := range migrations[o.store.Dialect()] {
		if !have[i+1] {
			missing = append(missing, strconv.Itoa(i+1))
		}
	}
	if len(missing) > 0 {
		pending = append(pending, "mail_outbox: versions "+strings.Join(missing, ", "))
	}
	if len(pending) > 0 {
		return &MigrationError{Pending: pending}
	}
	return nil
}

package outbox

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/riverqueue/river"
)

// Status returns the record of the message with that Message-ID (with or
// without angle brackets), or an error matching ErrNotFound.
func (o *Outbox[TTx]) Status(ctx context.Context, messageID string) (Record, error) {
	return o.get(ctx, nil, trimID(messageID))
}

// get reads a record through tx, or through the pool when tx is nil.
func (o *Outbox[TTx]) get(ctx context.Context, tx *TTx, id string) (Record, error) {
	query := "SELECT " + o.q.recordCols + " FROM " + o.q.table + " WHERE message_id = ?"
	var (
		rows Rows
		err  error
	)
	if tx != nil {
		rows, err = o.store.QueryTx(ctx, *tx, query, id)
	} else {
		rows, err = o.store.Query(ctx, query, id)
	}
	if err != nil {
		return Record{}, fmt.Errorf("outbox: status: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return Record{}, fmt.Errorf("outbox: status: %w", err)
		}
		return Record{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return scanRecord(rows)
}

func trimID(id string) string {
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(id), "<"), ">")
}

func scanRecord(rows Rows) (Record, error) {
	var (
		r                                Record
		st, env                          string
		nextAt, createdAt, updatedAt, sz int64
	)
	err := rows.Scan(&r.MessageID, &r.JobID, &st, &r.Attempts, &nextAt, &r.LastCode, &r.LastEnhancedCode,
		&r.LastError, &r.Response, &env, &sz, &createdAt, &updatedAt, &r.Route)
	if err != nil {
		return r, fmt.Errorf("outbox: reading record: %w", err)
	}
	r.Status = Status(st)
	r.Size = sz
	if r.Status == StatusPending && nextAt != 0 {
		r.NextAttemptAt = time.UnixMicro(nextAt)
	}
	r.CreatedAt, r.UpdatedAt = time.UnixMicro(createdAt), time.UnixMicro(updatedAt)
	if err := json.Unmarshal([]byte(env), &r.Envelope); err != nil {
		return r, fmt.Errorf("outbox: reading envelope of %q: %w", r.MessageID, err)
	}
	return r, nil
}

// Filter selects records for List.
type Filter struct {
	// Status keeps records in any of these statuses; empty keeps all.
	Status []Status
	// Limit is the page size; 0 means 100, and at most 1000 are returned.
	Limit int
	// After continues a listing: the Cursor the previous page returned.
	After Cursor
	// Newest lists newest first instead of oldest first.
	Newest bool
	// RoutePrefix keeps records whose routing tag (see Route) starts with
	// it, compared byte for byte (so "tenant-é" keeps "tenant-é/1" and
	// not "tenant-e/1"); "" keeps all. It must be valid UTF-8.
	RoutePrefix string
}

// A Cursor marks the end of a page of List; "" means the start, and List
// returns "" after the last page.
type Cursor string

// List returns records oldest first (by creation time, then Message-ID;
// newest first with Filter.Newest), one page at a time.
func (o *Outbox[TTx]) List(ctx context.Context, f Filter) ([]Record, Cursor, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	var (
		where []string
		args  []any
	)
	if len(f.Status) > 0 {
		marks := make([]string, len(f.Status))
		for i, s := range f.Status {
			if !s.Valid() {
				return nil, "", fmt.Errorf("outbox: list: unknown status %q", s)
			}
			marks[i] = "?"
			args = append(args, string(s))
		}
		where = append(where, "status IN ("+strings.Join(marks, ", ")+")")
	}
	if f.After != "" {
		created, id, err := f.After.decode()
		if err != nil {
			return nil, "", err
		}
		if f.Newest {
			where = append(where, "(created_at < ? OR created_at = ? AND message_id < ?)")
		} else {
			where = append(where, "(created_at > ? OR created_at = ? AND message_id > ?)")
		}
		args = append(args, created, created, id)
	}
	if f.RoutePrefix != "" {
		if !utf8.ValidString(f.RoutePrefix) {
			return nil, "", fmt.Errorf("%w: list: RoutePrefix %q is not valid UTF-8", ErrInvalidOptions, f.RoutePrefix)
		}
		where = append(where, o.routePrefixSQL())
		if o.store.Dialect() == DialectSQLite {
			args = append(args, len(f.RoutePrefix))
		}
		args = append(args, f.RoutePrefix)
	}
	query := "SELECT " + o.q.recordCols + " FROM " + o.q.table
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	order := " ORDER BY created_at, message_id LIMIT "
	if f.Newest {
		order = " ORDER BY created_at DESC, message_id DESC LIMIT "
	}
	query += order + strconv.Itoa(limit+1)
	rows, err := o.store.Query(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("outbox: list: %w", err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("outbox: list: %w", err)
	}
	var next Cursor
	if len(out) > limit {
		out = out[:limit]
		last := out[limit-1]
		next = encodeCursor(last.CreatedAt.UnixMicro(), last.MessageID)
	}
	return out, next, nil
}

// routePrefixSQL is List's condition "route starts with ?", byte for byte.
// substr counts characters in a TEXT value on both databases, so
// comparing substr(route, 1, len(prefix)) with a prefix of non-ASCII
// characters (len counts bytes) took too many characters and missed the
// records. SQLite compares the first bytes as BLOBs (its arguments: the
// prefix's length in bytes, then the prefix); PostgreSQL's starts_with
// compares bytes too, whatever the column's (deterministic) collation.
// No index covers route, so neither form gives up one.
func (o *Outbox[TTx]) routePrefixSQL() string {
	if o.store.Dialect() == DialectPostgres {
		return "starts_with(route, ?)"
	}
	return "substr(CAST(route AS BLOB), 1, ?) = CAST(? AS BLOB)"
}

func encodeCursor(created int64, id string) Cursor {
	return Cursor(base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(created, 10) + " " + id)))
}

func (c Cursor) decode() (int64, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(string(c))
	if err == nil {
		if ts, id, ok := strings.Cut(string(b), " "); ok {
			if n, err := strconv.ParseInt(ts, 10, 64); err == nil {
				return n, id, nil
			}
		}
	}
	return 0, "", fmt.Errorf("outbox: list: invalid cursor %q", string(c))
}

// Cancel cancels a PENDING message: it will not be sent. A message being
// sent, or already final, cannot be cancelled (a *StatusError says which
// status it is in).
func (o *Outbox[TTx]) Cancel(ctx context.Context, messageID string) error {
	id := trimID(messageID)
	now := time.Now().UnixMicro()
	n, err := o.store.Exec(ctx, "UPDATE "+o.q.table+" SET status = ?, next_at = 0, updated_at = ? WHERE message_id = ? AND status = ?",
		string(StatusCancelled), now, id, string(StatusPending))
	if err != nil {
		return fmt.Errorf("outbox: cancel: %w", err)
	}
	if n == 1 {
		return nil
	}
	r, err := o.Status(ctx, id)
	if err != nil {
		return err
	}
	return &StatusError{MessageID: id, Op: "cancel", Status: r.Status}
}

// Retry sends a FAILED, UNKNOWN or CANCELLED message again, with a fresh
// budget of attempts. Retrying an UNKNOWN message may deliver it twice.
func (o *Outbox[TTx]) Retry(ctx context.Context, messageID string) error {
	id := trimID(messageID)
	return o.inOwnTx(ctx, func(tx TTx) error {
		now := time.Now().UnixMicro()
		n, err := o.store.ExecTx(ctx, tx, "UPDATE "+o.q.table+" SET status = ?, attempts = 0, next_at = ?, updated_at = ? WHERE message_id = ? AND status IN (?, ?, ?)",
			string(StatusPending), now, now, id, string(StatusFailed), string(StatusUnknown), string(StatusCancelled))
		if err != nil {
			return fmt.Errorf("outbox: retry: %w", err)
		}
		if n != 1 {
			r, err := o.get(ctx, &tx, id)
			if err != nil {
				return err
			}
			return &StatusError{MessageID: id, Op: "retry", Status: r.Status}
		}
		return o.reschedule(ctx, tx, id)
	})
}

// reschedule gives the message a new River job and makes it the only one
// that may send it: an older job of the same message that still runs (a
// rescued one, say) finds another job_id and stands down.
func (o *Outbox[TTx]) reschedule(ctx context.Context, tx TTx, id string) error {
	res, err := o.river.InsertTx(ctx, tx, mailArgs{MessageID: id}, &river.InsertOpts{Queue: o.opts.Queue, MaxAttempts: o.opts.MaxAttempts})
	if err != nil {
		return fmt.Errorf("outbox: scheduling %q: %w", id, err)
	}
	_, err = o.store.ExecTx(ctx, tx, "UPDATE "+o.q.table+" SET job_id = ? WHERE message_id = ?", res.Job.ID, id)
	return err
}

// DeleteFinished deletes final records (SENT, FAILED, UNKNOWN, CANCELLED)
// last changed before t and returns how many. The retention job calls it
// with now − Options.Retention; after it, those Message-IDs may be
// enqueued again.
func (o *Outbox[TTx]) DeleteFinished(ctx context.Context, before time.Time) (int64, error) {
	n, err := o.store.Exec(ctx, "DELETE FROM "+o.q.table+" WHERE status IN (?, ?, ?, ?) AND updated_at < ?",
		string(StatusSent), string(StatusFailed), string(StatusUnknown), string(StatusCancelled), before.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("outbox: deleting old records: %w", err)
	}
	return n, nil
}

package outbox

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/textproto"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/postkit/mailer"
	"github.com/riverqueue/river"
)

// mailArgs are the River job's arguments: only the Message-ID, never an
// address or the body, so River's tables, logs and UI hold no message
// content.
type mailArgs struct {
	MessageID string `json:"message_id"`
}

// Kind implements river.JobArgs.
func (mailArgs) Kind() string { return "mail_outbox_send" }

// An EnqueueOption adjusts one Enqueue.
type EnqueueOption func(*enqueueOptions)

type enqueueOptions struct {
	at       time.Time
	priority int
	key      string
	route    string
}

// At delays the first attempt until t.
func At(t time.Time) EnqueueOption { return func(e *enqueueOptions) { e.at = t } }

// Priority sets the job's priority, 1 (first, the default) to 4 (last),
// for when the outbox is busy.
func Priority(p int) EnqueueOption { return func(e *enqueueOptions) { e.priority = p } }

// pendingMail is one message ready to be stored.
type pendingMail struct {
	id       string
	env      mailer.Envelope
	body     []byte
	at       time.Time // first attempt; zero means now
	priority int
	route    string // overrides the Route option of the call
}

// withOptions applies opts to every message of ps (a message's own route
// stays).
func withOptions(ps []pendingMail, opts []EnqueueOption) []pendingMail {
	eo := optionsOf(opts)
	for i := range ps {
		ps[i].at, ps[i].priority = eo.at, eo.priority
		if ps[i].route == "" {
			ps[i].route = eo.route
		}
	}
	return ps
}

// Enqueue renders m and stores it with its envelope (Bcc recipients live
// only there), in a transaction of its own, and returns its Message-ID.
// Once Enqueue returns nil, the message survives a crash. If a record with
// the same Message-ID exists, it returns the ID and an error matching
// ErrAlreadyEnqueued. A message over Options.MaxBodyBytes is refused with
// a *BodyTooLargeError.
func (o *Outbox[TTx]) Enqueue(ctx context.Context, m *mailer.Message, opts ...EnqueueOption) (string, error) {
	p, err := o.fromMessageKeyed(m, opts)
	if err != nil {
		return p.id, err
	}
	return p.id, o.insertOwn(ctx, []pendingMail{p}, opts)
}

// EnqueueTx is Enqueue inside the caller's transaction tx: the message
// exists if and only if tx commits (the hooks get no StatusPending event,
// since the outbox cannot know whether tx commits), so a "user" row and its welcome mail
// are stored together or not at all. Inside tx, use only tx: on SQLite
// the pool has a single connection, which tx holds, so any other call
// through the pool (Enqueue, Status, …) waits for tx to end.
func (o *Outbox[TTx]) EnqueueTx(ctx context.Context, tx TTx, m *mailer.Message, opts ...EnqueueOption) (string, error) {
	p, err := o.fromMessageKeyed(m, opts)
	if err != nil {
		return p.id, err
	}
	return p.id, o.insert(ctx, tx, withOptions([]pendingMail{p}, opts))
}

// EnqueueRaw stores an already rendered RFC 5322 message with its
// envelope; it is sent byte for byte. The Message-ID header is the key
// (ErrNoMessageID without one).
func (o *Outbox[TTx]) EnqueueRaw(ctx context.Context, env mailer.Envelope, msg []byte, opts ...EnqueueOption) (string, error) {
	p, err := o.fromRaw(env, msg, opts)
	if err != nil {
		return p.id, err
	}
	return p.id, o.insertOwn(ctx, []pendingMail{p}, opts)
}

// EnqueueRawTx is EnqueueRaw inside the caller's transaction tx.
func (o *Outbox[TTx]) EnqueueRawTx(ctx context.Context, tx TTx, env mailer.Envelope, msg []byte, opts ...EnqueueOption) (string, error) {
	p, err := o.fromRaw(env, msg, opts)
	if err != nil {
		return p.id, err
	}
	return p.id, o.insert(ctx, tx, withOptions([]pendingMail{p}, opts))
}

// EnqueueMany stores msgs in one transaction, which is much faster than
// one Enqueue each. It is all or nothing: if any message is invalid or
// already enqueued, nothing is stored and the error names it.
func (o *Outbox[TTx]) EnqueueMany(ctx context.Context, msgs []*mailer.Message, opts ...EnqueueOption) ([]string, error) {
	if optionsOf(opts).key != "" {
		return nil, fmt.Errorf("%w: Key names one record; EnqueueMany stores several", ErrInvalidOptions)
	}
	ps := make([]pendingMail, 0, len(msgs))
	ids := make([]string, 0, len(msgs))
	for _, m := range msgs {
		p, err := o.fromMessage(m)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
		ids = append(ids, p.id)
	}
	return ids, o.insertOwn(ctx, ps, opts)
}

// insertOwn stores ps in a transaction of its own, shared with other
// writes once the outbox is started (group commit: the messages of
// concurrent Enqueue calls go out in the same statements and commit), and,
// once it has committed, tells the hooks.
func (o *Outbox[TTx]) insertOwn(ctx context.Context, ps []pendingMail, opts []EnqueueOption) error {
	if err := o.write(&gcRequest[TTx]{ctx: ctx, enqueue: withOptions(ps, opts)}); err != nil {
		return err
	}
	if len(o.opts.Hooks) > 0 {
		now := time.Now()
		for _, p := range ps {
			o.emit(ctx, mailer.Event{MessageID: p.id, Status: mailer.StatusPending, Time: now, Recipients: p.env.To})
		}
	}
	return nil
}

func (o *Outbox[TTx]) fromMessage(m *mailer.Message) (pendingMail, error) {
	if m == nil {
		return pendingMail{}, mailer.ErrNilMessage
	}
	body, err := m.Bytes()
	if err != nil {
		return pendingMail{id: m.MessageID()}, fmt.Errorf("outbox: rendering message: %w", err)
	}
	return o.check(pendingMail{id: m.MessageID(), env: m.Envelope(), body: body})
}

// fromMessageKeyed is fromMessage under the Key option's key, if given.
func (o *Outbox[TTx]) fromMessageKeyed(m *mailer.Message, opts []EnqueueOption) (pendingMail, error) {
	p, err := o.fromMessage(m)
	if k := optionsOf(opts).key; k != "" && err == nil {
		p.id = k
		return o.check(p)
	}
	return p, err
}

func (o *Outbox[TTx]) fromRaw(env mailer.Envelope, msg []byte, opts []EnqueueOption) (pendingMail, error) {
	if k := optionsOf(opts).key; k != "" {
		return o.check(pendingMail{id: k, env: env, body: msg})
	}
	id, err := rawMessageID(msg)
	if err != nil {
		return pendingMail{}, err
	}
	return o.check(pendingMail{id: id, env: env, body: msg})
}

func (o *Outbox[TTx]) check(p pendingMail) (pendingMail, error) {
	switch {
	case p.id == "":
		return p, ErrNoMessageID
	case !utf8.ValidString(p.id):
		// SQLite would store the bytes, but the claim, which passes keys
		// as JSON, would never find them again.
		return p, ErrInvalidKey
	case len(p.env.To) == 0:
		return p, ErrNoRecipients
	case int64(len(p.body)) > o.opts.MaxBodyBytes:
		return p, &BodyTooLargeError{MessageID: p.id, Size: int64(len(p.body)), Limit: o.opts.MaxBodyBytes}
	}
	return p, nil
}

// rawMessageID reads the Message-ID header of msg, without angle brackets.
func rawMessageID(msg []byte) (string, error) {
	end := bytes.Index(msg, []byte("\r\n\r\n"))
	if e := bytes.Index(msg, []byte("\n\n")); end < 0 || e >= 0 && e < end {
		end = e
	}
	if end < 0 {
		end = len(msg)
	}
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(append(msg[:end:end], "\r\n\r\n"...))))
	h, err := r.ReadMIMEHeader()
	if err != nil && len(h) == 0 {
		return "", fmt.Errorf("%w: reading the header: %v", ErrNoMessageID, err)
	}
	id := strings.TrimSpace(h.Get("Message-Id"))
	id = strings.TrimSuffix(strings.TrimPrefix(id, "<"), ">")
	if id == "" {
		return "", ErrNoMessageID
	}
	return id, nil
}

// rowsPerInsert keeps a multi-row INSERT under SQLite's 32,766 variables.
// It is a power of two: see chunks.
const rowsPerInsert = 256

func (o *Outbox[TTx]) insert(ctx context.Context, tx TTx, ps []pendingMail) error {
	for _, p := range ps {
		if len(p.route) > MaxRouteLen {
			return fmt.Errorf("%w: routing tag of %d bytes, over MaxRouteLen", ErrInvalidOptions, len(p.route))
		}
	}
	now := time.Now()
	for chunk := range chunks(ps, rowsPerInsert) {
		var sb strings.Builder
		sb.WriteString("INSERT INTO " + o.q.table + " " + o.q.insertCols + " VALUES ")
		args := make([]any, 0, 9*len(chunk))
		for i, p := range chunk {
			env, err := json.Marshal(p.env)
			if err != nil {
				return fmt.Errorf("outbox: encoding envelope: %w", err)
			}
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?)")
			at := now
			if p.at.After(now) {
				at = p.at
			}
			args = append(args, p.id, string(StatusPending), at.UnixMicro(), string(env), int64(len(p.body)), p.body, now.UnixMicro(), now.UnixMicro(), p.route)
		}
		sb.WriteString(" ON CONFLICT (message_id) DO NOTHING")
		n, err := o.store.ExecTx(ctx, tx, sb.String(), args...)
		if err != nil {
			return fmt.Errorf("outbox: storing message: %w", err)
		}
		if int(n) != len(chunk) {
			return o.duplicates(ctx, tx, chunk, now.UnixMicro())
		}
	}
	params := make([]river.InsertManyParams, len(ps))
	for i, p := range ps {
		params[i] = river.InsertManyParams{Args: mailArgs{MessageID: p.id}, InsertOpts: &river.InsertOpts{
			Queue: o.opts.Queue, ScheduledAt: p.at, Priority: p.priority, MaxAttempts: o.opts.MaxAttempts,
		}}
	}
	var err error
	if len(params) == 1 {
		_, err = o.river.InsertTx(ctx, tx, params[0].Args, params[0].InsertOpts)
	} else {
		_, err = o.river.InsertManyFastTx(ctx, tx, params)
	}
	if err != nil {
		return fmt.Errorf("outbox: scheduling message: %w", err)
	}
	return nil
}

// duplicates builds the error for a chunk in which some Message-IDs were
// already stored.
// Rows this chunk inserted carry created_at = now; the others were there
// before.
func (o *Outbox[TTx]) duplicates(ctx context.Context, tx TTx, chunk []pendingMail, now int64) error {
	var errs []error
	for _, p := range chunk {
		rows, err := o.store.QueryTx(ctx, tx, "SELECT status, created_at FROM "+o.q.table+" WHERE message_id = ?", p.id)
		if err != nil {
			return err
		}
		var (
			st      string
			created int64
		)
		found := rows.Next()
		if found {
			err = rows.Scan(&st, &created)
		}
		rows.Close()
		if err != nil {
			return err
		}
		if found && created != now {
			errs = append(errs, fmt.Errorf("%w: %q (%s)", ErrAlreadyEnqueued, p.id, st))
		}
	}
	if len(errs) == 0 { // duplicates within the batch itself
		errs = append(errs, fmt.Errorf("%w: the batch repeats a Message-ID", ErrAlreadyEnqueued))
	}
	return errors.Join(errs...)
}

// chunks cuts s into pieces of n (a power of two) and, for the rest,
// pieces of decreasing powers of two, so that a multi-row statement has
// one of a few texts whatever the number of rows (a prepared statement
// each, on both databases).
func chunks[T any](s []T, n int) func(func([]T) bool) {
	return func(yield func([]T) bool) {
		for len(s) > 0 {
			k := n
			for k > len(s) {
				k /= 2
			}
			if !yield(s[:k]) {
				return
			}
			s = s[k:]
		}
	}
}

// inOwnTx runs f in a new transaction and commits it.
func (o *Outbox[TTx]) inOwnTx(ctx context.Context, f func(tx TTx) error) (err error) {
	tx, err := o.store.Begin(ctx)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	defer func() {
		if err != nil {
			_ = o.store.Rollback(context.WithoutCancel(ctx), tx)
		}
	}()
	if err = f(tx); err != nil {
		return err
	}
	if err = o.store.Commit(ctx, tx); err != nil {
		return fmt.Errorf("outbox: commit: %w", err)
	}
	return nil
}

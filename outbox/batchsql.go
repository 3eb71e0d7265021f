package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// The workers' writes to mail_outbox go out one statement per group
// commit, whatever the number of messages in it: one UPDATE … FROM for
// all the claims, one for all the status changes. The rows travel as
// arrays (PostgreSQL: unnest of typed arrays) or as one JSON array
// (SQLite: json_each), so that the statement's text, and with it the
// prepared statement, is the same for any group size.

// claimReq is one claim in a group: the record of messageID is marked
// SENDING for jobID if it is PENDING for that job (or for none yet).
type claimReq struct {
	messageID string
	jobID     int64
	// Set by the group's statement.
	found bool
	c     claimed
	env   string
}

// statusRow is one status change in a group. It applies only to a record
// that is SENDING for the job that makes it, or, for a final status, that
// was settled UNKNOWN as after a crash (errDiedWhileSending) while that
// job's attempt was still going on: every status change follows that job's claim, and a
// change repeated after the record moved on (a write that committed
// although it reported an error, an outcome written late; see record)
// must do nothing, while a guess must not outlive the real outcome.
type statusRow struct {
	messageID     string
	jobID         int64
	status        Status
	attemptsDelta int
	nextAt        int64
	code          int
	enhanced      string
	errText       string
	response      string
	setResponse   bool
}

func (o *Outbox[TTx]) claimSQL() string {
	t := o.q.table
	if o.store.Dialect() == DialectPostgres {
		return "UPDATE " + t + " AS m SET status = 'SENDING', attempts = m.attempts + 1, job_id = v.job, next_at = 0, updated_at = ? " +
			"FROM unnest(?::text[], ?::bigint[]) AS v(id, job) " +
			"WHERE m.message_id = v.id AND m.status = 'PENDING' AND (m.job_id = 0 OR m.job_id = v.job) " +
			"RETURNING m.message_id, m.job_id, m.attempts, m.envelope, m.body, m.route"
	}
	return "UPDATE " + t + " AS m SET status = 'SENDING', attempts = m.attempts + 1, job_id = v.job, next_at = 0, updated_at = ? " +
		"FROM (SELECT value ->> 0 AS id, value ->> 1 AS job FROM json_each(?)) AS v " +
		// "+m.status": looking each message up by its key beats scanning
		// every PENDING record through the status index once per message.
		"WHERE m.message_id = v.id AND +m.status = 'PENDING' AND (m.job_id = 0 OR m.job_id = v.job) " +
		"RETURNING message_id, job_id, attempts, envelope, body, route"
}

func (o *Outbox[TTx]) statusSQL() string {
	t := o.q.table
	set := "SET status = v.st, attempts = m.attempts + v.da, next_at = v.next, last_code = v.code, last_enhanced = v.enh, " +
		"last_error = v.err, response = CASE WHEN v.sr THEN v.resp ELSE m.response END, updated_at = ? "
	// A record this job's own run, or the sweep, settled as after a crash
	// (UNKNOWN, errDiedWhileSending) while this attempt was still going
	// on takes the attempt's real outcome if it is final: it is what
	// happened. A temporary one leaves the guess, which is final and safe
	// (at most once): the job that would retry it was cancelled.
	where := "WHERE m.message_id = v.id AND m.job_id = v.job AND (m.status = 'SENDING' OR m.status = 'UNKNOWN' AND m.last_error = '" +
		strings.ReplaceAll(errDiedWhileSending.Error(), "'", "''") + "' AND v.st <> 'PENDING')"
	if o.store.Dialect() == DialectPostgres {
		return "UPDATE " + t + " AS m " + set +
			"FROM unnest(?::text[], ?::bigint[], ?::text[], ?::int[], ?::bigint[], ?::int[], ?::text[], ?::text[], ?::text[], ?::bool[]) " +
			"AS v(id, job, st, da, next, code, enh, err, resp, sr) " + where
	}
	return "UPDATE " + t + " AS m " + set +
		"FROM (SELECT value ->> 0 AS id, value ->> 1 AS job, value ->> 2 AS st, value ->> 3 AS da, value ->> 4 AS next, " +
		"value ->> 5 AS code, value ->> 6 AS enh, value ->> 7 AS err, value ->> 8 AS resp, value ->> 9 AS sr FROM json_each(?)) AS v " +
		// "+m.status": by the key, not through the status index (see claimSQL).
		strings.Replace(where, "m.status", "+m.status", 1)
}

// claimArgs are the arguments of claimSQL after updated_at.
func (o *Outbox[TTx]) claimArgs(cs []*claimReq) ([]any, error) {
	if o.store.Dialect() == DialectPostgres {
		ids, jobs := make([]string, len(cs)), make([]int64, len(cs))
		for i, c := range cs {
			ids[i], jobs[i] = c.messageID, c.jobID
		}
		return []any{ids, jobs}, nil
	}
	rows := make([][2]any, len(cs))
	for i, c := range cs {
		rows[i] = [2]any{c.messageID, c.jobID}
	}
	b, err := json.Marshal(rows)
	return []any{string(b)}, err
}

// statusArgs are the arguments of statusSQL after updated_at.
func (o *Outbox[TTx]) statusArgs(rs []*statusRow) ([]any, error) {
	n := len(rs)
	if o.store.Dialect() == DialectPostgres {
		var (
			ids, sts, enhs, errs, resps = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
			jobs, nexts                 = make([]int64, n), make([]int64, n)
			das, codes                  = make([]int32, n), make([]int32, n)
			srs                         = make([]bool, n)
		)
		for i, r := range rs {
			ids[i], jobs[i], sts[i], das[i], nexts[i] = r.messageID, r.jobID, string(r.status), int32(r.attemptsDelta), r.nextAt
			codes[i], enhs[i], errs[i], resps[i], srs[i] = int32(r.code), r.enhanced, r.errText, r.response, r.setResponse
		}
		return []any{ids, jobs, sts, das, nexts, codes, enhs, errs, resps, srs}, nil
	}
	rows := make([][10]any, n)
	for i, r := range rs {
		rows[i] = [10]any{r.messageID, r.jobID, string(r.status), r.attemptsDelta, r.nextAt, r.code, r.enhanced, r.errText, r.response, r.setResponse}
	}
	b, err := json.Marshal(rows)
	return []any{string(b)}, err
}

// runClaims claims cs with one statement, in tx or (tx nil) on its own.
func (o *Outbox[TTx]) runClaims(ctx context.Context, tx *TTx, cs []*claimReq) error {
	args, err := o.claimArgs(cs)
	if err != nil {
		return err
	}
	args = append([]any{time.Now().UnixMicro()}, args...)
	var rows Rows
	if tx != nil {
		rows, err = o.store.QueryTx(ctx, *tx, o.q.claim, args...)
	} else {
		rows, err = o.store.Query(ctx, o.q.claim, args...)
	}
	if err != nil {
		return fmt.Errorf("outbox: claiming: %w", err)
	}
	defer rows.Close()
	for _, c := range cs {
		c.found = false
	}
	for rows.Next() {
		var (
			id  string
			job int64
			c   claimed
			env string
		)
		if err := rows.Scan(&id, &job, &c.attempts, &env, &c.body, &c.route); err != nil {
			return fmt.Errorf("outbox: claiming: %w", err)
		}
		for _, r := range cs {
			if r.messageID == id && r.jobID == job && !r.found {
				r.found, r.c, r.env = true, c, env
				break
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("outbox: claiming: %w", err)
	}
	return rows.Close()
}

// runStatus writes rs with one statement in tx and returns how many
// records changed.
func (o *Outbox[TTx]) runStatus(ctx context.Context, tx TTx, rs []*statusRow) (int64, error) {
	args, err := o.statusArgs(rs)
	if err != nil {
		return 0, err
	}
	args = append([]any{time.Now().UnixMicro()}, args...)
	n, err := o.store.ExecTx(ctx, tx, o.q.status, args...)
	if err != nil {
		return 0, fmt.Errorf("outbox: recording status: %w", err)
	}
	return n, nil
}

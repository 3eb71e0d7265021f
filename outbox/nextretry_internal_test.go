package outbox

import (
	"database/sql"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// NextRetry never hands River a time in the past. River replaces such a
// time with its default policy, errors⁴ seconds: for a job that failed a
// few hundred times in a long outage with short waits (the gateway's
// one-minute test with 50-100 ms waits) that is decades, so the record
// stayed PENDING with a job that would not run in its lifetime.
func TestNextRetryNeverInThePast(t *testing.T) {
	opts, err := Options{MinWait: 50 * time.Millisecond, MaxWait: 100 * time.Millisecond}.withDefaults(DialectSQLite)
	if err != nil {
		t.Fatal(err)
	}
	o := &Outbox[*sql.Tx]{opts: opts}
	w := &worker[*sql.Tx]{o: o}
	row := &rivertype.JobRow{ID: 7, Attempt: 300, MaxAttempts: 1000, Errors: make([]rivertype.AttemptError, 299)}
	job := &river.Job[mailArgs]{JobRow: row, Args: mailArgs{MessageID: "a@b"}}

	// What River would do with a time in the past.
	if d := time.Until((&river.DefaultClientRetryPolicy{}).NextRetry(row)); d < 24*time.Hour*365 {
		t.Fatalf("River's default policy after 299 errors waits %v; the premise of this test is gone", d)
	}

	// Work chose a time that passed while its status write ran.
	o.retryWait.Store(row.ID, time.Now().Add(-time.Second))
	before := time.Now()
	if next := w.NextRetry(job); next.Before(before) || next.After(time.Now().Add(opts.MaxWait)) {
		t.Fatalf("NextRetry after a slow write = %v, want between %v and MaxWait later", next, before)
	}
	// No time from Work (a database error): the outbox's backoff.
	before = time.Now()
	if next := w.NextRetry(job); next.Before(before) || next.After(time.Now().Add(opts.MaxWait)) {
		t.Fatalf("NextRetry without a chosen time = %v, want within MaxWait of %v", next, before)
	}
}

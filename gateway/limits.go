package gateway

import (
	"slices"
	"sync"
	"time"
)

// rateWindow is the span messages_per_minute counts over: any 60 s, not
// a calendar minute.
const rateWindow = time.Minute

// rates holds each tenant's message counters: the times of its messages
// in the last minute, its count for the current day (UTC), and its open
// authenticated sessions. It outlives reloads.
type rates struct {
	mu sync.Mutex
	m  map[string]*tenantRate
	// gen counts changes to day counts, so that the state file is
	// written only when one has changed (limits_state.go).
	gen uint64
}

type tenantRate struct {
	// recent holds the reservation times of the last rateWindow, oldest
	// first: a sliding log, never longer than the largest
	// messages_per_minute the tenant has had.
	recent []time.Time
	day    int64 // days since 1970-01-01 UTC
	nDay   int
	conns  int
}

func newRates() *rates { return &rates{m: map[string]*tenantRate{}} }

// utcDay is the day of now in days since the epoch, in UTC: the daily
// quota's day starts at 00:00 UTC.
func utcDay(now time.Time) int64 { return now.Unix() / 86400 }

func (r *rates) get(name string, now time.Time) *tenantRate {
	tr := r.m[name]
	if tr == nil {
		tr = &tenantRate{}
		r.m[name] = tr
	}
	// Drop what left the window: a time t counts while now < t+60s.
	i := 0
	for i < len(tr.recent) && !now.Before(tr.recent[i].Add(rateWindow)) {
		i++
	}
	if i > 0 {
		tr.recent = slices.Delete(tr.recent, 0, i)
	}
	if d := utcDay(now); d != tr.day {
		if tr.nDay != 0 {
			r.gen++
		}
		tr.day, tr.nDay = d, 0
	}
	return tr
}

// reserve takes one message from t's minute and day allowance. It
// returns "" if it did, or which limit is reached: "rate_limited" (per
// minute: at most perMinute messages in any 60 s) or "quota" (per day).
func (r *rates) reserve(t *tenant, now time.Time) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	tr := r.get(t.name, now)
	switch {
	case t.perDay > 0 && tr.nDay >= t.perDay:
		return "quota"
	case t.perMinute > 0 && len(tr.recent) >= t.perMinute:
		return "rate_limited"
	}
	if t.perMinute > 0 {
		// Without a minute limit nothing is logged: the log stays
		// bounded by the limit.
		tr.recent = append(tr.recent, now)
	}
	tr.nDay++
	r.gen++
	return ""
}

// release gives back a reservation made at `at` for a message that was
// not sent: its place in the minute's window (if it is still in it) and
// in the day's count (if the day has not changed).
func (r *rates) release(name string, at, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	tr := r.get(name, now)
	for i := len(tr.recent) - 1; i >= 0; i-- {
		if tr.recent[i].Equal(at) {
			tr.recent = slices.Delete(tr.recent, i, i+1)
			break
		}
	}
	if utcDay(at) == tr.day && tr.nDay > 0 {
		tr.nDay--
		r.gen++
	}
}

// openConn counts an authenticated session of t; false means t's
// max_connections is reached.
func (r *rates) openConn(t *tenant, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	tr := r.get(t.name, now)
	if t.maxConns > 0 && tr.conns >= t.maxConns {
		return false
	}
	tr.conns++
	return true
}

func (r *rates) closeConn(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if tr := r.m[name]; tr != nil && tr.conns > 0 {
		tr.conns--
	}
}

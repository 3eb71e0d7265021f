package gateway

import (
	"sync"
	"time"
)

// rates holds each tenant's message counters for the current minute and
// day (UTC), and its open authenticated sessions. It outlives reloads.
type rates struct {
	mu sync.Mutex
	m  map[string]*tenantRate
}

type tenantRate struct {
	minute, day int64
	nMin, nDay  int
	conns       int
}

func newRates() *rates { return &rates{m: map[string]*tenantRate{}} }

func (r *rates) get(name string, now time.Time) *tenantRate {
	tr := r.m[name]
	if tr == nil {
		tr = &tenantRate{}
		r.m[name] = tr
	}
	if m := now.Unix() / 60; m != tr.minute {
		tr.minute, tr.nMin = m, 0
	}
	if d := now.Unix() / 86400; d != tr.day {
		tr.day, tr.nDay = d, 0
	}
	return tr
}

// reserve takes one message from t's minute and day allowance. It
// returns "" if it did, or which limit is reached: "rate_limited" (per
// minute) or "quota" (per day).
func (r *rates) reserve(t *tenant, now time.Time) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	tr := r.get(t.name, now)
	switch {
	case t.perDay > 0 && tr.nDay >= t.perDay:
		return "quota"
	case t.perMinute > 0 && tr.nMin >= t.perMinute:
		return "rate_limited"
	}
	tr.nMin++
	tr.nDay++
	return ""
}

// release gives back a reservation made at `at` for a message that was
// not sent.
func (r *rates) release(name string, at, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	tr := r.get(name, now)
	if at.Unix()/60 == tr.minute && tr.nMin > 0 {
		tr.nMin--
	}
	if at.Unix()/86400 == tr.day && tr.nDay > 0 {
		tr.nDay--
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

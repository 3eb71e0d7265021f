package gateway

import (
	"sync"
	"time"
)

// authLimiter counts AUTH failures per client IP and per user name. Each
// failure waits longer before its 535; too many from one IP ban that IP.
// A user's failures slow further failures for that user but never ban it,
// so a correct login from another address still works at once.
type authLimiter struct {
	mu   sync.Mutex
	ip   map[string]*failWindow
	user map[string]*failWindow
	bans map[string]time.Time
}

type failWindow struct {
	start time.Time
	n     int
}

func newAuthLimiter() *authLimiter {
	return &authLimiter{ip: map[string]*failWindow{}, user: map[string]*failWindow{}, bans: map[string]time.Time{}}
}

// banned reports whether ip is banned at now.
func (l *authLimiter) banned(ip string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	until, ok := l.bans[ip]
	if ok && !now.Before(until) {
		delete(l.bans, ip)
		return false
	}
	return ok
}

// activeBans counts the bans in force.
func (l *authLimiter) activeBans(now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, until := range l.bans {
		if now.Before(until) {
			n++
		}
	}
	return n
}

// fail records a failure and returns how long to wait before answering
// and whether the IP is now banned.
func (l *authLimiter) fail(ip, user string, now time.Time, cfg AuthFailuresConfig) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ip)+len(l.user) > 100000 {
		l.prune(now, cfg.Window)
	}
	nIP := bump(l.ip, ip, now, cfg.Window)
	nUser := 0
	if user != "" {
		nUser = bump(l.user, user, now, cfg.Window)
	}
	n := max(nIP, nUser)
	delay := time.Duration(n) * cfg.Delay
	if nUser > cfg.PerUser {
		delay = cfg.MaxDelay
	}
	delay = min(delay, cfg.MaxDelay)
	ban := nIP >= cfg.PerIP
	if ban {
		l.bans[ip] = now.Add(cfg.Ban)
		delete(l.ip, ip)
	}
	return delay, ban
}

// success forgets the user's failures (the right password was given).
func (l *authLimiter) success(user string) {
	l.mu.Lock()
	delete(l.user, user)
	l.mu.Unlock()
}

func bump(m map[string]*failWindow, k string, now time.Time, window time.Duration) int {
	w := m[k]
	if w == nil || now.Sub(w.start) > window {
		w = &failWindow{start: now}
		m[k] = w
	}
	w.n++
	return w.n
}

func (l *authLimiter) prune(now time.Time, window time.Duration) {
	for _, m := range []map[string]*failWindow{l.ip, l.user} {
		for k, w := range m {
			if now.Sub(w.start) > window {
				delete(m, k)
			}
		}
	}
	for k, until := range l.bans {
		if !now.Before(until) {
			delete(l.bans, k)
		}
	}
}

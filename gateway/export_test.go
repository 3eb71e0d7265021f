package gateway

import "sync"

// SetQueueStoreHooks sets test hooks on g's queue: beforeStore runs in
// Deliver just before a message is stored, waiting when Shutdown has to
// wait for messages being stored.
func SetQueueStoreHooks(g *Gateway, beforeStore, waiting func()) {
	g.outq.storeMu.Lock()
	defer g.outq.storeMu.Unlock()
	g.outq.stores.beforeStore, g.outq.stores.waiting = beforeStore, waiting
}

// AuditLinesChecked returns how many audit lines g's GET /api/audit calls
// have checked the hash and prev of.
func AuditLinesChecked(g *Gateway) int64 { return g.auditChain.checked.Load() }

// SetSendHook sets a hook that runs between taking an upstream's Client
// and sending through it (sync relay and queue).
func SetSendHook(g *Gateway, f func()) { g.ups.beforeSend = f }

// WaitRetiredUpstreams waits until the upstream Clients that reloads
// retired are closed.
func WaitRetiredUpstreams(g *Gateway) { g.ups.retired.Wait() }

// CountPasswordChecks makes g count the password comparisons its logins
// make, by scheme and cost ("sha256", "bcrypt/4"); take returns the
// counts since the last take and starts again.
func CountPasswordChecks(g *Gateway) (take func() map[string]int) {
	var mu sync.Mutex
	n := map[string]int{}
	f := func(scheme string) {
		mu.Lock()
		n[scheme]++
		mu.Unlock()
	}
	g.auth.compared.Store(&f)
	return func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		got := n
		n = map[string]int{}
		return got
	}
}

// SetLimitsStateHook sets a function that runs after each write of g's
// limits state file.
func SetLimitsStateHook(g *Gateway, f func()) {
	g.state.mu.Lock()
	defer g.state.mu.Unlock()
	g.state.afterWrite = f
}

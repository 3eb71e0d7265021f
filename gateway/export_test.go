package gateway

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

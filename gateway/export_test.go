package gateway

// SetQueueStoreHooks sets test hooks on g's queue: beforeStore runs in
// Deliver just before a message is stored, waiting when Shutdown has to
// wait for messages being stored.
func SetQueueStoreHooks(g *Gateway, beforeStore, waiting func()) {
	g.outq.storeMu.Lock()
	defer g.outq.storeMu.Unlock()
	g.outq.stores.beforeStore, g.outq.stores.waiting = beforeStore, waiting
}

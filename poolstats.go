package mailer

// PoolStats is a snapshot of a Client's connection pool and rate limit,
// for metrics and health pages. Open, Idle and Busy are read at one moment
// without stopping the senders, so they may be a connection apart while
// connections come and go.
type PoolStats struct {
	// Open counts the connections open now, idle or in use (at most
	// PoolSettings.Size).
	Open int
	// Idle counts the open connections waiting in the pool for a message.
	Idle int
	// Busy counts the open connections carrying a message (or being
	// closed): Open minus Idle.
	Busy int
	// RateWaits counts the attempts, since New, that found the rate limit
	// (WithRateLimit) spent and waited for their turn.
	RateWaits uint64
	// RateRejects counts the attempts, since New, that gave up waiting for
	// the rate limit because their context would end, or ended, first.
	RateRejects uint64
}

// Stats returns the pool's figures now. It takes one short lock and never
// waits for a send, so it may be called at every metrics scrape.
func (c *Client) Stats() PoolStats {
	p := c.pool
	p.mu.Lock()
	idle := len(p.idle)
	p.mu.Unlock()
	open := int(p.open.Load())
	s := PoolStats{Open: max(open, idle), Idle: idle, RateWaits: p.rateWaits.Load(), RateRejects: p.rateRejects.Load()}
	s.Busy = s.Open - s.Idle
	return s
}

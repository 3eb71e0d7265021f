package mailer

import (
	"context"
	"log/slog"
	"slices"
)

// attemptResult is the result of one attempt: who got the message, who was
// refused, and what failed.
type attemptResult struct {
	// delivered lists the recipients the message was delivered to.
	delivered []string
	// response is the server's reply to the end of data ("250 2.0.0 OK …")
	// of the first transaction that delivered the message, with its code
	// and enhanced code.
	response string
	code     int
	enhanced EnhancedCode
	// refused holds one error per recipient refused at RCPT TO.
	refused []*SendError
	// err is the failure of the transaction, which applies to every
	// recipient that is neither delivered nor refused; nil if none.
	err *SendError
	// unsure lists the recipients of the transaction whose reply to the
	// end of data was lost, when err is that loss: the others err applies
	// to (deferred after a 452, or not yet offered) never got the data.
	unsure []string
}

// failed returns the recipients err applies to: those of rcpts neither
// delivered nor refused.
func (r attemptResult) failed(rcpts []string) []string {
	var out []string
	for _, a := range rcpts {
		if slices.Contains(r.delivered, a) || slices.ContainsFunc(r.refused, func(e *SendError) bool {
			return slices.Contains(e.Recipients, a)
		}) {
			continue
		}
		out = append(out, a)
	}
	return out
}

// attempt delivers p to rcpts over a connection from the pool and
// classifies what happened. It never retries, but it does split the
// recipients over several transactions when the server limits their number
// (452 4.5.3), and it replaces a pooled connection found dead before the
// server accepted anything of the message, without counting an attempt.
func (c *Client) attempt(ctx context.Context, p *payload, rcpts []string) attemptResult {
	log := c.cfg.logger
	if log.Enabled(ctx, slog.LevelError) {
		log = log.With(slog.String("message_id", p.messageID))
	}
	cn, serr := c.pool.get(ctx, log)
	if serr != nil {
		return attemptResult{err: c.finish(serr)}
	}
	var res attemptResult
	queue := rcpts // recipients not yet offered to the server
	owned := false // queue is a copy of rcpts
	limit := 0     // most recipients per transaction, once a 452 told it
	redialled := false
	for len(queue) > 0 {
		batch := queue
		if limit > 0 && len(batch) > limit {
			batch = batch[:limit]
		}
		if !redialled {
			// Every transaction waits for its turn under the rate limit.
			if serr := c.pool.wait(ctx); serr != nil {
				res.err = c.finish(serr)
				break
			}
		}
		tr := cn.transaction(p, batch)
		if tr.stale {
			// The pooled connection was dead (the server closed it
			// while idle, answered 421 or garbage) before any of the
			// message was sent: the same transaction goes at once over
			// a new connection.
			log.LogAttrs(ctx, slog.LevelDebug, "smtp pooled connection is gone, dialling again",
				slog.String("error", tr.err.Error()))
			if cn, serr = c.pool.replace(ctx, cn, log); serr != nil {
				c.pool.release()
				res.err = c.finish(serr)
				return res
			}
			redialled = true
			continue
		}
		redialled = false
		res.delivered = append(res.delivered, tr.delivered...)
		if res.response == "" {
			res.response, res.code, res.enhanced = tr.response, tr.code, tr.enhanced
		}
		for _, r := range tr.refused {
			res.refused = append(res.refused, c.finish(r))
		}
		if tr.err != nil {
			res.err, res.unsure = c.finish(tr.err), tr.unsure
			break
		}
		if len(tr.deferred) == 0 {
			queue = queue[len(batch):]
			continue
		}
		// The server limits recipients per transaction (452 4.5.3): the
		// next transactions offer no more than it took in this one, so
		// that the commands grow linearly with the recipients. The
		// deferred ones, a subset of batch in order, go first.
		if k := len(tr.delivered); limit == 0 || k < limit {
			limit = k
		}
		if !owned {
			queue, owned = slices.Clone(queue), true
		}
		start := len(batch) - len(tr.deferred)
		copy(queue[start:], tr.deferred)
		queue = queue[start:]
	}
	c.pool.put(cn)
	return res
}

// finish applies the first matching reply rule to e.
func (c *Client) finish(e *SendError) *SendError {
	for _, r := range c.cfg.rules {
		if r.matches(e) {
			e.Hint, e.outcome, e.minWait = r.Hint, r.Outcome, r.MinWait
			break
		}
	}
	return e
}

package mailer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// SendAll delivers msgs concurrently over the Client's pool of connections
// (see [WithPool]), each message as Send would, with its own retries. It
// returns when every message is delivered or given up on.
//
// receipts[i] is the Receipt of msgs[i]: its MessageID is empty when msgs[i]
// reached no recipient. err is nil when every message reached all of its
// recipients; otherwise it joins ([errors.Join]), in the order of msgs, the
// error of each message that failed for some recipient: a *SendError that
// names the message's MessageID. Cancelling ctx gives up on the messages
// not yet delivered.
//
//	receipts, err := c.SendAll(ctx, msgs...)
//	for i, r := range receipts {
//		if r.MessageID == "" {
//			// msgs[i] was not delivered; err says why.
//		}
//	}
//
// SendAll runs twice as many goroutines as the pool has connections: a
// message waiting to be retried holds no connection, and the spare
// goroutines keep the connections busy meanwhile.
func (c *Client) SendAll(ctx context.Context, msgs ...*Message) ([]Receipt, error) {
	receipts := make([]Receipt, len(msgs))
	if !c.acquire() {
		return receipts, ErrClientClosed
	}
	defer c.inflight.Done()
	ctx, release := c.watch(ctx)
	defer release()
	errs := make([]error, len(msgs))
	var next atomic.Int64 // index of the next message to send
	var wg sync.WaitGroup
	for range min(len(msgs), 2*c.cfg.pool.size) {
		wg.Go(func() {
			var gid uint64 // the worker's goroutine, for hooks (one stack trace per worker)
			if c.hooks != nil {
				gid = goroutineID()
			}
			for {
				i := int(next.Add(1)) - 1
				if i >= len(msgs) {
					return
				}
				if msgs[i] == nil {
					errs[i] = fmt.Errorf("mailer: message %d: %w", i, ErrNilMessage)
					continue
				}
				p, err := c.payloadFor(msgs[i])
				if err != nil {
					errs[i] = err
					continue
				}
				receipts[i], errs[i] = c.sendOn(ctx, p, gid)
			}
		})
	}
	wg.Wait()
	return receipts, errors.Join(errs...)
}

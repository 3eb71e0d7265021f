package mailer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
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
// SendAll runs one goroutine per pooled connection. While some messages
// wait to be retried, up to as many again join in, so that the waits do
// not hold the connections idle.
func (c *Client) SendAll(ctx context.Context, msgs ...*Message) ([]Receipt, error) {
	receipts := make([]Receipt, len(msgs))
	if !c.acquire() {
		return receipts, ErrClientClosed
	}
	defer c.inflight.Done()
	if len(msgs) == 0 {
		return receipts, nil
	}
	errs := make([]error, len(msgs))
	size := min(len(msgs), c.cfg.pool.size)
	b := &batch{
		c: c, ctx: ctx, msgs: msgs, receipts: receipts, errs: errs,
		busy: make([]atomic.Int64, 2*size), spare: make(chan struct{}), stop: make(chan struct{}),
	}
	var primary, all sync.WaitGroup
	for w := range 2 * size {
		all.Add(1)
		if w < size {
			primary.Add(1)
		}
		go func() {
			defer all.Done()
			if w < size {
				defer primary.Done()
			} else {
				select {
				case <-b.spare:
				case <-b.stop:
					return
				}
			}
			b.work(w)
		}()
	}
	all.Add(1)
	go func() {
		defer all.Done()
		b.supervise()
	}()
	primary.Wait()
	close(b.stop)
	all.Wait()
	return receipts, errors.Join(errs...)
}

// stuckAfter is how long a message may take before SendAll lets a spare
// worker use the connection it is probably not using (it waits to be
// retried); spareCheck is how often SendAll looks.
const (
	stuckAfter = 500 * time.Millisecond
	spareCheck = 100 * time.Millisecond
)

// batch is one SendAll.
type batch struct {
	c        *Client
	ctx      context.Context
	msgs     []*Message
	receipts []Receipt
	errs     []error
	next     atomic.Int64   // index of the next message to send
	busy     []atomic.Int64 // per worker: when its current message started (UnixNano), or 0
	spare    chan struct{}  // wakes a spare worker
	stop     chan struct{}  // closed when the primary workers are done
}

// work sends messages until none is left.
func (b *batch) work(w int) {
	for {
		i := int(b.next.Add(1)) - 1
		if i >= len(b.msgs) {
			return
		}
		if b.msgs[i] == nil {
			b.errs[i] = fmt.Errorf("mailer: message %d: %w", i, ErrNilMessage)
			continue
		}
		b.busy[w].Store(time.Now().UnixNano())
		b.receipts[i], b.errs[i] = b.c.send(b.ctx, b.msgs[i])
		b.busy[w].Store(0)
	}
}

// supervise wakes a spare worker whenever more workers are stuck on a
// message than spare workers were woken, while messages are left.
func (b *batch) supervise() {
	woken := 0
	t := time.NewTicker(spareCheck)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
		}
		if int(b.next.Load()) >= len(b.msgs) {
			continue
		}
		now := time.Now().UnixNano()
		stuck := 0
		for i := range b.busy {
			if s := b.busy[i].Load(); s != 0 && now-s >= int64(stuckAfter) {
				stuck++
			}
		}
		if stuck > woken {
			select {
			case b.spare <- struct{}{}:
				woken++
			default: // every spare worker is already at work
			}
		}
	}
}

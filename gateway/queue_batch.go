package gateway

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/postkit/mailer/outbox"
)

// batcher stores the messages that sessions finish at the same time in
// one EnqueueRawMany (one INSERT and one job insert for all, one commit):
// the first session to arrive stores what is pending, and those that
// arrive while it does wait and are stored by the next round. No timer
// adds latency: a lone message is stored at once.
type batcher struct {
	ob outboxAPI

	mu      sync.Mutex
	pending []*batchReq
	busy    bool
}

type batchReq struct {
	msg  outbox.RawMessage
	done chan error
	lead chan struct{} // this request's session now stores the batches
}

// maxBatch bounds the messages of one EnqueueRawMany.
const maxBatch = 256

// batchTimeout bounds one batch's store, whichever session runs it.
const batchTimeout = 30 * time.Second

// enqueue stores m and returns once it is committed, or with the error.
// The session that stores a batch stops leading once its own message is
// stored and hands the lead to the oldest waiting session: under steady
// load no session keeps storing others' messages while its own client
// waits for its 250.
func (b *batcher) enqueue(m outbox.RawMessage) error {
	r := &batchReq{msg: m, done: make(chan error, 1), lead: make(chan struct{}, 1)}
	b.mu.Lock()
	b.pending = append(b.pending, r)
	if b.busy {
		b.mu.Unlock()
		// Not cut by ctx: the batch may commit it, and a client told 4xx
		// must not see it delivered. batchTimeout bounds each store.
		select {
		case err := <-r.done:
			return err
		case <-r.lead:
		}
		b.mu.Lock()
	}
	b.busy = true
	for stored := false; !stored; {
		n := min(len(b.pending), maxBatch)
		batch := b.pending[:n:n]
		b.pending = b.pending[n:]
		b.mu.Unlock()
		stored = slices.Contains(batch, r)
		b.store(batch)
		b.mu.Lock()
	}
	if len(b.pending) > 0 {
		b.pending[0].lead <- struct{}{} // busy stays true: it leads now
	} else {
		b.busy = false
	}
	b.mu.Unlock()
	return <-r.done
}

// store commits batch; if the batch fails as a whole, each message is
// stored on its own so that one bad message fails alone.
func (b *batcher) store(batch []*batchReq) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	if len(batch) > 1 {
		msgs := make([]outbox.RawMessage, len(batch))
		for i, r := range batch {
			msgs[i] = r.msg
		}
		if _, err := b.ob.EnqueueRawMany(ctx, msgs); err == nil {
			for _, r := range batch {
				r.done <- nil
			}
			return
		}
	}
	for _, r := range batch {
		_, err := b.ob.EnqueueRaw(ctx, r.msg.Envelope, r.msg.Message, outbox.Key(r.msg.Key), outbox.Route(r.msg.Route))
		r.done <- err
	}
}

package gateway

import "time"

// storeGate counts the Deliver calls under way. Their stores are not cut
// by their sessions' contexts (batchTimeout bounds them), so a store can
// outlast the sessions' drain: shutdown closes the gate and waits for it
// before it stops the outbox and closes the audit, or the store would
// meet a closed database (on PostgreSQL, pgxpool.Close would wait for
// it) and its session's audit line a closed log.
type storeGate struct {
	n      int           // Deliver calls under way
	idle   chan struct{} // closed when n falls to 0; nil while n is 0
	closed bool          // shutdown: no new Deliver is taken

	// beforeStore and waiting are test hooks: beforeStore runs in Deliver
	// just before the store, waiting when closeStores has to wait.
	beforeStore, waiting func()
}

// beginStore counts a Deliver in and returns the beforeStore hook; it
// reports false, counting nothing, once closeStores has been called.
func (q *queue) beginStore() (hook func(), ok bool) {
	q.storeMu.Lock()
	defer q.storeMu.Unlock()
	s := &q.stores
	if s.closed {
		return nil, false
	}
	if s.n == 0 {
		s.idle = make(chan struct{})
	}
	s.n++
	return s.beforeStore, true
}

// endStore counts a Deliver out.
func (q *queue) endStore() {
	q.storeMu.Lock()
	defer q.storeMu.Unlock()
	s := &q.stores
	if s.n--; s.n == 0 {
		close(s.idle)
		s.idle = nil
	}
}

// closeStores makes Deliver refuse new messages (the session is ending:
// 421, nothing stored) and waits until those under way are done or until
// the deadline; it reports whether they are done.
func (q *queue) closeStores(deadline time.Time) bool {
	q.storeMu.Lock()
	s := &q.stores
	s.closed = true
	idle, waiting := s.idle, s.waiting
	q.storeMu.Unlock()
	if idle == nil {
		return true
	}
	if waiting != nil {
		waiting()
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-idle:
		return true
	case <-t.C:
		return false
	}
}

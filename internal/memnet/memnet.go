// Package memnet is an in-memory network for tests: a listener whose
// connections are buffered pipes with deadlines, so that a test can run
// a client and a server inside a testing/synctest bubble, where time is
// virtual. Every wait (a full buffer, an empty one, the accept queue)
// blocks on a sync.Cond or a channel, which synctest counts as durably
// blocked; deadlines are time.AfterFunc timers, which run on the
// bubble's fake clock.
//
// Unlike net.Pipe, each direction holds up to bufferSize bytes, as a
// socket buffer does: a server can answer while the client is still
// writing, and a writer of more than the buffer blocks until the reader
// reads, as it would over TCP.
package memnet

import (
	"context"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// bufferSize is what each direction holds before Write blocks: about
// what a loopback TCP connection holds, so that tests of a big message
// written into a closed or slow server behave as they do over TCP.
const bufferSize = 256 << 10

// A Listener accepts the connections Dial makes. It is safe for
// concurrent use.
type Listener struct {
	addr  *net.TCPAddr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	mu    sync.Mutex
	next  int // the next client port
}

// Listen returns a listener whose address is 127.0.0.1:port. The port
// only names the listener; nothing is bound.
func Listen(port int) *Listener {
	return &Listener{
		addr:  &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port},
		conns: make(chan net.Conn),
		done:  make(chan struct{}),
		next:  40000,
	}
}

// Accept waits for the next connection.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.addr, Err: net.ErrClosed}
	}
}

// Close stops Accept; Dial is refused from then on. Connections already
// made stay open.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr returns the listener's address.
func (l *Listener) Addr() net.Addr { return l.addr }

// Dial connects to the listener: it returns when Accept has taken the
// server's end, when ctx ends, or with ECONNREFUSED once the listener is
// closed.
func (l *Listener) Dial(ctx context.Context) (net.Conn, error) {
	select {
	case <-l.done:
		return nil, l.refused()
	default:
	}
	l.mu.Lock()
	l.next++
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: l.next}
	l.mu.Unlock()
	client, server := Pipe(local, l.addr)
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, l.refused()
	case <-ctx.Done():
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: l.addr, Err: ctx.Err()}
	}
}

func (l *Listener) refused() error {
	return &net.OpError{Op: "dial", Net: "tcp", Addr: l.addr, Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
}

// link is the state both ends of a connection share: one lock and one
// condition for both directions, which is simple and fast enough for
// tests.
type link struct {
	mu   sync.Mutex
	cond sync.Cond
}

// half is one direction of a connection.
type half struct {
	buf        []byte
	off        int  // buf[off:] is unread
	eof        bool // the writer closed: reads end after the buffer
	readerGone bool // the reader closed: writes fail
}

func (h *half) unread() int { return len(h.buf) - h.off }

// Conn is one end of a Pipe.
type Conn struct {
	l             *link
	in, out       *half
	local, remote net.Addr
	closed        bool
	peer          *Conn
	rd, wd        time.Time
	rt, wt        *time.Timer
}

// Pipe returns the two ends of an in-memory connection: a's address is
// aAddr, b's is bAddr.
func Pipe(aAddr, bAddr net.Addr) (a, b *Conn) {
	l := &link{}
	l.cond.L = &l.mu
	ab, ba := &half{}, &half{}
	a = &Conn{l: l, in: ba, out: ab, local: aAddr, remote: bAddr}
	b = &Conn{l: l, in: ab, out: ba, local: bAddr, remote: aAddr}
	a.peer, b.peer = b, a
	return a, b
}

func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.local, Addr: c.remote, Err: err}
}

// Read reads what the peer wrote; io.EOF once the peer closed and the
// buffer is empty.
func (c *Conn) Read(b []byte) (int, error) {
	c.l.mu.Lock()
	defer c.l.mu.Unlock()
	for {
		switch {
		case c.closed:
			return 0, c.opError("read", net.ErrClosed)
		case !c.rd.IsZero() && !time.Now().Before(c.rd):
			return 0, c.opError("read", os.ErrDeadlineExceeded)
		case c.in.unread() > 0:
			n := copy(b, c.in.buf[c.in.off:])
			c.in.off += n
			if c.in.off == len(c.in.buf) {
				c.in.buf, c.in.off = c.in.buf[:0], 0
			}
			c.l.cond.Broadcast()
			return n, nil
		case c.in.eof:
			return 0, io.EOF
		case len(b) == 0:
			return 0, nil
		}
		c.l.cond.Wait()
	}
}

// Write writes b into the peer's buffer, waiting while it is full.
func (c *Conn) Write(b []byte) (int, error) {
	c.l.mu.Lock()
	defer c.l.mu.Unlock()
	n := 0
	for {
		switch {
		case c.closed:
			return n, c.opError("write", net.ErrClosed)
		case c.out.readerGone:
			return n, c.opError("write", os.NewSyscallError("write", syscall.EPIPE))
		case !c.wd.IsZero() && !time.Now().Before(c.wd):
			return n, c.opError("write", os.ErrDeadlineExceeded)
		case len(b) == 0:
			return n, nil
		}
		if space := bufferSize - c.out.unread(); space > 0 {
			k := min(space, len(b))
			if c.out.off > 0 && len(c.out.buf)+k > cap(c.out.buf) {
				m := copy(c.out.buf, c.out.buf[c.out.off:])
				c.out.buf, c.out.off = c.out.buf[:m], 0
			}
			c.out.buf = append(c.out.buf, b[:k]...)
			b, n = b[k:], n+k
			c.l.cond.Broadcast()
			continue
		}
		c.l.cond.Wait()
	}
}

// Close closes this end: the peer reads the rest of the buffer and then
// io.EOF, and its writes fail.
func (c *Conn) Close() error {
	c.l.mu.Lock()
	defer c.l.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	c.out.eof = true
	c.in.readerGone = true
	c.in.buf, c.in.off = nil, 0
	c.stop(&c.rt)
	c.stop(&c.wt)
	c.l.cond.Broadcast()
	return nil
}

// PeerClosed reports whether the other end has been closed.
func (c *Conn) PeerClosed() bool {
	c.l.mu.Lock()
	defer c.l.mu.Unlock()
	return c.peer.closed
}

// LocalAddr returns this end's address.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr returns the other end's address.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	_ = c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// SetReadDeadline makes Read fail with os.ErrDeadlineExceeded from t on;
// the zero time means none.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.setDeadline(&c.rd, &c.rt, t) }

// SetWriteDeadline makes Write fail with os.ErrDeadlineExceeded from t
// on; the zero time means none.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.setDeadline(&c.wd, &c.wt, t) }

func (c *Conn) setDeadline(d *time.Time, timer **time.Timer, t time.Time) error {
	c.l.mu.Lock()
	defer c.l.mu.Unlock()
	if c.closed {
		return c.opError("set", net.ErrClosed)
	}
	*d = t
	c.stop(timer)
	if !t.IsZero() {
		*timer = time.AfterFunc(time.Until(t), func() {
			c.l.mu.Lock()
			c.l.cond.Broadcast()
			c.l.mu.Unlock()
		})
	}
	c.l.cond.Broadcast()
	return nil
}

func (c *Conn) stop(timer **time.Timer) {
	if *timer != nil {
		(*timer).Stop()
		*timer = nil
	}
}

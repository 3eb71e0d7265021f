package mailertest

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"time"
)

// WithoutPipelining makes the server leave PIPELINING (RFC 2920) out of its
// EHLO reply, as some older servers do, so that clients send one command
// at a time.
func WithoutPipelining() Option { return func(o *options) { o.noPipelining = true } }

// WithIdleTimeout makes the server close a connection on which the client
// sent no command for d, after a "421 4.4.2" reply, as Amazon SES and
// Postfix do with idle connections.
func WithIdleTimeout(d time.Duration) Option { return func(o *options) { o.idleTimeout = d } }

// CloseConnections closes every open client connection at once, as a
// server restart or a load balancer would, and returns how many it closed.
// Clients see their connections end (EOF) on their next read. The server
// goes on accepting new connections.
func (s *Server) CloseConnections() int {
	s.mu.Lock()
	conns := make([]*connState, 0, len(s.conns))
	for _, cs := range s.conns {
		conns = append(conns, cs)
	}
	s.mu.Unlock()
	for _, cs := range conns {
		cs.closeAll()
	}
	return len(conns)
}

// Open returns how many client connections are open now.
func (s *Server) Open() int {
	s.reap()
	s.countMu.Lock()
	defer s.countMu.Unlock()
	return s.open
}

// Line limits, as a real server has them: a command line or a line of
// message text may be 2,000 octets long, CRLF included (go-smtp's
// default; Postfix's line_length_limit is 2,048), and a line of the AUTH
// exchange 12,288 (RFC 4954 section 4), for long OAuth 2.0 tokens. A longer
// line gets "500 5.4.0" and the connection is closed, as go-smtp does.
const (
	maxLine     = 2000
	maxAuthLine = 12288
)

var errLineTooLong = errors.New("line too long")

// readLine reads one line of at most limit octets from the client. A
// longer one is answered and ends the connection.
func (cs *connState) readLine(limit int) (string, error) {
	var line []byte
	for {
		l, err := cs.cr.ReadSlice('\n')
		if len(line)+len(l) > limit {
			return "", cs.lineTooLong()
		}
		line = append(line, l...)
		if err == bufio.ErrBufferFull {
			continue
		}
		return string(line), err
	}
}

// lineTooLong answers a line over the limit and ends the connection.
func (cs *connState) lineTooLong() error {
	cs.record(true, "<line too long>")
	_ = cs.reply([]byte("500 5.4.0 Too long line, closing connection\r\n"))
	return errLineTooLong
}

// readCommand reads the client's next command line. With an idle timeout,
// a client that stays silent for that long gets 421 and is disconnected.
func (cs *connState) readCommand() (string, error) {
	d := cs.srv.opts.idleTimeout
	if d <= 0 {
		return cs.readLine(maxAuthLine)
	}
	cs.mu.Lock()
	front := cs.front
	cs.mu.Unlock()
	_ = front.SetReadDeadline(time.Now().Add(d))
	line, err := cs.readLine(maxAuthLine)
	if errors.Is(err, os.ErrDeadlineExceeded) && line == "" {
		_ = front.SetWriteDeadline(time.Now().Add(time.Second))
		_ = cs.reply([]byte("421 4.4.2 mailertest closing idle connection\r\n"))
		return "", err
	}
	_ = front.SetReadDeadline(time.Time{})
	return line, err
}

// hideCapabilities removes from an EHLO reply what the server does not
// offer: CHUNKING always (the front end relays DATA only, so a BDAT
// would hang), PIPELINING when the server is configured without it.
func (cs *connState) hideCapabilities(reply []byte) []byte {
	if !bytes.HasPrefix(reply, []byte("250")) {
		return reply
	}
	lines := strings.Split(strings.TrimRight(string(reply), "\r\n"), "\r\n")
	var out []string
	for _, l := range lines {
		if len(l) >= 4 {
			capability := strings.TrimSpace(l[4:])
			if strings.EqualFold(capability, "CHUNKING") ||
				cs.srv.opts.noPipelining && strings.EqualFold(capability, "PIPELINING") {
				continue
			}
		}
		out = append(out, l)
	}
	var b strings.Builder
	for i, l := range out {
		if len(l) >= 4 {
			sep := "-"
			if i == len(out)-1 {
				sep = " "
			}
			l = l[:3] + sep + l[4:]
		}
		b.WriteString(l + "\r\n")
	}
	return []byte(b.String())
}

// track counts a client connection as open until it is closed: by the
// server (the count drops before the client can see the connection end,
// so that a client that waits for the end of one connection before it
// opens the next is never counted twice), or by the client, as soon as
// the server's TCP end knows it, even if the connection's goroutine is
// busy (in a Delay) and has not read the end yet.
func (s *Server) track(c net.Conn) *countedConn {
	s.reap()
	cc := &countedConn{Conn: c, srv: s}
	s.countMu.Lock()
	defer s.countMu.Unlock()
	s.open++
	s.maxOpen = max(s.maxOpen, s.open)
	s.live[cc] = struct{}{}
	return cc
}

// reap stops counting the connections the client has closed or reset.
func (s *Server) reap() {
	s.countMu.Lock()
	conns := make([]*countedConn, 0, len(s.live))
	for c := range s.live {
		conns = append(conns, c)
	}
	s.countMu.Unlock()
	for _, c := range conns {
		if pc, ok := c.Conn.(interface{ PeerClosed() bool }); ok && pc.PeerClosed() || peerClosed(c.Conn) {
			c.release()
		}
	}
}

type countedConn struct {
	net.Conn
	srv  *Server
	once sync.Once
}

// release stops counting the connection; the first call counts.
func (c *countedConn) release() {
	c.once.Do(func() {
		c.srv.countMu.Lock()
		c.srv.open--
		delete(c.srv.live, c)
		c.srv.countMu.Unlock()
	})
}

func (c *countedConn) Close() error {
	c.release()
	return c.Conn.Close()
}

// SetLinger sets SO_LINGER on the TCP connection, for resets.
func (c *countedConn) SetLinger(sec int) error {
	if tcp, ok := c.Conn.(*net.TCPConn); ok {
		return tcp.SetLinger(sec)
	}
	return nil
}

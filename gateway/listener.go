package gateway

import (
	"crypto/tls"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// guardListener enforces the connection caps and the AUTH bans before
// go-smtp sees a connection (go-smtp has neither; go-smtp#193, #130).
type guardListener struct {
	net.Listener
	g        *Gateway
	name     string
	implicit bool
}

func (l *guardListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		gc, reason := l.g.admit(c, l.name, l.implicit)
		l.g.prom.conn(l.name, reason)
		if gc == nil {
			l.g.reject(c, reason, l.implicit)
			continue
		}
		return gc, nil
	}
}

func remoteIP(c net.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	h, _, _ := net.SplitHostPort(c.RemoteAddr().String())
	return h
}

// Kill states of a guardConn.
const (
	connOpen  = iota
	connDrain // close when not in DATA: reads time out, go-smtp answers 421 and closes
	connKill  // reads end at once (EOF): go-smtp closes without another reply
)

// guardConn wraps each client connection: it slides the read deadline
// during DATA (go-smtp's deadline covers the whole body), lets the gateway
// close idle sessions on drain and kill banned ones, and keeps what the
// session audit line needs.
type guardConn struct {
	net.Conn
	g        *Gateway
	ip       string
	listener string
	opened   time.Time

	mu        sync.Mutex
	state     int
	inData    bool
	dataGen   int
	dataIdle  time.Duration
	dataLimit time.Time
	timedOut  bool
	cmdIdle   time.Duration // the tenant's command timeout, once known
	closed    bool
	info      sessionInfo
	// A TLS handshake began (implicit TLS, or a STARTTLS ClientHello) and
	// has not completed yet: counted as a failure if the connection ends
	// so (mailgate_tls_handshake_failures_total).
	tlsPending, tlsDone bool
}

// sessionInfo is what the session audit line reports.
type sessionInfo struct {
	id       string
	tls      string
	tenant   string
	user     string
	messages int
	authFail int
	// clearAuth: an AUTH came before TLS (audited once).
	clearAuth bool
}

// timeoutError is returned by reads of a connection being drained.
type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func (c *guardConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	switch {
	case c.state == connKill:
		c.mu.Unlock()
		return 0, io.EOF
	case c.state == connDrain && !c.inData:
		c.mu.Unlock()
		return 0, timeoutError{}
	case c.inData:
		d := time.Now().Add(c.dataIdle)
		if d.After(c.dataLimit) {
			d = c.dataLimit
		}
		c.Conn.SetReadDeadline(d)
	}
	c.mu.Unlock()
	n, err := c.Conn.Read(p)
	if err != nil && os.IsTimeout(err) {
		c.mu.Lock()
		if c.inData {
			c.timedOut = true
		}
		c.mu.Unlock()
	}
	return n, err
}

func (c *guardConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	switch {
	case c.state != connOpen && !c.inData:
		t = time.Now()
	case c.cmdIdle > 0 && !t.IsZero() && !c.inData:
		// go-smtp sets its server-wide timeout before each command.
		t = time.Now().Add(c.cmdIdle)
	}
	c.mu.Unlock()
	return c.Conn.SetReadDeadline(t)
}

func (c *guardConn) SetDeadline(t time.Time) error {
	c.SetWriteDeadline(t)
	return c.SetReadDeadline(t)
}

// beginData switches to the sliding DATA deadline. It returns a number
// for endData, so that a BDAT Data goroutine ending late (after an RSET)
// does not end the next message's DATA.
func (c *guardConn) beginData(idle, max time.Duration) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dataGen++
	c.inData, c.timedOut = true, false
	c.dataIdle, c.dataLimit = idle, time.Now().Add(max)
	return c.dataGen
}

// endData leaves DATA; it reports whether a read timed out in it.
func (c *guardConn) endData(gen int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.dataGen {
		return false
	}
	c.inData = false
	if c.state == connDrain {
		c.Conn.SetReadDeadline(time.Now())
	}
	return c.timedOut
}

// drain closes the session at its next read outside DATA.
func (c *guardConn) drain() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == connOpen {
		c.state = connDrain
	}
	if !c.inData {
		c.Conn.SetReadDeadline(time.Now())
	}
}

// kill ends the session after the reply being written.
func (c *guardConn) kill() {
	c.mu.Lock()
	c.state = connKill
	c.Conn.SetReadDeadline(time.Now())
	c.mu.Unlock()
}

func (c *guardConn) Close() error {
	c.mu.Lock()
	first := !c.closed
	c.closed = true
	c.mu.Unlock()
	err := c.Conn.Close()
	if first {
		c.g.forget(c)
	}
	return err
}

// tlsBegin notes a ClientHello (STARTTLS; implicit TLS is pending from
// the start). c may be nil.
func (c *guardConn) tlsBegin() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.tlsPending, c.tlsDone = true, false
	c.mu.Unlock()
}

// tlsComplete is the tls.Config's VerifyConnection: the handshake went
// through. c may be nil.
func (c *guardConn) tlsComplete(tls.ConnectionState) error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	c.tlsDone = true
	c.mu.Unlock()
	return nil
}

// underlying finds the guardConn under a go-smtp connection (which may be
// a *tls.Conn after STARTTLS or on an implicit TLS listener).
func underlying(c net.Conn) *guardConn {
	for {
		switch v := c.(type) {
		case *guardConn:
			return v
		case *tls.Conn:
			c = v.NetConn()
		default:
			return nil
		}
	}
}

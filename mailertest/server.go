// Package mailertest runs a real SMTP server in process, for testing code
// that sends mail with package mailer (or with any SMTP client).
//
// The server listens on 127.0.0.1 on a free port (or, with
// WithInMemoryNetwork, on an in-memory network, for tests in a
// testing/synctest bubble, where time is virtual), speaks implicit TLS or
// STARTTLS with a certificate from a CA made in memory, accepts AUTH PLAIN,
// LOGIN, CRAM-MD5 and XOAUTH2 with the credentials you give it, and records
// every message it accepts and every command it receives. Faults (a reply
// code, a dropped connection, a delay, garbage bytes) can be scripted at any
// step. The SMTP protocol itself is handled by github.com/emersion/go-smtp.
//
//	srv := mailertest.NewServer(t, mailertest.WithUser("alice", "secret"))
//	c, err := mailer.New(srv.Options())
//	…
//	msgs := srv.Messages()
package mailertest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/postkit/mailer"
)

// TLSMode says how the server offers TLS.
type TLSMode uint8

// TLS modes of the server.
const (
	// TLSStartTLS offers STARTTLS and accepts AUTH only after it (the default).
	TLSStartTLS TLSMode = iota
	// TLSImplicit speaks TLS from the first byte, as on port 465.
	TLSImplicit
	// TLSNone offers no TLS at all and accepts AUTH in clear text.
	TLSNone
)

// String returns "starttls", "implicit" or "none".
func (m TLSMode) String() string {
	return [...]string{"starttls", "implicit", "none"}[m]
}

type credential struct {
	user, secret string
	valid        func(secret string) bool // WithTokenFunc: decides instead of secret
}

type options struct {
	tls             TLSMode
	users           []credential
	tokens          []credential
	mechs           []string
	faults          []Fault
	faultFunc       FaultFunc
	attemptFault    func(messageID string, attempt int) *Fault
	smtputf8        bool
	dsn             bool
	maxMessageBytes int64
	noEnhanced      bool
	noPipelining    bool          // connections.go
	idleTimeout     time.Duration // connections.go
	memory          bool          // memory.go
}

// An Option configures a Server.
type Option func(*options)

// WithTLS sets how the server offers TLS. The default is TLSStartTLS.
func WithTLS(mode TLSMode) Option { return func(o *options) { o.tls = mode } }

// WithUser adds an account for AUTH PLAIN, LOGIN and CRAM-MD5. Once any
// account exists, MAIL is refused (530) until the client authenticates.
func WithUser(user, password string) Option {
	return func(o *options) { o.users = append(o.users, credential{user: user, secret: password}) }
}

// WithToken adds an account for AUTH XOAUTH2 with an access token.
func WithToken(user, token string) Option {
	return func(o *options) { o.tokens = append(o.tokens, credential{user: user, secret: token}) }
}

// WithTokenFunc adds an account for AUTH XOAUTH2 whose access tokens
// valid decides, for tokens that expire or are revoked while the server
// runs. It is called from the connections' goroutines.
func WithTokenFunc(user string, valid func(token string) bool) Option {
	return func(o *options) { o.tokens = append(o.tokens, credential{user: user, valid: valid}) }
}

// WithMechanisms sets the AUTH mechanisms the server advertises and
// accepts. The default is PLAIN, LOGIN and CRAM-MD5, plus XOAUTH2 when a
// token was given.
func WithMechanisms(mechs ...string) Option {
	return func(o *options) { o.mechs = append([]string(nil), mechs...) }
}

// WithSMTPUTF8 makes the server advertise SMTPUTF8 (RFC 6531).
func WithSMTPUTF8() Option { return func(o *options) { o.smtputf8 = true } }

// WithDSN makes the server advertise DSN (RFC 3461) and accept its
// parameters (NOTIFY, ORCPT, RET, ENVID), which the transcript shows.
func WithDSN() Option { return func(o *options) { o.dsn = true } }

// WithoutEnhancedStatusCodes makes the server leave RFC 3463 codes out of
// its replies and not advertise ENHANCEDSTATUSCODES, as older servers do.
func WithoutEnhancedStatusCodes() Option { return func(o *options) { o.noEnhanced = true } }

// WithMaxMessageBytes sets the SIZE limit; larger messages get 552. The
// default is 64 MiB.
func WithMaxMessageBytes(n int64) Option { return func(o *options) { o.maxMessageBytes = n } }

// A Server is an SMTP server on 127.0.0.1. Its methods are safe for
// concurrent use.
type Server struct {
	opts   options
	ca     *authority
	tlsCf  *tls.Config
	front  net.Listener
	back   net.Listener
	smtpd  *smtp.Server
	done   chan struct{}
	served chan struct{} // closed when smtpd.Serve returns
	wg     sync.WaitGroup

	mu         sync.Mutex
	closed     bool
	nextConn   int
	conns      map[int]*connState
	byBackAddr map[string]*connState
	messages   []Message
	arrived    chan struct{} // closed and replaced when a message arrives (find.go)
	transcript []Line
	counts     map[Step]int
	attempts   map[string]int // final dots seen per Message-ID (WithAttemptFaultFunc)
	countMu    sync.Mutex     // guards open, maxOpen and live (connections.go)
	open       int
	maxOpen    int
	live       map[*countedConn]struct{}
}

// NewServer starts a Server for the duration of test t; it is closed by
// t.Cleanup. NewServer fails the test if the server cannot start.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := Start(opts...)
	if err != nil {
		t.Fatalf("mailertest: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Start starts a Server outside of a test. Call Close when done.
func Start(opts ...Option) (*Server, error) {
	s := &Server{
		done:       make(chan struct{}),
		conns:      make(map[int]*connState),
		byBackAddr: make(map[string]*connState),
		counts:     make(map[Step]int),
		attempts:   make(map[string]int),
		live:       make(map[*countedConn]struct{}),
	}
	s.opts.maxMessageBytes = 64 << 20
	for _, o := range opts {
		if o != nil {
			o(&s.opts)
		}
	}
	if s.opts.mechs == nil {
		s.opts.mechs = []string{"PLAIN", "LOGIN", "CRAM-MD5"}
		if len(s.opts.tokens) > 0 {
			s.opts.mechs = append(s.opts.mechs, "XOAUTH2")
		}
	}
	ca, err := newAuthority()
	if err != nil {
		return nil, fmt.Errorf("making certificates: %w", err)
	}
	s.ca = ca
	s.tlsCf = &tls.Config{Certificates: []tls.Certificate{ca.server}, MinVersion: tls.VersionTLS12}

	if err := s.listen(); err != nil {
		return nil, err
	}
	s.smtpd = smtp.NewServer(backend{s})
	s.smtpd.Domain = "mailertest.local"
	s.smtpd.AllowInsecureAuth = true // the front end enforces the TLS policy
	s.smtpd.EnableSMTPUTF8 = s.opts.smtputf8
	s.smtpd.EnableDSN = s.opts.dsn
	s.smtpd.MaxMessageBytes = s.opts.maxMessageBytes
	s.smtpd.MaxLineLength = maxAuthLine // the front end applies the limits (connections.go)
	s.smtpd.ReadTimeout = 5 * time.Minute
	s.smtpd.WriteTimeout = 5 * time.Minute
	s.smtpd.ErrorLog = log.New(io.Discard, "", 0)

	s.served = make(chan struct{})
	s.wg.Add(1)
	go func() {
		defer close(s.served)
		_ = s.smtpd.Serve(s.back)
	}()
	go func() {
		defer s.wg.Done()
		s.acceptLoop()
	}()
	return s, nil
}

func (s *Server) acceptLoop() {
	for {
		c, err := s.front.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.nextConn++
		counted := s.track(c)
		cs := &connState{id: s.nextConn, srv: s, front: counted, counted: counted}
		s.conns[cs.id] = cs
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			cs.serve()
			s.mu.Lock()
			delete(s.conns, cs.id)
			s.mu.Unlock()
		}()
	}
}

// Close stops the server, closes every connection and waits for its
// goroutines to end. Recorded messages stay readable.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	for _, cs := range s.conns {
		cs.closeAll()
	}
	s.mu.Unlock()
	s.front.Close()
	// Close the internal listener and let Serve return before Shutdown:
	// Serve may not have registered the listener with go-smtp yet, and
	// go-smtp's WaitGroup must not see Serve's Add race Shutdown's Wait.
	s.back.Close()
	<-s.served
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.smtpd.Shutdown(ctx)
	s.wg.Wait()
	if errors.Is(err, smtp.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// Addr returns the address the server listens on, "127.0.0.1:port".
func (s *Server) Addr() string { return s.front.Addr().String() }

// Host returns "127.0.0.1".
func (s *Server) Host() string { return "127.0.0.1" }

// Port returns the port the server listens on.
func (s *Server) Port() int { return s.front.Addr().(*net.TCPAddr).Port }

// TLSMode returns how the server offers TLS.
func (s *Server) TLSMode() TLSMode { return s.opts.tls }

// CertPool returns a pool holding the server's CA, for the client to trust.
func (s *Server) CertPool() *x509.CertPool { return s.ca.pool.Clone() }

// CAPEM returns the server's CA certificate in PEM form, for a -ca file.
func (s *Server) CAPEM() []byte { return append([]byte(nil), s.ca.caPEM...) }

// Options returns the mailer options that reach this server: address, TLS
// mode, trust in its CA and, if the server has accounts, the first one's
// credentials (AutoAuth for a password, XOAUTH2 for a token).
func (s *Server) Options() mailer.Option {
	opts := []mailer.Option{
		mailer.WithServer(s.Host(), s.Port()),
		mailer.WithRootCAs(s.ca.pool),
		s.dialOption(),
	}
	switch s.opts.tls {
	case TLSImplicit:
		opts = append(opts, mailer.WithTLS(mailer.TLSImplicit))
	case TLSNone:
		opts = append(opts, mailer.WithTLS(mailer.TLSNone))
	default:
		opts = append(opts, mailer.WithTLS(mailer.TLSStartTLS))
	}
	switch {
	case len(s.opts.users) > 0:
		u := s.opts.users[0]
		opts = append(opts, mailer.WithAuth(mailer.AutoAuth(u.user, u.secret)))
	case len(s.opts.tokens) > 0:
		u := s.opts.tokens[0]
		opts = append(opts, mailer.WithAuth(mailer.XOAUTH2Auth(u.user, mailer.StaticToken(u.secret))))
	}
	if s.opts.tls == TLSNone && (len(s.opts.users) > 0 || len(s.opts.tokens) > 0) {
		opts = append(opts, mailer.WithInsecureAuth())
	}
	return mailer.Options(opts...)
}

// URL returns a URL for this server with the first account's credentials,
// in the form mailer.ParseURL reads. The client must still trust CAPEM.
func (s *Server) URL() string {
	u := url.URL{Scheme: "smtp", Host: net.JoinHostPort(s.Host(), strconv.Itoa(s.Port()))}
	switch s.opts.tls {
	case TLSImplicit:
		u.Scheme = "smtps"
	case TLSNone:
		u.RawQuery = "tls=none"
	}
	if len(s.opts.users) > 0 {
		u.User = url.UserPassword(s.opts.users[0].user, s.opts.users[0].secret)
	}
	return u.String()
}

// Transcript returns every command and reply seen so far, in order.
// Authentication data is replaced by "<redacted>"; message data is not
// included, but each final "." is.
func (s *Server) Transcript() []Line {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Line(nil), s.transcript...)
}

// Commands returns the client's command lines from the transcript, such as
// "EHLO localhost" or "RCPT TO:<bob@example.com>".
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range s.transcript {
		if l.FromClient {
			out = append(out, l.Text)
		}
	}
	return out
}

// Count returns how many times step was seen.
func (s *Server) Count(step Step) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[step]
}

// Connections returns how many connections the server has accepted.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nextConn
}

// MaxConcurrent returns the largest number of connections that were open at
// the same time.
func (s *Server) MaxConcurrent() int {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	return s.maxOpen
}

// Reset forgets the recorded messages, transcript and counters.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages, s.transcript = nil, nil
	s.counts = make(map[Step]int)
	s.attempts = make(map[string]int)
}

func (s *Server) record(l Line) {
	s.mu.Lock()
	s.transcript = append(s.transcript, l)
	s.mu.Unlock()
}

// Line is one line of the transcript.
type Line struct {
	// Conn numbers the connection, from 1.
	Conn int
	// FromClient is true for a command, false for a reply.
	FromClient bool
	// Text is the line without its line ending.
	Text string
	// Time is when the line was seen.
	Time time.Time
}

// String formats the line as "C1: EHLO localhost" or "S1: 250 OK".
func (l Line) String() string {
	who := "S"
	if l.FromClient {
		who = "C"
	}
	return who + strconv.Itoa(l.Conn) + ": " + l.Text
}

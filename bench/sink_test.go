package bench

import (
	"errors"
	"io"
	"log"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// sink is an SMTP server on loopback that accepts every message and throws
// it away: go-smtp with its defaults, which advertise PIPELINING, without
// TLS or authentication, so that the benchmarks measure the clients.
type sink struct {
	srv  *smtp.Server
	ln   net.Listener
	done chan struct{}
}

func newSink(b testing.TB) *sink { b.Helper(); return newSinkMax(b, 1<<20) }

// newSinkMax is newSink accepting messages of up to max bytes.
func newSinkMax(b testing.TB, max int64) *sink {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := &sink{srv: smtp.NewServer(discard{}), ln: ln, done: make(chan struct{})}
	s.srv.Domain = "sink.local"
	s.srv.AllowInsecureAuth = true
	s.srv.MaxMessageBytes = max
	s.srv.MaxRecipients = 100
	s.srv.ReadTimeout = time.Minute
	s.srv.WriteTimeout = time.Minute
	s.srv.ErrorLog = log.New(io.Discard, "", 0)
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	b.Cleanup(func() {
		_ = s.srv.Close()
		<-s.done
	})
	return s
}

func (s *sink) addr() string { return s.ln.Addr().String() }
func (s *sink) host() string { return "127.0.0.1" }
func (s *sink) port() int    { p, _ := strconv.Atoi(s.addr()[len("127.0.0.1:"):]); return p }

type discard struct{}

func (discard) NewSession(*smtp.Conn) (smtp.Session, error) { return session{}, nil }

type session struct{}

func (session) Mail(string, *smtp.MailOptions) error { return nil }
func (session) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (session) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}
func (session) Reset()        {}
func (session) Logout() error { return nil }

var errReply = errors.New("unexpected reply")

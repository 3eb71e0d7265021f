package mailertest

import (
	"context"
	"net"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/internal/memnet"
)

// memoryPort names the address of a server on the in-memory network.
const memoryPort = 2525

// WithInMemoryNetwork makes the server listen on an in-memory network
// instead of a TCP port on 127.0.0.1, so that a test can run the server
// and the client inside a testing/synctest bubble, where time is virtual:
// a test of a 30 s timeout or a two-minute retry wait then takes
// microseconds and no load on the machine can make it late.
//
// Only the server's own dialer reaches it: Options includes it (through
// mailer.WithDialContext), and DialContext is the same dialer for a
// client made without Options. Each direction of a connection buffers
// about as much as a loopback TCP connection. Start the server inside
// the bubble (synctest.Test's t.Cleanup closes it there).
func WithInMemoryNetwork() Option { return func(o *options) { o.memory = true } }

// DialContext connects to the server whatever network it listens on, with
// the signature of mailer.WithDialContext; network and address are
// ignored.
func (s *Server) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	if l, ok := s.front.(*memnet.Listener); ok {
		return l.Dial(ctx)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", s.Addr())
}

// listen opens the client-facing and the internal listener.
func (s *Server) listen() error {
	if s.opts.memory {
		s.front, s.back = memnet.Listen(memoryPort), memnet.Listen(memoryPort+1)
		return nil
	}
	var err error
	if s.back, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return err
	}
	if s.front, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		s.back.Close()
		return err
	}
	return nil
}

// dialBack opens the internal connection to the go-smtp server.
func (s *Server) dialBack() (net.Conn, error) {
	if l, ok := s.back.(*memnet.Listener); ok {
		return l.Dial(context.Background())
	}
	return net.Dial("tcp", s.back.Addr().String())
}

// dialOption is the mailer option that reaches an in-memory server; nil
// for a TCP one, which mailer.WithServer reaches.
func (s *Server) dialOption() mailer.Option {
	if s.opts.memory {
		return mailer.WithDialContext(s.DialContext)
	}
	return nil
}

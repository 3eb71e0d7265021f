package mailer_test

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/textproto"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/internal/memnet"
)

// These tests talk to raw TCP servers that misbehave on purpose: replies
// without end, replies that stop in the middle of a line, keywords in lower
// case. Each server is a script run on the first connection.

// rawServer accepts one connection on the in-memory network (so that a
// test can run it in a synctest bubble) and runs script on it. The
// connection is closed when the script returns; the test waits for it.
type rawServer struct {
	ln   *memnet.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	cmds []string
}

func newRawServer(t *testing.T, script func(s *rawServer, c *rawConn)) *rawServer {
	t.Helper()
	ln := memnet.Listen(25)
	s := &rawServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		script(s, &rawConn{Conn: nc, r: bufio.NewReader(nc), s: s})
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		s.wg.Wait()
	})
	return s
}

// options reaches the server in clear text, with one attempt and short
// timeouts (a hostile server must not hold a test for long).
func (s *rawServer) options(opts ...mailer.Option) mailer.Option {
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) { return s.ln.Dial(ctx) }
	return mailer.Options(append([]mailer.Option{
		mailer.WithServer("127.0.0.1", 25), mailer.WithDialContext(dial), mailer.WithTLS(mailer.TLSNone),
		mailer.WithTimeouts(mailer.Timeouts{Dial: 10 * time.Second, Command: 10 * time.Second}),
	}, opts...)...)
}

// commands returns the commands the server read.
func (s *rawServer) commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.cmds...)
}

type rawConn struct {
	net.Conn
	r *bufio.Reader
	s *rawServer
}

// send writes text; it reports false once the client has gone.
func (c *rawConn) send(text string) bool {
	_, err := c.Write([]byte(text))
	return err == nil
}

// expect reads one command and reports whether it starts with verb.
func (c *rawConn) expect(verb string) bool {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return false
	}
	line = strings.TrimRight(line, "\r\n")
	c.s.mu.Lock()
	c.s.cmds = append(c.s.cmds, line)
	c.s.mu.Unlock()
	return strings.HasPrefix(strings.ToUpper(line), verb)
}

// flood writes unit until the client goes away or limit octets were
// written.
func (c *rawConn) flood(unit string, limit int) {
	chunk := []byte(strings.Repeat(unit, max(1, 64<<10/len(unit))))
	for n := 0; n < limit; n += len(chunk) {
		if _, err := c.Write(chunk); err != nil {
			return
		}
	}
}

// waitGone blocks until the client closes the connection.
func (c *rawConn) waitGone() {
	_, _ = c.r.WriteTo(discard{})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// normal plays a well-behaved server from EHLO on.
func (c *rawConn) normal() {
	ok := c.expect("EHLO") && c.send("250-mx.test\r\n250 8BITMIME\r\n") &&
		c.expect("MAIL") && c.send("250 ok\r\n") &&
		c.expect("RCPT") && c.send("250 ok\r\n") &&
		c.expect("DATA") && c.send("354 go\r\n")
	if !ok {
		return
	}
	for {
		line, err := c.r.ReadString('\n')
		if err != nil || line == ".\r\n" {
			break
		}
	}
	_ = c.send("250 queued\r\n") && c.expect("QUIT") && c.send("221 bye\r\n")
}

// flood is the most a hostile server writes in these tests: enough to
// show the client does not keep it, small enough that the client without
// bounds finished in seconds.
const floodLimit = 64 << 20

func TestHostileServerRepliesAreBounded(t *testing.T) {
	cases := []struct {
		name   string
		script func(c *rawConn)
	}{
		{"huge greeting line", func(c *rawConn) {
			_ = c.send("220 ")
			c.flood("x", floodLimit)
			if c.send("\r\n") {
				c.normal()
			}
		}},
		{"endless greeting line", func(c *rawConn) {
			_ = c.send("220 ")
			c.flood("x", floodLimit)
		}},
		{"endless multiline greeting", func(c *rawConn) {
			c.flood("220-mx.test says hello again and again\r\n", floodLimit)
		}},
		{"huge EHLO reply", func(c *rawConn) {
			_ = c.send("220 mx.test\r\n")
			if !c.expect("EHLO") {
				return
			}
			c.flood("250-X-"+strings.Repeat("A", 200)+"\r\n", floodLimit)
			if c.send("250 8BITMIME\r\n") {
				c.normal()
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRawServer(t, func(_ *rawServer, c *rawConn) { tc.script(c) })
			c := newClient(t, srv.options())

			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := c.Send(bg, testMessage(t))
			runtime.ReadMemStats(&after)

			se := sendErr(t, err)
			assert.Equal(t, mailer.StageDial, se.Stage)
			assert.Zero(t, se.Code)
			assert.True(t, errors.As(err, new(textproto.ProtocolError)), "want a protocol error, got %v", err)
			assert.Equal(t, mailer.OutcomeTemporary, mailer.Classify(err))
			assert.Less(t, len(err.Error()), 1024, "error text is bounded")
			// The client reads at most 64 KiB of a reply: what it
			// allocated in all is far below what the server sent.
			assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(8<<20), "bytes allocated during Send")
		})
	}
}

// A long reply line within the bounds is still a reply.
func TestReplyWithinBoundsIsRead(t *testing.T) {
	srv := newRawServer(t, func(_ *rawServer, c *rawConn) {
		_ = c.send("220 " + strings.Repeat("g", 4000) + "\r\n")
		_ = c.expect("EHLO") && c.send(strings.Repeat("250-"+strings.Repeat("e", 1000)+"\r\n", 60)+"250 8BITMIME\r\n") &&
			c.expect("MAIL") && c.send("550 5.7.1 "+strings.Repeat("r", 3000)+"\r\n") && c.expect("QUIT") && c.send("221 bye\r\n")
	})
	_, err := newClient(t, srv.options()).Send(bg, testMessage(t))
	se := sendErr(t, err)
	assert.Equal(t, mailer.StageMail, se.Stage)
	assert.Equal(t, 550, se.Code)
	assert.LessOrEqual(t, len([]rune(se.Message)), 513, "reply text is capped")
}

// A read deadline that fires in the middle of a reply line is a timeout:
// the part of the line is no reply.
func TestPartialReplyLineAtDeadlineIsAnError(t *testing.T) {
	inMemory(t, func(t *testing.T) {
		srv := newRawServer(t, func(_ *rawServer, c *rawConn) {
			_ = c.send("220 mx.test\r\n")
			if c.expect("EHLO") && c.send("250-mx.test\r\n250-PIPELINING\r\n250 STAR") {
				c.waitGone()
			}
		})
		c := newClient(t, srv.options(mailer.WithTLS(mailer.TLSStartTLS),
			mailer.WithTimeouts(mailer.Timeouts{Command: 200 * time.Millisecond})))
		_, err := c.Send(bg, testMessage(t))
		se := sendErr(t, err)
		assert.NotErrorIs(t, err, mailer.ErrTLSRequired)
		assert.Equal(t, mailer.StageDial, se.Stage)
		assert.True(t, se.Timeout(), "want a timeout, got %v", err)
	})
}

// EHLO keywords are case-insensitive (RFC 5321 section 2.4).
func TestEHLOKeywordsAnyCase(t *testing.T) {
	srv := newRawServer(t, func(_ *rawServer, c *rawConn) {
		_ = c.send("220 mx.test\r\n")
		_ = c.expect("EHLO") && c.send("250-mx.test\r\n250-pipelining\r\n250 starttls\r\n") &&
			c.expect("STARTTLS") && c.send("454 4.7.0 TLS not available now\r\n") &&
			c.expect("QUIT") && c.send("221 bye\r\n")
	})
	c := newClient(t, srv.options(mailer.WithTLS(mailer.TLSStartTLS)))
	_, err := c.Send(bg, testMessage(t))
	se := sendErr(t, err)
	assert.NotErrorIs(t, err, mailer.ErrTLSRequired)
	assert.Equal(t, mailer.StageTLS, se.Stage)
	assert.Equal(t, 454, se.Code)
	assert.Contains(t, srv.commands(), "STARTTLS")
}

// Garbage instead of a greeting is quoted in the error and the log only
// in part, without control characters.
func TestGarbledReplyTextIsCapped(t *testing.T) {
	garbage := strings.Repeat("\x1b[31mGARBAGE\x07 ", 250) // 3,750 octets: one line within the bound
	srv := newRawServer(t, func(_ *rawServer, c *rawConn) {
		if c.send(garbage + "\r\n") {
			c.waitGone()
		}
	})
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_, err := newClient(t, srv.options(mailer.WithLogger(logger))).Send(bg, testMessage(t))
	se := sendErr(t, err)
	assert.Equal(t, mailer.StageDial, se.Stage)
	assert.LessOrEqual(t, utf8.RuneCountInString(err.Error()), 600, "error text is capped")
	assert.NotContains(t, err.Error(), "\x1b")
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		assert.LessOrEqual(t, len(line), 1500, "log line is capped")
		assert.NotContains(t, line, "\x1b")
	}
}

// An endless reply later in the session is a protocol error of its stage:
// temporary before the end of data, unknown after it (the server may have
// accepted the message).
func TestHostileReplyClassedByStage(t *testing.T) {
	flood := func(c *rawConn) { c.flood("250-"+strings.Repeat("z", 100)+"\r\n", floodLimit) }
	cases := []struct {
		name    string
		script  func(c *rawConn)
		stage   mailer.Stage
		outcome mailer.Outcome
	}{
		{"MAIL", func(c *rawConn) {
			if c.expect("EHLO") && c.send("250 mx.test\r\n") && c.expect("MAIL") {
				flood(c)
			}
		}, mailer.StageMail, mailer.OutcomeTemporary},
		{"end of data", func(c *rawConn) {
			ok := c.expect("EHLO") && c.send("250 mx.test\r\n") && c.expect("MAIL") && c.send("250 ok\r\n") &&
				c.expect("RCPT") && c.send("250 ok\r\n") && c.expect("DATA") && c.send("354 go\r\n")
			for ok {
				line, err := c.r.ReadString('\n')
				if err != nil {
					return
				}
				if line == ".\r\n" {
					flood(c)
					return
				}
			}
		}, mailer.StageDataEnd, mailer.OutcomeUnknown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRawServer(t, func(_ *rawServer, c *rawConn) {
				if c.send("220 mx.test\r\n") {
					tc.script(c)
				}
			})
			_, err := newClient(t, srv.options()).Send(bg, testMessage(t))
			se := sendErr(t, err)
			assert.Equal(t, tc.stage, se.Stage)
			assert.Equal(t, tc.outcome, mailer.Classify(err))
			assert.True(t, errors.As(err, new(textproto.ProtocolError)), "want a protocol error, got %v", err)
		})
	}
}

package mailertest_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"io"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const body = "From: a@example.com\r\nTo: b@example.com\r\nSubject: hello\r\n\r\nbody line\r\n.dot line\r\n"

// stdClient talks to srv with net/smtp, an independent client.
func stdClient(t *testing.T, srv *mailertest.Server) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(srv.Addr())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestServerRecordsWhatItReceives(t *testing.T) {
	srv := mailertest.NewServer(t, mailertest.WithUser("alice", "pw"))
	c := stdClient(t, srv)
	ok, _ := c.Extension("STARTTLS")
	require.True(t, ok)
	ok, _ = c.Extension("AUTH")
	assert.False(t, ok, "no AUTH before TLS")
	require.NoError(t, c.StartTLS(&tls.Config{ServerName: "127.0.0.1", RootCAs: srv.CertPool()}))
	require.NoError(t, c.Auth(smtp.PlainAuth("", "alice", "pw", "127.0.0.1")))
	require.NoError(t, c.Mail("a@example.com"))
	require.NoError(t, c.Rcpt("b@example.com"))
	require.NoError(t, c.Rcpt("c@example.com"))
	w, err := c.Data()
	require.NoError(t, err)
	_, err = w.Write([]byte(body))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.NoError(t, c.Quit())

	msgs := srv.Messages()
	require.Len(t, msgs, 1)
	m := msgs[0]
	assert.Equal(t, "a@example.com", m.From)
	assert.Equal(t, []string{"b@example.com", "c@example.com"}, m.To)
	assert.Equal(t, "hello", m.Header.Get("Subject"))
	assert.Contains(t, string(m.Data), "\r\n.dot line\r\n", "dot-unstuffed")
	assert.True(t, m.TLS)
	assert.Equal(t, "PLAIN", m.AuthMechanism)
	assert.Equal(t, "alice", m.AuthUser)
	assert.Equal(t, 1, m.Conn)

	cmds := srv.Commands()
	assert.Contains(t, cmds, "STARTTLS")
	assert.Contains(t, cmds, "AUTH PLAIN <redacted>")
	assert.NotContains(t, strings.Join(cmds, "\n"), "cHc", "no AUTH payload in the transcript")
	assert.Equal(t, 1, srv.Count(mailertest.StepDataEnd))
	assert.Equal(t, 1, srv.Connections())
	for _, l := range srv.Transcript() {
		assert.Equal(t, 1, l.Conn)
		assert.False(t, l.Time.IsZero())
	}
	assert.True(t, strings.HasPrefix(srv.Transcript()[0].String(), "S1: 220 "))
}

func TestAuthRequiredAndRefused(t *testing.T) {
	srv := mailertest.NewServer(t, mailertest.WithTLS(mailertest.TLSImplicit), mailertest.WithUser("alice", "pw"))
	conn, err := tls.Dial("tcp", srv.Addr(), &tls.Config{RootCAs: srv.CertPool(), ServerName: "localhost"})
	require.NoError(t, err)
	c, err := smtp.NewClient(conn, "localhost")
	require.NoError(t, err)
	defer c.Close()
	err = c.Mail("a@example.com")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "530")
	err = c.Auth(smtp.PlainAuth("", "alice", "wrong", "localhost"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "535")
}

func TestFaultsByOccurrence(t *testing.T) {
	srv := mailertest.NewServer(t, mailertest.WithTLS(mailertest.TLSNone), mailertest.WithFaults(
		mailertest.Fault{Step: mailertest.StepRCPT, On: 2, Reply: "450 4.2.1 busy"},
		mailertest.Fault{Step: mailertest.StepDataEnd, On: 1, Reply: "451 4.3.0 later"},
	))
	c := stdClient(t, srv)
	require.NoError(t, c.Mail("a@example.com"))
	require.NoError(t, c.Rcpt("b@example.com"))
	err := c.Rcpt("c@example.com")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "4.2.1 busy")
	w, err := c.Data()
	require.NoError(t, err)
	_, _ = w.Write([]byte(body))
	err = w.Close()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "451")
	assert.Empty(t, srv.Messages(), "a message refused after the dot is not kept")

	require.NoError(t, c.Mail("a@example.com"))
	require.NoError(t, c.Rcpt("c@example.com"), "only the second RCPT was refused")
	w, err = c.Data()
	require.NoError(t, err)
	_, _ = w.Write([]byte(body))
	require.NoError(t, w.Close())
	require.Len(t, srv.Messages(), 1)
	assert.Equal(t, []string{"c@example.com"}, srv.Messages()[0].To)

	srv.Reset()
	assert.Empty(t, srv.Messages())
	assert.Empty(t, srv.Transcript())
	assert.Zero(t, srv.Count(mailertest.StepRCPT))
}

func TestFaultFuncAndMaxConcurrent(t *testing.T) {
	var mu sync.Mutex
	var seen []mailertest.Step
	srv := mailertest.NewServer(t, mailertest.WithTLS(mailertest.TLSNone), mailertest.WithFaultFunc(
		func(step mailertest.Step, n int) *mailertest.Fault {
			mu.Lock()
			seen = append(seen, step)
			mu.Unlock()
			if step == mailertest.StepNOOP {
				return &mailertest.Fault{Raw: []byte("garbage\r\n")}
			}
			return nil
		}))
	a, b := stdClient(t, srv), stdClient(t, srv)
	require.NoError(t, a.Hello("a.example"))
	require.NoError(t, b.Hello("b.example"))
	assert.Equal(t, 2, srv.MaxConcurrent())
	assert.Error(t, a.Noop(), "garbage is not a reply")
	mu.Lock()
	assert.Contains(t, seen, mailertest.StepGreeting)
	assert.Contains(t, seen, mailertest.StepEHLO)
	mu.Unlock()
}

func TestCloseInterruptsDelays(t *testing.T) {
	reached := make(chan struct{})
	srv, err := mailertest.Start(mailertest.WithTLS(mailertest.TLSNone),
		mailertest.WithFaultFunc(func(step mailertest.Step, n int) *mailertest.Fault {
			if step == mailertest.StepGreeting {
				close(reached)
				return &mailertest.Fault{Delay: time.Hour}
			}
			return nil
		}))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		c, err := smtp.Dial(srv.Addr())
		if err == nil {
			c.Close()
		}
		done <- err
	}()
	<-reached
	require.NoError(t, srv.Close())
	assert.Error(t, <-done, "the delayed greeting never came")
	assert.NoError(t, srv.Close(), "Close twice")
}

func TestWithoutEnhancedStatusCodes(t *testing.T) {
	srv := mailertest.NewServer(t, mailertest.WithTLS(mailertest.TLSNone), mailertest.WithoutEnhancedStatusCodes())
	c := stdClient(t, srv)
	require.NoError(t, c.Hello("x.example"))
	ok, _ := c.Extension("ENHANCEDSTATUSCODES")
	assert.False(t, ok)
	require.NoError(t, c.Mail("a@example.com"))
	for _, l := range srv.Transcript() {
		if !l.FromClient && strings.HasPrefix(l.Text, "250 ") {
			assert.NotRegexp(t, `^250 \d\.\d+\.\d+ `, l.Text)
		}
	}
}

// TestMaxConcurrentCountsWhatIsOpen: a connection the client closed is not
// counted when the next one opens, even while the server's goroutine for
// it sleeps in a Delay and has not read its end; nor is one the server
// dropped over TLS (close_notify goes out before the TCP close).
func TestMaxConcurrentCountsWhatIsOpen(t *testing.T) {
	t.Run("closed by the client", func(t *testing.T) {
		srv := mailertest.NewServer(t, mailertest.WithTLS(mailertest.TLSNone),
			mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepNOOP, Delay: time.Minute}))
		for i := 0; i < 5; i++ {
			nc, err := net.Dial("tcp", srv.Addr())
			require.NoError(t, err)
			r := bufio.NewReader(nc)
			_, err = r.ReadString('\n') // the greeting
			require.NoError(t, err)
			_, err = nc.Write([]byte("NOOP\r\n")) // the server sleeps
			require.NoError(t, err)
			require.NoError(t, nc.Close())
		}
		assert.Equal(t, 1, srv.MaxConcurrent())
		assert.Zero(t, srv.Open())
	})
	t.Run("dropped by the server over TLS", func(t *testing.T) {
		srv := mailertest.NewServer(t, mailertest.WithTLS(mailertest.TLSImplicit),
			mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepNOOP, Drop: true}))
		for i := 0; i < 20; i++ {
			nc, err := tls.Dial("tcp", srv.Addr(), &tls.Config{RootCAs: srv.CertPool(), ServerName: srv.Host()})
			require.NoError(t, err)
			r := bufio.NewReader(nc)
			_, err = r.ReadString('\n')
			require.NoError(t, err)
			_, err = nc.Write([]byte("NOOP\r\n"))
			require.NoError(t, err)
			_, err = r.ReadString('\n') // the end, as close_notify
			require.Error(t, err)
			require.NoError(t, nc.Close())
		}
		assert.Equal(t, 1, srv.MaxConcurrent())
	})
}

// rawSession dials srv (without TLS), reads the greeting and returns a
// function that sends text and returns the server's next reply line.
func rawSession(t *testing.T, srv *mailertest.Server) (send func(string) string, conn net.Conn) {
	t.Helper()
	nc, err := net.Dial("tcp", srv.Addr())
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	r := bufio.NewReader(nc)
	read := func() string {
		var all string
		for {
			l, err := r.ReadString('\n')
			all += l
			if err != nil || len(l) < 4 || l[3] != '-' {
				return all
			}
		}
	}
	read() // the greeting
	return func(s string) string {
		if _, err := nc.Write([]byte(s)); err != nil {
			return ""
		}
		return read()
	}, nc
}

// TestDataEndsOnlyAtLineStart: a long line of message text whose tail is
// ".\r\n" does not end the data, and what follows is never run as
// commands.
func TestDataEndsOnlyAtLineStart(t *testing.T) {
	srv := mailertest.NewServer(t, mailertest.WithTLS(mailertest.TLSNone))
	send, _ := rawSession(t, srv)
	require.True(t, strings.HasPrefix(send("EHLO c.example\r\n"), "250"))
	require.True(t, strings.HasPrefix(send("MAIL FROM:<a@example.com>\r\n"), "250"))
	require.True(t, strings.HasPrefix(send("RCPT TO:<b@example.com>\r\n"), "250"))
	require.True(t, strings.HasPrefix(send("DATA\r\n"), "354"))
	reply := send("Subject: x\r\n\r\n" + strings.Repeat("y", 5000) + ".\r\nMAIL FROM:<evil@x.test>\r\nRCPT TO:<victim@x.test>\r\nDATA\r\nevil\r\n.\r\n")
	assert.True(t, strings.HasPrefix(reply, "500 5.4.0"), "reply %q", reply)
	for _, c := range srv.Commands() {
		assert.NotContains(t, c, "evil@x.test")
	}
	assert.Empty(t, srv.Messages())
}

// TestLineLimits: command and text lines up to 2,000 octets, AUTH lines up
// to 12,288 (RFC 4954), as real servers allow; longer ones get 500 and
// the connection ends.
func TestLineLimits(t *testing.T) {
	t.Run("command", func(t *testing.T) {
		srv := mailertest.NewServer(t, mailertest.WithTLS(mailertest.TLSNone))
		send, _ := rawSession(t, srv)
		assert.True(t, strings.HasPrefix(send("NOOP "+strings.Repeat("n", 1990)+"\r\n"), "250"))
		assert.True(t, strings.HasPrefix(send("NOOP "+strings.Repeat("n", 100_000)+"\r\n"), "500 5.4.0"))
		assert.Empty(t, send("NOOP\r\n"), "the connection is closed")
	})
	t.Run("text", func(t *testing.T) {
		srv := mailertest.NewServer(t, mailertest.WithTLS(mailertest.TLSNone))
		send, _ := rawSession(t, srv)
		send("EHLO c.example\r\n")
		send("MAIL FROM:<a@example.com>\r\n")
		send("RCPT TO:<b@example.com>\r\n")
		require.True(t, strings.HasPrefix(send("DATA\r\n"), "354"))
		assert.True(t, strings.HasPrefix(send("Subject: x\r\n\r\n"+strings.Repeat("y", 1998)+"\r\n.\r\n"), "250"))
		require.Len(t, srv.Messages(), 1)
	})
	t.Run("AUTH with a long token", func(t *testing.T) {
		token := strings.Repeat("t", 6000) // base64 in the AUTH line: about 8,000 octets
		srv := mailertest.NewServer(t, mailertest.WithTLS(mailertest.TLSNone), mailertest.WithToken("u@example.com", token))
		send, _ := rawSession(t, srv)
		send("EHLO c.example\r\n")
		ir := base64.StdEncoding.EncodeToString([]byte("user=u@example.com\x01auth=Bearer " + token + "\x01\x01"))
		assert.True(t, strings.HasPrefix(send("AUTH XOAUTH2 "+ir+"\r\n"), "235"))
	})
}

func TestAttemptFaultFollowsTheMessage(t *testing.T) {
	var mu sync.Mutex
	calls := map[string][]int{}
	srv := mailertest.NewServer(t, mailertest.WithTLS(mailertest.TLSNone),
		// The first final dot of all is answered by this fault, and still
		// counts as a's first attempt.
		mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepDataEnd, On: 1, Reply: "452 4.3.1 scripted"}),
		mailertest.WithAttemptFaultFunc(
			func(id string, attempt int) *mailertest.Fault {
				mu.Lock()
				calls[id] = append(calls[id], attempt)
				mu.Unlock()
				if attempt == 1 {
					return &mailertest.Fault{Reply: "451 4.3.0 first attempts fail"}
				}
				return nil
			}))
	c := stdClient(t, srv)
	send := func(data string) error {
		require.NoError(t, c.Mail("a@example.com"))
		require.NoError(t, c.Rcpt("b@example.com"))
		w, err := c.Data()
		require.NoError(t, err)
		_, _ = w.Write([]byte(data))
		return w.Close()
	}
	withID := func(header string) string {
		return "From: a@example.com\r\n" + header + "Subject: hi\r\n\r\nMessage-ID: <not@header>\r\n"
	}
	a := withID("Message-ID: <a@example.com>\r\n")
	b := withID("message-id:\r\n <b@example.com>\r\n") // folded, lower case
	require.ErrorContains(t, send(a), "452", "the scripted fault answers a's first attempt")
	require.ErrorContains(t, send(b), "451")
	require.NoError(t, send(a), "a's second attempt")
	require.NoError(t, send(body), "a message without Message-ID is not passed on")
	require.NoError(t, send(b), "b's second attempt")

	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, map[string][]int{"<a@example.com>": {2}, "<b@example.com>": {1, 2}}, calls)
	assert.Len(t, srv.Messages(), 3)
}

// TestAuthFaultCountsAuthCommands strikes the second authentication, as a
// Fault's occurrence promises: an AUTH whose exchange takes several lines
// (CRAM-MD5, which mailer's AutoAuth prefers, or LOGIN) counts once, and
// a fault never strikes in the middle of an exchange.
func TestAuthFaultCountsAuthCommands(t *testing.T) {
	for _, mech := range []string{"CRAM-MD5", "LOGIN", "PLAIN"} {
		t.Run(mech, func(t *testing.T) {
			srv := mailertest.NewServer(t, mailertest.WithUser("alice", "pw"), mailertest.WithMechanisms(mech),
				mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepAUTH, On: 2, Reply: "454 4.7.0 Temporary authentication failure"}))
			c, err := mailer.New(srv.Options(), mailer.WithRetry(mailertest.FastRetry()))
			require.NoError(t, err)
			defer c.Close()
			send := func() mailer.Receipt {
				msg, err := mailer.NewMessage().From("a@example.com").To("b@example.com").Subject("x").Text("x").Build()
				require.NoError(t, err)
				r, err := c.Send(context.Background(), msg)
				require.NoError(t, err)
				return r
			}
			assert.Equal(t, 1, send().Attempts, "the first authentication succeeds")
			assert.Equal(t, 1, srv.Count(mailertest.StepAUTH))
			srv.CloseConnections() // the next send authenticates again
			assert.Equal(t, 2, send().Attempts, "the second authentication gets the 454")
			assert.Equal(t, 3, srv.Count(mailertest.StepAUTH))
		})
	}
}

// TestNoChunking: the front end relays DATA only, so the server must not
// offer CHUNKING (go-smtp does): a client that took the offer and sent
// BDAT waited for a reply until the server's 5-minute read timeout. BDAT
// is refused at once instead, as by a server without CHUNKING.
func TestNoChunking(t *testing.T) {
	for _, mode := range []mailertest.TLSMode{mailertest.TLSNone, mailertest.TLSStartTLS} {
		t.Run(mode.String(), func(t *testing.T) {
			srv := mailertest.NewServer(t, mailertest.WithTLS(mode), mailertest.WithoutPipelining())
			conn, err := net.Dial("tcp", srv.Addr())
			require.NoError(t, err)
			defer conn.Close()
			require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
			c := textproto.NewConn(conn)
			_, _, err = c.ReadResponse(220)
			require.NoError(t, err)
			require.NoError(t, c.PrintfLine("EHLO client.example"))
			_, ehlo, err := c.ReadResponse(250)
			require.NoError(t, err)
			assert.NotContains(t, ehlo, "CHUNKING")
			assert.NotContains(t, ehlo, "PIPELINING")
			assert.Contains(t, ehlo, "SIZE")
			if mode == mailertest.TLSStartTLS {
				assert.Contains(t, ehlo, "STARTTLS")
				return
			}
			require.NoError(t, c.PrintfLine("MAIL FROM:<a@example.com>"))
			_, _, err = c.ReadResponse(250)
			require.NoError(t, err)
			require.NoError(t, c.PrintfLine("RCPT TO:<b@example.com>"))
			_, _, err = c.ReadResponse(250)
			require.NoError(t, err)
			require.NoError(t, c.PrintfLine("BDAT 7 LAST"))
			_, err = c.W.WriteString("hello\r\n")
			require.NoError(t, err)
			require.NoError(t, c.W.Flush())
			code, _, err := c.ReadResponse(0)
			require.NoError(t, err)
			assert.Equal(t, 502, code, "BDAT must be refused")
			assert.Empty(t, srv.Messages())
		})
	}
}

// TestStartTLSFaultClose: Close closes the connection after the answer at
// StepSTARTTLS too, after a refusal or after the 220 (the handshake then
// finds the connection closed).
func TestStartTLSFaultClose(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault mailertest.Fault
		code  int
	}{
		{"refused", mailertest.Fault{Step: mailertest.StepSTARTTLS, Reply: "454 4.7.0 TLS not available", Close: true}, 454},
		{"ready", mailertest.Fault{Step: mailertest.StepSTARTTLS, Close: true}, 220},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := mailertest.NewServer(t, mailertest.WithFaults(tc.fault))
			conn, err := net.Dial("tcp", srv.Addr())
			require.NoError(t, err)
			defer conn.Close()
			require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
			c := textproto.NewConn(conn)
			_, _, err = c.ReadResponse(220)
			require.NoError(t, err)
			require.NoError(t, c.PrintfLine("EHLO client.example"))
			_, _, err = c.ReadResponse(250)
			require.NoError(t, err)
			require.NoError(t, c.PrintfLine("STARTTLS"))
			code, _, err := c.ReadResponse(0)
			require.NoError(t, err)
			assert.Equal(t, tc.code, code)
			_, err = c.ReadLine()
			assert.ErrorIs(t, err, io.EOF, "the server must close the connection")
		})
	}
}

// TestBodyFaultClose: a reply in the middle of the data stops reading it;
// with Close the server then closes the connection instead of leaving it
// open until the server closes.
func TestBodyFaultClose(t *testing.T) {
	srv := mailertest.NewServer(t, mailertest.WithTLS(mailertest.TLSNone), mailertest.WithFaults(
		mailertest.Fault{Step: mailertest.StepBody, Reply: "552 5.3.4 Message too big", Close: true}))
	conn, err := net.Dial("tcp", srv.Addr())
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	c := textproto.NewConn(conn)
	_, _, err = c.ReadResponse(220)
	require.NoError(t, err)
	for _, cmd := range []struct {
		line string
		code int
	}{{"EHLO client.example", 250}, {"MAIL FROM:<a@example.com>", 250}, {"RCPT TO:<b@example.com>", 250}, {"DATA", 354}} {
		require.NoError(t, c.PrintfLine("%s", cmd.line))
		_, _, err = c.ReadResponse(cmd.code)
		require.NoError(t, err, cmd.line)
	}
	code, _, err := c.ReadResponse(0)
	require.NoError(t, err)
	assert.Equal(t, 552, code)
	_, err = c.ReadLine()
	assert.ErrorIs(t, err, io.EOF, "the server must close the connection")
	assert.Empty(t, srv.Messages())
}

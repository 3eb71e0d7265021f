package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/smtp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/postkit/mailer"
)

// BenchmarkThroughput sends personalised messages of about 2 KB (text and
// HTML), one recipient each, to a discarding go-smtp sink on loopback that
// offers PIPELINING, and reports messages per second (msgs/s) next to the
// allocations per message (allocs/op: one op is one message; the sink runs
// in the same process, so the ceiling's count is about the sink's own
// share). Run it as in the README:
//
//	go test -run '^$' -bench Throughput -benchmem -benchtime 2000x ./bench
//
// Messages are built before the clock starts: *mailer.Message and
// *gomail.Msg values are rendered while they are sent, net/smtp and the
// ceiling get the rendered bytes. Every client dials inside the timed part.
func BenchmarkThroughput(b *testing.B) {
	b.Run("A-netsmtp-conn-per-msg", func(b *testing.B) {
		s := newSink(b)
		msgs := rendered(b, b.N)
		run(b, func() {
			for i, m := range msgs {
				if err := smtp.SendMail(s.addr(), nil, sender, []string{rcptAddr(i)}, m); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("B-gomail-DialAndSend", func(b *testing.B) {
		s := newSink(b)
		msgs := gomailMsgs(b, b.N)
		c := gomailClient(b, s)
		run(b, func() {
			for _, m := range msgs {
				if err := c.DialAndSend(m); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	for _, n := range []int{1, 4} {
		b.Run(fmt.Sprintf("C-gomail-%d-clients-reusing", n), func(b *testing.B) {
			s := newSink(b)
			msgs := gomailMsgs(b, b.N)
			clients := make([]*gomail.Client, n)
			for i := range clients {
				clients[i] = gomailClient(b, s)
			}
			run(b, func() {
				parallel(n, len(msgs), func(w int) func(i int) {
					c := clients[w]
					if err := c.DialWithContext(context.Background()); err != nil {
						b.Fatal(err)
					}
					return func(i int) {
						if err := c.Send(msgs[i]); err != nil {
							b.Fatal(err)
						}
					}
				})
				for _, c := range clients {
					_ = c.Close()
				}
			})
		})
	}
	b.Run("ceiling-pipelined-raw-8-conns", func(b *testing.B) {
		s := newSink(b)
		msgs := rendered(b, b.N)
		for i, m := range msgs {
			msgs[i] = dotStuff(m)
		}
		run(b, func() {
			parallel(8, len(msgs), func(int) func(i int) {
				rc := dialRaw(b, s.addr())
				return func(i int) { rc.send(b, rcptAddr(i), msgs[i]) }
			})
		})
	})
	for _, size := range []int{1, 4, 8} {
		b.Run(fmt.Sprintf("ours-pool-%d", size), func(b *testing.B) {
			s := newSink(b)
			msgs := ourMsgs(b, b.N)
			c, err := mailer.New(mailer.WithServer(s.host(), s.port()), mailer.WithTLS(mailer.TLSNone),
				mailer.WithPool(size))
			if err != nil {
				b.Fatal(err)
			}
			run(b, func() {
				if _, err := c.SendAll(context.Background(), msgs...); err != nil {
					b.Fatal(err)
				}
			})
			_ = c.Close()
		})
	}
	b.Run("ours-sendraw-pool-8", func(b *testing.B) {
		// SendRaw of the rendered bytes (what an outbox stores), from 16
		// goroutines as SendAll runs them.
		s := newSink(b)
		msgs := rendered(b, b.N)
		c, err := mailer.New(mailer.WithServer(s.host(), s.port()), mailer.WithTLS(mailer.TLSNone),
			mailer.WithPool(8))
		if err != nil {
			b.Fatal(err)
		}
		run(b, func() {
			parallel(16, len(msgs), func(int) func(i int) {
				return func(i int) {
					env := mailer.Envelope{From: sender, To: []string{rcptAddr(i)}}
					if _, err := c.SendRaw(context.Background(), env, msgs[i]); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
		_ = c.Close()
	})
}

// BenchmarkThroughputHook is ours-pool-8 with one status hook that takes
// 0 or 2 ms per event (a database write, say), to show what hooks cost:
//
//	go test -run '^$' -bench ThroughputHook -benchtime 2000x ./bench
func BenchmarkThroughputHook(b *testing.B) {
	for _, d := range []time.Duration{0, 2 * time.Millisecond} {
		b.Run(fmt.Sprintf("pool-8-hook-%v", d), func(b *testing.B) {
			s := newSink(b)
			msgs := ourMsgs(b, b.N)
			var events atomic.Int64
			c, err := mailer.New(mailer.WithServer(s.host(), s.port()), mailer.WithTLS(mailer.TLSNone),
				mailer.WithPool(8), mailer.WithHook(func(context.Context, mailer.Event) {
					events.Add(1)
					if d > 0 {
						time.Sleep(d)
					}
				}))
			if err != nil {
				b.Fatal(err)
			}
			run(b, func() {
				if _, err := c.SendAll(context.Background(), msgs...); err != nil {
					b.Fatal(err)
				}
			})
			_ = c.Close()
			b.ReportMetric(float64(events.Load())/float64(b.N), "events/msg")
		})
	}
}

// run times f, which sends b.N messages, and reports msgs/s.
func run(b *testing.B, f func()) {
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	f()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

// parallel runs n workers that share the indexes 0..total-1; start is
// called once per worker and returns the worker's send function.
func parallel(n, total int, start func(worker int) func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			send := start(w)
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				send(i)
			}
		}()
	}
	wg.Wait()
}

const sender = "noreply@example.com"

func rcptAddr(i int) string { return fmt.Sprintf("user%d@example.com", i) }

// personal returns the text and HTML of message i: about 1 KB each.
func personal(i int) (subject, text, html string) {
	name := fmt.Sprintf("Customer %d", i)
	subject = fmt.Sprintf("Your order #%d has shipped", 100000+i)
	text = fmt.Sprintf("Hello %s,\n\nyour order #%d has shipped.\n\n", name, 100000+i) + altText[:900]
	html = fmt.Sprintf("<p>Hello %s,</p><p>your order <b>#%d</b> has shipped.</p>", name, 100000+i) + altHTML[:900]
	return subject, text, html
}

func ourMsgs(b *testing.B, n int) []*mailer.Message {
	msgs := make([]*mailer.Message, n)
	for i := range msgs {
		subject, text, html := personal(i)
		m, err := mailer.NewMessage().From("Example <" + sender + ">").To(rcptAddr(i)).
			Subject(subject).Text(text).HTML(html).Date(date).Build()
		if err != nil {
			b.Fatal(err)
		}
		msgs[i] = m
	}
	return msgs
}

func rendered(b *testing.B, n int) [][]byte {
	out := make([][]byte, n)
	for i, m := range ourMsgs(b, n) {
		var buf bytes.Buffer
		if _, err := m.WriteTo(&buf); err != nil {
			b.Fatal(err)
		}
		out[i] = buf.Bytes()
	}
	return out
}

func gomailMsgs(b *testing.B, n int) []*gomail.Msg {
	msgs := make([]*gomail.Msg, n)
	for i := range msgs {
		subject, text, html := personal(i)
		m := gomail.NewMsg()
		if err := m.From("Example <" + sender + ">"); err != nil {
			b.Fatal(err)
		}
		if err := m.To(rcptAddr(i)); err != nil {
			b.Fatal(err)
		}
		m.Subject(subject)
		m.SetDateWithValue(date)
		m.SetBodyString(gomail.TypeTextPlain, text)
		m.AddAlternativeString(gomail.TypeTextHTML, html)
		msgs[i] = m
	}
	return msgs
}

func gomailClient(b *testing.B, s *sink) *gomail.Client {
	c, err := gomail.NewClient(s.host(), gomail.WithPort(s.port()), gomail.WithTLSPolicy(gomail.NoTLS),
		gomail.WithHELO("bench.local"))
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// dotStuff returns m with the SMTP dot-stuffing and the final dot.
func dotStuff(m []byte) []byte {
	var out bytes.Buffer
	for _, line := range strings.SplitAfter(string(m), "\r\n") {
		if strings.HasPrefix(line, ".") {
			out.WriteByte('.')
		}
		out.WriteString(line)
	}
	out.WriteString(".\r\n")
	return out.Bytes()
}

// rawConn is the ceiling: a minimal pipelining client writing pre-built
// bytes, with no MIME work, no parsing beyond the reply codes, no
// allocation per message.
type rawConn struct {
	c   net.Conn
	r   *bufio.Reader
	w   *bufio.Writer
	cmd []byte
}

func dialRaw(b *testing.B, addr string) *rawConn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	rc := &rawConn{c: c, r: bufio.NewReader(c), w: bufio.NewWriterSize(c, 8<<10)}
	rc.expect(b, '2') // greeting
	_, _ = rc.w.WriteString("EHLO bench.local\r\n")
	_ = rc.w.Flush()
	rc.expect(b, '2')
	b.Cleanup(func() { _ = c.Close() })
	return rc
}

func (rc *rawConn) send(b *testing.B, rcpt string, data []byte) {
	rc.cmd = append(rc.cmd[:0], "MAIL FROM:<"+sender+">\r\nRCPT TO:<"...)
	rc.cmd = append(rc.cmd, rcpt...)
	rc.cmd = append(rc.cmd, ">\r\nDATA\r\n"...)
	_, _ = rc.w.Write(rc.cmd)
	if err := rc.w.Flush(); err != nil {
		b.Fatal(err)
	}
	rc.expect(b, '2')
	rc.expect(b, '2')
	rc.expect(b, '3')
	_, _ = rc.w.Write(data)
	if err := rc.w.Flush(); err != nil {
		b.Fatal(err)
	}
	rc.expect(b, '2')
}

// expect reads one reply and checks the first digit of its code.
func (rc *rawConn) expect(b *testing.B, class byte) {
	for {
		line, err := rc.r.ReadSlice('\n')
		if err != nil || len(line) < 4 || line[0] != class {
			b.Fatalf("%v: %q (%v)", errReply, line, err)
		}
		if line[3] != '-' {
			return
		}
	}
}

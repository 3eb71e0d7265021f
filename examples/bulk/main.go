// Command bulk sends many personalised e-mails of about 2 KB each with
// github.com/postkit/mailer, over a pool of connections, and reports the
// throughput.
//
// With no -url (and no $MAILER_URL) it starts an SMTP test server on
// 127.0.0.1 (package mailertest) and sends to it over STARTTLS:
//
//	go run ./examples/bulk -n 5000 -pool 8
//
// With a URL it sends for real, to addresses made from the -to pattern:
//
//	MAILER_URL='smtps://me%40example.com:secret@smtp.example.com' \
//		go run ./examples/bulk -n 100 -pool 2 -rate 10 -from me@example.com -to 'test+%d@example.com'
//
// On a terminal it shows a progress bar on stderr. It ends with one summary
// line on stdout: messages sent, failed, elapsed time, messages per second.
// Exit status: 0 all sent; 1 some failed (or interrupted); 2 invalid flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, isTerminal(os.Stderr))
	stop()
	os.Exit(code)
}

type options struct {
	url      string
	urlFlag  bool // -url was given, perhaps empty (-url "$MAILER_URL" with the variable unset)
	n        int
	pool     int
	rate     int
	from     string
	to       string
	ca       string
	progress string
	stats    bool
	cpuprof  string
}

func parseFlags(args []string, env func(string) string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("bulk", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.url, "url", env("MAILER_URL"), "server URL, such as smtps://smtp.example.com (default $MAILER_URL, which keeps a password out of ps; none: a local test server)")
	fs.IntVar(&o.n, "n", 1000, "number of messages")
	fs.IntVar(&o.pool, "pool", mailer.DefaultPoolSize, "connections to keep open")
	fs.IntVar(&o.rate, "rate", 0, "at most this many messages a second (0: no limit)")
	fs.StringVar(&o.from, "from", "bulk@localhost.localdomain", "sender address")
	fs.StringVar(&o.to, "to", "user%d@example.com", "recipient address pattern; %d is the message number")
	fs.StringVar(&o.ca, "ca", "", "PEM file of a CA to trust, for a server with a private certificate")
	fs.StringVar(&o.progress, "progress", "auto", "progress bar on stderr: auto (on a terminal), on, off")
	fs.BoolVar(&o.stats, "stats", false, "end with the process's heap allocations on stderr (for bench/cmd/table)")
	fs.StringVar(&o.cpuprof, "cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	fs.Visit(func(f *flag.Flag) { o.urlFlag = o.urlFlag || f.Name == "url" })
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.n < 1:
		return nil, errors.New("-n must be at least 1")
	case o.pool < 1 || o.pool > 1000:
		return nil, errors.New("-pool must be between 1 and 1000")
	case o.rate < 0:
		return nil, errors.New("-rate must not be negative")
	case strings.Count(o.to, "%d") != 1 || strings.Count(o.to, "%") != 1:
		return nil, errors.New("-to must contain %d once, for the message number")
	case o.progress != "auto" && o.progress != "on" && o.progress != "off":
		return nil, errors.New("-progress must be auto, on or off")
	}
	return o, nil
}

// run is the whole program; it returns the exit status.
func run(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer, terminal bool) int {
	o, err := parseFlags(args, env, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "bulk:", err)
		return 2
	}
	if o.cpuprof != "" {
		stop, err := startProfile(o.cpuprof)
		if err != nil {
			fmt.Fprintln(stderr, "bulk:", err)
			return 2
		}
		defer stop()
	}
	if o.stats {
		defer func() {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			fmt.Fprintf(stderr, "bulk: allocations %d (%.1f a message)\n", ms.Mallocs, float64(ms.Mallocs)/float64(o.n))
		}()
	}
	var server mailer.Option
	if o.url == "" {
		srv, err := mailertest.Start()
		if err != nil {
			fmt.Fprintln(stderr, "bulk: starting the local test server:", err)
			return 1
		}
		defer srv.Close()
		server = srv.Options()
		why := "no -url and no $MAILER_URL"
		if o.urlFlag {
			why = "-url is empty (is the variable unset?)"
		}
		fmt.Fprintf(stderr, "bulk: %s: sending to a local test server on %s; nothing leaves this machine\n", why, srv.Addr())
	} else {
		server = mailer.WithURL(o.url)
		if o.ca != "" {
			server = mailer.Options(server, mailer.WithCAFile(o.ca))
		}
	}

	var sent, failed atomic.Int64
	opts := []mailer.Option{server, mailer.WithPool(o.pool), mailer.WithHook(func(_ context.Context, e mailer.Event) {
		switch e.Status {
		case mailer.StatusSent:
			sent.Add(1)
		case mailer.StatusFailed:
			failed.Add(1)
		}
	})}
	if o.rate > 0 {
		opts = append(opts, mailer.WithRateLimit(o.rate, time.Second))
	}
	c, err := mailer.New(opts...)
	if err != nil {
		fmt.Fprintln(stderr, "bulk:", err) // never shows the password
		return 2
	}

	var bar *progress
	if o.progress == "on" || o.progress == "auto" && terminal {
		bar = startProgress(stderr, o.n, &sent, &failed)
	}
	start := time.Now()
	var firstErr error
	for from := 0; from < o.n && ctx.Err() == nil; from += chunk {
		msgs, err := build(o, from, min(from+chunk, o.n))
		if err != nil {
			fmt.Fprintln(stderr, "bulk:", err)
			_ = c.Close()
			bar.stop()
			return 2
		}
		if _, err := c.SendAll(ctx, msgs...); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	_ = c.Close() // waits for the sends and delivers the last events
	elapsed := time.Since(start)
	bar.stop()

	s, f := sent.Load(), failed.Load()
	fmt.Fprintf(stdout, "sent %d, failed %d, elapsed %v, %.0f msgs/s\n",
		s, f, elapsed.Round(time.Millisecond), float64(s)/elapsed.Seconds())
	if firstErr != nil {
		fmt.Fprintln(stderr, "bulk: first failure:", strings.SplitN(firstErr.Error(), "\n", 2)[0])
	}
	if f > 0 || s < int64(o.n) {
		return 1
	}
	return 0
}

// chunk is how many messages are built and handed to SendAll at a time,
// so that memory does not grow with -n.
const chunk = 1000

// build makes messages from..to-1, each addressed and worded for its
// recipient: about 1 KB of text and 1 KB of HTML.
func build(o *options, from, to int) ([]*mailer.Message, error) {
	msgs := make([]*mailer.Message, 0, to-from)
	for i := from; i < to; i++ {
		name := fmt.Sprintf("Customer %d", i+1)
		order := 100000 + i
		var text, html strings.Builder
		fmt.Fprintf(&text, "Hello %s,\n\nyour order #%d has shipped and should arrive within three days.\n\n", name, order)
		fmt.Fprintf(&html, "<p>Hello %s,</p>\n<p>your order <b>#%d</b> has shipped and should arrive within three days.</p>\n", name, order)
		for line := 1; text.Len() < 1000; line++ {
			fmt.Fprintf(&text, "Item %d: a useful thing, quantity 1, shipped from warehouse %d.\n", line, i%7+1)
			fmt.Fprintf(&html, "<p>Item %d: a useful thing, quantity 1, shipped from warehouse %d.</p>\n", line, i%7+1)
		}
		m, err := mailer.NewMessage().From(o.from).To(fmt.Sprintf(o.to, i+1)).
			Subject(fmt.Sprintf("Your order #%d has shipped", order)).
			Text(text.String()).HTML(html.String()).Build()
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// progress draws a progress bar on a terminal until stopped.
type progress struct {
	w            io.Writer
	total        int
	sent, failed *atomic.Int64
	done         chan struct{}
	stopped      chan struct{}
	start        time.Time
}

func startProgress(w io.Writer, total int, sent, failed *atomic.Int64) *progress {
	p := &progress{w: w, total: total, sent: sent, failed: failed,
		done: make(chan struct{}), stopped: make(chan struct{}), start: time.Now()}
	go func() {
		defer close(p.stopped)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			p.draw()
			select {
			case <-p.done:
				p.draw()
				fmt.Fprintln(p.w)
				return
			case <-t.C:
			}
		}
	}()
	return p
}

func (p *progress) draw() {
	const width = 40
	s, f := p.sent.Load(), p.failed.Load()
	done := int(s + f)
	filled := width * done / p.total
	rate := float64(s) / max(time.Since(p.start).Seconds(), 1e-3)
	fmt.Fprintf(p.w, "\r[%s%s] %3d%% %d/%d sent %d failed %d %.0f msgs/s ",
		strings.Repeat("#", filled), strings.Repeat(".", width-filled), 100*done/p.total, done, p.total, s, f, rate)
}

// stop draws the final state and waits for the drawing goroutine.
func (p *progress) stop() {
	if p == nil {
		return
	}
	select {
	case <-p.done:
	default:
		close(p.done)
	}
	<-p.stopped
}

// isTerminal reports whether f is a character device, as a terminal is.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// startProfile starts a CPU profile into the file name; the function it
// returns stops it and closes the file.
func startProfile(name string) (func(), error) {
	f, err := os.Create(name)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}

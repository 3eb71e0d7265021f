// Command gomail is the go-mail baseline of the whole-process benchmarks:
// it builds the messages of examples/bulk with github.com/wneessen/go-mail
// and sends them over -conns clients, each reusing one connection (Send
// after DialWithContext), each message built by the worker that sends it.
//
//	go run ./bench/cmd/gomail -addr 127.0.0.1:2525 -n 10000 -conns 4
//
// It ends with "allocations N" on stderr, the process's heap allocations.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	gomail "github.com/wneessen/go-mail"

	"github.com/postkit/mailer/bench/internal/corpus"
)

func main() {
	addr := flag.String("addr", "", "sink address, host:port")
	n := flag.Int("n", 10000, "number of messages")
	conns := flag.Int("conns", 4, "clients, each with its own connection")
	flag.Parse()
	host, port, err := net.SplitHostPort(*addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gomail:", err)
		os.Exit(2)
	}
	p, _ := strconv.Atoi(port)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, *conns)
	for w := range *conns {
		wg.Go(func() {
			errs[w] = worker(host, p, func() int { return int(next.Add(1)) - 1 }, *n)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintln(os.Stderr, "gomail:", err)
		os.Exit(1)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(os.Stderr, "allocations %d\n", ms.Mallocs)
}

func worker(host string, port int, next func() int, n int) error {
	c, err := gomail.NewClient(host, gomail.WithPort(port), gomail.WithTLSPolicy(gomail.NoTLS),
		gomail.WithHELO("bench.local"))
	if err != nil {
		return err
	}
	if err := c.DialWithContext(context.Background()); err != nil {
		return err
	}
	for i := next(); i < n; i = next() {
		to, subject, text, html := corpus.Content(i)
		m := gomail.NewMsg()
		if err := m.From(corpus.From); err != nil {
			return err
		}
		if err := m.To(to); err != nil {
			return err
		}
		m.Subject(subject)
		m.SetBodyString(gomail.TypeTextPlain, text)
		m.AddAlternativeString(gomail.TypeTextHTML, html)
		if err := c.Send(m); err != nil {
			return err
		}
	}
	return c.Close()
}

// Command ceiling is the raw pipelining ceiling of the whole-process
// benchmarks: it builds the messages of examples/bulk as bytes by plain
// appends (no MIME library), then sends them over -conns connections, each
// transaction's MAIL, RCPT and DATA in one write, reading nothing of the
// replies but their codes. It is as fast as an SMTP client can go with the
// same messages; it checks nothing a real client must.
//
//	go run ./bench/cmd/ceiling -addr 127.0.0.1:2525 -n 10000 -conns 8
//
// It ends with "allocations N" on stderr, the process's heap allocations.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/postkit/mailer/bench/internal/corpus"
)

func main() {
	addr := flag.String("addr", "", "sink address, host:port")
	n := flag.Int("n", 10000, "number of messages")
	conns := flag.Int("conns", 8, "connections")
	flag.Parse()
	msgs := make([][]byte, *n)
	for i := range msgs {
		msgs[i] = corpus.Wire(nil, i)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, *conns)
	for w := range *conns {
		wg.Go(func() {
			errs[w] = worker(*addr, func() int { return int(next.Add(1)) - 1 }, msgs)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintln(os.Stderr, "ceiling:", err)
		os.Exit(1)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(os.Stderr, "allocations %d\n", ms.Mallocs)
}

// worker sends the messages whose indexes next returns over one connection.
func worker(addr string, next func() int, msgs [][]byte) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	r, w := bufio.NewReader(c), bufio.NewWriterSize(c, 8<<10)
	if err := expect(r, '2'); err != nil { // greeting
		return err
	}
	_, _ = w.WriteString("EHLO bench.local\r\n")
	if err := w.Flush(); err != nil {
		return err
	}
	if err := expect(r, '2'); err != nil {
		return err
	}
	var cmd []byte
	for i := next(); i < len(msgs); i = next() {
		cmd = append(cmd[:0], "MAIL FROM:<"+corpus.From+">\r\nRCPT TO:<user"...)
		cmd = fmt.Appendf(cmd, "%d@example.com>\r\nDATA\r\n", i+1)
		_, _ = w.Write(cmd)
		if err := w.Flush(); err != nil {
			return err
		}
		for _, class := range []byte("223") {
			if err := expect(r, class); err != nil {
				return err
			}
		}
		_, _ = w.Write(msgs[i])
		if err := w.Flush(); err != nil {
			return err
		}
		if err := expect(r, '2'); err != nil {
			return err
		}
	}
	_, _ = w.WriteString("QUIT\r\n")
	_ = w.Flush()
	return expect(r, '2')
}

// expect reads one reply and checks the first digit of its code.
func expect(r *bufio.Reader, class byte) error {
	for {
		line, err := r.ReadSlice('\n')
		if err != nil || len(line) < 4 || line[0] != class {
			return fmt.Errorf("unexpected reply %q (%v)", line, err)
		}
		if line[3] != '-' {
			return nil
		}
	}
}

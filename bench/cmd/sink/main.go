// Command sink is the SMTP server of the whole-process benchmarks: go-smtp
// on 127.0.0.1 with its defaults (PIPELINING, no TLS, no authentication),
// accepting every message and throwing it away, as bench's in-process
// sink does. It prints its address on stdout and serves until its stdin
// is closed.
//
//	go run ./bench/cmd/sink
package main

import (
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"time"

	"github.com/emersion/go-smtp"
)

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "sink:", err)
		os.Exit(1)
	}
	srv := smtp.NewServer(discard{})
	srv.Domain = "sink.local"
	srv.MaxMessageBytes = 1 << 20
	srv.MaxRecipients = 100
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = log.New(io.Discard, "", 0)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		_ = srv.Close()
	}()
	fmt.Println(ln.Addr())
	_ = srv.Serve(ln)
}

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

package memnet

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// TestBufferedBothWays: each direction holds bufferSize bytes, so both
// ends can write before either reads (a pipelined client and a server
// answering early); past that, Write waits for the reader.
func TestBufferedBothWays(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := Pipe(nil, nil)
		defer a.Close()
		defer b.Close()
		if _, err := a.Write(make([]byte, bufferSize)); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Write([]byte("552 too big\r\n")); err != nil {
			t.Fatal(err)
		}
		wrote := make(chan int, 1)
		go func() {
			n, _ := a.Write([]byte("more"))
			wrote <- n
		}()
		synctest.Wait()
		select {
		case <-wrote:
			t.Fatal("Write into a full buffer returned")
		default:
		}
		buf := make([]byte, 16)
		if n, err := a.Read(buf); err != nil || string(buf[:n]) != "552 too big\r\n" {
			t.Fatalf("Read = %q, %v", buf[:n], err)
		}
		got, err := io.ReadAll(io.LimitReader(b, bufferSize+4))
		if err != nil || len(got) != bufferSize+4 || !bytes.HasSuffix(got, []byte("more")) {
			t.Fatalf("read %d bytes, %v", len(got), err)
		}
		if n := <-wrote; n != 4 {
			t.Fatalf("Write = %d", n)
		}
	})
}

// TestDeadlinesOnTheFakeClock: a read deadline ends a Read on the
// bubble's clock with a timeout error; clearing it lets the next Read wait.
func TestDeadlinesOnTheFakeClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := Pipe(nil, nil)
		defer a.Close()
		defer b.Close()
		start := time.Now()
		_ = a.SetReadDeadline(start.Add(30 * time.Second))
		_, err := a.Read(make([]byte, 1))
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read after the deadline: %v", err)
		}
		if d := time.Since(start); d != 30*time.Second {
			t.Fatalf("the deadline fired after %v", d)
		}
		_ = a.SetReadDeadline(time.Time{})
		_ = b.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := b.Write(make([]byte, bufferSize+1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Write into a full buffer past its deadline: %v", err)
		}
	})
}

// TestClose: the peer reads what was written, then EOF; its writes fail
// with EPIPE and PeerClosed says so; the closed end's own calls fail.
func TestClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := Pipe(nil, nil)
		_, _ = a.Write([]byte("221 bye\r\n"))
		if b.PeerClosed() {
			t.Fatal("PeerClosed before Close")
		}
		blocked := make(chan error, 1)
		go func() {
			_, err := a.Read(make([]byte, 1))
			blocked <- err
		}()
		synctest.Wait()
		_ = a.Close()
		if err := <-blocked; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read blocked in Close: %v", err)
		}
		if !b.PeerClosed() {
			t.Fatal("PeerClosed after Close")
		}
		got, err := io.ReadAll(b)
		if err != nil || string(got) != "221 bye\r\n" {
			t.Fatalf("ReadAll = %q, %v", got, err)
		}
		if _, err := b.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
			t.Fatalf("Write to a closed peer: %v", err)
		}
		_ = b.Close()
	})
}

// TestListener: Dial meets Accept; after Close, Accept fails and Dial is
// refused; a Dial nobody accepts ends with its context.
func TestListener(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := Listen(2525)
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := l.Accept()
			if err != nil {
				t.Error(err)
			}
			accepted <- c
		}()
		c, err := l.Dial(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		s := <-accepted
		if s.RemoteAddr().String() != c.LocalAddr().String() || c.RemoteAddr().String() != "127.0.0.1:2525" {
			t.Fatalf("addresses %v %v %v", s.RemoteAddr(), c.LocalAddr(), c.RemoteAddr())
		}
		c.Close()
		s.Close()

		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if _, err := l.Dial(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Dial nobody accepts: %v", err)
		}
		_ = l.Close()
		if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v", err)
		}
		if _, err := l.Dial(t.Context()); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("Dial after Close: %v", err)
		}
	})
}

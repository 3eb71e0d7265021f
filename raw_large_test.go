package mailer_test

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer"
)

// sink is a go-smtp server that keeps only a SHA-256 of each message, so
// that it allocates next to nothing and the allocations a test measures
// are the client's.
type sink struct {
	mu     sync.Mutex
	sums   [][sha256.Size]byte
	sizes  []int64
	server *smtp.Server
	addr   *net.TCPAddr
}

func newSink(t *testing.T) *sink {
	t.Helper()
	s := &sink{}
	s.server = smtp.NewServer(s)
	s.server.Domain = "sink.local"
	s.server.MaxMessageBytes = 64 << 20
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.addr = l.Addr().(*net.TCPAddr)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.server.Serve(l)
	}()
	t.Cleanup(func() {
		_ = s.server.Close()
		<-done
	})
	return s
}

func (s *sink) NewSession(*smtp.Conn) (smtp.Session, error) { return sinkSession{s}, nil }

type sinkSession struct{ s *sink }

func (sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (sinkSession) Reset()                               {}
func (sinkSession) Logout() error                        { return nil }
func (ss sinkSession) Data(r io.Reader) error {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return err
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	ss.s.mu.Lock()
	ss.s.sums = append(ss.s.sums, sum)
	ss.s.sizes = append(ss.s.sizes, n)
	ss.s.mu.Unlock()
	return nil
}

// TestSendRaw20MiB: a 20 MiB raw message is sent without being copied:
// the whole process (client and this sink) allocates a small fraction of
// its size, and the server receives exactly its bytes.
func TestSendRaw20MiB(t *testing.T) {
	if testing.Short() {
		t.Skip("20 MiB over loopback")
	}
	line := []byte("0123456789 the quick brown fox jumps over the lazy dog 0123456789\r\n.dot line\r\n")
	raw := append([]byte("Subject: big\r\nMessage-ID: <big.1@example.com>\r\n\r\n"), bytes.Repeat(line, 20<<20/len(line))...)
	require.Greater(t, len(raw), 20<<20-len(line))

	s := newSink(t)
	c := newClient(t, mailer.WithServer("127.0.0.1", s.addr.Port), mailer.WithTLS(mailer.TLSNone))
	env := mailer.Envelope{From: "a@example.com", To: []string{"b@example.com"}}
	_, err := c.SendRaw(bg, env, []byte("Subject: warm-up\r\n\r\nx\r\n")) // connect first
	require.NoError(t, err)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	r, err := c.SendRaw(bg, env, raw)
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	assert.Equal(t, "big.1@example.com", r.MessageID)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d KiB to send %d KiB in %v", alloc>>10, len(raw)>>10, elapsed)
	assert.Less(t, alloc, uint64(1<<20), "SendRaw must not copy the message")

	s.mu.Lock()
	defer s.mu.Unlock()
	require.Len(t, s.sums, 2)
	assert.Equal(t, int64(len(raw)), s.sizes[1])
	assert.Equal(t, sha256.Sum256(raw), s.sums[1])
}

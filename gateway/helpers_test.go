package gateway_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postkit/mailer/gateway"
	"github.com/postkit/mailer/mailertest"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and client
// certificates, written to a directory.
type testPKI struct {
	dir     string
	caCert  *x509.Certificate
	caKey   *ecdsa.PrivateKey
	pool    *x509.CertPool
	counter int64
}

func newPKI(t testing.TB) *testPKI {
	t.Helper()
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &testPKI{dir: dir, caCert: ca, caKey: key, pool: x509.NewCertPool(), counter: 1}
	p.pool.AddCert(ca)
	writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", der)
	p.issue(t, "server", "mailgate.test", []string{"localhost"}, true)
	return p
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// issue writes NAME.pem and NAME.key signed by the CA.
func (p *testPKI) issue(t testing.TB, name, cn string, dns []string, server bool) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p.counter++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(p.counter), Subject: pkix.Name{CommonName: cn}, DNSNames: dns,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	writePEM(t, filepath.Join(p.dir, name+".pem"), "CERTIFICATE", der)
	writePEM(t, filepath.Join(p.dir, name+".key"), "EC PRIVATE KEY", kb)
	c, err := tls.LoadX509KeyPair(filepath.Join(p.dir, name+".pem"), filepath.Join(p.dir, name+".key"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// env is a running gateway with its tokens, upstreams and files.
type env struct {
	t      testing.TB
	g      *gateway.Gateway
	pki    *testPKI
	dir    string
	audit  string
	tokens map[string]string // user → token
	ups    map[string]*mailertest.Server
	clock  *fakeClock
	yaml   string // the configuration as started, placeholders expanded
}

// fakeClock is a settable clock for rate windows and expiry: real time
// plus an offset, or, once frozen, a time that moves only by advance.
type fakeClock struct {
	mu     sync.Mutex
	off    time.Duration
	frozen bool
	at     time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.frozen {
		return c.at
	}
	return time.Now().Add(c.off)
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.at = c.at.Add(d)
	c.mu.Unlock()
}

// freezeAt stops the clock at t: it then moves only by advance.
func (c *fakeClock) freezeAt(t time.Time) {
	c.mu.Lock()
	c.frozen, c.at = true, t
	c.mu.Unlock()
}

// setup describes a test gateway. YAML may use {{TOKEN:user}} (the hash
// of a fresh token for user), {{UP:name}} (an upstream block pointing at
// a fresh mailertest server, STARTTLS + AUTH), {{DIR}}.
type setup struct {
	yaml      string
	upstreams map[string][]mailertest.Option
	opts      []gateway.Option
	before    func(dir string) // writes files the configuration names
}

const baseServer = `
server:
  hostname: mailgate.test
  listeners:
    - {name: submission, addr: "127.0.0.1:0", tls: starttls}
    - {name: submissions, addr: "127.0.0.1:0", tls: implicit}
    - {name: local, addr: "127.0.0.1:0", tls: none}
  tls: {cert_file: server.pem, key_file: server.key, client_ca_file: ca.pem}
  auth_failures: {per_ip: 20, per_user: 40, delay: 1ms, max_delay: 20ms}
  limits: {data_idle_timeout: 20s}
audit: {path: audit.jsonl}
health: {addr: "127.0.0.1:0"}
`

func start(t testing.TB, s setup) *env {
	t.Helper()
	e := &env{t: t, pki: newPKI(t), tokens: map[string]string{}, ups: map[string]*mailertest.Server{}, clock: &fakeClock{}}
	e.dir = e.pki.dir
	e.audit = filepath.Join(e.dir, "audit.jsonl")
	if s.before != nil {
		s.before(e.dir)
	}
	y := e.expand(s.yaml, s.upstreams)
	e.yaml = y
	cfg, err := gateway.ParseConfig([]byte(y))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, y)
	}
	cfg.SetDir(e.dir)
	opts := append([]gateway.Option{gateway.WithClock(e.clock.now)}, s.opts...)
	g, err := gateway.New(cfg, opts...)
	if err != nil {
		t.Fatalf("New: %v\n%s", err, y)
	}
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	e.g = g
	t.Cleanup(func() { shutdownBounded(t, g) })
	return e
}

func (e *env) expand(y string, ups map[string][]mailertest.Option) string {
	t := e.t
	for {
		i := strings.Index(y, "{{")
		if i < 0 {
			break
		}
		j := strings.Index(y[i:], "}}")
		key := y[i+2 : i+j]
		var val string
		switch {
		case strings.HasPrefix(key, "TOKEN:"):
			user := key[6:]
			tok, ok := e.tokens[user]
			if !ok {
				tok, _ = gateway.NewToken()
				e.tokens[user] = tok
			}
			val = gateway.TokenHash(tok)
		case strings.HasPrefix(key, "UP:"):
			name := key[3:]
			srv := mailertest.NewServer(t, append([]mailertest.Option{mailertest.WithUser("relay", "relay-pw")}, ups[name]...)...)
			e.ups[name] = srv
			ca := filepath.Join(e.dir, "up-"+name+"-ca.pem")
			os.WriteFile(ca, srv.CAPEM(), 0o600)
			pw := filepath.Join(e.dir, "up-"+name+"-pw")
			os.WriteFile(pw, []byte("relay-pw\n"), 0o600)
			val = fmt.Sprintf("{url: \"smtp://relay@%s\", password_file: %s, ca_file: %s", srv.Addr(), pw, ca)
			if srv.TLSMode() == mailertest.TLSImplicit {
				val = fmt.Sprintf("{url: \"smtps://relay@%s\", password_file: %s, ca_file: %s", srv.Addr(), pw, ca)
			}
		case key == "DIR":
			val = e.dir
		default:
			t.Fatalf("unknown placeholder %q", key)
		}
		y = y[:i] + val + y[i+j+2:]
	}
	return y
}

func (e *env) addr(listener string) string { return e.g.Addr(listener) }

// --- a raw SMTP client that shows exact codes --------------------------

type rawClient struct {
	t    testing.TB
	conn net.Conn
	tp   *textproto.Conn
}

// dialRaw connects to listener; "submissions" speaks TLS at once.
func (e *env) dialRaw(listener string) *rawClient {
	return e.dialRawFrom(listener, "")
}

func (e *env) dialRawFrom(listener, localIP string) *rawClient {
	e.t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if localIP != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(localIP)}
	}
	c, err := d.Dial("tcp", e.addr(listener))
	if err != nil {
		e.t.Fatal(err)
	}
	if listener == "submissions" {
		c = tls.Client(c, &tls.Config{RootCAs: e.pki.pool, ServerName: "localhost"})
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	rc := &rawClient{t: e.t, conn: c, tp: textproto.NewConn(c)}
	e.t.Cleanup(func() { c.Close() })
	return rc
}

// read reads one reply.
func (c *rawClient) read() (int, string) {
	c.t.Helper()
	code, msg, err := c.tp.ReadResponse(0)
	if err != nil && code == 0 {
		return 0, err.Error()
	}
	return code, msg
}

// cmd sends a line and returns the reply.
func (c *rawClient) cmd(format string, args ...any) (int, string) {
	c.t.Helper()
	if err := c.tp.PrintfLine(format, args...); err != nil {
		return 0, err.Error()
	}
	return c.read()
}

// expect sends a line and fails unless the reply starts with want
// ("250", "553 5.7.1").
func (c *rawClient) expect(want string, format string, args ...any) string {
	c.t.Helper()
	code, msg := c.cmd(format, args...)
	got := fmt.Sprintf("%d %s", code, msg)
	if !strings.HasPrefix(got, want) {
		c.t.Fatalf("%q: got %q, want %q", fmt.Sprintf(format, args...), got, want)
	}
	return got
}

func (e *env) greet(c *rawClient) {
	e.t.Helper()
	if code, msg := c.read(); code != 220 {
		e.t.Fatalf("greeting %d %s", code, msg)
	}
}

// starttls says EHLO and upgrades.
func (c *rawClient) starttls(pool *x509.CertPool) {
	c.t.Helper()
	c.expect("250", "EHLO client.test")
	c.expect("220", "STARTTLS")
	tc := tls.Client(c.conn, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err := tc.Handshake(); err != nil {
		c.t.Fatal(err)
	}
	c.conn = tc
	c.tp = textproto.NewConn(tc)
}

// session opens an authenticated session on the STARTTLS listener.
func (e *env) session(user string) *rawClient {
	e.t.Helper()
	c := e.dialRaw("submission")
	e.greet(c)
	c.starttls(e.pki.pool)
	c.expect("250", "EHLO client.test")
	c.expect("235", "AUTH PLAIN %s", plain(user, e.tokens[user]))
	return c
}

func plain(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

// data sends DATA, the message (already CRLF, dot-stuffed by the caller if
// needed) and the final dot, and returns the reply.
func (c *rawClient) data(msg string) string {
	c.t.Helper()
	c.expect("354", "DATA")
	w := bufio.NewWriter(c.conn)
	w.WriteString(msg)
	w.WriteString("\r\n.\r\n")
	w.Flush()
	code, text := c.read()
	return fmt.Sprintf("%d %s", code, text)
}

// auditLines reads the audit log.
func (e *env) auditLines() []string {
	b, err := os.ReadFile(e.audit)
	if err != nil {
		e.t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func msg(from, to, subject string) string {
	return "From: " + from + "\r\nTo: " + to + "\r\nSubject: " + subject + "\r\nMessage-ID: <" + subject + "@t.test>\r\n\r\nHello.\r\n"
}

func encode(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func itoa(i int) string { return fmt.Sprint(i) }

func newTP(c net.Conn) *textproto.Conn { return textproto.NewConn(c) }

func dialQuiet(addr string) (net.Conn, error) {
	return net.DialTimeout("tcp", addr, time.Second)
}

// httpGet is http.Get with a bounded time.
func httpGet(url string) (*http.Response, error) {
	return (&http.Client{Timeout: 10 * time.Second}).Get(url)
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }

// shutdownBounded shuts g down with a 10 s drain and fails the test,
// instead of hanging it, if Shutdown has not returned 20 s later.
func shutdownBounded(t testing.TB, g *gateway.Gateway) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		g.Shutdown(ctx)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Errorf("gateway Shutdown did not return within 20s")
	}
}

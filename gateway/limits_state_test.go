package gateway_test

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postkit/mailer/gateway"
)

// restart shuts e's gateway down and starts a new one on y (expanded with
// e's tokens) in the same directory, on the same clock, with opts.
func (e *env) restart(y string, opts ...gateway.Option) {
	e.t.Helper()
	shutdownBounded(e.t, e.g)
	cfg, err := gateway.ParseConfig([]byte(e.expand(y, nil)))
	if err != nil {
		e.t.Fatal(err)
	}
	cfg.SetDir(e.dir)
	g, err := gateway.New(cfg, append([]gateway.Option{gateway.WithClock(e.clock.now)}, opts...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := g.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.g = g
	e.t.Cleanup(func() { shutdownBounded(e.t, g) })
}

const quotaTenants = `
upstreams:
  up: {url: "smtp://127.0.0.1:9?tls=none"}
tenants:
  t2:
    credentials: [{username: app2, token_sha256: "{{TOKEN:app2}}"}]
    senders: ["noreply@t2.test"]
    limits: {messages_per_day: 3}
    route: {upstreams: [up]}
`

const goneTenant = `
  gone:
    credentials: [{username: gone, token_sha256: "{{TOKEN:gone}}"}]
    senders: ["@gone.test"]
    limits: {messages_per_day: 5}
    route: {upstreams: [up]}
`

// stateFile reads the limits state file as a map of tenant name to its
// fields.
func stateFile(t *testing.T, path string) map[string]map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Tenants map[string]map[string]any `json:"tenants"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("%s: %v\n%s", path, err, b)
	}
	return st.Tenants
}

// L5: the daily quota survives a restart. t2 (3 a day) reaches its quota;
// a reload keeps the count; a new gateway on the same configuration
// answers 451 4.7.1 at MAIL (a restart used to reset the count), until
// the next UTC day. A tenant removed from the configuration is dropped
// from the state file.
func TestQuotaSurvivesRestart(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	opts := []gateway.Option{gateway.WithDelivery("sync", rec)}
	e := start(t, setup{yaml: baseServer + quotaTenants + goneTenant, opts: opts})
	now := time.Now().UTC()
	if now.Add(15*time.Minute).Day() != now.Day() {
		now = now.Add(20 * time.Minute) // keep the test inside one UTC day
	}
	e.clock.freezeAt(now)
	c := e.session("app2")
	for i := range 3 {
		if got := sendOne(c, "q"+itoa(i)); !strings.HasPrefix(got, "250") {
			t.Fatalf("message %d: %s", i+1, got)
		}
	}
	c.expect("451 4.7.1", "MAIL FROM:<noreply@t2.test>")
	g := e.session("gone")
	g.expect("250", "MAIL FROM:<a@gone.test>")
	g.expect("250", "RCPT TO:<r@ext.example>")
	if got := g.data(msg("a@gone.test", "r@ext.example", "gone")); !strings.HasPrefix(got, "250") {
		t.Fatal(got)
	}
	if err := e.reload(baseServer + quotaTenants + goneTenant); err != nil {
		t.Fatal(err)
	}
	c.expect("451 4.7.1", "MAIL FROM:<noreply@t2.test>") // a reload keeps the count
	c.expect("221", "QUIT")
	g.expect("221", "QUIT")

	// The default place: beside the configuration.
	path := filepath.Join(e.dir, "mailgate-limits.json")
	e.restart(baseServer+quotaTenants+goneTenant, opts...)
	c = e.session("app2")
	c.expect("451 4.7.1", "MAIL FROM:<noreply@t2.test>")
	c.expect("221", "QUIT")
	if st := stateFile(t, path); st["t2"]["count"] != 3.0 || st["gone"]["count"] != 1.0 || st["t2"]["day"] != now.Format(time.DateOnly) {
		t.Fatalf("state file after the first run: %v", st)
	}

	// Without "gone": it is dropped from the file; t2 keeps its count.
	e.restart(baseServer+quotaTenants, opts...)
	c = e.session("app2")
	c.expect("451 4.7.1", "MAIL FROM:<noreply@t2.test>")
	c.expect("221", "QUIT")
	e.restart(baseServer+quotaTenants, opts...)
	if st := stateFile(t, path); len(st) != 1 || st["t2"]["count"] != 3.0 {
		t.Fatalf("state file without tenant gone: %v", st)
	}
	if tmp, _ := filepath.Glob(filepath.Join(e.dir, ".mailgate-limits.json.*")); len(tmp) != 0 {
		t.Fatalf("temporary files left: %v", tmp)
	}
	if b, _ := os.ReadFile(path); testing.Verbose() {
		t.Logf("%s", b)
	}

	// The next UTC day starts a new count, after a restart too.
	e.clock.advance(24 * time.Hour)
	c = e.session("app2")
	if got := sendOne(c, "next-day"); !strings.HasPrefix(got, "250") {
		t.Fatalf("next day: %s", got)
	}
	if rec.count() != 5 {
		t.Fatalf("%d messages delivered, want 5", rec.count())
	}
}

// A corrupt or missing state file starts with empty counts and says so in
// the log; the gateway starts either way.
func TestQuotaStateCorrupt(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	e := start(t, setup{yaml: baseServer + quotaTenants, opts: []gateway.Option{gateway.WithDelivery("sync", rec)}})
	c := e.session("app2")
	for i := range 3 {
		if got := sendOne(c, "q"+itoa(i)); !strings.HasPrefix(got, "250") {
			t.Fatalf("message %d: %s", i+1, got)
		}
	}
	c.expect("221", "QUIT")
	shutdownBounded(t, e.g)
	path := filepath.Join(e.dir, "mailgate-limits.json")
	for name, content := range map[string]string{
		"truncated":      `{"version":1,"tenants":{"t2":{"day":"`,
		"garbage":        "\x00\x01not json",
		"negative count": `{"version":1,"tenants":{"t2":{"day":"` + e.clock.now().UTC().Format(time.DateOnly) + `","count":-7}}}`,
		"bad day":        `{"version":1,"tenants":{"t2":{"day":"yesterday","count":3}}}`,
		"other version":  `{"version":99,"tenants":{}}`,
	} {
		t.Run(name, func(t *testing.T) {
			shutdownBounded(t, e.g) // it writes the file: corrupt it after
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			var logBuf syncBuffer
			e.restart(baseServer+quotaTenants, gateway.WithDelivery("sync", rec),
				gateway.WithLogger(slog.New(slog.NewTextHandler(&logBuf, nil))))
			if !strings.Contains(logBuf.String(), "limits state") || !strings.Contains(logBuf.String(), "starting with empty counts") {
				t.Fatalf("no log line about the state file:\n%s", logBuf.String())
			}
			c := e.session("app2")
			c.expect("250", "MAIL FROM:<noreply@t2.test>")
			c.expect("221", "QUIT")
		})
	}
	// Missing: empty counts, no complaint.
	shutdownBounded(t, e.g)
	os.Remove(path)
	var logBuf syncBuffer
	e.restart(baseServer+quotaTenants, gateway.WithDelivery("sync", rec),
		gateway.WithLogger(slog.New(slog.NewTextHandler(&logBuf, nil))))
	if strings.Contains(logBuf.String(), "level=WARN") || strings.Contains(logBuf.String(), "level=ERROR") {
		t.Fatalf("a missing state file is not a problem:\n%s", logBuf.String())
	}
	e.session("app2").expect("250", "MAIL FROM:<noreply@t2.test>")
}

// The file is written while the gateway runs (at most a second after a
// count changes), so a gateway that dies without Shutdown (kill -9) loses
// at most that second: a second gateway started on the same directory,
// the first never shut down, finds the quota reached.
func TestQuotaWrittenWhileRunning(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	opts := []gateway.Option{gateway.WithDelivery("sync", rec)}
	e := start(t, setup{yaml: baseServer + quotaTenants, opts: opts})
	written := make(chan struct{}, 1)
	gateway.SetLimitsStateHook(e.g, func() {
		select {
		case written <- struct{}{}:
		default:
		}
	})
	c := e.session("app2")
	for i := range 3 {
		if got := sendOne(c, "q"+itoa(i)); !strings.HasPrefix(got, "250") {
			t.Fatalf("message %d: %s", i+1, got)
		}
	}
	path := filepath.Join(e.dir, "mailgate-limits.json")
	deadline := time.After(10 * time.Second)
	for {
		select {
		case <-written:
		case <-deadline:
			t.Fatal("the state file was not written within 10 s")
		}
		if st := stateFile(t, path); st["t2"]["count"] == 3.0 {
			break
		}
	}
	// The first gateway is not shut down: a crash, as far as the file
	// knows.
	cfg, err := gateway.ParseConfig([]byte(e.yaml))
	if err != nil {
		t.Fatal(err)
	}
	cfg.SetDir(e.dir)
	g2, err := gateway.New(cfg, append([]gateway.Option{gateway.WithClock(e.clock.now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := g2.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdownBounded(t, g2) })
	first := e.g
	e.g = g2
	e.session("app2").expect("451 4.7.1", "MAIL FROM:<noreply@t2.test>")
	e.g = first
}

// A second gateway on the same configuration that never starts (its
// listener's address is taken by the running one) must not write the
// state file at Shutdown: it would put back the counts it read at New
// over the newer ones the running gateway wrote since. Nor does a
// gateway that started write at Shutdown when its counts have not
// changed since it read or wrote them.
func TestQuotaStateNotWrittenWithoutChange(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	opts := []gateway.Option{gateway.WithDelivery("sync", rec)}
	e := start(t, setup{yaml: baseServer + quotaTenants, opts: opts})
	e.clock.freezeAt(time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC))
	c := e.session("app2")
	if got := sendOne(c, "q0"); !strings.HasPrefix(got, "250") {
		t.Fatal(got)
	}
	c.expect("221", "QUIT")
	path := filepath.Join(e.dir, "mailgate-limits.json")
	e.restart(baseServer+quotaTenants, opts...) // the file now holds 1
	if st := stateFile(t, path); st["t2"]["count"] != 1.0 {
		t.Fatalf("state file: %v", st)
	}
	day := e.clock.now().UTC().Format(time.DateOnly)
	newer := []byte(`{"version": 1, "tenants": {"t2": {"day":"` + day + `","count":3}}}` + "\n")

	// A second mailgate on the same configuration: New reads 1, the
	// running one counts on (the file gets 3), Start cannot bind.
	cfg, err := gateway.ParseConfig([]byte(e.yaml))
	if err != nil {
		t.Fatal(err)
	}
	cfg.SetDir(e.dir)
	cfg.Server.Listeners[0].Addr = e.g.Addr(cfg.Server.Listeners[0].Name)
	g2, err := gateway.New(cfg, append([]gateway.Option{gateway.WithClock(e.clock.now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, newer, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := g2.Start(); err == nil {
		t.Fatal("the second gateway bound the first one's address")
	}
	shutdownBounded(t, g2)
	if b, _ := os.ReadFile(path); string(b) != string(newer) {
		t.Fatalf("a gateway that never started wrote the state file:\n%s", b)
	}

	// The running gateway has counted nothing since it read the file:
	// its Shutdown leaves the file as it is.
	shutdownBounded(t, e.g)
	if b, _ := os.ReadFile(path); string(b) != string(newer) {
		t.Fatalf("a gateway whose counts did not change wrote the state file at Shutdown:\n%s", b)
	}
}

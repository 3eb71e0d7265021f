package outbox_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/outbox"
)

// routeSender records the routing tag each send sees.
type routeSender struct {
	mu     sync.Mutex
	routes map[string]string // To[0] → tag
}

func (s *routeSender) Send(ctx context.Context, m *mailer.Message) (mailer.Receipt, error) {
	return s.SendRaw(ctx, m.Envelope(), nil)
}

func (s *routeSender) SendRaw(ctx context.Context, env mailer.Envelope, _ []byte) (mailer.Receipt, error) {
	s.mu.Lock()
	s.routes[env.To[0]] = outbox.RouteFromContext(ctx)
	s.mu.Unlock()
	return mailer.Receipt{Recipients: env.To, Response: "250 2.0.0 OK"}, nil
}

// Key replaces the Message-ID as the record's key (two records may carry
// one message), Route reaches the Sender through the context, and Stats
// counts what waits.
func TestKeyRouteStats(t *testing.T) {
	t.Parallel()
	bothDrivers(t, func(t *testing.T) { testKeyRouteStats(t, openSQLite) }, func(t *testing.T) { testKeyRouteStats(t, openPG) })
}

func testKeyRouteStats[TTx any](t *testing.T, open opener[TTx]) {
	t.Parallel()
	s := &routeSender{routes: map[string]string{}}
	ob := open(t, s, outbox.Options{})
	ctx := context.Background()
	raw := []byte("From: a@example.com\r\nTo: b@example.com\r\nMessage-ID: <same@example.com>\r\n\r\nhi\r\n")
	for i, k := range []string{"gw-1.1", "gw-1.2"} {
		to := []string{[]string{"x@one.example", "y@two.example"}[i]}
		id, err := ob.EnqueueRaw(ctx, mailer.Envelope{From: "a@example.com", To: to}, raw, outbox.Key(k), outbox.Route("route-"+k))
		if err != nil || id != k {
			t.Fatalf("EnqueueRaw with Key %q = %q, %v", k, id, err)
		}
	}
	if _, err := ob.EnqueueRaw(ctx, mailer.Envelope{To: []string{"z@x"}}, raw, outbox.Key("gw-1.1")); err == nil {
		t.Fatal("a second message under the same Key was stored")
	}
	later := time.Now().Add(time.Hour)
	if _, err := ob.EnqueueRaw(ctx, mailer.Envelope{To: []string{"z@x"}}, raw, outbox.Key("gw-2"), outbox.At(later)); err != nil {
		t.Fatal(err)
	}
	st, err := ob.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Due != 2 || st.Scheduled != 1 || st.Depth() != 3 || st.Oldest.IsZero() || time.Since(st.Oldest) > time.Minute {
		t.Fatalf("Stats before Start = %+v", st)
	}
	recs, _, err := ob.List(ctx, outbox.Filter{RoutePrefix: "route-gw-1", Newest: true})
	if err != nil || len(recs) != 2 || recs[0].MessageID != "gw-1.2" || recs[1].MessageID != "gw-1.1" {
		t.Fatalf("List by route prefix, newest first = %v, %v", recs, err)
	}
	start(t, ob)
	for _, k := range []string{"gw-1.1", "gw-1.2"} {
		r := waitFor(t, ob, k, is(outbox.StatusSent))
		if r.Route != "route-"+k {
			t.Fatalf("record %s has route %q", k, r.Route)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.routes["x@one.example"] != "route-gw-1.1" || s.routes["y@two.example"] != "route-gw-1.2" {
		t.Fatalf("the Sender saw routes %v", s.routes)
	}
	s.mu.Unlock()
	ids, err := ob.EnqueueRawMany(ctx, []outbox.RawMessage{
		{Envelope: mailer.Envelope{To: []string{"m1@x.example"}}, Message: raw, Key: "many-1", Route: "r1"},
		{Envelope: mailer.Envelope{To: []string{"m2@x.example"}}, Message: raw, Key: "many-2", Route: "r2"},
	})
	if err != nil || len(ids) != 2 || ids[1] != "many-2" {
		t.Fatalf("EnqueueRawMany = %v, %v", ids, err)
	}
	waitFor(t, ob, "many-1", is(outbox.StatusSent))
	waitFor(t, ob, "many-2", is(outbox.StatusSent))
	s.mu.Lock()
	if s.routes["m1@x.example"] != "r1" || s.routes["m2@x.example"] != "r2" {
		t.Fatalf("the Sender saw routes %v", s.routes)
	}
	if err := ob.Cancel(ctx, "gw-2"); err != nil {
		t.Fatal(err)
	}
	if st, err := ob.Stats(ctx); err != nil || st.Depth() != 0 || !st.Oldest.IsZero() {
		t.Fatalf("Stats after = %+v, %v", st, err)
	}
}

// Key applies to Enqueue and EnqueueTx as to EnqueueRaw; EnqueueMany, which
// stores several records, refuses it; a key that is not valid UTF-8 is
// refused (SQLite would store it, and no claim would find it again).
func TestKeyOnEveryEnqueue(t *testing.T) {
	t.Parallel()
	s := &routeSender{routes: map[string]string{}}
	ob := openSQLite(t, s, outbox.Options{})
	ctx := context.Background()
	m, err := mailer.NewMessage().From("a@example.com").To("b@example.com").Subject("k").Text("k").Build()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"k-1", "k-2"} {
		if id, err := ob.Enqueue(ctx, m, outbox.Key(k)); err != nil || id != k {
			t.Fatalf("Enqueue with Key %q = %q, %v", k, id, err)
		}
		if _, err := ob.Status(ctx, k); err != nil {
			t.Fatalf("Status(%q): %v", k, err)
		}
	}
	if _, err := ob.EnqueueMany(ctx, []*mailer.Message{m}, outbox.Key("k-3")); !errors.Is(err, outbox.ErrInvalidOptions) {
		t.Fatalf("EnqueueMany with Key: %v", err)
	}
	raw := []byte("From: a@example.com\r\nTo: b@example.com\r\nMessage-ID: <a\xe9b@example.com>\r\n\r\nhi\r\n")
	if _, err := ob.EnqueueRaw(ctx, mailer.Envelope{From: "a@example.com", To: []string{"b@example.com"}}, raw); !errors.Is(err, outbox.ErrInvalidKey) {
		t.Fatalf("EnqueueRaw with a Latin-1 Message-ID: %v", err)
	}
	if _, err := ob.Enqueue(ctx, m, outbox.Key("k\xff")); !errors.Is(err, outbox.ErrInvalidKey) {
		t.Fatalf("Enqueue with a Key that is not UTF-8: %v", err)
	}
}

// List's RoutePrefix compares bytes: a prefix of non-ASCII characters keeps
// exactly the records whose tag starts with it (substr counted characters
// while the length given was in bytes, so such prefixes found nothing).
func TestListRoutePrefixNonASCII(t *testing.T) {
	t.Parallel()
	bothDrivers(t, func(t *testing.T) { testListRoutePrefixNonASCII(t, openSQLite) }, func(t *testing.T) { testListRoutePrefixNonASCII(t, openPG) })
}

func testListRoutePrefixNonASCII[TTx any](t *testing.T, open opener[TTx]) {
	t.Parallel()
	ob := open(t, &routeSender{routes: map[string]string{}}, outbox.Options{})
	ctx := context.Background()
	raw := []byte("From: a@example.com\r\nTo: b@example.com\r\nMessage-ID: <r@example.com>\r\n\r\nhi\r\n")
	routes := map[string]string{ // key → tag
		"k1": "tenant-é", "k2": "tenant-é/a", "k3": "tenant-éa", "k4": "tenant-e/a", "k5": "tenant-ü",
		"k6": "日本/1", "k7": "日本語", "k8": "日", "k9": "é",
	}
	for k, r := range routes {
		if _, err := ob.EnqueueRaw(ctx, mailer.Envelope{From: "a@example.com", To: []string{"b@example.com"}}, raw, outbox.Key(k), outbox.Route(r)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"tenant-é", []string{"k1", "k2", "k3"}},
		{"tenant-é/", []string{"k2"}},
		{"tenant-", []string{"k1", "k2", "k3", "k4", "k5"}},
		{"tenant-e", []string{"k4"}},
		{"日本", []string{"k6", "k7"}},
		{"日", []string{"k6", "k7", "k8"}},
		{"é", []string{"k9"}},
		{"日本語/", nil},
	} {
		recs, _, err := ob.List(ctx, outbox.Filter{RoutePrefix: tc.prefix})
		if err != nil {
			t.Fatalf("List with RoutePrefix %q: %v", tc.prefix, err)
		}
		var got []string
		for _, r := range recs {
			got = append(got, r.MessageID)
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("List with RoutePrefix %q = %v, want %v", tc.prefix, got, tc.want)
		}
	}
	if _, _, err := ob.List(ctx, outbox.Filter{RoutePrefix: "tenant-\xc3"}); !errors.Is(err, outbox.ErrInvalidOptions) {
		t.Fatalf("List with a RoutePrefix that is not UTF-8: %v", err)
	}
}

package outbox_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
	"github.com/postkit/mailer/outbox"
	"github.com/postkit/mailer/outbox/outboxpgx"
)

// Scale-out: two worker processes on one PostgreSQL database share 2,000
// mails with no duplicate; one is SIGKILLed midway and the survivor
// finishes, rescuing the dead one's jobs within RescueAfter + River's 30 s
// rescuer interval + a leader election.
func TestScaleOutPostgres(t *testing.T) {
	longTests(t)
	pool, schema := pgPool(t)
	srv := mailertest.NewServer(t, mailertest.WithTLS(mailertest.TLSNone))
	ctx := context.Background()
	ob, err := outbox.New(noSender{}, outboxpgx.New(pool, outboxpgx.WithSchema(schema)), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ob.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	const n = 2000
	env := childEnv{pgURL: os.Getenv("MAILER_TEST_POSTGRES"), schema: schema, smtp: srv.Addr(), opts: "rescue"}
	a := startChild(t, childEnv{pgURL: env.pgURL, schema: schema, smtp: env.smtp, opts: env.opts, name: "A"})
	b := startChild(t, childEnv{pgURL: env.pgURL, schema: schema, smtp: env.smtp, opts: env.opts, name: "B"})
	var msgs []*mailer.Message
	for i := range n {
		msgs = append(msgs, newMessage(t, i))
	}
	if _, err := ob.EnqueueMany(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	for len(srv.Messages()) < n/2 {
		time.Sleep(5 * time.Millisecond)
	}
	a.kill()
	killed := time.Now()
	t.Logf("A killed having sent %d; B has sent %d", a.sentCount(), b.sentCount())
	if a.sentCount() == 0 || b.sentCount() == 0 {
		t.Errorf("both processes should have worked: A %d, B %d", a.sentCount(), b.sentCount())
	}
	byStatus := checkSettled(t, ob, srv, n, 120*time.Second)
	took := time.Since(killed)
	t.Logf("survivor finished %v after the kill (RescueAfter 3 s); A %d, B %d sent; %v", took, a.sentCount(), b.sentCount(), byStatus)
	if limit := 3*time.Second + 30*time.Second + 15*time.Second; took > limit {
		t.Errorf("rescue took %v, more than RescueAfter + 30 s + election (%v)", took, limit)
	}
}

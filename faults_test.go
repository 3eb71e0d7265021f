package mailer_test

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
	"github.com/postkit/mailer/provider"
)

// eventLog is a Hook that records events.
type eventLog struct {
	mu     sync.Mutex
	events []mailer.Event
}

func (l *eventLog) hook(_ context.Context, e mailer.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *eventLog) statuses() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var s []string
	for _, e := range l.events {
		s = append(s, e.Status.String())
	}
	return strings.Join(s, " ")
}

func (l *eventLog) last() mailer.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.events[len(l.events)-1]
}

func (l *eventLog) all() []mailer.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]mailer.Event(nil), l.events...)
}

// count returns how many client commands start with verb.
func count(srv *mailertest.Server, verb string) int {
	n := 0
	for _, c := range srv.Commands() {
		if strings.HasPrefix(strings.ToUpper(c), verb) {
			n++
		}
	}
	return n
}

// faultRow is one row of reliability.md section 6, run through the public
// API against mailertest.
type faultRow struct {
	name     string
	server   []mailertest.Option
	client   []mailer.Option
	message  func(t *testing.T) *mailer.Message
	ctx      func() (context.Context, context.CancelFunc)
	attempts int            // attempts Send reports
	outcome  mailer.Outcome // class of the final result
	statuses string         // the event sequence
	stored   int            // messages the server kept
	check    func(t *testing.T, srv *mailertest.Server, rcpt mailer.Receipt, err error, ev *eventLog)
}

const (
	oneTry    = "pending sending failed"
	oneSend   = "pending sending sent"
	twoSends  = "pending sending retrying sending sent"
	threeFail = "pending sending retrying sending retrying sending failed"
)

func fault(step mailertest.Step, on int, reply string) mailertest.Option {
	return mailertest.WithFaults(mailertest.Fault{Step: step, On: on, Reply: reply})
}

func TestFaultMatrix(t *testing.T) {
	bigMessage := func(t *testing.T) *mailer.Message {
		m, err := mailer.NewMessage().From("alice@example.com").To("bob@example.com").Subject("big").
			Text(strings.Repeat("0123456789abcdef", 1<<16)). // 1 MiB, more than the in-memory connections buffer
			Build()
		require.NoError(t, err)
		return m
	}
	threeRcpts := func(t *testing.T) *mailer.Message {
		m, err := mailer.NewMessage().From("alice@example.com").
			To("bob@example.com", "carol@example.com").Cc("dave@example.com").Subject("s").Text("t").Build()
		require.NoError(t, err)
		return m
	}
	rows := []faultRow{
		{name: "01 connection refused", attempts: 3, outcome: mailer.OutcomeTemporary, statuses: threeFail,
			check: func(t *testing.T, srv *mailertest.Server, _ mailer.Receipt, err error, ev *eventLog) {
				assert.Equal(t, mailer.StageDial, sendErr(t, err).Stage)
				for _, e := range ev.all() {
					if e.Status == mailer.StatusRetrying {
						assert.Equal(t, mailer.OutcomeTemporary, e.Outcome)
					}
				}
			}},
		{name: "02 greeting 554", server: []mailertest.Option{fault(mailertest.StepGreeting, 0, "554 5.7.1 No SMTP service here")},
			attempts: 1, outcome: mailer.OutcomePermanent, statuses: oneTry},
		{name: "03 greeting never arrives", server: []mailertest.Option{mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepGreeting, Delay: time.Hour})},
			client:   []mailer.Option{mailer.WithTimeouts(mailer.Timeouts{Dial: 50 * time.Millisecond})},
			attempts: 3, outcome: mailer.OutcomeTemporary, statuses: threeFail,
			check: func(t *testing.T, _ *mailertest.Server, _ mailer.Receipt, err error, _ *eventLog) {
				assert.True(t, sendErr(t, err).Timeout())
			}},
		{name: "04 421 at EHLO then fine", server: []mailertest.Option{mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepEHLO, On: 1, Reply: "421 4.3.2 Service shutting down", Close: true})},
			attempts: 2, outcome: mailer.OutcomeDelivered, statuses: twoSends, stored: 1,
			check: func(t *testing.T, srv *mailertest.Server, _ mailer.Receipt, _ error, _ *eventLog) {
				assert.Equal(t, 2, srv.Connections(), "retried on a new connection")
			}},
		{name: "04 421 at MAIL then fine", server: []mailertest.Option{fault(mailertest.StepMAIL, 1, "421 4.7.0 Try again later")},
			attempts: 2, outcome: mailer.OutcomeDelivered, statuses: twoSends, stored: 1},
		{name: "05 STARTTLS not offered", server: []mailertest.Option{mailertest.WithTLS(mailertest.TLSNone), mailertest.WithUser(testUser, testPassword)},
			client:   []mailer.Option{mailer.WithTLS(mailer.TLSStartTLS), mailer.WithAuth(mailer.PlainAuth(testUser, testPassword))},
			attempts: 1, outcome: mailer.OutcomePermanent, statuses: oneTry,
			check: func(t *testing.T, srv *mailertest.Server, _ mailer.Receipt, err error, _ *eventLog) {
				assert.ErrorIs(t, err, mailer.ErrTLSRequired)
				assert.Zero(t, count(srv, "AUTH")+count(srv, "MAIL"))
			}},
		{name: "06 STARTTLS 454, no fallback", server: []mailertest.Option{fault(mailertest.StepSTARTTLS, 1, "454 4.7.0 TLS not available")},
			attempts: 2, outcome: mailer.OutcomeDelivered, statuses: twoSends, stored: 1,
			check: func(t *testing.T, srv *mailertest.Server, _ mailer.Receipt, _ error, _ *eventLog) {
				for _, l := range srv.Transcript() {
					if l.Conn == 1 && l.FromClient {
						assert.NotContains(t, l.Text, "MAIL", "no clear-text transaction after a failed STARTTLS")
					}
				}
				assert.True(t, srv.Messages()[0].TLS)
			}},
		{name: "07 bytes injected after 220 Ready", server: []mailertest.Option{mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepSTARTTLS, After: []byte("554 5.7.0 INJECTED\r\n")})},
			attempts: 1, outcome: mailer.OutcomeDelivered, statuses: oneSend, stored: 1},
		{name: "08 wrong certificate name",
			client:   []mailer.Option{mailer.WithTLSConfig(&tls.Config{ServerName: "wrong.example"})},
			attempts: 1, outcome: mailer.OutcomePermanent, statuses: oneTry,
			check: func(t *testing.T, srv *mailertest.Server, _ mailer.Receipt, err error, _ *eventLog) {
				assert.Contains(t, err.Error(), "wrong.example")
				assert.Zero(t, count(srv, "AUTH"))
			}},
		{name: "09 clear text with XOAUTH2", server: []mailertest.Option{mailertest.WithTLS(mailertest.TLSNone), mailertest.WithToken(testUser, testToken)},
			client:   []mailer.Option{mailer.WithTLS(mailer.TLSOpportunistic), mailer.WithAuth(mailer.XOAUTH2Auth(testUser, mailer.StaticToken(testToken)))},
			attempts: 1, outcome: mailer.OutcomePermanent, statuses: oneTry,
			check: func(t *testing.T, srv *mailertest.Server, _ mailer.Receipt, err error, _ *eventLog) {
				assert.ErrorIs(t, err, mailer.ErrInsecureAuth)
				assert.Zero(t, count(srv, "AUTH"))
			}},
		{name: "10 QQ 535", server: []mailertest.Option{mailertest.WithUser(testUser, testPassword), fault(mailertest.StepAUTH, 0, "535 Login Fail. Please enter your authorization code to login")},
			client:   []mailer.Option{provider.QQ(testUser, testPassword)},
			attempts: 1, outcome: mailer.OutcomePermanent, statuses: oneTry,
			check: func(t *testing.T, _ *mailertest.Server, _ mailer.Receipt, err error, _ *eventLog) {
				assert.Contains(t, sendErr(t, err).Hint, "授权码")
			}},
		{name: "11 163 550 no permission at AUTH", server: []mailertest.Option{mailertest.WithUser(testUser, testPassword), fault(mailertest.StepAUTH, 0, "550 User has no permission")},
			attempts: 1, outcome: mailer.OutcomePermanent, statuses: oneTry},
		{name: "12 553 sender not owned", server: []mailertest.Option{fault(mailertest.StepMAIL, 0, "553 Mail from must equal authorized user")},
			attempts: 1, outcome: mailer.OutcomePermanent, statuses: oneTry},
		{name: "13 RCPT 550 5.1.1", server: []mailertest.Option{mailertest.WithoutPipelining(), fault(mailertest.StepRCPT, 0, "550 5.1.1 No such user")},
			attempts: 1, outcome: mailer.OutcomePermanent, statuses: oneTry,
			check: func(t *testing.T, srv *mailertest.Server, _ mailer.Receipt, err error, _ *eventLog) {
				assert.Equal(t, []string{"bob@example.com"}, sendErr(t, err).Recipients)
				assert.Zero(t, count(srv, "DATA"))
			}},
		{name: "14 mixed RCPT 550 and 450", message: threeRcpts,
			server: []mailertest.Option{
				fault(mailertest.StepRCPT, 2, "550 5.1.1 No such user"),
				fault(mailertest.StepRCPT, 3, "450 4.2.1 Mailbox busy"),
			},
			attempts: 2, outcome: mailer.OutcomePermanent, statuses: twoSends, stored: 2,
			check: func(t *testing.T, srv *mailertest.Server, rcpt mailer.Receipt, err error, ev *eventLog) {
				assert.Equal(t, []string{"bob@example.com", "dave@example.com"}, rcpt.Recipients)
				se := sendErr(t, err)
				assert.Equal(t, []string{"carol@example.com"}, se.Recipients)
				assert.Equal(t, 550, se.Code)
				assert.Equal(t, []string{"bob@example.com"}, srv.Messages()[0].To)
				assert.Equal(t, []string{"dave@example.com"}, srv.Messages()[1].To, "only the 450 recipient is retried")
				assert.Equal(t, 4, count(srv, "RCPT"))
				assert.Equal(t, []string{"dave@example.com"}, ev.all()[2].Recipients, "retrying names the retried recipient")
			}},
		{name: "15 RCPT 452 4.5.3 splits the transaction", message: threeRcpts,
			server:   []mailertest.Option{mailertest.WithoutPipelining(), fault(mailertest.StepRCPT, 2, "452 4.5.3 Too many recipients")},
			attempts: 1, outcome: mailer.OutcomeDelivered, statuses: oneSend, stored: 3,
			check: func(t *testing.T, srv *mailertest.Server, rcpt mailer.Receipt, _ error, _ *eventLog) {
				assert.Len(t, rcpt.Recipients, 3)
				assert.Equal(t, 1, srv.Connections(), "same connection")
				// The server took one recipient: later transactions
				// offer no more than one each.
				assert.Equal(t, []string{"bob@example.com"}, srv.Messages()[0].To)
				assert.Equal(t, []string{"carol@example.com"}, srv.Messages()[1].To)
				assert.Equal(t, []string{"dave@example.com"}, srv.Messages()[2].To)
			}},
		{name: "15 RCPT 552 5.5.3 splits the transaction", message: threeRcpts,
			server:   []mailertest.Option{fault(mailertest.StepRCPT, 3, "552 5.5.3 Too many recipients")},
			attempts: 1, outcome: mailer.OutcomeDelivered, statuses: oneSend, stored: 2},
		{name: "16 drop at DATA", server: []mailertest.Option{mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepDATA, On: 1, Drop: true})},
			attempts: 2, outcome: mailer.OutcomeDelivered, statuses: twoSends, stored: 1,
			check: func(t *testing.T, _ *mailertest.Server, rcpt mailer.Receipt, _ error, _ *eventLog) {
				assert.False(t, rcpt.MaybeDuplicate)
			}},
		{name: "17 reset while the body is written", message: bigMessage,
			server:   []mailertest.Option{mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepBody, On: 1, Drop: true})},
			attempts: 2, outcome: mailer.OutcomeDelivered, statuses: twoSends, stored: 1,
			check: func(t *testing.T, srv *mailertest.Server, rcpt mailer.Receipt, _ error, ev *eventLog) {
				assert.False(t, rcpt.MaybeDuplicate, "the dot was never sent")
				assert.Equal(t, mailer.StageData, ev.all()[2].Err.(*mailer.SendError).Stage)
			}},
		{name: "18 552 before the client finished DATA", message: bigMessage,
			server:   []mailertest.Option{mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepBody, Reply: "552 5.3.4 Message size exceeds fixed limit"})},
			client:   []mailer.Option{mailer.WithTimeouts(mailer.Timeouts{Command: 200 * time.Millisecond})},
			attempts: 1, outcome: mailer.OutcomePermanent, statuses: oneTry,
			check: func(t *testing.T, _ *mailertest.Server, _ mailer.Receipt, err error, _ *eventLog) {
				se := sendErr(t, err)
				assert.Equal(t, mailer.StageData, se.Stage)
				assert.Equal(t, 552, se.Code)
			}},
		{name: "19 451 after the dot", server: []mailertest.Option{fault(mailertest.StepDataEnd, 1, "451 4.3.0 Queue file write error")},
			attempts: 2, outcome: mailer.OutcomeDelivered, statuses: twoSends, stored: 1,
			check: func(t *testing.T, srv *mailertest.Server, _ mailer.Receipt, _ error, _ *eventLog) {
				var dataConns []int
				for _, l := range srv.Transcript() {
					if l.FromClient && l.Text == "DATA" {
						dataConns = append(dataConns, l.Conn)
					}
				}
				assert.Equal(t, []int{1, 2}, dataConns, "the retry uses a fresh connection")
			}},
		{name: "20 554 DT:SPM after the dot", server: []mailertest.Option{mailertest.WithUser(testUser, testPassword), fault(mailertest.StepDataEnd, 0, "554 DT:SPM 163 smtp3,GdxpCgA3 please see http://mail.163.com/help/help_spam_16.htm?ip=1")},
			client:   []mailer.Option{provider.NetEase163(testUser, testPassword), mailer.WithAuth(mailer.PlainAuth(testUser, testPassword))},
			attempts: 1, outcome: mailer.OutcomePermanent, statuses: oneTry,
			check: func(t *testing.T, _ *mailertest.Server, _ mailer.Receipt, err error, _ *eventLog) {
				assert.Contains(t, sendErr(t, err).Hint, "spam")
			}},
		{name: "20 550 5.7.1 after the dot", server: []mailertest.Option{fault(mailertest.StepDataEnd, 0, "550 5.7.1 Message rejected as spam")},
			attempts: 1, outcome: mailer.OutcomePermanent, statuses: oneTry},
		{name: "21 451 DT:SPM waits 2 minutes or gives up", server: []mailertest.Option{mailertest.WithUser(testUser, testPassword), fault(mailertest.StepDataEnd, 0, "451 DT:SPM 163 smtp7,C8CowAD3 please try again")},
			client: []mailer.Option{provider.NetEase163(testUser, testPassword), mailer.WithAuth(mailer.PlainAuth(testUser, testPassword))},
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(bg, 30*time.Second)
			},
			attempts: 1, outcome: mailer.OutcomeTemporary, statuses: oneTry,
			check: func(t *testing.T, _ *mailertest.Server, _ mailer.Receipt, err error, _ *eventLog) {
				se := sendErr(t, err)
				assert.Equal(t, 451, se.Code)
				assert.GreaterOrEqual(t, se.MinWait(), 2*time.Minute)
				assert.Contains(t, err.Error(), "outlast the context deadline")
			}},
		{name: "22 Gmail 550 5.4.5 daily limit", server: []mailertest.Option{mailertest.WithUser(testUser, testPassword), fault(mailertest.StepMAIL, 0, "550 5.4.5 Daily user sending limit exceeded.")},
			client:   []mailer.Option{provider.Gmail(testUser, testPassword), mailer.WithAuth(mailer.PlainAuth(testUser, testPassword))},
			attempts: 1, outcome: mailer.OutcomePermanent, statuses: oneTry},
		{name: "23 421 shutting down: ordinary backoff", server: []mailertest.Option{fault(mailertest.StepMAIL, 1, "421 4.3.2 Service shutting down, closing connection")},
			client: []mailer.Option{mailer.WithRetry(mailer.RetryPolicy{MaxAttempts: 3, MinWait: time.Millisecond, MaxWait: time.Millisecond,
				ThrottleWait: time.Hour, Backoff: mailer.ConstantBackoff})},
			attempts: 2, outcome: mailer.OutcomeDelivered, statuses: twoSends, stored: 1,
			check: func(t *testing.T, _ *mailertest.Server, _ mailer.Receipt, _ error, ev *eventLog) {
				assert.Equal(t, time.Millisecond, ev.all()[2].Wait)
			}},
		{name: "23 421 4.7.0 rate limit waits longer", server: []mailertest.Option{fault(mailertest.StepMAIL, 1, "421 4.7.0 Too many messages from your account, slow down")},
			client: []mailer.Option{mailer.WithRetry(mailer.RetryPolicy{MaxAttempts: 3, MinWait: time.Millisecond, MaxWait: time.Millisecond,
				ThrottleWait: 30 * time.Millisecond, Backoff: mailer.ConstantBackoff})},
			attempts: 2, outcome: mailer.OutcomeDelivered, statuses: twoSends, stored: 1,
			check: func(t *testing.T, _ *mailertest.Server, _ mailer.Receipt, _ error, ev *eventLog) {
				w := ev.all()[2].Wait // ThrottleWait, spread by up to a quarter
				assert.GreaterOrEqual(t, w, 30*time.Millisecond)
				assert.LessOrEqual(t, w, 30*time.Millisecond*5/4)
			}},
		{name: "24 drop after the dot: at least once", server: []mailertest.Option{mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepDataEnd, On: 1, Drop: true})},
			attempts: 2, outcome: mailer.OutcomeDelivered, statuses: twoSends, stored: 2,
			check: func(t *testing.T, srv *mailertest.Server, rcpt mailer.Receipt, _ error, ev *eventLog) {
				assert.True(t, rcpt.MaybeDuplicate)
				assert.True(t, ev.last().MaybeDuplicate)
				assert.Equal(t, mailer.OutcomeUnknown, ev.all()[2].Outcome)
				msgs := srv.Messages()
				assert.Equal(t, msgs[0].Header.Get("Message-Id"), msgs[1].Header.Get("Message-Id"), "a duplicate shares the Message-ID")
			}},
		{name: "24 drop after the dot: at most once", server: []mailertest.Option{mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepDataEnd, On: 1, Drop: true})},
			client:   []mailer.Option{mailer.WithRetry(mailer.RetryPolicy{AtMostOnce: true, MinWait: time.Millisecond, Backoff: mailer.ConstantBackoff})},
			attempts: 1, outcome: mailer.OutcomeUnknown, statuses: oneTry, stored: 1,
			check: func(t *testing.T, _ *mailertest.Server, _ mailer.Receipt, err error, _ *eventLog) {
				assert.ErrorIs(t, err, mailer.ErrMaybeDelivered)
			}},
		{name: "25 final reply slower than the timeout", server: []mailertest.Option{mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepDataEnd, On: 1, Delay: time.Hour})},
			client:   []mailer.Option{mailer.WithTimeouts(mailer.Timeouts{DataEnd: 50 * time.Millisecond})},
			attempts: 2, outcome: mailer.OutcomeDelivered, statuses: twoSends, stored: 2,
			check: func(t *testing.T, _ *mailertest.Server, rcpt mailer.Receipt, _ error, _ *eventLog) {
				assert.True(t, rcpt.MaybeDuplicate)
			}},
		{name: "26 garbage after delivery", server: []mailertest.Option{mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepQUIT, Raw: []byte("\x00\x00\x00\x1a\x00\x00\x00")})},
			attempts: 1, outcome: mailer.OutcomeDelivered, statuses: oneSend, stored: 1},
		{name: "26 RSET 502 after a refused recipient", message: threeRcpts,
			server:   []mailertest.Option{fault(mailertest.StepRCPT, 0, "550 5.1.1 No such user"), fault(mailertest.StepRSET, 0, "502 Unimplemented (#5.5.1)")},
			attempts: 1, outcome: mailer.OutcomePermanent, statuses: oneTry},
		{name: "28 reply in GB18030 with control bytes", server: []mailertest.Option{fault(mailertest.StepMAIL, 0, "550 \xc7\xeb\xca\xb9\xd3\xc3\xca\xda\xc8\xa8\xc2\xeb\x07")},
			attempts: 1, outcome: mailer.OutcomePermanent, statuses: oneTry,
			check: func(t *testing.T, _ *mailertest.Server, _ mailer.Receipt, err error, _ *eventLog) {
				assert.Equal(t, "请使用授权码", sendErr(t, err).Message)
			}},
		{name: "29 no ENHANCEDSTATUSCODES, 451", server: []mailertest.Option{mailertest.WithoutEnhancedStatusCodes(), fault(mailertest.StepMAIL, 1, "451 Try later")},
			attempts: 2, outcome: mailer.OutcomeDelivered, statuses: twoSends, stored: 1,
			check: func(t *testing.T, srv *mailertest.Server, rcpt mailer.Receipt, _ error, ev *eventLog) {
				assert.True(t, ev.all()[2].EnhancedCode.IsZero())
				assert.Equal(t, "250 OK: queued", rcpt.Response)
			}},
		{name: "29 no ENHANCEDSTATUSCODES, 550", server: []mailertest.Option{mailertest.WithoutEnhancedStatusCodes(), fault(mailertest.StepRCPT, 0, "550 No such user")},
			attempts: 1, outcome: mailer.OutcomePermanent, statuses: oneTry},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			t.Parallel()
			inMemory(t, func(t *testing.T) {
				srv := mailertest.NewServer(t, append([]mailertest.Option{mem}, row.server...)...)
				ev := &eventLog{}
				opts := []mailer.Option{fastRetry(3)}
				opts = append(opts, row.client...)
				opts = append(opts, serverOnly(srv), mailer.WithHook(ev.hook))
				if strings.HasPrefix(row.name, "01") {
					port := srv.Port()
					require.NoError(t, srv.Close())
					opts = append(opts, mailer.WithServer("127.0.0.1", port))
				}
				if srv.TLSMode() == mailertest.TLSStartTLS {
					// Presets may say implicit TLS; the test server speaks
					// STARTTLS. Rows with a TLS-less server set their own mode.
					opts = append(opts, mailer.WithTLS(mailer.TLSStartTLS))
				}
				c := newClient(t, opts...)
				msg := testMessage(t)
				if row.message != nil {
					msg = row.message(t)
				}
				ctx, cancel := context.WithCancel(bg)
				if row.ctx != nil {
					ctx, cancel = row.ctx()
				}
				defer cancel()
				rcpt, err := c.Send(ctx, msg)
				require.NoError(t, c.Close()) // delivers the queued events

				assert.Equal(t, row.outcome, mailer.Classify(err), "outcome of %v", err)
				attempts := rcpt.Attempts
				var se *mailer.SendError
				if errors.As(err, &se) {
					attempts = se.Attempts
					assert.Equal(t, msg.MessageID(), se.MessageID)
				}
				assert.Equal(t, row.attempts, attempts, "attempts")
				assert.Equal(t, row.statuses, ev.statuses(), "events")
				if !strings.HasPrefix(row.name, "01") {
					assert.Len(t, srv.Messages(), row.stored, "messages the server kept")
				}
				terminal := 0
				for _, e := range ev.all() {
					assert.Equal(t, msg.MessageID(), e.MessageID)
					if e.Status.Terminal() {
						terminal++
					}
				}
				assert.Equal(t, 1, terminal, "exactly one terminal event")
				if row.check != nil {
					row.check(t, srv, rcpt, err, ev)
				}
			})
		})
	}
}

// Row 27: a batch against a server slow to answer the final dot; each
// message gets its own deadline, so none times out.
func TestFaultRow27SlowServerBatch(t *testing.T) {
	inMemory(t, func(t *testing.T) {
		srv := mailertest.NewServer(t, mem, mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepDataEnd, Delay: 40 * time.Millisecond}))
		c := newClient(t, serverOnly(srv), mailer.WithTimeouts(mailer.Timeouts{DataEnd: 100 * time.Millisecond}))
		for range 4 {
			rcpt, err := c.Send(bg, testMessage(t))
			require.NoError(t, err)
			assert.Equal(t, 1, rcpt.Attempts)
		}
		assert.Len(t, srv.Messages(), 4)
	})
}

// Row 43: a hook that panics changes nothing about delivery, and an
// observer still sees exactly one terminal event per Send, handled before
// Send returns. (Slow hooks: TestHooksLoseNothing, TestSlowHookDoesNotSerialise.)
func TestFaultRow43Hooks(t *testing.T) {
	srv := mailertest.NewServer(t)
	obs := &eventLog{}
	c := newClient(t, serverOnly(srv),
		mailer.WithHook(func(context.Context, mailer.Event) { panic("hook bug") }),
		mailer.WithHook(obs.hook))
	m := testMessage(t)
	for i := range 3 {
		_, err := c.Send(bg, m)
		require.NoError(t, err)
		assert.Equal(t, mailer.StatusSent, obs.last().Status, "send %d", i)
	}
	assert.Len(t, srv.Messages(), 3)
	assert.Equal(t, strings.Repeat("pending sending sent ", 3), obs.statuses()+" ")
}

// Row 44: cancelling during the wait before a retry returns at once with
// the context error and the last reply's classification.
func TestFaultRow44CancelMidRetry(t *testing.T) {
	inMemory(t, func(t *testing.T) {
		srv := mailertest.NewServer(t, mem, fault(mailertest.StepMAIL, 0, "421 4.7.0 Try again later"))
		retrying := make(chan struct{}, 1)
		c := newClient(t, serverOnly(srv),
			mailer.WithRetry(mailer.RetryPolicy{ThrottleWait: time.Hour}),
			mailer.WithHook(func(_ context.Context, e mailer.Event) {
				if e.Status == mailer.StatusRetrying {
					retrying <- struct{}{}
				}
			}))
		ctx, cancel := context.WithCancel(bg)
		defer cancel()
		done := make(chan error, 1)
		go func() {
			_, err := c.Send(ctx, testMessage(t))
			done <- err
		}()
		<-retrying
		start := time.Now()
		cancel()
		err := <-done
		assert.Less(t, time.Since(start), 100*time.Millisecond)
		assert.ErrorIs(t, err, context.Canceled)
		se := sendErr(t, err)
		assert.Equal(t, 421, se.Code)
		assert.Equal(t, mailer.OutcomeTemporary, mailer.Classify(err))
		assert.Equal(t, 1, se.Attempts)
		assert.Equal(t, 1, srv.Count(mailertest.StepMAIL))
	})
}

// An unknown outcome (the connection lost after the final dot) means the
// message may have arrived once. MaybeDuplicate says that another attempt
// followed it: not when it was the last attempt, nor when the context
// ended during the wait before the next one.
func TestMaybeDuplicateOnlyWhenRetried(t *testing.T) {
	drop := mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepDataEnd, On: 1, Drop: true})
	noDup := func(t *testing.T, rcpt mailer.Receipt, ev *eventLog) {
		t.Helper()
		assert.False(t, rcpt.MaybeDuplicate)
		for _, e := range ev.all() {
			assert.False(t, e.MaybeDuplicate, "%s event", e.Status)
		}
	}
	t.Run("last attempt", func(t *testing.T) {
		srv := mailertest.NewServer(t, drop)
		ev := &eventLog{}
		c := newClient(t, serverOnly(srv), mailer.WithHook(ev.hook))
		rcpt, err := c.Send(bg, testMessage(t))
		require.ErrorIs(t, err, mailer.ErrMaybeDelivered)
		assert.Equal(t, oneTry, ev.statuses())
		noDup(t, rcpt, ev)
	})
	t.Run("context ends during the wait", func(t *testing.T) {
		inMemory(t, func(t *testing.T) {
			srv := mailertest.NewServer(t, mem, drop)
			ctx, cancel := context.WithCancel(bg)
			defer cancel()
			ev := &eventLog{}
			c := newClient(t, serverOnly(srv),
				mailer.WithRetry(mailer.RetryPolicy{MinWait: time.Hour, MaxWait: time.Hour, Backoff: mailer.ConstantBackoff}),
				mailer.WithHook(ev.hook),
				mailer.WithHook(func(_ context.Context, e mailer.Event) {
					if e.Status == mailer.StatusRetrying {
						cancel()
					}
				}))
			rcpt, err := c.Send(ctx, testMessage(t))
			require.ErrorIs(t, err, mailer.ErrMaybeDelivered)
			require.ErrorIs(t, err, context.Canceled)
			assert.Equal(t, "pending sending retrying failed", ev.statuses())
			assert.Equal(t, 1, srv.Count(mailertest.StepDataEnd))
			noDup(t, rcpt, ev)
		})
	})
	t.Run("retried", func(t *testing.T) {
		srv := mailertest.NewServer(t, drop)
		ev := &eventLog{}
		c := newClient(t, serverOnly(srv), mailer.WithHook(ev.hook),
			mailer.WithRetry(mailer.RetryPolicy{MinWait: time.Millisecond, Backoff: mailer.ConstantBackoff}))
		rcpt, err := c.Send(bg, testMessage(t))
		require.NoError(t, err)
		assert.True(t, rcpt.MaybeDuplicate)
		assert.True(t, ev.last().MaybeDuplicate)
	})
}

// A reply longer than SendError keeps (512 characters) is cut, and the cut
// must not split a character: UTF-8 text cut in the middle of one looked
// invalid and was decoded as GB18030, which turned Chinese into mojibake.
func TestLongUTF8ReplyCutCleanly(t *testing.T) {
	text := strings.Repeat("请使用授权码登录", 100) // 800 characters, 2,400 octets
	srv := mailertest.NewServer(t, fault(mailertest.StepMAIL, 0, "550 5.7.1 "+text))
	c := newClient(t, serverOnly(srv))
	_, err := c.Send(bg, testMessage(t))
	se := sendErr(t, err)
	assert.Equal(t, 550, se.Code)
	want := []rune(text)[:512]
	assert.Equal(t, string(want)+"…", se.Message)
}

// With AtMostOnce, an unknown outcome gives up only the recipients of the
// transaction whose reply was lost. Those the server had deferred (452
// 4.5.3, too many recipients for one transaction) never got the data:
// they get another attempt, which is not a possible duplicate.
func TestAtMostOnceRetriesRecipientsNeverSent(t *testing.T) {
	srv := mailertest.NewServer(t, mailertest.WithFaults(
		mailertest.Fault{Step: mailertest.StepRCPT, On: 2, Reply: "452 4.5.3 Too many recipients"},
		mailertest.Fault{Step: mailertest.StepDataEnd, On: 1, Drop: true}))
	ev := &eventLog{}
	c := newClient(t, serverOnly(srv), mailer.WithHook(ev.hook), mailer.WithRetry(mailer.RetryPolicy{
		AtMostOnce: true, MaxAttempts: 2, MinWait: time.Millisecond, Backoff: mailer.ConstantBackoff}))
	m, err := mailer.NewMessage().From("alice@example.com").To("bob@example.com", "carol@example.com").
		Subject("s").Text("t").Build()
	require.NoError(t, err)
	rcpt, err := c.Send(bg, m)
	se := sendErr(t, err)
	assert.ErrorIs(t, err, mailer.ErrMaybeDelivered)
	assert.Equal(t, []string{"bob@example.com"}, se.Recipients, "bob's reply was lost: not sent again")
	assert.Equal(t, []string{"carol@example.com"}, rcpt.Recipients, "carol never got the data: sent again")
	assert.False(t, rcpt.MaybeDuplicate)
	msgs := srv.Messages()
	require.Len(t, msgs, 2)
	assert.Equal(t, []string{"bob@example.com"}, msgs[0].To)
	assert.Equal(t, []string{"carol@example.com"}, msgs[1].To)
	for _, e := range ev.all() {
		assert.False(t, e.MaybeDuplicate, "%s event", e.Status)
	}
}

// TestAtMostOnceUnsentRecipientsOutOfAttempts: when the recipients that
// never got the data run out of attempts, the combined error still
// classifies unknown (bob may have the message), so that a caller that
// retries temporary errors does not send it to bob again; the rejections
// tell carol's temporary failure.
func TestAtMostOnceUnsentRecipientsOutOfAttempts(t *testing.T) {
	srv := mailertest.NewServer(t, mailertest.WithFaults(
		mailertest.Fault{Step: mailertest.StepRCPT, On: 2, Reply: "452 4.5.3 Too many recipients"},
		mailertest.Fault{Step: mailertest.StepDataEnd, On: 1, Drop: true}))
	ev := &eventLog{}
	c := newClient(t, serverOnly(srv), mailer.WithHook(ev.hook), mailer.WithRetry(mailer.RetryPolicy{
		AtMostOnce: true, MaxAttempts: 1, MinWait: time.Millisecond, Backoff: mailer.ConstantBackoff}))
	m, err := mailer.NewMessage().From("alice@example.com").To("bob@example.com", "carol@example.com").
		Subject("s").Text("t").Build()
	require.NoError(t, err)
	_, err = c.Send(bg, m)
	se := sendErr(t, err)
	assert.ErrorIs(t, err, mailer.ErrMaybeDelivered)
	assert.Equal(t, mailer.OutcomeUnknown, mailer.Classify(err))
	assert.Equal(t, mailer.OutcomeUnknown, ev.last().Outcome)
	require.Len(t, se.Rejections, 2)
	classes := []mailer.Outcome{mailer.Classify(se.Rejections[0]), mailer.Classify(se.Rejections[1])}
	assert.ElementsMatch(t, []mailer.Outcome{mailer.OutcomeUnknown, mailer.OutcomeTemporary}, classes)
}

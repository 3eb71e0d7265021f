package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	neturl "net/url"
	"strings"
	"time"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/outbox"
)

// notify tells whom the tenant chose that a queued message failed for
// good: a DSN to the envelope sender (queued itself, so it survives a
// restart) and/or a webhook. They are best effort: the audit line is the
// record.
func (q *queue) notify(ctx context.Context, rt routeTag, ev mailer.Event) {
	s := q.g.snap.Load()
	t := s.tenants[rt.Tenant]
	if t == nil {
		return
	}
	if t.onFailure.DSN && rt.From != "" {
		if err := q.sendDSN(ctx, s.hostname, rt, ev); err != nil {
			q.g.log.Error("queue: DSN not queued", "id", rt.Key, "tenant", rt.Tenant, "err", err)
		}
	}
	if w := t.onFailure.Webhook; w != "" {
		if err := q.postWebhook(ctx, w, rt, ev); err != nil {
			q.g.log.Error("queue: failure webhook", "id", rt.Key, "tenant", rt.Tenant, "err", err)
		}
	}
}

func (q *queue) sendDSN(ctx context.Context, hostname string, rt routeTag, ev mailer.Event) error {
	msg := buildDSN(dsnInput{Hostname: hostname, To: rt.From, Ref: rt.Key, MessageID: rt.MessageID,
		Recipients: ev.Recipients, Code: ev.Code, Enhanced: ev.EnhancedCode, Response: ev.Response, Time: q.g.now()})
	tag, _ := json.Marshal(routeTag{Tenant: rt.Tenant, ID: rt.ID, Key: rt.Key + ".dsn", Upstreams: rt.Upstreams, DSN: true})
	_, err := q.ob.EnqueueRaw(ctx, mailer.Envelope{From: "", To: []string{rt.From}}, msg, outbox.Key(rt.Key+".dsn"), outbox.Route(string(tag)))
	return err
}

// failureEvent is the webhook's JSON: no body, no envelope recipients
// (Reply is the upstream's text, which may quote one).
type failureEvent struct {
	Event      string    `json:"event"` // "message_failed"
	ID         string    `json:"id"`    // as in "queued as <id>" (ID.N for a part)
	Tenant     string    `json:"tenant"`
	MessageID  string    `json:"message_id,omitempty"`
	Code       int       `json:"code,omitempty"`
	Enhanced   string    `json:"enhanced,omitempty"`
	Reply      string    `json:"reply,omitempty"`
	Attempts   int       `json:"attempts"`
	Recipients int       `json:"recipients"`
	Time       time.Time `json:"time"`
}

func (q *queue) postWebhook(ctx context.Context, url string, rt routeTag, ev mailer.Event) error {
	fe := failureEvent{Event: "message_failed", ID: rt.Key, Tenant: rt.Tenant, MessageID: rt.MessageID, Code: ev.Code,
		Reply: cleanText(ev.Response, 200), Attempts: ev.Attempt, Recipients: len(ev.Recipients), Time: q.g.now().UTC()}
	if ev.EnhancedCode != (mailer.EnhancedCode{}) {
		fe.Enhanced = ev.EnhancedCode.String()
	}
	b, _ := json.Marshal(fe)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// Errors name the webhook's host only: its path and query often hold
	// a token (Slack-style /services/T/B/XXXX), which must not be logged.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return errors.New("webhook: invalid URL")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := q.http.Do(req)
	if err != nil {
		var ue *neturl.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("webhook POST to %s: %w", req.URL.Host, err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}

// dsnInput is what a delivery status notification says.
type dsnInput struct {
	Hostname   string
	To         string // the envelope sender of the failed message
	Ref        string
	MessageID  string
	Recipients []string
	Code       int
	Enhanced   mailer.EnhancedCode
	Response   string
	Time       time.Time
}

// buildDSN writes an RFC 3464 delivery status notification: a
// multipart/report with a human part, the message/delivery-status part
// (one block per recipient) and the failed message's header fields we
// kept (text/rfc822-headers).
func buildDSN(in dsnInput) []byte {
	var rb [12]byte
	rand.Read(rb[:])
	boundary := "=_mailgate_dsn_" + hex.EncodeToString(rb[:])
	date := in.Time.UTC().Format(time.RFC1123Z)
	status := "5.0.0"
	if in.Enhanced[0] == 5 {
		status = in.Enhanced.String()
	} else if in.Enhanced[0] == 4 || in.Code/100 == 4 {
		status = "5.4.7" // temporary failures until the attempts ran out
	}
	diag := ""
	if in.Code != 0 {
		diag = fmt.Sprintf("%d %s", in.Code, asciiText(in.Response, 200))
		if in.Enhanced != (mailer.EnhancedCode{}) {
			diag = fmt.Sprintf("%d %s %s", in.Code, in.Enhanced, asciiText(in.Response, 200))
		}
	}
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\r\n", args...) }
	w("From: Mail Delivery System <MAILER-DAEMON@%s>", in.Hostname)
	w("To: <%s>", in.To)
	w("Subject: Undelivered Mail Returned to Sender")
	w("Date: %s", date)
	w("Message-ID: <%s.dsn@%s>", hex.EncodeToString(rb[:8]), in.Hostname)
	w("Auto-Submitted: auto-replied")
	w("MIME-Version: 1.0")
	w("Content-Type: multipart/report; report-type=delivery-status; boundary=\"%s\"", boundary)
	w("")
	w("--%s", boundary)
	w("Content-Type: text/plain; charset=us-ascii")
	w("")
	w("Your message could not be delivered to %d recipient(s) and will not be retried.", len(in.Recipients))
	w("Reference: %s", asciiText(in.Ref, 100))
	if diag != "" {
		w("The server answered: %s", diag)
	}
	w("")
	w("--%s", boundary)
	w("Content-Type: message/delivery-status")
	w("")
	w("Reporting-MTA: dns; %s", in.Hostname)
	w("Arrival-Date: %s", date)
	for _, r := range in.Recipients {
		w("")
		w("Final-Recipient: rfc822; %s", asciiText(r, 320))
		w("Action: failed")
		w("Status: %s", status)
		if diag != "" {
			w("Diagnostic-Code: smtp; %s", diag)
		}
		w("Last-Attempt-Date: %s", date)
	}
	w("")
	w("--%s", boundary)
	w("Content-Type: text/rfc822-headers")
	w("")
	if in.MessageID != "" {
		w("Message-ID: %s", asciiText(in.MessageID, 200))
	}
	w("")
	w("--%s--", boundary)
	return []byte(b.String())
}

// asciiText keeps printable ASCII only, at most n bytes.
func asciiText(s string, n int) string {
	out := make([]byte, 0, min(len(s), n))
	for i := 0; i < len(s) && len(out) < n; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			out = append(out, c)
		}
	}
	return string(out)
}

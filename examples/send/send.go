package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

// execute sends the message the options describe and prints the result.
// Errors before anything is sent are *invalidError.
func execute(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	if o.dkim.dns {
		return o.dkim.printDNS(stdout, o.from)
	}
	t, err := resolveTarget(o)
	if err != nil {
		return err
	}
	events := &eventLog{}
	extra := []mailer.Option{mailer.WithHook(events.hook)}
	if o.dkim.key != "" {
		from := o.from
		if from == "" {
			from = t.from
		}
		s, err := o.dkim.signer(from)
		if err != nil {
			return err
		}
		extra = append(extra, mailer.WithDKIMSigner(s))
	}
	if o.retries > 0 {
		extra = append(extra, mailer.WithRetry(mailer.RetryPolicy{MaxAttempts: o.retries}))
	}
	var c *mailer.Client
	if !t.local {
		if c, err = mailer.New(append(t.options, extra...)...); err != nil {
			return configProblem(t, o, err)
		}
		defer c.Close()
	}
	msg, err := buildMessage(o, t)
	if err != nil {
		return err
	}

	var srv *mailertest.Server
	if t.local {
		// The real code path: STARTTLS, certificate verified against the
		// server's CA.
		if srv, err = mailertest.Start(); err != nil {
			return fmt.Errorf("starting the local test server: %w", err)
		}
		defer srv.Close()
		if c, err = mailer.New(append([]mailer.Option{srv.Options()}, extra...)...); err != nil {
			return fmt.Errorf("local test server: %w", err)
		}
		defer c.Close()
	}

	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	receipt, sendErr := c.Send(ctx, msg)
	_ = c.Close() // delivers the queued events to the hook
	// The library names the context's deadline as the cause even when the
	// connection's own deadline fired a moment before it.
	timedOut := errors.Is(sendErr, context.DeadlineExceeded)
	delivered := len(receipt.Recipients) > 0

	var received []byte
	if t.local && delivered {
		msgs := srv.Messages()
		if len(msgs) == 0 {
			return errors.New("the local test server accepted the message but recorded nothing")
		}
		received = msgs[len(msgs)-1].Data
	}
	if delivered || o.json {
		out := sendResult{receipt: receipt, received: received, events: events.all(), err: sendErr, secrets: o.secrets()}
		if err := printResult(stdout, o.json, out, t.local); err != nil {
			return fmt.Errorf("writing the result: %w", err)
		}
	}
	if t.local && delivered {
		fmt.Fprintf(stderr, "send: the message went to a local test server on %s (STARTTLS), not to its "+
			"recipients (envelope: from %s to %s).\n", c.Addr(), msg.From().Address, strings.Join(receipt.Recipients, ", "))
		fmt.Fprintln(stderr, "send: to send for real, add -provider (such as -provider qq -user you@qq.com, "+
			"password in $MAILER_PASSWORD) or -url; see send -h.")
	}
	if errors.Is(sendErr, mailer.ErrDKIMAlignment) {
		return invalidf("%s (see -dkim-domain)", strings.TrimPrefix(sendErr.Error(), "mailer: "))
	}
	if sendErr != nil {
		return errors.New(describeSendError(sendErr, c.Addr(), o.timeout, timedOut, delivered))
	}
	return nil
}

// sendResult is what send prints.
type sendResult struct {
	receipt  mailer.Receipt
	received []byte // the message as the local test server got it
	events   []mailer.Event
	err      error
	secrets  []string // redacted from the JSON, as from stderr
}

// receiptJSON is the -json output.
type receiptJSON struct {
	MessageID      string      `json:"message_id"`
	Response       string      `json:"response,omitempty"`
	Recipients     []string    `json:"recipients"`
	Attempts       int         `json:"attempts"`
	Duration       string      `json:"duration"`
	MaybeDuplicate bool        `json:"maybe_duplicate"`
	Error          string      `json:"error,omitempty"`
	Events         []eventJSON `json:"events"`
	// Received is the message as the local test server received it.
	Received string `json:"received,omitempty"`
}

// eventJSON is one status event in the -json output.
type eventJSON struct {
	Status         string   `json:"status"`
	Attempt        int      `json:"attempt"`
	Time           string   `json:"time"`
	Duration       string   `json:"duration,omitempty"`
	Wait           string   `json:"wait,omitempty"`
	Recipients     []string `json:"recipients,omitempty"`
	Outcome        string   `json:"outcome,omitempty"`
	Code           int      `json:"code,omitempty"`
	EnhancedCode   string   `json:"enhanced_code,omitempty"`
	Response       string   `json:"response,omitempty"`
	MaybeDuplicate bool     `json:"maybe_duplicate,omitempty"`
	Error          string   `json:"error,omitempty"`
}

// printResult writes the result of a delivery.
func printResult(w io.Writer, asJSON bool, res sendResult, local bool) error {
	r := res.receipt
	if asJSON {
		out := receiptJSON{
			MessageID: r.MessageID, Response: r.Response, Recipients: r.Recipients,
			Attempts: r.Attempts, Duration: r.Duration.Round(time.Microsecond).String(),
			MaybeDuplicate: r.MaybeDuplicate, Received: string(res.received), Events: []eventJSON{},
		}
		var se *mailer.SendError
		if errors.As(res.err, &se) {
			out.MessageID, out.Attempts = se.MessageID, se.Attempts
		}
		if res.err != nil {
			out.Error = strings.TrimPrefix(res.err.Error(), "mailer: ")
		}
		for _, e := range res.events {
			ej := eventJSON{
				Status: e.Status.String(), Attempt: e.Attempt, Time: e.Time.Format(time.RFC3339Nano),
				Recipients: e.Recipients, Code: e.Code, EnhancedCode: e.EnhancedCode.String(),
				Response: e.Response, MaybeDuplicate: e.MaybeDuplicate,
			}
			if e.Duration > 0 {
				ej.Duration = e.Duration.Round(time.Microsecond).String()
			}
			if e.Wait > 0 {
				ej.Wait = e.Wait.Round(time.Millisecond).String()
			}
			if e.Outcome != 0 {
				ej.Outcome = e.Outcome.String()
			}
			if e.Err != nil {
				ej.Error = strings.TrimPrefix(e.Err.Error(), "mailer: ")
			}
			out.Events = append(out.Events, ej)
		}
		var buf strings.Builder
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
		secrets := res.secrets
		for _, sec := range res.secrets {
			if js, err := json.Marshal(sec); err == nil {
				secrets = append(secrets, string(js[1:len(js)-1])) // as the JSON spells it
			}
		}
		_, err := io.WriteString(w, redact(buf.String(), secrets))
		return err
	}
	if local {
		_, err := w.Write(res.received)
		return err
	}
	dup := ""
	if r.MaybeDuplicate {
		dup = "; an earlier attempt may also have arrived (same Message-ID)"
	}
	_, err := fmt.Fprintf(w, "sent %s to %s: %s (%s, %s)%s\n", r.MessageID, strings.Join(r.Recipients, ", "),
		r.Response, plural(r.Attempts, "attempt"), r.Duration.Round(time.Millisecond), dup)
	return err
}

// eventLog collects the status events of the one Send.
type eventLog struct {
	mu     sync.Mutex
	events []mailer.Event
}

func (l *eventLog) hook(_ context.Context, e mailer.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *eventLog) all() []mailer.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]mailer.Event(nil), l.events...)
}

// describeSendError words an error from Client.Send: where it failed, the
// server's reply and the provider's hint, and whether the message may have
// gone out after all.
func describeSendError(err error, addr string, timeout time.Duration, timedOut, partly bool) string {
	var se *mailer.SendError
	if !errors.As(err, &se) {
		return "sending via " + addr + " failed: " + strings.TrimPrefix(err.Error(), "mailer: ")
	}
	var b strings.Builder
	switch {
	case partly:
		b.WriteString("sent, but " + addr + " refused some recipients at " + se.Stage.String())
	case errors.Is(err, context.Canceled):
		b.WriteString("interrupted during " + se.Stage.String() + " with " + addr)
	case timedOut:
		b.WriteString("timed out")
		if timeout > 0 {
			b.WriteString(" (-timeout " + timeout.String() + ")")
		}
		b.WriteString(" during " + se.Stage.String() + " with " + addr)
	default:
		b.WriteString("sending via " + addr + " failed at " + se.Stage.String())
	}
	switch {
	case se.Code != 0:
		b.WriteString(": " + strconv.Itoa(se.Code))
		if !se.EnhancedCode.IsZero() {
			b.WriteString(" " + se.EnhancedCode.String())
		}
		if se.Message != "" {
			b.WriteString(" " + se.Message)
		}
	case se.Err != nil && !timedOut && !errors.Is(se.Err, context.Canceled):
		b.WriteString(": " + strings.TrimPrefix(se.Err.Error(), "mailer: "))
	}
	if len(se.Recipients) > 0 {
		b.WriteString(" (" + strings.Join(se.Recipients, ", ") + ")")
	}
	var unknownCA x509.UnknownAuthorityError
	switch {
	case se.Hint != "":
		b.WriteString("; hint: " + se.Hint)
	case errors.As(err, &unknownCA):
		b.WriteString("; if the server's certificate comes from a private CA, trust it with -ca FILE")
	}
	switch {
	case partly:
	case mailer.Classify(err) == mailer.OutcomeUnknown:
		b.WriteString("; the server may have accepted the message: check before sending it again")
	case se.Temporary() && !timedOut && !errors.Is(err, context.Canceled):
		b.WriteString("; this is temporary: try again later")
	}
	return b.String()
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

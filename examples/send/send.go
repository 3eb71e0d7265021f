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
	"time"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

// execute sends the message the options describe and prints the result.
// Errors before anything is sent are *invalidError.
func execute(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	t, err := resolveTarget(o)
	if err != nil {
		return err
	}
	var c *mailer.Client
	if !t.local {
		if c, err = mailer.New(t.options...); err != nil {
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
		if c, err = mailer.New(srv.Options()); err != nil {
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
	// The connection's deadline and the context's timer expire together;
	// the clock says which came first.
	deadline, hasDeadline := ctx.Deadline()
	timedOut := hasDeadline && !time.Now().Before(deadline)
	delivered := len(receipt.Recipients) > 0

	var received []byte
	if t.local && delivered {
		msgs := srv.Messages()
		if len(msgs) == 0 {
			return errors.New("the local test server accepted the message but recorded nothing")
		}
		received = msgs[len(msgs)-1].Data
	}
	if delivered {
		if err := printReceipt(stdout, o.json, receipt, received, t.local); err != nil {
			return fmt.Errorf("writing the result: %w", err)
		}
	}
	if t.local && delivered {
		fmt.Fprintf(stderr, "send: the message went to a local test server on %s (STARTTLS), not to its "+
			"recipients (envelope: from %s to %s).\n", c.Addr(), msg.From().Address, strings.Join(receipt.Recipients, ", "))
		fmt.Fprintln(stderr, "send: to send for real, add -provider (such as -provider qq -user you@qq.com, "+
			"password in $MAILER_PASSWORD) or -url; see send -h.")
	}
	if sendErr != nil {
		return errors.New(describeSendError(sendErr, c.Addr(), o.timeout, timedOut, delivered))
	}
	return nil
}

// receiptJSON is the -json output.
type receiptJSON struct {
	MessageID  string   `json:"message_id"`
	Response   string   `json:"response"`
	Recipients []string `json:"recipients"`
	Attempts   int      `json:"attempts"`
	Duration   string   `json:"duration"`
	// Received is the message as the local test server received it.
	Received string `json:"received,omitempty"`
}

// printReceipt writes the result of a delivery.
func printReceipt(w io.Writer, asJSON bool, r mailer.Receipt, received []byte, local bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(receiptJSON{
			MessageID: r.MessageID, Response: r.Response, Recipients: r.Recipients,
			Attempts: r.Attempts, Duration: r.Duration.Round(time.Microsecond).String(),
			Received: string(received),
		})
	}
	if local {
		_, err := w.Write(received)
		return err
	}
	_, err := fmt.Fprintf(w, "sent %s to %s: %s (%s, %s)\n", r.MessageID, strings.Join(r.Recipients, ", "),
		r.Response, plural(r.Attempts, "attempt"), r.Duration.Round(time.Millisecond))
	return err
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

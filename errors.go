package mailer

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors. They are matched with [errors.Is]; the typed errors of this
// package ([*SendError], [*FieldError], [*ConfigError]) wrap them.
var (
	// ErrNoServer means no server host was configured.
	ErrNoServer = errors.New("mailer: no server configured")
	// ErrInvalidConfig is matched by every [*ConfigError].
	ErrInvalidConfig = errors.New("mailer: invalid configuration")
	// ErrClientClosed is returned by Send after Close was called.
	ErrClientClosed = errors.New("mailer: client is closed")

	// ErrNilMessage is returned when Send is given a nil *Message.
	ErrNilMessage = errors.New("mailer: nil message")
	// ErrNoSender means the message has no From address.
	ErrNoSender = errors.New("mailer: message has no sender")
	// ErrNoRecipients means the message has no To, Cc or Bcc address.
	ErrNoRecipients = errors.New("mailer: message has no recipients")
	// ErrInvalidAddress is wrapped by every error about a malformed address.
	ErrInvalidAddress = errors.New("mailer: invalid address")
	// ErrInvalidHeader is wrapped by every error about a header name or value
	// that cannot be written safely (control characters, bad field names,
	// structural headers set by hand).
	ErrInvalidHeader = errors.New("mailer: invalid header")

	// ErrTLSRequired means the server does not offer STARTTLS although the
	// TLS mode requires it. Nothing was sent in clear text.
	ErrTLSRequired = errors.New("mailer: server does not offer STARTTLS")
	// ErrWrongTLSMode means the Client and the server's port disagree on
	// how TLS starts: STARTTLS configured for port 465, which expects
	// implicit TLS (use smtps://), or implicit TLS configured for a server
	// that greets in clear text and expects STARTTLS (use smtp://). It is
	// permanent.
	ErrWrongTLSMode = errors.New("mailer: wrong TLS mode for the server's port")
	// ErrInsecureAuth means credentials would have crossed a connection
	// without TLS. No AUTH command was sent. See [WithInsecureAuth].
	ErrInsecureAuth = errors.New("mailer: refusing to send credentials over a connection without TLS")
	// ErrAuth is wrapped by every authentication failure: rejected
	// credentials, a mechanism the server does not offer, a token source
	// that failed.
	ErrAuth = errors.New("mailer: authentication failed")
	// ErrAuthUnsupported means the server offers none of the mechanisms the
	// configured authentication can use. It wraps ErrAuth.
	ErrAuthUnsupported = fmt.Errorf("%w: no common mechanism", ErrAuth)
	// ErrSMTPUTF8Required means an address needs the SMTPUTF8 extension
	// (a non-ASCII local part) and the server does not offer it.
	ErrSMTPUTF8Required = errors.New("mailer: address needs SMTPUTF8, which the server does not offer")
	// ErrMaybeDelivered means the connection was lost after the end of the
	// message data and before the server's reply: the message may or may not
	// have been delivered.
	ErrMaybeDelivered = errors.New("mailer: connection lost after end of data; message may have been delivered")
)

// A Stage is the step of the SMTP transaction at which an attempt failed.
type Stage uint8

// Stages of an SMTP transaction, in order.
const (
	StageNone    Stage = iota // not a protocol failure (validation, configuration)
	StageDial                 // TCP connect, implicit TLS handshake, greeting, EHLO
	StageTLS                  // STARTTLS and its handshake
	StageAuth                 // AUTH
	StageMail                 // MAIL FROM
	StageRcpt                 // RCPT TO
	StageData                 // DATA command and message body
	StageDataEnd              // final "." and its reply
)

var stageNames = [...]string{"none", "dial", "starttls", "auth", "MAIL FROM", "RCPT TO", "DATA", "end of data"}

// String returns a short name of the stage, such as "RCPT TO".
func (s Stage) String() string {
	if int(s) < len(stageNames) {
		return stageNames[s]
	}
	return "stage(" + strconv.Itoa(int(s)) + ")"
}

// EnhancedCode is an RFC 3463 enhanced status code such as 5.7.8. The zero
// value means the server sent none.
type EnhancedCode [3]int

// IsZero reports whether c is the zero value (no enhanced code).
func (c EnhancedCode) IsZero() bool { return c == EnhancedCode{} }

// String formats c as "class.subject.detail", or "" for the zero value.
func (c EnhancedCode) String() string {
	if c.IsZero() {
		return ""
	}
	return fmt.Sprintf("%d.%d.%d", c[0], c[1], c[2])
}

// SendError reports a failed delivery attempt. It wraps the underlying
// error: a *textproto.Error for a server reply, a net.Error, a TLS or x509
// error, a context error, or one of this package's sentinels.
//
// Its fields never hold credentials; Message is the server's reply text with
// control bytes and invalid UTF-8 removed.
type SendError struct {
	// Stage is the step of the transaction that failed.
	Stage Stage
	// Code is the SMTP reply code, or 0 if the server sent no reply.
	Code int
	// EnhancedCode is the RFC 3463 code of the reply, if the server sent one.
	EnhancedCode EnhancedCode
	// Message is the sanitised text of the server's reply (without codes).
	Message string
	// Recipients lists the recipients the failure applies to: the refused
	// ones for StageRcpt (named in Error), else those that did not get the
	// message.
	Recipients []string
	// Rejections holds one error per refused recipient when several
	// recipients were refused at RCPT TO, each with its own code.
	Rejections []*SendError
	// Attempts is the number of attempts made, including the first.
	Attempts int
	// MessageID is the Message-ID of the message, without angle brackets.
	MessageID string
	// Hint is advice about a known reply, such as "QQ Mail needs an
	// authorization code (授权码) instead of the account password".
	Hint string
	// Err is the underlying error.
	Err error

	// outcome overrides the class of the reply when a ReplyRule says so.
	outcome Outcome
	// minWait is the least wait before a retry, from a ReplyRule.
	minWait time.Duration
}

// Error returns a one-line description: stage, reply, recipients, attempts
// and hint. It never contains credentials.
func (e *SendError) Error() string {
	var b strings.Builder
	b.WriteString("mailer: ")
	b.WriteString(e.Stage.String())
	b.WriteString(": ")
	switch {
	case e.Code != 0:
		b.WriteString(strconv.Itoa(e.Code))
		if !e.EnhancedCode.IsZero() {
			b.WriteByte(' ')
			b.WriteString(e.EnhancedCode.String())
		}
		if e.Message != "" {
			b.WriteByte(' ')
			b.WriteString(e.Message)
		}
	case e.Err != nil:
		b.WriteString(sanitizeText(strings.TrimPrefix(e.Err.Error(), "mailer: "), maxCauseLen))
	default:
		b.WriteString("failed")
	}
	if len(e.Recipients) > 0 && e.Stage == StageRcpt {
		b.WriteString(" (")
		b.WriteString(strings.Join(e.Recipients, ", "))
		b.WriteByte(')')
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " after %d attempts", e.Attempts)
	}
	var stop *stopError
	if e.Code != 0 && errors.As(e.Err, &stop) {
		b.WriteString("; stopped: ")
		b.WriteString(strings.TrimPrefix(stop.reason.Error(), "mailer: "))
	}
	if e.Hint != "" {
		b.WriteString("; hint: ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *SendError) Unwrap() error { return e.Err }

// Temporary reports whether the failure is transient, so that a later
// attempt may succeed: a 4yz reply, or a network failure before the end of
// the message data. It is false for permanent failures and for an unknown
// outcome (see [ErrMaybeDelivered]).
func (e *SendError) Temporary() bool { return Classify(e) == OutcomeTemporary }

// MinWait returns the least wait before a retry that a ReplyRule attached
// to this error (163's "451 DT:SPM" asks for minutes), or 0.
func (e *SendError) MinWait() time.Duration {
	w := e.minWait
	for _, r := range e.Rejections {
		w = max(w, r.MinWait())
	}
	return w
}

// Throttled reports whether the server asked the client to slow down: a
// 4yz reply whose text speaks of a rate, throttling, a limit or quota,
// too many connections or messages, or a busy server (Gmail's "421 4.7.28
// … rate limited", QQ Mail's "Connection frequency limited"), or a reply
// that a ReplyRule gave a MinWait. Send waits at least
// RetryPolicy.ThrottleWait after such a reply. Other 421 replies (a server
// shutting down) and STARTTLS's 454 are ordinary temporary failures.
func (e *SendError) Throttled() bool { return isThrottling(e) || e.MinWait() > 0 }

// Timeout reports whether the attempt failed because a network deadline
// expired.
func (e *SendError) Timeout() bool { return isTimeout(e.Err) }

// FieldError reports an invalid value of a message field, such as an address
// in To or a header value. It wraps a sentinel such as [ErrInvalidAddress] or
// [ErrInvalidHeader].
type FieldError struct {
	// Field names the field: "From", "To", "Subject", "Header \"X-Tag\"", …
	Field string
	// Value is the offending input, quoted and shortened for display.
	Value string
	// Err describes the problem.
	Err error
}

// Error returns "mailer: <field> <value>: <reason>".
func (e *FieldError) Error() string {
	msg := strings.TrimPrefix(e.Err.Error(), "mailer: ")
	if e.Value == "" {
		return "mailer: " + e.Field + ": " + msg
	}
	return "mailer: " + e.Field + " " + e.Value + ": " + msg
}

// Unwrap returns the underlying error.
func (e *FieldError) Unwrap() error { return e.Err }

func fieldError(field, value string, err error) *FieldError {
	return &FieldError{Field: field, Value: quoteValue(value), Err: err}
}

// ConfigError reports an invalid option or URL part given to [New]. It
// matches [ErrInvalidConfig] with errors.Is.
type ConfigError struct {
	// Option names what was wrong: "WithServer", "URL query key \"tls\"", …
	Option string
	// Err describes the problem.
	Err error
}

// Error returns "mailer: <option>: <reason>".
func (e *ConfigError) Error() string {
	return "mailer: " + e.Option + ": " + strings.TrimPrefix(e.Err.Error(), "mailer: ")
}

// Unwrap returns the underlying error.
func (e *ConfigError) Unwrap() error { return e.Err }

// Is reports whether target is ErrInvalidConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }

func configError(option string, format string, args ...any) *ConfigError {
	return &ConfigError{Option: option, Err: fmt.Errorf(format, args...)}
}

// quoteValue quotes s for an error message, shortening it past 64 runes.
func quoteValue(s string) string {
	const max = 64
	r := []rune(s)
	if len(r) > max {
		s = string(r[:max]) + "…"
	}
	return strconv.Quote(s)
}

// errPort465 is the error for STARTTLS configured on port 465.
var errPort465 = fmt.Errorf("%w: port 465 expects implicit TLS (RFC 8314): use smtps:// or WithTLS(TLSImplicit)", ErrWrongTLSMode)

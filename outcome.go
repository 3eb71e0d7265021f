package mailer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/textproto"
	"os"
	"syscall"

	gomail "github.com/wneessen/go-mail"
)

// Outcome is the class of the result of one delivery attempt (DESIGN.md,
// "Delivery outcome and retry").
type Outcome uint8

// Outcomes.
const (
	// OutcomeDelivered: the server replied 2xx to the end of data. Never
	// retried, even if a later RSET, NOOP or QUIT failed.
	OutcomeDelivered Outcome = iota + 1
	// OutcomeTemporary: a 4xx reply, or a network failure or timeout
	// before the end of data. Nothing was delivered; a retry may succeed.
	OutcomeTemporary
	// OutcomeUnknown: the connection was lost or timed out after the end
	// of data, before the reply. The message may have been delivered.
	OutcomeUnknown
	// OutcomePermanent: a 5xx reply, rejected credentials, a TLS or
	// certificate failure, a server name that does not exist in DNS, an
	// invalid message or configuration. Retrying would fail the same way.
	OutcomePermanent
)

// String returns "delivered", "temporary", "unknown" or "permanent".
func (o Outcome) String() string {
	switch o {
	case OutcomeDelivered:
		return "delivered"
	case OutcomeTemporary:
		return "temporary"
	case OutcomeUnknown:
		return "unknown"
	case OutcomePermanent:
		return "permanent"
	}
	return "outcome(?)"
}

// Classify returns the outcome class of an error returned by a delivery
// attempt. nil is OutcomeDelivered. It understands this package's
// *SendError, go-mail's *SendError (by its Reason, not its text),
// *textproto.Error, network and TLS errors, wrapped or joined.
func Classify(err error) Outcome {
	if err == nil {
		return OutcomeDelivered
	}
	var se *SendError
	if errors.As(err, &se) {
		return classifySendError(se)
	}
	var gse *gomail.SendError
	if errors.As(err, &gse) {
		return classifyGoMail(gse)
	}
	var tp *textproto.Error
	if errors.As(err, &tp) {
		return classifyCode(tp.Code)
	}
	return classifyCause(err)
}

func classifySendError(se *SendError) Outcome {
	if se.outcome != 0 {
		return se.outcome
	}
	if len(se.Rejections) > 0 {
		// Several recipients: the most hopeful class wins, since a later
		// attempt can still reach those recipients.
		out := OutcomePermanent
		for _, r := range se.Rejections {
			switch classifySendError(r) {
			case OutcomeTemporary:
				return OutcomeTemporary
			case OutcomeUnknown:
				out = OutcomeUnknown
			}
		}
		return out
	}
	if se.Code != 0 {
		return classifyCode(se.Code)
	}
	if se.Stage == StageDataEnd || errors.Is(se.Err, ErrMaybeDelivered) {
		return OutcomeUnknown
	}
	if se.Err == nil {
		return OutcomePermanent
	}
	return classifyCause(se.Err)
}

// classifyGoMail classifies go-mail's SendError by its Reason and code,
// never by IsTemp (which looks at the first character of the error text).
func classifyGoMail(e *gomail.SendError) Outcome {
	if msg := e.Msg(); msg != nil && msg.IsDelivered() || e.Reason == gomail.ErrSMTPReset {
		return OutcomeDelivered // delivered; only the cleanup after it failed
	}
	if code := e.ErrorCode(); code > 0 {
		return classifyCode(code)
	}
	switch e.Reason {
	case gomail.ErrSMTPDataClose:
		return OutcomeUnknown // no reply to the final dot
	case gomail.ErrSMTPMailFrom, gomail.ErrSMTPRcptTo, gomail.ErrSMTPData, gomail.ErrWriteContent, gomail.ErrConnCheck:
		return OutcomeTemporary // the connection failed before the final dot
	}
	return OutcomePermanent // ErrGetSender, ErrGetRcpts, ErrNoUnencoded, …
}

func classifyCode(code int) Outcome {
	switch code / 100 {
	case 2:
		return OutcomeDelivered
	case 4:
		return OutcomeTemporary
	}
	return OutcomePermanent
}

// classifyCause classifies an error that carries no SMTP reply.
func classifyCause(err error) Outcome {
	var (
		certErr    *tls.CertificateVerificationError
		unknownCA  x509.UnknownAuthorityError
		hostErr    x509.HostnameError
		invalidErr x509.CertificateInvalidError
		alertErr   tls.AlertError
		recordErr  tls.RecordHeaderError
		local      *localError
		fieldErr   *FieldError
	)
	switch {
	case errors.Is(err, ErrMaybeDelivered):
		return OutcomeUnknown
	case errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &hostErr),
		errors.As(err, &invalidErr), errors.As(err, &alertErr), errors.As(err, &recordErr):
		return OutcomePermanent
	case errors.Is(err, ErrTLSRequired), errors.Is(err, ErrInsecureAuth), errors.Is(err, ErrAuth),
		errors.Is(err, ErrWrongTLSMode), isNoSuchHost(err),
		errors.Is(err, ErrSMTPUTF8Required), errors.Is(err, ErrInvalidConfig), errors.Is(err, ErrNoServer),
		errors.As(err, &fieldErr), errors.As(err, &local),
		errors.Is(err, ErrNoSender), errors.Is(err, ErrNoRecipients), errors.Is(err, ErrNilMessage),
		errors.Is(err, ErrClientClosed):
		return OutcomePermanent
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return OutcomeTemporary
	case errors.As(err, new(textproto.ProtocolError)):
		// Garbage instead of a reply before the end of data: nothing was
		// accepted, and another connection may well behave.
		return OutcomeTemporary
	case isTimeout(err), isNetworkError(err):
		return OutcomeTemporary
	}
	return OutcomePermanent
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

func isNetworkError(err error) bool {
	var (
		opErr  *net.OpError
		dnsErr *net.DNSError
	)
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED) ||
		errors.As(err, &opErr) || errors.As(err, &dnsErr)
}

// localError marks a failure on our side while writing the message (an
// attachment that cannot be read), as opposed to a network failure.
type localError struct{ err error }

func (e *localError) Error() string { return "reading message content: " + e.err.Error() }
func (e *localError) Unwrap() error { return e.err }

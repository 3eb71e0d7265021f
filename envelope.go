package mailer

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Envelope is the SMTP envelope of a message: what MAIL FROM and RCPT TO
// say. It is separate from the message's headers: the envelope decides who
// receives the message and where bounces go; the From, To and Cc headers
// are only what the recipients see. Use it with [Client.SendRaw];
// [Message.Envelope] returns the envelope [Client.Send] uses for a Message.
type Envelope struct {
	// From is the reverse-path of MAIL FROM, where bounces go: a bare
	// address such as "bounces+123@example.com", without a display name
	// or angle brackets. "" sends the null sender <>, which RFC 5321
	// reserves for bounces and auto-replies.
	From string
	// To lists the recipients of RCPT TO, bare addresses; at least one.
	// An address given twice (in any letter case) is sent once.
	To []string
	// SMTPUTF8 asks for the SMTPUTF8 extension (RFC 6531), needed when
	// the message's headers hold non-ASCII addresses. It is also set
	// automatically when an envelope address has a non-ASCII local part.
	// A server that does not offer SMTPUTF8 then fails the send with
	// [ErrSMTPUTF8Required].
	SMTPUTF8 bool
	// DSN asks for delivery status notifications (RFC 3461). The zero
	// value leaves the choice to the server.
	DSN DSN
}

// DSN holds the parameters of delivery status notifications (RFC 3461):
// which reports the recipients' servers should send back to the envelope
// sender, and how much of the message they should include. They are sent
// only to a server that offers the DSN extension; otherwise they are left
// out (the send goes on, with a debug log line), since most submission
// servers do not offer it and a report is advice, not a condition of
// delivery.
//
//	mailer.DSN{Notify: mailer.NotifyFailure | mailer.NotifyDelay, Return: mailer.ReturnHeaders}
type DSN struct {
	// Notify says when to report, for every recipient (NOTIFY=). Zero
	// leaves it to the server (usually failures only).
	Notify DSNNotify
	// Return says whether a failure report includes the whole message or
	// only its headers (RET=). Zero leaves it to the server.
	Return DSNReturn
	// EnvelopeID is an identifier of the transaction returned in every
	// report (ENVID=), such as the Message-ID or a database key: printable
	// ASCII, at most 100 characters. "" sends none.
	EnvelopeID string
}

// IsZero reports whether d asks for nothing.
func (d DSN) IsZero() bool { return d == DSN{} }

// DSNNotify says when a recipient's server sends a delivery status
// notification: a combination of NotifySuccess, NotifyFailure and
// NotifyDelay, or NotifyNever alone.
type DSNNotify uint8

// Values of DSNNotify.
const (
	NotifySuccess DSNNotify = 1 << iota // the message was delivered
	NotifyFailure                       // the message could not be delivered
	NotifyDelay                         // delivery is delayed
	NotifyNever                         // no report at all, not even for a failure
)

// String returns the NOTIFY value, such as "FAILURE,DELAY", or "" for zero.
func (n DSNNotify) String() string {
	if n&NotifyNever != 0 {
		return "NEVER"
	}
	var parts []string
	for _, x := range []struct {
		bit  DSNNotify
		name string
	}{{NotifySuccess, "SUCCESS"}, {NotifyFailure, "FAILURE"}, {NotifyDelay, "DELAY"}} {
		if n&x.bit != 0 {
			parts = append(parts, x.name)
		}
	}
	return strings.Join(parts, ",")
}

// DSNReturn says how much of the message a failure report includes.
type DSNReturn uint8

// Values of DSNReturn.
const (
	ReturnFull    DSNReturn = iota + 1 // the whole message (RET=FULL)
	ReturnHeaders                      // only its headers (RET=HDRS)
)

// String returns "FULL", "HDRS", or "" for zero.
func (r DSNReturn) String() string {
	switch r {
	case ReturnFull:
		return "FULL"
	case ReturnHeaders:
		return "HDRS"
	}
	return ""
}

// check validates d; field prefixes the names in its errors.
func (d DSN) check(field string) error {
	switch {
	case d.Notify&NotifyNever != 0 && d.Notify != NotifyNever:
		return &FieldError{Field: field + ".Notify", Value: quoteValue(d.Notify.String()),
			Err: errors.New("mailer: NotifyNever cannot be combined with other values")}
	case d.Notify > NotifyNever<<1-1:
		return &FieldError{Field: field + ".Notify", Err: fmt.Errorf("mailer: unknown value %d", d.Notify)}
	case d.Return > ReturnHeaders:
		return &FieldError{Field: field + ".Return", Err: fmt.Errorf("mailer: unknown value %d", d.Return)}
	case len(d.EnvelopeID) > 100:
		return fieldError(field+".EnvelopeID", d.EnvelopeID, errors.New("mailer: longer than 100 characters"))
	}
	for i := 0; i < len(d.EnvelopeID); i++ {
		if c := d.EnvelopeID[i]; c < 0x20 || c > 0x7e {
			return fieldError(field+".EnvelopeID", d.EnvelopeID, errors.New("mailer: want printable ASCII"))
		}
	}
	return nil
}

// mailParams returns the DSN parameters of MAIL FROM, with a leading space.
func (d DSN) mailParams() string {
	s := ""
	if d.Return != 0 {
		s += " RET=" + d.Return.String()
	}
	if d.EnvelopeID != "" {
		s += " ENVID=" + xtext(d.EnvelopeID)
	}
	return s
}

// rcptParams returns the DSN parameter of RCPT TO, with a leading space.
func (d DSN) rcptParams() string {
	if d.Notify == 0 {
		return ""
	}
	return " NOTIFY=" + d.Notify.String()
}

// xtext encodes s as RFC 3461 xtext: '+', '=' and characters outside
// printable ASCII become "+HH".
func xtext(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c > ' ' && c < 0x7f && c != '+' && c != '=' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "+%02X", c)
	}
	return b.String()
}

// checkEnvelopeAddress validates a bare address of an envelope, with the
// rules of [ParseAddress] for its addr-spec.
func checkEnvelopeAddress(field, addr string) error {
	if addr == "" {
		return fieldError(field, addr, fmt.Errorf("%w: empty", ErrInvalidAddress))
	}
	if !utf8.ValidString(addr) {
		return fieldError(field, addr, fmt.Errorf("%w: invalid UTF-8", ErrInvalidAddress))
	}
	for _, r := range addr {
		if isControl(r) {
			return fieldError(field, addr, fmt.Errorf("%w: contains control character %U", ErrInvalidAddress, r))
		}
		if r == '<' || r == '>' || r == ' ' || r == '"' {
			return fieldError(field, addr, fmt.Errorf("%w: want a bare address such as bob@example.com, without display name or angle brackets", ErrInvalidAddress))
		}
	}
	if err := checkAddrSpec(addr); err != nil {
		return fieldError(field, addr, err)
	}
	return nil
}

// check validates env and returns its recipients without duplicates.
func (env *Envelope) check() ([]string, error) {
	var errs []error
	if env.From != "" {
		if err := checkEnvelopeAddress("Envelope.From", env.From); err != nil {
			errs = append(errs, err)
		}
	}
	if len(env.To) == 0 {
		errs = append(errs, &FieldError{Field: "Envelope.To", Err: ErrNoRecipients})
	}
	seen := make(map[string]bool, len(env.To))
	rcpts := make([]string, 0, len(env.To))
	for _, a := range env.To {
		if err := checkEnvelopeAddress("Envelope.To", a); err != nil {
			errs = append(errs, err)
			continue
		}
		if key := strings.ToLower(a); !seen[key] {
			seen[key] = true
			rcpts = append(rcpts, a)
		}
	}
	if err := env.DSN.check("Envelope.DSN"); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return rcpts, nil
}

// Envelope returns the envelope [Client.Send] uses for m: the envelope
// sender set with [MessageBuilder.EnvelopeFrom] (or else the From address),
// every To, Cc and Bcc address once, and the DSN parameters of
// [MessageBuilder.DSN]. With [Message.Bytes] it lets a message be stored
// or signed as bytes and sent later with [Client.SendRaw]:
//
//	raw, err := m.Bytes()
//	…
//	receipt, err := c.SendRaw(ctx, m.Envelope(), raw)
//
// SMTPUTF8 is set when an address of the envelope or of the headers has
// a non-ASCII local part.
func (m *Message) Envelope() Envelope {
	env := Envelope{From: m.envelopeFrom(), To: m.Recipients(), DSN: m.dsn, SMTPUTF8: m.utf8Headers}
	if env.From != "" {
		if _, u := envelopeAddress(env.From); u {
			env.SMTPUTF8 = true
		}
	}
	for _, r := range env.To {
		if _, u := envelopeAddress(r); u {
			env.SMTPUTF8 = true
		}
	}
	return env
}

// envelopeFrom returns the reverse-path of m.
func (m *Message) envelopeFrom() string {
	if m.envFrom != "" {
		return m.envFrom
	}
	return m.from.Address
}

// EnvelopeFrom sets the envelope sender (MAIL FROM, which becomes the
// Return-Path of the delivered message): the address that receives
// bounces, when it should not be the From address, as for VERP
// ("bounces+user=example.org@example.com") or a bounce-processing mailbox.
// The default is the From address. addr is a bare address without a
// display name.
func (b *MessageBuilder) EnvelopeFrom(addr string) *MessageBuilder {
	if err := checkEnvelopeAddress("EnvelopeFrom", addr); err != nil {
		b.errs = append(b.errs, err)
		return b
	}
	b.m.envFrom = addr
	return b
}

// DSN asks for delivery status notifications (RFC 3461) for the message:
// when to report and how much of the message to return. They are sent
// only to a server that offers DSN; see [DSN].
func (b *MessageBuilder) DSN(d DSN) *MessageBuilder {
	if err := d.check("DSN"); err != nil {
		b.errs = append(b.errs, err)
		return b
	}
	b.m.dsn = d
	return b
}

package mailer

import (
	"errors"
	"net/mail"
	"slices"
	"strings"
	"time"
)

// Address is an e-mail address with an optional display name, as parsed by
// net/mail.
type Address = mail.Address

// A Message is an e-mail ready to send. It is immutable: make one with
// [NewMessage] and [MessageBuilder.Build]. A Message may be sent many times,
// concurrently and by several Clients; sending never changes it, and every
// attempt carries the same Message-ID.
type Message struct {
	from        Address
	to          []Address
	cc          []Address
	bcc         []Address
	replyTo     []Address
	subject     string
	text        string
	html        string
	headers     []header
	attachments []attachment
	messageID   string
	date        time.Time
}

type header struct{ name, value string }

// From returns the author's address.
func (m *Message) From() Address { return m.from }

// To returns a copy of the To addresses.
func (m *Message) To() []Address { return slices.Clone(m.to) }

// Cc returns a copy of the Cc addresses.
func (m *Message) Cc() []Address { return slices.Clone(m.cc) }

// Bcc returns a copy of the Bcc addresses. They go in the envelope only,
// never in a header.
func (m *Message) Bcc() []Address { return slices.Clone(m.bcc) }

// ReplyTo returns a copy of the Reply-To addresses.
func (m *Message) ReplyTo() []Address { return slices.Clone(m.replyTo) }

// Subject returns the subject.
func (m *Message) Subject() string { return m.subject }

// Text returns the plain-text body.
func (m *Message) Text() string { return m.text }

// HTML returns the HTML body.
func (m *Message) HTML() string { return m.html }

// MessageID returns the Message-ID without angle brackets. It is chosen by
// Build and is the same on every attempt to send the message.
func (m *Message) MessageID() string { return m.messageID }

// Date returns the value of the Date header.
func (m *Message) Date() time.Time { return m.date }

// Header returns the values of the custom header name set with
// [MessageBuilder.Header], in the order they were added.
func (m *Message) Header(name string) []string {
	var vals []string
	for _, h := range m.headers {
		if strings.EqualFold(h.name, name) {
			vals = append(vals, h.value)
		}
	}
	return vals
}

// Recipients returns the envelope recipients: To, Cc and Bcc, without
// display names and without duplicates.
func (m *Message) Recipients() []string {
	seen := make(map[string]bool)
	var out []string
	for _, list := range [][]Address{m.to, m.cc, m.bcc} {
		for _, a := range list {
			key := strings.ToLower(a.Address)
			if !seen[key] {
				seen[key] = true
				out = append(out, a.Address)
			}
		}
	}
	return out
}

// A MessageBuilder collects the parts of a Message. Its methods record
// problems instead of returning them; Build reports them all at once. A
// builder is not safe for concurrent use; the Message it builds is.
type MessageBuilder struct {
	m    Message
	errs []error
}

// NewMessage returns an empty builder.
func NewMessage() *MessageBuilder { return &MessageBuilder{} }

// From sets the author, as "name@example.com" or "Name <name@example.com>".
// Display names may be in any script.
func (b *MessageBuilder) From(addr string) *MessageBuilder {
	if a, ok := b.address("From", addr); ok {
		b.m.from = a
	}
	return b
}

// To adds recipients.
func (b *MessageBuilder) To(addrs ...string) *MessageBuilder {
	b.m.to = b.addresses("To", b.m.to, addrs)
	return b
}

// Cc adds carbon-copy recipients.
func (b *MessageBuilder) Cc(addrs ...string) *MessageBuilder {
	b.m.cc = b.addresses("Cc", b.m.cc, addrs)
	return b
}

// Bcc adds blind-copy recipients: they receive the message but appear in
// no header.
func (b *MessageBuilder) Bcc(addrs ...string) *MessageBuilder {
	b.m.bcc = b.addresses("Bcc", b.m.bcc, addrs)
	return b
}

// ReplyTo adds Reply-To addresses.
func (b *MessageBuilder) ReplyTo(addrs ...string) *MessageBuilder {
	b.m.replyTo = b.addresses("Reply-To", b.m.replyTo, addrs)
	return b
}

// Subject sets the subject. It may be in any script; it must not contain
// line breaks or other control characters.
func (b *MessageBuilder) Subject(s string) *MessageBuilder {
	if err := checkHeaderValue(s); err != nil {
		b.errs = append(b.errs, fieldError("Subject", s, err))
		return b
	}
	b.m.subject = s
	return b
}

// Text sets the plain-text body.
func (b *MessageBuilder) Text(s string) *MessageBuilder {
	b.m.text = s
	return b
}

// HTML sets the HTML body. With Text as well, the message is
// multipart/alternative with the text part first.
func (b *MessageBuilder) HTML(s string) *MessageBuilder {
	b.m.html = s
	return b
}

// Header adds a custom header such as "X-Campaign". The name must be a
// valid RFC 5322 field name and not one the builder manages (From, To,
// Content-Type, …); the value must not contain control characters.
func (b *MessageBuilder) Header(name, value string) *MessageBuilder {
	field := "Header " + quoteValue(name)
	if err := checkHeaderName(name); err != nil {
		b.errs = append(b.errs, &FieldError{Field: "Header", Value: quoteValue(name), Err: err})
		return b
	}
	if err := checkHeaderValue(value); err != nil {
		b.errs = append(b.errs, fieldError(field, value, err))
		return b
	}
	b.m.headers = append(b.m.headers, header{name: name, value: value})
	return b
}

// Date sets the Date header. The default is the time Build is called.
func (b *MessageBuilder) Date(t time.Time) *MessageBuilder {
	b.m.date = t
	return b
}

// Build checks the message and returns it. It returns every problem found,
// joined with errors.Join; each is a *FieldError naming the field, or
// ErrNoSender / ErrNoRecipients.
func (b *MessageBuilder) Build() (*Message, error) {
	errs := slices.Clone(b.errs)
	if b.m.from.Address == "" && !hasFieldError(errs, "From") {
		errs = append(errs, ErrNoSender)
	}
	if len(b.m.to)+len(b.m.cc)+len(b.m.bcc) == 0 && !hasFieldError(errs, "To", "Cc", "Bcc") {
		errs = append(errs, ErrNoRecipients)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	m := b.m
	m.to = slices.Clone(m.to)
	m.cc = slices.Clone(m.cc)
	m.bcc = slices.Clone(m.bcc)
	m.replyTo = slices.Clone(m.replyTo)
	m.headers = slices.Clone(m.headers)
	m.attachments = slices.Clone(m.attachments)
	if m.date.IsZero() {
		m.date = time.Now()
	}
	m.messageID = newMessageID(m.from.Address)
	return &m, nil
}

func hasFieldError(errs []error, fields ...string) bool {
	for _, err := range errs {
		var fe *FieldError
		if errors.As(err, &fe) && slices.Contains(fields, fe.Field) {
			return true
		}
	}
	return false
}

func (b *MessageBuilder) address(field, s string) (Address, bool) {
	a, err := ParseAddress(s)
	if err != nil {
		b.errs = append(b.errs, fieldError(field, s, err))
		return Address{}, false
	}
	return a, true
}

func (b *MessageBuilder) addresses(field string, dst []Address, src []string) []Address {
	for _, s := range src {
		if a, ok := b.address(field, s); ok {
			dst = append(dst, a)
		}
	}
	return dst
}

package mailer

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/postkit/mailer/internal/html2text"
)

// Errors about the content of a message, reported by [MessageBuilder.Build]
// inside a [*FieldError].
var (
	// ErrInvalidBody means a Text or HTML body is not valid UTF-8 or
	// contains a NUL character.
	ErrInvalidBody = errors.New("mailer: invalid body")
	// ErrEmbedWithoutHTML means inline parts were added to a message that
	// has no HTML body to show them.
	ErrEmbedWithoutHTML = errors.New("mailer: inline parts need an HTML body")
)

// Address is an e-mail address with an optional display name, as parsed by
// net/mail.
type Address = mail.Address

// DefaultUserAgent is the value of the User-Agent and X-Mailer headers of a
// message unless [MessageBuilder.UserAgent] sets another. It names this
// package and no version, so that it tells recipients nothing about the
// sending system's patch level.
const DefaultUserAgent = "postkit-mailer"

// A Message is an e-mail ready to send. It is immutable: make one with
// [NewMessage] and [MessageBuilder.Build]. A Message may be sent many times,
// concurrently and by several Clients; sending never changes it, and every
// attempt carries the same Message-ID.
type Message struct {
	from    Address
	to      []Address
	cc      []Address
	bcc     []Address
	replyTo []Address
	subject string
	text    string   // the text/plain part: given, or derived from html
	html    string   // the HTML body as given
	rcpts   []string // envelope recipients: To, Cc and Bcc without duplicates

	// The bodies as they are written, prepared once by Build: line breaks
	// in canonical CRLF form, "cid:" references of the HTML completed, and
	// the transfer encoding each one needs.
	wireText, wireHTML string
	textEnc, htmlEnc   transferEncoding
	headers            []header
	attachments        []attachment
	messageID          string
	date               time.Time
	priority           Priority
	unsubscribe        []string // List-Unsubscribe URIs
	oneClick           bool     // RFC 8058 List-Unsubscribe-Post
	userAgent          string   // "" writes no User-Agent or X-Mailer
	envFrom            string   // envelope sender, if not From (envelope.go)
	dsn                DSN      // DSN parameters (envelope.go)
	seed               [16]byte // makes the MIME boundaries, the same on every write
	utf8Headers        bool     // a header address has a non-ASCII local part (RFC 6532)
	partsSize          int64    // encoded size of the bodies and attachments in memory
}

type header struct {
	name, value string
	addrs       []Address // the addresses of an address header (addrheader.go)
	ids         []string  // the msg-ids of In-Reply-To or References (addrheader.go)
}

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

// Text returns the body of the text/plain part: the text given to
// [MessageBuilder.Text] or, for a message built with HTML only, the text
// derived from the HTML. It is "" for a message without a body.
func (m *Message) Text() string { return m.text }

// HTML returns the HTML body as given to [MessageBuilder.HTML], or "".
func (m *Message) HTML() string { return m.html }

// MessageID returns the Message-ID without angle brackets. It is chosen by
// Build (or set with [MessageBuilder.MessageID]) and is the same on every
// attempt to send the message.
func (m *Message) MessageID() string { return m.messageID }

// Date returns the value of the Date header.
func (m *Message) Date() time.Time { return m.date }

// Priority returns the priority set with [MessageBuilder.Priority].
func (m *Message) Priority() Priority { return m.priority }

// UserAgent returns the value of the User-Agent and X-Mailer headers, or ""
// when the message has none.
func (m *Message) UserAgent() string { return m.userAgent }

// ListUnsubscribe returns a copy of the List-Unsubscribe URIs.
func (m *Message) ListUnsubscribe() []string { return slices.Clone(m.unsubscribe) }

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
func (m *Message) Recipients() []string { return slices.Clone(m.rcpts) }

// envelopeRecipients returns the addresses of to, cc and bcc, each once.
func envelopeRecipients(to, cc, bcc []Address) []string {
	seen := make(map[string]bool)
	var out []string
	for _, list := range [][]Address{to, cc, bcc} {
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
// builder is not safe for concurrent use; the Message it builds is. A
// builder may be reused: changing it after Build does not change the
// Messages already built.
type MessageBuilder struct {
	m     Message
	uaSet bool
	errs  []error
}

// NewMessage returns an empty builder.
func NewMessage() *MessageBuilder { return &MessageBuilder{} }

// From sets the author, as "name@example.com" or "Name <name@example.com>"
// (see [ParseAddress]). Display names may be in any script; they are written
// as RFC 2047 encoded words when they are not plain ASCII.
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

// Subject sets the subject. It may be in any script and of any length; it
// must not contain line breaks or other control characters (tab excepted).
// It is written as it is when it is short printable ASCII, and otherwise as
// RFC 2047 encoded words (base64 for CJK text), folded to short lines.
func (b *MessageBuilder) Subject(s string) *MessageBuilder {
	if err := checkHeaderValue(s); err != nil {
		b.errs = append(b.errs, fieldError("Subject", s, err))
		return b
	}
	b.m.subject = s
	return b
}

// Text sets the plain-text body. Line breaks may be "\n", "\r\n" or "\r";
// all are sent as CRLF. It must be valid UTF-8 without NUL characters.
func (b *MessageBuilder) Text(s string) *MessageBuilder {
	if b.checkBody("Text", s) {
		b.m.text = s
	}
	return b
}

// HTML sets the HTML body. With Text as well, the message is
// multipart/alternative with the text part first and the HTML part last,
// the one clients prefer. Without Text, Build derives the text part from
// the HTML: headings, paragraphs, lists, and links as "text (url)".
func (b *MessageBuilder) HTML(s string) *MessageBuilder {
	if b.checkBody("HTML", s) {
		b.m.html = s
	}
	return b
}

func (b *MessageBuilder) checkBody(field, s string) bool {
	var err error
	switch {
	case !utf8.ValidString(s):
		err = fmt.Errorf("%w: invalid UTF-8", ErrInvalidBody)
	case strings.IndexByte(s, 0) >= 0:
		err = fmt.Errorf("%w: contains NUL", ErrInvalidBody)
	}
	if err != nil {
		b.errs = append(b.errs, &FieldError{Field: field, Err: err})
		return false
	}
	return true
}

// Header adds a custom header such as "X-Campaign". The name must be a
// valid RFC 5322 field name and not one the builder manages (From, To,
// Subject, Date, Message-ID, MIME-Version, any Content-*, List-Unsubscribe,
// the priority headers, User-Agent, X-Mailer, …): the error then names
// the method or option to use instead (Sender and Return-Path: EnvelopeFrom;
// DKIM-Signature: WithDKIM). The value must not contain control
// characters. Printable ASCII is written as it is, folded at single
// spaces, on lines of up to 998 octets when a long token needs one (the
// JSON of a provider's API header arrives as given); other values
// (non-ASCII, tabs, leading or trailing white space, "=?", a token too
// long for a line) are written as RFC 2047 encoded words. In-Reply-To and
// References take msg-ids separated by white space, each "<left@right>"
// or without the brackets (as [Message.MessageID] returns it), and are
// written as ids, never encoded, so that replies thread. Headers that
// carry addresses (Resent-To,
// Disposition-Notification-To, Return-Receipt-To, Errors-To, …) take
// addresses as To does, separated by commas; Resent-Bcc is refused, as it
// would show its addresses to every recipient.
func (b *MessageBuilder) Header(name, value string) *MessageBuilder {
	if err := checkHeaderName(name); err != nil {
		b.errs = append(b.errs, &FieldError{Field: "Header", Value: quoteValue(name), Err: err})
		return b
	}
	if err := checkHeaderValue(value); err != nil {
		b.errs = append(b.errs, fieldError("Header "+quoteValue(name), value, err))
		return b
	}
	addrs, _, err := parseAddressHeader(name, value)
	if err != nil {
		b.errs = append(b.errs, fieldError("Header "+quoteValue(name), value, err))
		return b
	}
	ids, _, err := parseMsgIDHeader(name, value)
	if err != nil {
		b.errs = append(b.errs, fieldError("Header "+quoteValue(name), value, err))
		return b
	}
	b.m.headers = append(b.m.headers, header{name: name, value: value, addrs: addrs, ids: ids})
	return b
}

// Date sets the Date header. The default is the time Build is called. The
// year must be within 0 to 9999 and the zone offset less than 24 hours and
// a whole number of minutes, as RFC 5322 section 3.3 can write it (use
// t.UTC() for a historical zone such as Amsterdam's +00:19:32).
func (b *MessageBuilder) Date(t time.Time) *MessageBuilder {
	if err := checkDate(t); err != nil {
		b.errs = append(b.errs, &FieldError{Field: "Date", Value: quoteValue(t.String()), Err: err})
		return b
	}
	b.m.date = t
	return b
}

// checkDate reports a time the Date header cannot carry.
func checkDate(t time.Time) error {
	_, off := t.Zone()
	switch {
	case t.Year() < 0 || t.Year() > 9999:
		return fmt.Errorf("%w: year %d is outside 0 to 9999", ErrInvalidHeader, t.Year())
	case off <= -24*3600 || off >= 24*3600:
		return fmt.Errorf("%w: zone offset %v is 24 hours or more", ErrInvalidHeader, time.Duration(off)*time.Second)
	case off%60 != 0:
		return fmt.Errorf("%w: zone offset %v is not a whole number of minutes; use t.UTC()", ErrInvalidHeader, time.Duration(off)*time.Second)
	}
	return nil
}

// MessageID sets the Message-ID, with or without angle brackets, instead of
// the random one Build chooses on the sender's domain. Use it to make a
// retry by a later process carry the same ID. It must be "left@right" with
// both sides made of RFC 5322 atext and dots, in at most 250 characters.
func (b *MessageBuilder) MessageID(id string) *MessageBuilder {
	id = strings.TrimSuffix(strings.TrimPrefix(id, "<"), ">")
	if err := checkMsgID(id); err != nil {
		b.errs = append(b.errs, fieldError("Message-ID", id, err))
		return b
	}
	b.m.messageID = id
	return b
}

// checkMsgID accepts an RFC 5322 msg-id of two dot-atom-texts.
func checkMsgID(id string) error {
	left, right, ok := strings.Cut(id, "@")
	if !ok || len(id) > 250 || !isDotAtom(left) || !isDotAtom(right) {
		return fmt.Errorf("%w: want left@right made of letters, digits and !#$%%&'*+-/=?^_`{|}~.", ErrInvalidHeader)
	}
	return nil
}

// isDotAtom reports whether s is an RFC 5322 dot-atom-text.
func isDotAtom(s string) bool {
	for _, atom := range strings.Split(s, ".") {
		if atom == "" {
			return false
		}
		for i := 0; i < len(atom); i++ {
			if !isAtext(atom[i]) {
				return false
			}
		}
	}
	return true
}

// UserAgent sets the value of the User-Agent and X-Mailer headers. The
// default is [DefaultUserAgent]; "" writes neither header. The value must
// not contain control characters.
func (b *MessageBuilder) UserAgent(name string) *MessageBuilder {
	if err := checkHeaderValue(name); err != nil {
		b.errs = append(b.errs, fieldError("UserAgent", name, err))
		return b
	}
	b.m.userAgent, b.uaSet = name, true
	return b
}

// Build checks the message and returns it. It returns every problem found,
// joined with errors.Join; each is a *FieldError naming the field, or
// ErrNoSender / ErrNoRecipients. For a message with HTML and no Text, Build
// derives the text part.
func (b *MessageBuilder) Build() (*Message, error) {
	errs := slices.Clone(b.errs)
	if b.m.from.Address == "" && !hasFieldError(errs, "From") {
		errs = append(errs, ErrNoSender)
	}
	if len(b.m.to)+len(b.m.cc)+len(b.m.bcc) == 0 && !hasFieldError(errs, "To", "Cc", "Bcc") {
		errs = append(errs, ErrNoRecipients)
	}
	m := b.m
	m.to = slices.Clone(m.to)
	m.cc = slices.Clone(m.cc)
	m.bcc = slices.Clone(m.bcc)
	m.replyTo = slices.Clone(m.replyTo)
	m.headers = slices.Clone(m.headers)
	m.attachments = slices.Clone(m.attachments)
	m.unsubscribe = slices.Clone(m.unsubscribe)
	if !b.uaSet {
		m.userAgent = DefaultUserAgent
	}
	errs = append(errs, m.resolveInline()...)
	if m.oneClick && !slices.ContainsFunc(m.unsubscribe, isHTTPS) {
		errs = append(errs, &FieldError{Field: "OneClickUnsubscribe",
			Err: fmt.Errorf("%w: RFC 8058 one-click needs an https List-Unsubscribe URI", ErrInvalidHeader)})
	}
	if m.text == "" && m.html != "" {
		text, err := html2text.Convert(m.html)
		if err != nil {
			errs = append(errs, &FieldError{Field: "HTML", Err: fmt.Errorf("%w: %w", ErrInvalidBody, err)})
		}
		m.text = text
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if m.date.IsZero() {
		m.date = time.Now()
	}
	if m.messageID == "" {
		m.messageID = newMessageID(m.from.Address)
	}
	m.rcpts = envelopeRecipients(m.to, m.cc, m.bcc)
	m.utf8Headers = hasUTF8LocalPart([]Address{m.from}, m.replyTo, m.to, m.cc)
	m.wireText = canonicalCRLF(m.text)
	m.textEnc = chooseEncoding(m.wireText)
	if m.html != "" {
		m.wireHTML = canonicalCRLF(m.wireHTML)
		m.htmlEnc = chooseEncoding(m.wireHTML)
	}
	_, _ = rand.Read(m.seed[:]) // crypto/rand.Read never fails (Go 1.24+)
	m.partsSize = m.fixedPartsSize() + m.headerSize()
	return &m, nil
}

// hasUTF8LocalPart reports whether an address of lists has a non-ASCII
// local part: one the headers carry in UTF-8 (RFC 6532), which only a
// server that offers SMTPUTF8 may receive, even when the address is in no
// MAIL FROM or RCPT TO (a From behind EnvelopeFrom, a Reply-To).
func hasUTF8LocalPart(lists ...[]Address) bool {
	for _, addrs := range lists {
		for _, a := range addrs {
			if at := strings.LastIndexByte(a.Address, '@'); at > 0 && !isASCII(a.Address[:at]) {
				return true
			}
		}
	}
	return false
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

package mailertest

import (
	"bytes"
	"crypto/subtle"
	"io"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is a message the server accepted: the envelope and the raw
// data as received, and the header fields and parts decoded as a mail
// client shows them, so that a test can look for a reset link in a
// Chinese, base64-encoded body with strings.Contains.
//
// The decoded fields (Subject to DecodeError) come from an independent
// MIME parser, github.com/emersion/go-message, never from package
// mailer's own writer. They are filled when the message is first read
// through [Server.Messages] or one of the finders, not while the client
// is sending.
type Message struct {
	// Conn numbers the connection that carried it, from 1.
	Conn int
	// From is the envelope sender (MAIL FROM); the header's From is
	// HeaderFrom.
	From string
	// To lists the envelope recipients (RCPT TO), Bcc included; the
	// header's To is HeaderTo.
	To []string
	// Data is the message as received, after the SMTP dot-unstuffing.
	Data []byte
	// Header is the parsed header, or nil if it did not parse. Its values
	// are as sent (RFC 2047 encoded words stay encoded); the fields below
	// are decoded.
	Header mail.Header

	// Subject is the Subject header, decoded (RFC 2047), such as "重置您的密码".
	Subject string
	// HeaderFrom, HeaderTo, Cc and ReplyTo are the addresses of the From,
	// To, Cc and Reply-To header fields, display names decoded.
	HeaderFrom, HeaderTo, Cc, ReplyTo []*mail.Address
	// Text and HTML are the text/plain and text/html bodies, transfer
	// encoding removed, converted to UTF-8, with "\n" line breaks; "" when
	// the message has no such body. A body in a charset no decoder knows
	// is left in it, and DecodeError names the charset.
	Text, HTML string
	// Attachments are the parts with Content-Disposition "attachment", in
	// order, and those without a Content-Disposition that are neither text
	// nor have a Content-ID, as mail clients show them.
	Attachments []Part
	// Inline are the other parts that are not the text or HTML body, such
	// as images the HTML shows with "cid:" (see Part.ContentID), in order.
	Inline []Part
	// DecodeError reports a message that could not be decoded in full; the
	// fields above then hold what could be read.
	DecodeError error
	decoded     bool
	// TLS reports whether the connection was encrypted.
	TLS bool
	// AuthMechanism and AuthUser say how the client authenticated; both
	// are empty without AUTH.
	AuthMechanism, AuthUser string
	// HELO is the name the client gave in EHLO or HELO.
	HELO string
	// Time is when the server accepted the message.
	Time time.Time
}

// backend is the go-smtp backend: it checks credentials and records
// messages. The front end (conn.go) handles TLS, faults and the transcript.
type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	b.s.mu.Lock()
	cs := b.s.byBackAddr[c.Conn().RemoteAddr().String()]
	b.s.mu.Unlock()
	if cs == nil {
		return nil, &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "unknown connection"}
	}
	return &session{s: b.s, cs: cs}, nil
}

type session struct {
	s    *Server
	cs   *connState
	from string
	to   []string
}

func (ss *session) AuthMechanisms() []string {
	if len(ss.s.opts.users) == 0 && len(ss.s.opts.tokens) == 0 {
		return nil
	}
	return ss.s.opts.mechs
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if !slices.Contains(ss.AuthMechanisms(), mech) {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	var user string
	setUser := func(u string) { user = u }
	succeed := func(err error) error {
		if err != nil {
			return smtp.ErrAuthFailed
		}
		ss.cs.mu.Lock()
		ss.cs.authMech, ss.cs.authUser, ss.cs.authed = mech, user, true
		ss.cs.mu.Unlock()
		return nil
	}
	checkPassword := func(u, p string) error { setUser(u); return succeed(check(ss.s.opts.users, u, p)) }
	switch mech {
	case "PLAIN":
		return sasl.NewPlainServer(func(_, u, p string) error { return checkPassword(u, p) }), nil
	case "LOGIN":
		return &loginServer{check: checkPassword, username: setUser}, nil
	case "CRAM-MD5":
		return &doneHook{
			Server: &cramServer{secret: func(u string) (string, bool) { return lookup(ss.s.opts.users, u) }, username: setUser},
			done:   succeed,
		}, nil
	case "XOAUTH2":
		return &doneHook{
			Server: &xoauth2Server{check: func(u, t string) error { return check(ss.s.opts.tokens, u, t) }, username: setUser},
			done:   succeed,
		}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

// doneHook calls done when the wrapped mechanism finishes.
type doneHook struct {
	sasl.Server
	done func(error) error
}

func (d *doneHook) Next(resp []byte) ([]byte, bool, error) {
	ch, done, err := d.Server.Next(resp)
	if done {
		err = d.done(err)
	}
	return ch, done, err
}

func lookup(creds []credential, user string) (string, bool) {
	for _, c := range creds {
		if c.user == user {
			return c.secret, true
		}
	}
	return "", false
}

func check(creds []credential, user, secret string) error {
	for _, c := range creds {
		if c.user == user && c.valid != nil {
			if !c.valid(secret) {
				return smtp.ErrAuthFailed
			}
			return nil
		}
	}
	want, ok := lookup(creds, user)
	if !ok || subtle.ConstantTimeCompare([]byte(want), []byte(secret)) != 1 {
		return smtp.ErrAuthFailed
	}
	return nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.cs.mu.Lock()
	authed := ss.cs.authed
	ss.cs.mu.Unlock()
	if (len(ss.s.opts.users) > 0 || len(ss.s.opts.tokens) > 0) && !authed {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.cs.mu.Lock()
	reject := ss.cs.dataReject
	ss.cs.dataReject = nil
	m := Message{
		Conn: ss.cs.id, From: ss.from, To: slices.Clone(ss.to), Data: data,
		TLS: ss.cs.tls, AuthMechanism: ss.cs.authMech, AuthUser: ss.cs.authUser, HELO: ss.cs.helo,
		Time: time.Now(),
	}
	ss.cs.mu.Unlock()
	if reject != nil {
		return reject
	}
	if pm, err := mail.ReadMessage(bytes.NewReader(data)); err == nil {
		m.Header = pm.Header
	}
	ss.s.addMessage(m)
	return nil
}

func (ss *session) Reset() {
	ss.from, ss.to = "", nil
}

func (ss *session) Logout() error { return nil }

// parseReply turns "451 4.3.0 text" into an SMTPError for go-smtp to send.
func parseReply(reply string) *smtp.SMTPError {
	e := &smtp.SMTPError{Code: 451, EnhancedCode: smtp.NoEnhancedCode, Message: reply}
	if len(reply) >= 3 {
		code := 0
		for _, ch := range reply[:3] {
			if ch < '0' || ch > '9' {
				return e
			}
			code = code*10 + int(ch-'0')
		}
		e.Code = code
		e.Message = strings.TrimSpace(reply[3:])
		head, rest, _ := strings.Cut(e.Message, " ")
		var ec smtp.EnhancedCode
		if n, _ := sscanCode(head, &ec); n == 3 {
			e.EnhancedCode = ec
			e.Message = rest
		}
	}
	return e
}

func sscanCode(s string, ec *smtp.EnhancedCode) (int, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return 0, nil
	}
	for i, p := range parts {
		n := 0
		if p == "" || len(p) > 3 {
			return i, nil
		}
		for _, ch := range p {
			if ch < '0' || ch > '9' {
				return i, nil
			}
			n = n*10 + int(ch-'0')
		}
		ec[i] = n
	}
	return 3, nil
}

package mailer

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"

	"github.com/wneessen/go-mail/smtp"
)

// session is the client side of an SMTP session up to the first mail
// transaction: greeting, EHLO, STARTTLS and AUTH (the SASL mechanisms are
// go-mail's). Every reply is read through a replyReader, so the bounds on
// replies and the scrubbing of secrets hold from the greeting on, before
// and after STARTTLS.
type session struct {
	// Text carries the commands and replies of the transactions.
	Text *textproto.Conn

	nc      net.Conn // the connection under Text: TCP, or TLS over it
	rr      *replyReader
	secrets *scrubber
	tap     *tap // WithTranscript's listener, or nil
	tls     bool
	ext     map[string]string // EHLO keywords in upper case, and their parameters
}

// errSTARTTLSInjection means the server sent more than its 220 reply to
// STARTTLS before the TLS handshake: text that someone on the path may have
// injected, to be read as a reply after the upgrade (CVE-2011-0411).
// errUnexpectedChallenge means the server sent a challenge the mechanism
// could not answer.
var errUnexpectedChallenge = fmt.Errorf("%w: unexpected challenge from the server", ErrAuth)

var errSTARTTLSInjection = textproto.ProtocolError("data after the reply to STARTTLS, before the TLS handshake")

// newSession starts a session on nc and reads the greeting.
func newSession(nc net.Conn, secrets *scrubber, tp *tap) (*session, error) {
	s := &session{secrets: secrets, tap: tp}
	_, s.tls = nc.(*tls.Conn)
	s.attach(nc)
	if _, _, err := s.Text.ReadResponse(220); err != nil {
		return nil, err
	}
	return s, nil
}

// attach makes nc the connection of the session.
func (s *session) attach(nc net.Conn) {
	s.nc = nc
	s.rr = newReplyReader(nc, s.secrets)
	s.tap.tls(nc)
	r, w := s.tap.wrap(s.rr, nc)
	s.Text = textproto.NewConn(struct {
		io.Reader
		io.Writer
		io.Closer
	}{r, w, nc})
}

// buffered returns the number of octets received from the server and not
// yet read as a reply.
func (s *session) buffered() int { return s.Text.R.Buffered() + s.rr.buffered() }

// Close closes the connection.
func (s *session) Close() error { return s.Text.Close() }

// cmd sends one command and reads its reply.
func (s *session) cmd(expect int, format string, args ...any) (int, string, error) {
	id, err := s.Text.Cmd(format, args...)
	if err != nil {
		return 0, "", err
	}
	s.Text.StartResponse(id)
	defer s.Text.EndResponse(id)
	return s.Text.ReadResponse(expect)
}

// hello says EHLO and records the extensions offered. A server that
// refuses EHLO gets HELO, and no extension is used.
func (s *session) hello(name string) error {
	_, msg, err := s.cmd(250, "EHLO %s", name)
	if err != nil {
		var tp *textproto.Error
		if !errors.As(err, &tp) || tp.Code == 421 {
			return err
		}
		if _, _, herr := s.cmd(250, "HELO %s", name); herr != nil {
			return err
		}
		s.ext = nil
		return nil
	}
	s.ext = parseEHLO(msg)
	return nil
}

// parseEHLO returns the extensions of an EHLO reply. Keywords are
// case-insensitive (RFC 5321 section 2.4): they are kept in upper case.
func parseEHLO(msg string) map[string]string {
	lines := strings.Split(msg, "\n")
	ext := make(map[string]string, len(lines))
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(l), " ")
		if k != "" {
			ext[strings.ToUpper(k)] = v
		}
	}
	return ext
}

// Extension reports whether the server offers the extension named ext, in
// any case, and its parameters.
func (s *session) Extension(ext string) (bool, string) {
	v, ok := s.ext[strings.ToUpper(ext)]
	return ok, v
}

// startTLS sends STARTTLS, does the handshake, and says EHLO again over
// the secured connection (RFC 3207 section 4.2: the client discards what
// it knew of the server).
func (s *session) startTLS(cfg *tls.Config, name string) error {
	if _, _, err := s.cmd(220, "STARTTLS"); err != nil {
		return err
	}
	// Whatever the server sent after its reply, before the handshake, is
	// dropped with the old reader: someone on the path may have injected
	// it, to be read as a reply after the upgrade (CVE-2011-0411).
	tc := tls.Client(s.nc, cfg)
	if err := tc.Handshake(); err != nil {
		return err
	}
	s.attach(tc)
	s.tls, s.ext = true, nil
	return s.hello(name)
}

// auth runs the SASL exchange of a (RFC 4954). A refusal is returned as
// the server's *textproto.Error.
func (s *session) auth(a smtp.Auth, host string) error {
	_, list := s.Extension("AUTH")
	mech, resp, err := a.Start(&smtp.ServerInfo{Name: host, TLS: s.tls, Auth: strings.Fields(list)})
	if err != nil {
		return err
	}
	enc := base64.StdEncoding
	line := "AUTH " + mech
	if len(resp) > 0 {
		line += " " + enc.EncodeToString(resp)
	}
	code, msg, err := s.cmd(0, "%s", line)
	for err == nil {
		var challenge []byte
		switch code {
		case 334:
			challenge, err = enc.DecodeString(msg)
		case 235:
			challenge = []byte(msg)
		default:
			return &textproto.Error{Code: code, Msg: msg}
		}
		if err == nil {
			resp, err = a.Next(challenge, code == 334)
		}
		if err != nil {
			if code == 334 {
				// Cancel the exchange (RFC 4954 section 4).
				_, _, _ = s.cmd(0, "*")
			}
			// Not the mechanism's error: it may quote the challenge.
			return errUnexpectedChallenge
		}
		if resp == nil {
			return nil
		}
		code, msg, err = s.cmd(0, "%s", enc.EncodeToString(resp))
	}
	return err
}

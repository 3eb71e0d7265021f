package mailer

// WithDKIM signs every message the Client sends with DKIM (see [DKIM]).
// Send signs the message once: a large one before its first attempt, by
// rendering it into the signer (streamed: a large attachment is read and
// hashed, never held); a small one while it is rendered for its first
// attempt, as the server answers MAIL, RCPT and DATA. Every attempt writes
// the same DKIM-Signature field followed by the same rendering (a Message
// renders to the same bytes each time), so retries send identical bytes.
// Attachment files are read again at each attempt and must not change
// during the Send. SendRaw signs the bytes it is given the
// same way; a Client that relays messages already signed by their author
// may simply go without WithDKIM, or sign on top.
//
// A message whose From domain does not align with d fails before anything
// is sent, with a *SendError wrapping a *DKIMAlignmentError
// ([ErrDKIMAlignment]). WithDKIM fails with a *ConfigError when d is
// invalid (see [NewDKIMSigner]).
func WithDKIM(d DKIM) Option {
	return func(c *config) error {
		s, err := NewDKIMSigner(d)
		if err != nil {
			return err
		}
		c.dkim = s
		return nil
	}
}

// payloadFor returns the payload of Send(m), signed when the Client signs.
// A small message (one rendered ahead into memory) is signed while it is
// rendered for its first attempt, as the server answers MAIL, RCPT and
// DATA (see conn.renderSigned); its From alignment is checked at once. A
// large one is signed before the first attempt, so that no connection
// waits for it.
func (c *Client) payloadFor(m *Message) (payload, error) {
	p := payloadOf(m)
	s := c.cfg.dkim
	if s == nil {
		return p, nil
	}
	if !prerenderable(m) {
		sig, err := s.signMessage(m)
		if err != nil {
			return payload{}, dkimFailed(err, m.messageID)
		}
		p.sig = sig
		p.size += int64(len(sig))
		return p, nil
	}
	if !domainsAlign(domainOf(m.from.Address), s.domain) {
		return payload{}, dkimFailed(&DKIMAlignmentError{Domain: s.domain, From: m.from.Address}, m.messageID)
	}
	p.signer = s
	p.size += sigSizeEstimate
	return p, nil
}

// sigSizeEstimate is what a DKIM-Signature field adds to the SIZE= of a
// message signed as it is rendered: more than an RSA 4096 signature takes.
const sigSizeEstimate = 1200

// signTee passes a message being rendered to the connection's stuffer and
// to a DKIM pass.
type signTee struct {
	st   *stuffer
	pass *dkimPass
}

func (t *signTee) Write(b []byte) (int, error) {
	t.st.writeRaw(b)
	return t.pass.Write(b)
}

// renderSigned renders p's message into the connection's body buffer, as
// render does, and signs it on the way: the DKIM pass reads the rendering
// as it is written, so the message is rendered once, in the sending
// goroutine, while the server answers the commands. The signature is kept
// in p, and every later attempt renders the same bytes again (a Message
// renders identically each time) behind the same signature.
func (cn *conn) renderSigned(p *payload) ([]byte, error) {
	pass := p.signer.newPass()
	cn.tee = signTee{st: &cn.stuff, pass: pass}
	body, err := cn.renderTo(p.msg, &cn.tee)
	cn.tee = signTee{}
	if err != nil {
		donePass(pass)
		return body, err
	}
	sig, err := p.signer.sign(pass, false) // From was checked by payloadFor
	if err != nil {
		return body, err
	}
	p.sig = sig
	return body, nil
}

// signRaw signs the raw message of p when the Client signs.
func (c *Client) signRaw(p *payload) error {
	if c.cfg.dkim == nil {
		return nil
	}
	s := c.cfg.dkim
	pass := s.newPass()
	_, _ = pass.Write(p.raw)
	sig, err := s.sign(pass, true)
	if err != nil {
		return dkimFailed(err, p.messageID)
	}
	p.sig = sig
	p.size += int64(len(sig))
	return nil
}

// dkimFailed is the error of a message that could not be signed: nothing
// was sent, and retrying would fail the same way.
func dkimFailed(err error, messageID string) *SendError {
	return &SendError{Stage: StageNone, MessageID: messageID, Err: err}
}

// WithDKIMSigner is WithDKIM with a signer already made by
// [NewDKIMSigner], which several Clients may share. A nil s turns signing
// off.
func WithDKIMSigner(s *DKIMSigner) Option {
	return func(c *config) error {
		c.dkim = s
		return nil
	}
}

package mailer

// WithDKIM signs every message the Client sends with DKIM (see [DKIM]).
// Send signs the message once, before its first attempt: the message is
// rendered once into the signer (streamed: a large attachment is read and
// hashed, never held), and every attempt then writes the same
// DKIM-Signature field followed by the same rendering, so retries send
// identical bytes. Attachment files are read again at each attempt and
// must not change during the Send. SendRaw signs the bytes it is given the
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
func (c *Client) payloadFor(m *Message) (payload, error) {
	p := payloadOf(m)
	if c.cfg.dkim == nil {
		return p, nil
	}
	sig, err := c.cfg.dkim.signMessage(m)
	if err != nil {
		return payload{}, dkimFailed(err, m.messageID)
	}
	p.sig = []byte(sig)
	p.size += int64(len(sig))
	return p, nil
}

// signRaw signs the raw message of p when the Client signs.
func (c *Client) signRaw(p *payload) error {
	if c.cfg.dkim == nil {
		return nil
	}
	sig, err := c.cfg.dkim.Signature(p.raw)
	if err != nil {
		return dkimFailed(err, p.messageID)
	}
	p.sig = []byte(sig)
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

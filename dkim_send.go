package mailer

import (
	"bufio"
	"bytes"
	"sync"
)

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
// A small message (one rendered ahead into memory) is signed in the
// background while the attempt connects and the server answers MAIL, RCPT
// and DATA, so that the signature costs a Send little time; its From
// alignment is checked at once. A large one is signed before the first
// attempt, so that no connection waits for it.
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
		p.sig = []byte(sig)
		p.size += int64(len(sig))
		return p, nil
	}
	if !domainsAlign(domainOf(m.from.Address), s.domain) {
		return payload{}, dkimFailed(&DKIMAlignmentError{Domain: s.domain, From: m.from.Address}, m.messageID)
	}
	ps := &pendingSig{done: make(chan struct{})}
	go func() {
		// Render once, into memory: the signature is computed over these
		// bytes and every attempt sends them (see payload.rendered).
		defer close(ps.done)
		rb := renderBufs.Get().(*renderBuf)
		rb.buf.Reset()
		rb.bw.Reset(&rb.buf)
		err := m.write(rb.bw)
		if ferr := rb.bw.Flush(); err == nil {
			err = ferr
		}
		if err != nil {
			ps.err = err
			renderBufs.Put(rb)
			return
		}
		sig, err := s.Signature(rb.buf.Bytes())
		ps.sig, ps.err, ps.rb = []byte(sig), err, rb
	}()
	p.pending = ps
	p.size += sigSizeEstimate
	return p, nil
}

// sigSizeEstimate is what a DKIM-Signature field adds to the SIZE= of a
// message signed in the background: more than an RSA 4096 signature takes.
const sigSizeEstimate = 1200

// pendingSig is a signature computed in the background, with the
// rendering of the message it signs.
type pendingSig struct {
	done chan struct{}
	sig  []byte
	err  error
	rb   *renderBuf // the message as rendered once; nil after an error
}

// renderBuf holds a message rendered into memory.
type renderBuf struct {
	buf bytes.Buffer
	bw  *bufio.Writer
}

// renderBufs recycles the buffers of messages signed in the background.
var renderBufs = sync.Pool{New: func() any {
	rb := new(renderBuf)
	rb.bw = bufio.NewWriterSize(&rb.buf, 4096)
	return rb
}}

// rendered returns the message as the background signer rendered it, for
// the attempt to send instead of rendering it again, or nil.
func (p *payload) rendered() []byte {
	if p.pending == nil {
		return nil
	}
	<-p.pending.done
	if p.pending.rb == nil {
		return nil
	}
	return p.pending.rb.buf.Bytes()
}

// signature returns the DKIM-Signature field to write before the message
// (nil when the Client does not sign), waiting for it if needed.
func (p *payload) signature() ([]byte, error) {
	if p.pending != nil {
		<-p.pending.done
		return p.pending.sig, p.pending.err
	}
	return p.sig, nil
}

// settle waits for a background signature, so that none outlives its
// Send, and recycles its buffer.
func (p *payload) settle() {
	if p.pending != nil {
		<-p.pending.done
		if rb := p.pending.rb; rb != nil && rb.buf.Cap() <= 4*maxPrerender {
			p.pending.rb = nil
			rb.bw.Reset(nil)
			renderBufs.Put(rb)
		}
	}
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

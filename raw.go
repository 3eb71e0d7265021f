package mailer

import (
	"bytes"
	"context"
	"errors"
	"strings"
)

// Sender is what sends mail. *Client satisfies it, and so can failover or
// round-robin groups of Clients, an outbox, or a fake in a test: anything
// that stands where a Client stands.
type Sender interface {
	// Send delivers a built message; see [Client.Send].
	Send(ctx context.Context, m *Message) (Receipt, error)
	// SendRaw delivers an already rendered message; see [Client.SendRaw].
	SendRaw(ctx context.Context, env Envelope, msg []byte) (Receipt, error)
}

var _ Sender = (*Client)(nil)

// payload is what a delivery sends: the envelope and either a built
// Message, rendered at each attempt, or the bytes of a raw message.
type payload struct {
	from      string      // reverse-path; "" is the null sender <>
	rcpts     []string    // recipients, each once
	msg       *Message    // the message to render, or nil
	raw       []byte      // the raw message when msg is nil
	size      int64       // size declared with SIZE=, 0 for none
	smtputf8  bool        // ask for SMTPUTF8 even for ASCII addresses
	eightBit  bool        // the raw message holds 8-bit octets: BODY=8BITMIME
	dsn       DSN         // DSN parameters, sent when the server offers DSN
	messageID string      // for receipts, events, errors and logs
	sig       []byte      // a DKIM-Signature field written before the message (dkim_send.go)
	signer    *DKIMSigner // signs the message at its first rendering, when sig is nil
}

// payloadOf returns the payload of Send(m).
func payloadOf(m *Message) payload {
	return payload{from: m.envelopeFrom(), rcpts: m.rcpts, msg: m, size: m.sizeEstimate(), dsn: m.dsn, messageID: m.messageID,
		smtputf8: m.utf8Headers}
}

// SendRaw delivers msg, an already rendered RFC 5322 message (headers, a
// blank line, the body), to env.To with env.From as MAIL FROM. It goes
// through the same pool, TLS, authentication, pipelining, rate limit,
// retry policy, reply classification, hooks and logs as [Client.Send],
// and returns the same Receipt and *SendError.
//
// msg is sent as it is, except for what SMTP requires: line ends are
// written as CRLF (a bare LF or bare CR becomes CRLF, so that no "SMTP
// smuggling" sequence reaches the server), a line break is added at the
// end if missing, and lines starting with a dot are dot-stuffed. Every
// attempt sends the same bytes. msg is read in place, never copied whole,
// and must not change until SendRaw returns. SendRaw neither checks nor
// changes the headers: Bcc addresses belong in env.To only.
//
// A msg that holds 8-bit octets (a body sent as 8bit) is declared with
// BODY=8BITMIME (RFC 6152) to a server that offers 8BITMIME.
//
// The Message-ID header of msg, if any, is the MessageID of the Receipt,
// events and errors. When the server offers SIZE (RFC 1870), MAIL FROM
// declares the exact size, and a message larger than the server's limit
// fails at once with a [*SizeError], nothing sent.
//
// An invalid envelope (no recipient, a malformed address, bad DSN values)
// or an empty msg fails at once with a *FieldError naming the field
// ("Envelope.To", …) and nothing is sent. To send a [Message] this way,
// use its [Message.Envelope] and [Message.Bytes].
func (c *Client) SendRaw(ctx context.Context, env Envelope, msg []byte) (Receipt, error) {
	rcpts, err := env.check()
	if err == nil && len(bytes.TrimSpace(msg)) == 0 {
		err = &FieldError{Field: "msg", Err: errEmptyMessage}
	}
	if err != nil {
		return Receipt{}, err
	}
	if !c.acquire() {
		return Receipt{}, ErrClientClosed
	}
	defer c.inflight.Done()
	p := payload{
		from: env.From, rcpts: rcpts, raw: msg, size: rawSize(msg), smtputf8: env.SMTPUTF8, dsn: env.DSN,
		messageID: rawMessageID(msg), eightBit: has8Bit(msg),
	}
	if err := c.signRaw(&p); err != nil {
		return Receipt{}, err
	}
	ctx, release := c.watch(ctx)
	defer release()
	return c.send(ctx, p)
}

var errEmptyMessage = errors.New("mailer: empty message")

// has8Bit reports whether msg holds an octet above 127, which SMTP may
// carry only as 8BITMIME (RFC 6152).
func has8Bit(msg []byte) bool {
	for _, b := range msg {
		if b >= 0x80 {
			return true
		}
	}
	return false
}

// rawMessageID returns the Message-ID of a raw message without angle
// brackets, or "" if its header has none. It reads only the header.
func rawMessageID(msg []byte) string {
	for len(msg) > 0 {
		i := bytes.IndexByte(msg, '\n')
		line := msg
		if i >= 0 {
			line, msg = msg[:i], msg[i+1:]
		} else {
			msg = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			return "" // end of the header
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || !strings.EqualFold(string(bytes.TrimRight(name, " \t")), "Message-ID") {
			continue
		}
		// Unfold: continuation lines start with white space.
		v := string(value)
		for len(msg) > 0 && (msg[0] == ' ' || msg[0] == '\t') {
			j := bytes.IndexByte(msg, '\n')
			if j < 0 {
				j = len(msg) - 1
			}
			v += string(bytes.TrimSuffix(msg[:j], []byte("\r")))
			msg = msg[j+1:]
		}
		v = strings.TrimSpace(v)
		if start := strings.IndexByte(v, '<'); start >= 0 {
			if end := strings.IndexByte(v[start:], '>'); end > 0 {
				v = v[start+1 : start+end]
			}
		}
		return strings.TrimSpace(v)
	}
	return ""
}

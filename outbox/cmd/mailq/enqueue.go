package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"os"
	"strings"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/outbox"
)

// batch is how many messages one transaction stores.
const batch = 1000

type (
	enqueueMany func(context.Context, []*mailer.Message, ...outbox.EnqueueOption) ([]string, error)
	enqueueRaw  func(context.Context, mailer.Envelope, []byte, ...outbox.EnqueueOption) (string, error)
)

// enqueue stores -n messages built from the flags, or copies of -eml,
// and prints their Message-IDs.
func (c *command) enqueue(ctx context.Context, many enqueueMany, raw enqueueRaw) error {
	if c.eml != "" {
		return c.enqueueEML(ctx, raw)
	}
	var msgs []*mailer.Message
	flush := func() error {
		ids, err := many(ctx, msgs)
		if err != nil {
			return err
		}
		for _, id := range ids {
			fmt.Fprintln(c.stdout, id)
		}
		msgs = msgs[:0]
		return nil
	}
	for i := 1; i <= c.n; i++ {
		m, err := c.build(i)
		if err != nil {
			return usagef("%v", err)
		}
		msgs = append(msgs, m)
		if len(msgs) == batch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if len(msgs) > 0 {
		return flush()
	}
	return nil
}

// build makes copy i of the message the flags describe.
func (c *command) build(i int) (*mailer.Message, error) {
	b := mailer.NewMessage().From(c.from).To(c.to...).Cc(c.cc...).Bcc(c.bcc...)
	if c.replyTo != "" {
		b.ReplyTo(c.replyTo)
	}
	subject := c.subject
	if c.n > 1 {
		subject = strings.TrimSpace(fmt.Sprintf("%s #%d", subject, i))
	}
	b.Subject(subject)
	text, html := c.text, c.html
	if c.textFile != "" {
		t, err := os.ReadFile(c.textFile)
		if err != nil {
			return nil, err
		}
		text = string(t)
	}
	if c.htmlFile != "" {
		h, err := os.ReadFile(c.htmlFile)
		if err != nil {
			return nil, err
		}
		html = string(h)
	}
	if text != "" {
		b.Text(text)
	}
	if html != "" {
		b.HTML(html)
	}
	for _, path := range c.attach {
		b.AttachFile(path)
	}
	for _, h := range c.headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			return nil, fmt.Errorf(`-header %q: want "Name: value"`, h)
		}
		b.Header(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	return b.Build()
}

// enqueueEML stores the -eml file as is, once or -n times; copies get
// Message-IDs of their own, and so does a file without one.
func (c *command) enqueueEML(ctx context.Context, raw enqueueRaw) error {
	data, err := os.ReadFile(c.eml)
	if err != nil {
		return usagef("-eml: %v", err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return usagef("-eml %s: %v", c.eml, err)
	}
	env := mailer.Envelope{From: c.from, To: append(append(append([]string(nil), c.to...), c.cc...), c.bcc...)}
	ap := addressParser()
	if env.From == "" && msg.Header.Get("From") != "" {
		a, err := ap.Parse(msg.Header.Get("From"))
		if err != nil {
			return usagef("-eml %s: From: %v; give -from", c.eml, err)
		}
		env.From = a.Address
	}
	if len(env.To) == 0 {
		for _, h := range []string{"To", "Cc"} {
			if msg.Header.Get(h) == "" {
				continue
			}
			as, err := ap.ParseList(msg.Header.Get(h))
			if err != nil {
				return usagef("-eml %s: %s: %v; give -to", c.eml, h, err)
			}
			for _, a := range as {
				env.To = append(env.To, a.Address)
			}
		}
	}
	if len(env.To) == 0 {
		return usagef("-eml %s has no To or Cc; give -to", c.eml)
	}
	domain := "mailq.localdomain"
	if _, d, ok := strings.Cut(env.From, "@"); ok && d != "" {
		domain = d
	}
	keepID := c.n == 1 && msg.Header.Get("Message-Id") != ""
	for i := 1; i <= c.n; i++ {
		body := data
		if !keepID {
			body = withMessageID(data, newID(i, domain))
		}
		id, err := raw(ctx, env, body)
		if err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, id)
	}
	return nil
}

// addressParser reads the addresses of a message's header for its
// envelope. Display names are not used, so an encoded word in a charset
// net/mail does not know (GB2312, GBK, Big5 …) is left undecoded instead
// of failing the whole field.
func addressParser() *mail.AddressParser {
	return &mail.AddressParser{WordDecoder: &mime.WordDecoder{
		CharsetReader: func(_ string, r io.Reader) (io.Reader, error) { return r, nil },
	}}
}

func newID(i int, domain string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return fmt.Sprintf("%s.%d@%s", hex.EncodeToString(b), i, domain)
}

// withMessageID returns data with its Message-ID header (if any) replaced
// by one holding id.
func withMessageID(data []byte, id string) []byte {
	var out bytes.Buffer
	out.WriteString("Message-ID: <" + id + ">\r\n")
	inHeader, skipping := true, false
	for line := range bytes.Lines(data) {
		if inHeader {
			trimmed := bytes.TrimRight(line, "\r\n")
			if len(trimmed) == 0 {
				inHeader = false
			} else if skipping && (line[0] == ' ' || line[0] == '\t') {
				continue
			} else {
				skipping = len(trimmed) > 11 && strings.EqualFold(string(trimmed[:11]), "message-id:")
				if skipping {
					continue
				}
			}
		}
		out.Write(line)
	}
	return out.Bytes()
}

// Package corpus makes the messages of the whole-process benchmarks
// (bench/cmd/...): the same personalised messages of about 2 KB that
// examples/bulk builds, for the baselines that send them.
package corpus

import (
	"fmt"
	"strings"
)

// From is the sender of every message, as examples/bulk's default.
const From = "bulk@localhost.localdomain"

// Content returns the recipient, subject, text and HTML of message i
// (counting from 0), exactly as examples/bulk's build makes them: about
// 1 KB of text and 1 KB of HTML.
func Content(i int) (to, subject, text, html string) {
	name := fmt.Sprintf("Customer %d", i+1)
	order := 100000 + i
	var t, h strings.Builder
	fmt.Fprintf(&t, "Hello %s,\n\nyour order #%d has shipped and should arrive within three days.\n\n", name, order)
	fmt.Fprintf(&h, "<p>Hello %s,</p>\n<p>your order <b>#%d</b> has shipped and should arrive within three days.</p>\n", name, order)
	for line := 1; t.Len() < 1000; line++ {
		fmt.Fprintf(&t, "Item %d: a useful thing, quantity 1, shipped from warehouse %d.\n", line, i%7+1)
		fmt.Fprintf(&h, "<p>Item %d: a useful thing, quantity 1, shipped from warehouse %d.</p>\n", line, i%7+1)
	}
	return fmt.Sprintf("user%d@example.com", i+1), fmt.Sprintf("Your order #%d has shipped", order), t.String(), h.String()
}

// Wire returns message i as the DATA of an SMTP transaction: the same
// headers and multipart/alternative structure as this package renders,
// built by plain appends, CRLF line ends, dot-stuffed (no line of the
// content starts with a dot) and followed by the final dot. It is what the
// raw pipelining ceiling sends.
func Wire(b []byte, i int) []byte {
	to, subject, text, html := Content(i)
	const boundary = "=_phnlce2ozqmebflssb7rt3avyq"
	b = append(b, "Date: Wed, 02 Dec 2026 03:20:02 +0000\r\nFrom: "...)
	b = append(b, From...)
	b = append(b, "\r\nTo: "...)
	b = append(b, to...)
	b = append(b, "\r\nSubject: "...)
	b = append(b, subject...)
	b = fmt.Appendf(b, "\r\nMessage-ID: <%024d@localhost.localdomain>\r\n", i)
	b = append(b, "User-Agent: postkit-mailer\r\nX-Mailer: postkit-mailer\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: multipart/alternative; boundary=\""+boundary+"\"\r\n\r\n"...)
	for _, part := range [...]struct{ typ, body string }{{"text/plain", text}, {"text/html", html}} {
		b = append(b, "--"+boundary+"\r\nContent-Type: "...)
		b = append(b, part.typ...)
		b = append(b, "; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"...)
		b = append(b, strings.ReplaceAll(part.body, "\n", "\r\n")...)
		b = append(b, "\r\n"...)
	}
	return append(b, "--"+boundary+"--\r\n.\r\n"...)
}

package gateway

import (
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"io"
	"mime"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"time"
)

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuffer() *bytes.Buffer { return bufPool.Get().(*bytes.Buffer) }

func putBuffer(b *bytes.Buffer) {
	if b.Cap() > 1<<20 {
		return // keep big messages' memory out of the pool
	}
	b.Reset()
	bufPool.Put(b)
}

var idEncoding = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// newID returns a random 16-character reference, used as session and
// message id and quoted in replies (ref …).
func newID() string {
	var b [10]byte
	rand.Read(b[:])
	return idEncoding.EncodeToString(b[:])
}

func itoa(n int) string { return strconv.Itoa(n) }

// receivedLine is the one header line the gateway adds (RFC 5321 4.4).
func (s *session) receivedLine(tx *txState) string {
	proto := "ESMTP"
	if tx.utf8 {
		proto = "UTF8SMTP"
	}
	if s.tls {
		proto += "S"
	}
	proto += "A"
	return "Received: from " + cleanToken(s.conn.Hostname()) + " ([" + s.gc.ip + "])\r\n\tby " +
		cleanToken(tx.snap.hostname) + " (mailgate) with " + proto + " id " + tx.id + "\r\n\t(tenant " +
		tx.t.name + "); " + s.g.now().UTC().Format(time.RFC1123Z) + "\r\n"
}

// addMessageID puts a Message-ID field, <id@hostname>, into buf (the
// gateway's Received: line, at, then the client's message) just under
// the Received: line, and returns it. The client's bytes move down in
// place.
func addMessageID(buf *bytes.Buffer, at int, id, hostname string) string {
	mid := "<" + id + "@" + cleanToken(hostname) + ">"
	line := "Message-ID: " + mid + "\r\n"
	n := buf.Len()
	buf.WriteString(line)
	b := buf.Bytes()
	copy(b[at+len(line):], b[at:n])
	copy(b[at:], line)
	return mid
}

// cleanToken keeps a name to the characters of a host name or address
// literal, so a client's EHLO cannot inject header syntax.
func cleanToken(s string) string {
	if s == "" {
		return "unknown"
	}
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(".-_:[]", c) >= 0) {
			b[i] = '_'
		}
	}
	if len(b) > 255 {
		b = b[:255]
	}
	return string(b)
}

// cleanText strips control characters and truncates, for audit fields a
// client chose.
func cleanText(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > n {
		s = s[:n]
	}
	return s
}

// hasBareCRLF reports whether msg has a CR not followed by LF or an LF not
// preceded by CR, the stuff of SMTP smuggling.
func hasBareCRLF(msg []byte) bool {
	crlf := bytes.Count(msg, []byte("\r\n"))
	return bytes.Count(msg, []byte{'\n'}) != crlf || bytes.Count(msg, []byte{'\r'}) != crlf
}

// maxHeaderBytes bounds a message's header section (gateway.md c.3),
// the body may be as large as the tenant allows.
const maxHeaderBytes = 64 << 10

// headerSize is the length of msg's header section: up to and including
// the CRLF of its last field, without the blank line; all of msg if it
// has no blank line.
func headerSize(msg []byte) int {
	if bytes.HasPrefix(msg, []byte("\r\n")) {
		return 0
	}
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		return i + 2
	}
	return len(msg)
}

// headerInfo is what the gateway reads from a message's header.
type headerInfo struct {
	from      []string
	fromBad   bool
	sender    []string
	messageID string
	// hasMessageID: the header has a Message-ID field (even an empty one).
	hasMessageID bool
	received     int
}

// scanHeader reads the header fields the policy needs. It is false for a
// header that does not parse (a line with no colon before the blank line).
func scanHeader(msg []byte) (headerInfo, bool) {
	var h headerInfo
	end := bytes.Index(msg, []byte("\r\n\r\n"))
	if bytes.HasPrefix(msg, []byte("\r\n")) {
		end = 0
	}
	if end < 0 {
		end = len(msg)
	}
	hdr := msg[:end]
	var name string
	var value []byte
	flush := func() bool {
		if name == "" {
			return true
		}
		switch strings.ToLower(name) {
		case "received":
			h.received++
		case "from":
			addrs, ok := parseAddrs(string(value))
			h.from = append(h.from, addrs...)
			h.fromBad = h.fromBad || !ok
		case "sender":
			addrs, ok := parseAddrs(string(value))
			h.sender = append(h.sender, addrs...)
			h.fromBad = h.fromBad || !ok
		case "message-id":
			h.hasMessageID = true
			h.messageID = cleanText(strings.TrimSpace(string(value)), 200)
		}
		return true
	}
	for len(hdr) > 0 {
		line := hdr
		if i := bytes.Index(hdr, []byte("\r\n")); i >= 0 {
			line, hdr = hdr[:i], hdr[i+2:]
		} else {
			hdr = nil
		}
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			if name == "" {
				return h, false
			}
			value = append(value, line...)
			continue
		}
		flush()
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || bytes.ContainsAny(line[:colon], " \t") {
			return h, false
		}
		name, value = string(line[:colon]), append([]byte(nil), line[colon+1:]...)
	}
	flush()
	return h, true
}

var addrParser = mail.AddressParser{WordDecoder: &mime.WordDecoder{
	// Only the addresses matter here; display names in any charset pass.
	CharsetReader: func(_ string, r io.Reader) (io.Reader, error) { return r, nil },
}}

func parseAddrs(v string) ([]string, bool) {
	list, err := addrParser.ParseList(v)
	if err != nil {
		return nil, false
	}
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = a.Address
	}
	return out, true
}

// headerSendersAllowed checks From (one at least) and Sender against the
// tenant's senders.
func headerSendersAllowed(t *tenant, h headerInfo) bool {
	if h.fromBad || len(h.from) == 0 {
		return false
	}
	for _, a := range append(h.from, h.sender...) {
		if !matchSender(t.senders, a) {
			return false
		}
	}
	return true
}

// needsSMTPUTF8 reports whether tx has UTF-8 where only SMTPUTF8 (RFC
// 6531) allows it: in an envelope address or the header. UTF-8 in the
// body needs only 8BITMIME. Go's net/smtp asks for SMTPUTF8 whenever the
// server offers it; passing that on for an ASCII message would make an
// upstream without the extension refuse it.
func needsSMTPUTF8(tx *Transaction) bool {
	if !isASCII(tx.From) {
		return true
	}
	for _, r := range tx.To {
		if !isASCII(r) {
			return true
		}
	}
	h := tx.Message
	if end := bytes.Index(h, []byte("\r\n\r\n")); end >= 0 {
		h = h[:end]
	}
	for _, b := range h {
		if b >= 0x80 {
			return true
		}
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

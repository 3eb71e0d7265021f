package mailer

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// ParseAddress parses "name@example.com" or "Name <name@example.com>" with
// this package's strict rules, which are narrower than RFC 5322 so that
// every accepted address means the same thing to every mail system:
//
//   - no control, zero-width or bidirectional-override characters anywhere;
//   - no quoted local parts, comments, groups or IP-literal domains;
//   - a local part of at most 64 octets that does not start with "-" and has
//     no empty dot-separated atom; an address of at most 254 octets;
//   - a domain of valid labels; internationalised (IDN) labels are accepted
//     and sent as punycode.
//
// Non-ASCII local parts are accepted here; sending them needs a server that
// offers SMTPUTF8. Errors wrap [ErrInvalidAddress].
func ParseAddress(s string) (Address, error) {
	if s == "" {
		return Address{}, fmt.Errorf("%w: empty", ErrInvalidAddress)
	}
	if !utf8.ValidString(s) {
		return Address{}, fmt.Errorf("%w: invalid UTF-8", ErrInvalidAddress)
	}
	for _, r := range s {
		if isControl(r) {
			return Address{}, fmt.Errorf("%w: contains control character %U", ErrInvalidAddress, r)
		}
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return Address{}, fmt.Errorf("%w: %s", ErrInvalidAddress, strings.TrimPrefix(err.Error(), "mail: "))
	}
	if err := checkAddrSpec(a.Address); err != nil {
		return Address{}, err
	}
	return Address{Name: a.Name, Address: a.Address}, nil
}

func checkAddrSpec(addr string) error {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return fmt.Errorf("%w: want local@domain", ErrInvalidAddress)
	}
	local, domain := addr[:at], addr[at+1:]
	if len(addr) > 254 {
		return fmt.Errorf("%w: longer than 254 octets", ErrInvalidAddress)
	}
	if len(local) > 64 {
		return fmt.Errorf("%w: local part longer than 64 octets", ErrInvalidAddress)
	}
	if strings.HasPrefix(local, "-") {
		return fmt.Errorf("%w: local part starts with '-'", ErrInvalidAddress)
	}
	for _, atom := range strings.Split(local, ".") {
		if atom == "" {
			return fmt.Errorf("%w: empty atom in local part (leading, trailing or double dot)", ErrInvalidAddress)
		}
	}
	for _, r := range local {
		if r < utf8.RuneSelf && !isAtext(byte(r)) && r != '.' {
			return fmt.Errorf("%w: character %q not allowed in local part", ErrInvalidAddress, r)
		}
		if r >= utf8.RuneSelf && !unicode.IsPrint(r) {
			return fmt.Errorf("%w: character %U not allowed in local part", ErrInvalidAddress, r)
		}
	}
	if _, err := asciiDomain(domain); err != nil {
		return err
	}
	return nil
}

// asciiDomain validates domain and returns its ASCII (punycode) form.
func asciiDomain(domain string) (string, error) {
	if strings.HasPrefix(domain, "[") {
		return "", fmt.Errorf("%w: IP-literal domains are not accepted", ErrInvalidAddress)
	}
	ascii, err := idna.Lookup.ToASCII(domain)
	if err != nil {
		return "", fmt.Errorf("%w: domain %s: %s", ErrInvalidAddress, quoteValue(domain), strings.TrimPrefix(err.Error(), "idna: "))
	}
	if len(ascii) > 253 || strings.HasSuffix(ascii, ".") {
		return "", fmt.Errorf("%w: invalid domain %s", ErrInvalidAddress, quoteValue(domain))
	}
	for _, label := range strings.Split(ascii, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", fmt.Errorf("%w: invalid domain %s", ErrInvalidAddress, quoteValue(domain))
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return "", fmt.Errorf("%w: invalid domain %s", ErrInvalidAddress, quoteValue(domain))
			}
		}
	}
	return ascii, nil
}

// envelopeAddress returns addr for MAIL FROM or RCPT TO: the domain in
// punycode, and whether the local part needs SMTPUTF8.
func envelopeAddress(addr string) (string, bool) {
	at := strings.LastIndexByte(addr, '@')
	local, domain := addr[:at], addr[at+1:]
	if ascii, err := asciiDomain(domain); err == nil {
		domain = ascii
	}
	return local + "@" + domain, !isASCII(local)
}

// isAtext reports whether c is an RFC 5322 atext character.
func isAtext(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// isControl reports whether r must never appear in a header or address:
// C0 and C1 controls, DEL, and invisible format characters that can
// disguise text (zero-width and bidirectional overrides).
func isControl(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r >= 0x200b && r <= 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0xfeff:
		return true
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// newMessageID returns a unique Message-ID (without brackets) whose right
// side is the sender's domain, so that it reveals no local host name.
func newMessageID(from string) string {
	domain := "localhost"
	if at := strings.LastIndexByte(from, '@'); at >= 0 {
		if ascii, err := asciiDomain(from[at+1:]); err == nil {
			domain = strings.ToLower(ascii)
		}
	}
	var b [15]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])) + "@" + domain
}

// checkHeaderValue rejects values that could break out of a header.
func checkHeaderValue(v string) error {
	if !utf8.ValidString(v) {
		return fmt.Errorf("%w: invalid UTF-8", ErrInvalidHeader)
	}
	for _, r := range v {
		if r == '\t' {
			continue
		}
		if r == '\r' || r == '\n' {
			return fmt.Errorf("%w: contains a line break", ErrInvalidHeader)
		}
		if isControl(r) {
			return fmt.Errorf("%w: contains control character %U", ErrInvalidHeader, r)
		}
	}
	return nil
}

// managedHeaders are set by the builder and cannot be set with Header.
var managedHeaders = []string{
	"from", "sender", "to", "cc", "bcc", "reply-to", "subject", "date", "message-id",
	"mime-version", "return-path", "content-type", "content-transfer-encoding",
	"content-disposition", "content-id",
}

var errManagedHeader = errors.New("is set by the message builder; use its method")

// checkHeaderName applies RFC 5322 section 2.2: printable ASCII except
// colon, and refuses headers the builder manages.
func checkHeaderName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty name", ErrInvalidHeader)
	}
	if len(name) > 76 {
		return fmt.Errorf("%w: name longer than 76 characters", ErrInvalidHeader)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 33 || c > 126 || c == ':' {
			return fmt.Errorf("%w: character %q not allowed in a field name", ErrInvalidHeader, rune(c))
		}
	}
	lower := strings.ToLower(name)
	for _, m := range managedHeaders {
		if lower == m || strings.HasPrefix(lower, "content-") {
			return fmt.Errorf("%w: %s %w", ErrInvalidHeader, name, errManagedHeader)
		}
	}
	return nil
}

package mailer

import (
	"crypto/rand"
	"encoding/base32"
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
//   - no quoted local parts, comments, groups or IP-literal domains, and
//     no display name that decodes to control characters;
//   - a local part of at most 64 octets that does not start with "-" and has
//     no empty dot-separated atom; an address of at most 254 octets;
//   - a domain of valid labels; internationalised (IDN) labels are accepted
//     and sent as punycode.
//
// Non-ASCII local parts are accepted here; sending them needs a server that
// offers SMTPUTF8. Errors wrap [ErrInvalidAddress].
func ParseAddress(s string) (Address, error) {
	if plainAddrSpec(s) {
		return Address{Address: s}, nil // what the checks below would return, without them
	}
	return parseAddress(s)
}

// parseAddress is ParseAddress through net/mail and the checks, for any s.
func parseAddress(s string) (Address, error) {
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
	if err := checkSpecials(s); err != nil {
		return Address{}, err
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return Address{}, fmt.Errorf("%w: %s", ErrInvalidAddress, parseReason(s, err))
	}
	// The display name may have been decoded from encoded words in s.
	for _, r := range a.Name {
		if isControl(r) || r == utf8.RuneError {
			return Address{}, fmt.Errorf("%w: display name contains %U", ErrInvalidAddress, r)
		}
	}
	if err := checkAddrSpec(a.Address); err != nil {
		return Address{}, err
	}
	return Address{Name: a.Name, Address: a.Address}, nil
}

// plainAddrSpec reports whether s is a bare addr-spec of the plainest
// kind, the one on the hot path of Build: a dot-atom local part of ASCII
// atext, "@", and a domain of ASCII letter-digit-hyphen labels, within the
// length limits, with no label holding "--" (which could be punycode, left
// to the IDNA checks). Such an s passes every check of ParseAddress
// unchanged, so ParseAddress returns it as the address without net/mail
// and IDNA (FuzzPlainAddrSpec compares the two on every input).
func plainAddrSpec(s string) bool {
	at := strings.IndexByte(s, '@')
	if at <= 0 || at > 64 || len(s) > 254 || s[0] == '-' {
		return false
	}
	prev := byte('.') // a dot-atom neither starts nor ends with a dot, nor has two in a row
	for i := 0; i < at; i++ {
		c := s[i]
		if c == '.' {
			if prev == '.' {
				return false
			}
		} else if c >= utf8.RuneSelf || !isAtext(c) {
			return false
		}
		prev = c
	}
	if prev == '.' {
		return false
	}
	return plainDomainLDH(s[at+1:])
}

// plainDomainLDH reports whether d is a domain of ASCII letter-digit-hyphen
// labels within the length limits, none holding "--": one that IDNA
// leaves as it is but for its case.
func plainDomainLDH(d string) bool {
	if len(d) > 253 {
		return false
	}
	label := 0 // octets of the label so far
	for i := 0; i <= len(d); i++ {
		if i == len(d) || d[i] == '.' {
			if label == 0 || label > 63 || d[i-1] == '-' {
				return false
			}
			label = 0
			continue
		}
		c := d[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-':
			if label == 0 || d[i-1] == '-' {
				return false
			}
		default:
			return false
		}
		label++
	}
	return true
}

// checkSpecials refuses, outside quoted strings, the characters of RFC
// 5322 comments, groups and IP literals, which net/mail accepts and
// silently reinterprets: "a@b.com (x)" would become the name "x", and
// "G: a@b.com;" the bare address.
func checkSpecials(s string) error {
	quoted := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quoted && c == '\\':
			i++
		case c == '"':
			if quoted && i+1 < len(s) && s[i+1] == '@' {
				return fmt.Errorf("%w: quoted local parts are not accepted", ErrInvalidAddress)
			}
			quoted = !quoted
		case !quoted && strings.IndexByte("():;[]", c) >= 0:
			return fmt.Errorf("%w: %q outside quotes (comments, groups and IP literals are not accepted)", ErrInvalidAddress, c)
		}
	}
	return nil
}

// parseReason words a net/mail parse error for a person: "missing '@' or
// angle-addr" says little to someone who typed "bob@".
func parseReason(s string, err error) string {
	addr := strings.TrimSpace(s)
	if i := strings.LastIndexByte(addr, '<'); i >= 0 {
		addr = strings.TrimSuffix(addr[i+1:], ">")
	}
	switch at := strings.LastIndexByte(addr, '@'); {
	case at < 0:
		return "want local@domain, such as bob@example.com"
	case at == len(addr)-1:
		return "missing domain after @"
	case at == 0:
		return "missing name before @"
	case !strings.Contains(s, "<") && strings.ContainsAny(addr, " \t"):
		return "spaces are not allowed in an address; write a display name as Name <addr>"
	}
	msg := strings.TrimPrefix(err.Error(), "mail: ")
	return strings.TrimSuffix(msg, ": mail: invalid string")
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

// envelopeAddress returns addr, validated by ParseAddress, with its domain
// in punycode, and whether its local part is non-ASCII (which needs
// SMTPUTF8). It is on every transaction's path, so an address that is
// plain ASCII with a lower-case LDH domain, which the conversion would
// leave as it is, is returned without it.
func envelopeAddress(addr string) (string, bool) {
	at := strings.LastIndexByte(addr, '@')
	local, domain := addr[:at], addr[at+1:]
	asciiLocal := isASCII(local)
	if asciiLocal && plainDomain(domain) {
		return addr, false
	}
	if ascii, err := asciiDomain(domain); err == nil {
		domain = ascii
	}
	return local + "@" + domain, !asciiLocal
}

// plainDomain reports whether d is made only of lower-case letters,
// digits, hyphens and dots.
func plainDomain(d string) bool {
	if d == "" {
		return false
	}
	for i := 0; i < len(d); i++ {
		c := d[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
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
	var b [15]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	var id [24]byte
	messageIDEncoding.Encode(id[:], b[:]) // 15 octets: 24 characters, no padding
	return string(id[:]) + "@" + senderDomain(from)
}

// messageIDEncoding is base32 in lower case: the local part of the
// Message-IDs this package makes.
var messageIDEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// addressTokens writes a as tokens of the field in progress, which may be
// separated by folding white space: the display name's atoms (or one
// quoted string, or RFC 2047 encoded words, the first at most first
// octets long) and "<addr-spec>", or the bare addr-spec when a has no
// name. sep (empty or ",") ends the last token. The domain is written in
// ASCII (punycode) unless the local part is itself non-ASCII, which needs
// SMTPUTF8 and RFC 6532 headers anyway. It reports false when the field
// failed.
func (h *headerBlock) addressTokens(a Address, first int, sep string, utf8OK bool) bool {
	spec := headerAddrSpec(a.Address)
	if a.Name == "" {
		return h.token("", spec, sep, utf8OK)
	}
	switch {
	case isAtomPhrase(a.Name):
		for w := range strings.SplitSeq(a.Name, " ") {
			if !h.token("", w, "", utf8OK) {
				return false
			}
		}
	case isPlainQuotable(a.Name):
		if !h.token("", quotePhrase(a.Name), "", utf8OK) {
			return false
		}
	default:
		for _, w := range encodeWords(a.Name, first) {
			if !h.token("", w, "", utf8OK) {
				return false
			}
		}
	}
	end := ">"
	if sep == "," {
		end = ">,"
	}
	return h.token("<", spec, end, utf8OK)
}

// headerAddrSpec returns addr as written in a header: as in the envelope,
// except that an address with a non-ASCII local part keeps its Unicode
// domain (RFC 6532 headers).
func headerAddrSpec(addr string) string {
	if strings.IndexByte(addr, '@') < 0 {
		return addr
	}
	spec, utf8Local := envelopeAddress(addr)
	if utf8Local {
		return addr
	}
	return spec
}

// isAtomPhrase reports whether name can be written as a phrase of atoms
// separated by single spaces, which every parser reads back unchanged.
func isAtomPhrase(name string) bool {
	if len(name) > 60 {
		return false
	}
	for w := range strings.SplitSeq(name, " ") {
		if w == "" {
			return false
		}
		for i := 0; i < len(w); i++ {
			if !isAtext(w[i]) {
				return false
			}
		}
	}
	return !strings.Contains(name, "=?")
}

// isPlainQuotable reports whether name can be written as a quoted string
// on one line: printable ASCII, no "=?" that a reader could decode.
func isPlainQuotable(name string) bool {
	if len(name) > 60 || strings.Contains(name, "=?") {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// quotePhrase returns name as an RFC 5322 quoted-string.
func quotePhrase(name string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(name); i++ {
		if name[i] == '"' || name[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(name[i])
	}
	b.WriteByte('"')
	return b.String()
}

// addressList writes an address header: the addresses separated by commas,
// folded between tokens.
func (h *headerBlock) addressList(name string, addrs []Address) {
	if len(addrs) == 0 {
		return
	}
	utf8OK := false
	for _, a := range addrs {
		utf8OK = utf8OK || !isASCII(headerAddrSpec(a.Address))
	}
	if !h.begin(name) {
		return
	}
	for i, a := range addrs {
		budget, sep := encodedWordMax, ","
		if i == 0 {
			budget = firstWordBudget(name)
		}
		if i == len(addrs)-1 {
			sep = ""
		}
		if !h.addressTokens(a, budget, sep, utf8OK) {
			return
		}
	}
	h.end()
}

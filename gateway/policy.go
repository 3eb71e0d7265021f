package gateway

import (
	"fmt"
	"path"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"github.com/postkit/mailer"
)

// senderPattern normalises a sender rule: "a@example.com" or "@example.com",
// lower case.
func senderPattern(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	at := strings.LastIndexByte(s, '@')
	if at < 0 || at == len(s)-1 || strings.ContainsAny(s, " <>*\x00\r\n") || strings.Count(s, "@") != 1 {
		return "", false
	}
	return s, true
}

// matchSender reports whether addr matches one of patterns (from
// senderPattern).
func matchSender(patterns []string, addr string) bool {
	a := strings.ToLower(addr)
	at := strings.LastIndexByte(a, '@')
	if at <= 0 {
		return false
	}
	dom := a[at:]
	for _, p := range patterns {
		if p == a || p == dom {
			return true
		}
	}
	return false
}

func validRcptPattern(p string) bool {
	p = strings.TrimSpace(p)
	if p == "" || !strings.Contains(p, "@") && !strings.HasPrefix(p, "*.") {
		return false
	}
	_, err := path.Match(strings.ToLower(p), "x@y")
	return err == nil
}

// canonDomain returns domain in the form the mailer sends it upstream:
// IDNA's mapping (lower case, full-width forms, ideographic full stops)
// and punycode, without a trailing dot. Recipient rules compare this
// form, so that no other spelling of a denied domain reaches it. A
// domain IDNA refuses is only lower-cased (the mailer refuses it too).
func canonDomain(d string) string {
	d = strings.ToLower(d)
	if !plainASCIIDomain(d) {
		if a, err := idna.Lookup.ToASCII(d); err == nil {
			d = a
		}
	}
	return strings.TrimSuffix(d, ".")
}

// plainASCIIDomain reports whether d has only what IDNA leaves as it is:
// lower-case letters, digits, hyphens and dots, and no label that could
// be punycode.
func plainASCIIDomain(d string) bool {
	for i := 0; i < len(d); i++ {
		c := d[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return !strings.Contains(d, "--")
}

// canonRcpt returns addr as recipient rules see it: the local part in
// lower case, the domain in canonDomain form.
func canonRcpt(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	return strings.ToLower(addr[:at+1]) + canonDomain(addr[at+1:])
}

// rcptPattern compiles a recipient rule (validRcptPattern): lower case,
// and its domain in canonDomain form, the form recipients are compared
// in. A glob's domain is converted label by label: a label without glob
// characters (*?[\) as canonDomain converts it (IDNA mapping and
// punycode: "bücher" becomes "xn--bcher-kva", "ｃompetitor"
// "competitor"), a glob label kept as written. A glob label with a
// non-ASCII character ("bü*") is an error (*rcptPatternError): it
// would be compared with punycode labels, where it cannot match
// reliably.
func rcptPattern(p string) (string, error) {
	p = strings.ToLower(strings.TrimSpace(p))
	if strings.HasPrefix(p, "*.") {
		return "*." + canonDomain(p[2:]), nil
	}
	at := strings.LastIndexByte(p, '@')
	if at < 0 {
		return p, nil
	}
	dom := p[at+1:]
	if !strings.ContainsAny(dom, globChars) {
		return p[:at+1] + canonDomain(dom), nil
	}
	labels := globLabels(dom)
	for i, l := range labels {
		if !strings.ContainsAny(l, globChars) {
			labels[i] = canonDomain(l)
			continue
		}
		for _, r := range l {
			if r >= utf8.RuneSelf {
				return p, &rcptPatternError{label: l}
			}
		}
	}
	return p[:at+1] + strings.TrimSuffix(strings.Join(labels, "."), "."), nil
}

// globChars are the characters that make a pattern a glob (path.Match).
const globChars = "*?[\\"

// rcptPatternError says why a recipient glob cannot be compiled.
type rcptPatternError struct{ label string }

func (e *rcptPatternError) Error() string {
	return fmt.Sprintf("label %q mixes glob characters with non-ASCII ones, which cannot match reliably: "+
		"recipients are compared in IDNA ASCII form (punycode); write the label without a glob, or its xn-- form", e.label)
}

// globLabels splits a glob's domain into labels at the dots IDNA knows
// (".", "。", "．", "｡") outside a bracket expression and not escaped by
// a backslash, so that "[.]" and "\." stay inside their label. As in
// path.Match, a "]" first in a bracket expression (after an optional
// "^") is one of its characters, not its end.
func globLabels(dom string) []string {
	var (
		labels  []string
		start   int
		inClass bool
		items   int // characters of the bracket expression so far
		escaped bool
	)
	for i, r := range dom {
		switch {
		case escaped:
			escaped = false
			items++
		case r == '\\':
			escaped = true
		case inClass && r == ']' && items > 0:
			inClass = false
		case inClass && r == '^' && items == 0 && dom[i-1] == '[':
		case inClass:
			items++
		case r == '[':
			inClass, items = true, 0
		case r == '.' || r == '\u3002' || r == '\uff0e' || r == '\uff61':
			labels = append(labels, dom[start:i])
			start = i + utf8.RuneLen(r)
		}
	}
	return append(labels, dom[start:])
}

// matchRecipient matches one pattern (from rcptPattern): "user@example.com",
// "@example.com" (the domain), "*.example.com" (its subdomains) or a glob
// such as "*@competitor.example", where "*" and "?" match "/" too (an
// atext character that path.Match treats as a separator).
func matchRecipient(p, addr string) bool {
	a := canonRcpt(addr)
	at := strings.LastIndexByte(a, '@')
	dom := a[at+1:]
	switch {
	case strings.HasPrefix(p, "@"):
		return dom == p[1:]
	case strings.HasPrefix(p, "*."):
		return strings.HasSuffix(dom, p[1:])
	case strings.ContainsAny(p, "*?["):
		ok, _ := path.Match(strings.ReplaceAll(p, "/", "\x00"), strings.ReplaceAll(a, "/", "\x00"))
		return ok
	}
	return p == a
}

// validAddress reports whether addr, an envelope address as go-smtp
// parsed it (quotes removed, a source route dropped), is one the mailer
// sends as it is: mailer.ParseAddress takes it whole, with nothing to
// reinterpret. The mailer refuses any other address, and with it the
// whole message after DATA, so MAIL and RCPT refuse it at once (RFC 5321
// section 3.3: a server checks syntax at MAIL and RCPT).
func validAddress(addr string) bool {
	if strings.ContainsAny(addr, "<>\" ") {
		return false
	}
	a, err := mailer.ParseAddress(addr)
	return err == nil && a.Address == addr && a.Name == ""
}

func (t *tenant) mayFrom(addr string) bool {
	if addr == "" {
		return t.allowNull
	}
	return matchSender(t.senders, addr)
}

func (t *tenant) mayTo(addr string) bool {
	for _, p := range t.deny {
		if matchRecipient(p, addr) {
			return false
		}
	}
	if len(t.allow) == 0 {
		return true
	}
	for _, p := range t.allow {
		if matchRecipient(p, addr) {
			return true
		}
	}
	return false
}

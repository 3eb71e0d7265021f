package gateway

import (
	"path"
	"strings"

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
// and its domain, unless it is a glob, in canonDomain form.
func rcptPattern(p string) string {
	p = strings.ToLower(strings.TrimSpace(p))
	if strings.HasPrefix(p, "*.") {
		return "*." + canonDomain(p[2:])
	}
	at := strings.LastIndexByte(p, '@')
	if at < 0 || strings.ContainsAny(p[at+1:], "*?[\\") {
		return p
	}
	return p[:at+1] + canonDomain(p[at+1:])
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

package gateway

import (
	"path"
	"strings"
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

// matchRecipient matches one pattern: "user@example.com", "@example.com"
// (the domain), "*.example.com" (its subdomains) or a glob such as
// "*@competitor.example".
func matchRecipient(p, addr string) bool {
	a := strings.ToLower(addr)
	at := strings.LastIndexByte(a, '@')
	dom := a[at+1:]
	switch {
	case strings.HasPrefix(p, "@"):
		return dom == p[1:]
	case strings.HasPrefix(p, "*."):
		return strings.HasSuffix(dom, p[1:])
	case strings.ContainsAny(p, "*?["):
		ok, _ := path.Match(p, a)
		return ok
	}
	return p == a
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

package mailer

import (
	"bytes"
	"encoding/base64"
	"slices"
	"strings"
)

// redacted replaces a secret wherever one would be shown.
const redacted = "[REDACTED]"

// A scrubber removes the client's secrets, and the forms in which they
// cross the wire, from text the server sends: a server that echoes the AUTH
// exchange in its reply must not put the password into an error, a log
// line or an event. The nil scrubber removes nothing.
type scrubber struct {
	forms []string // longest first
}

// newScrubber returns a scrubber for the password of a, or nil if a has
// none (XOAUTH2 adds its token once fetched, see add).
func newScrubber(a Auth) *scrubber {
	s := &scrubber{}
	if p := a.secret(); p != "" {
		s.add(p, "\x00"+a.user+"\x00"+p, a.user+"\x00"+a.user+"\x00"+p)
	}
	return s
}

// addToken adds an XOAUTH2 access token and the payload that carries it.
func (s *scrubber) addToken(user, token string) {
	s.add(token, "user="+user+"\x01auth=Bearer "+token+"\x01\x01")
}

// add adds secret (and its base64 forms) and the base64 forms of the
// payloads that carry it.
func (s *scrubber) add(secret string, payloads ...string) {
	enc := base64.RawStdEncoding
	s.forms = append(s.forms, secret, enc.EncodeToString([]byte(secret)))
	for _, p := range payloads {
		s.forms = append(s.forms, enc.EncodeToString([]byte(p)))
	}
	// The secret inside any base64 text, whatever its offset: the part of
	// its encoding that does not depend on the bytes around it. Short
	// cores would match innocent text, so they are left out.
	for shift := 1; shift < 3; shift++ {
		e := enc.EncodeToString(append(make([]byte, shift), secret...))
		full := (shift + len(secret)) / 3 * 4
		if full-4 >= 8 {
			s.forms = append(s.forms, e[4:full])
		}
	}
	if full := len(secret) / 3 * 4; full >= 8 {
		s.forms = append(s.forms, enc.EncodeToString([]byte(secret))[:full])
	}
	s.forms = slices.DeleteFunc(s.forms, func(f string) bool { return f == "" })
	slices.SortFunc(s.forms, func(a, b string) int { return len(b) - len(a) })
	s.forms = slices.Compact(s.forms)
}

// append appends line to dst with every secret replaced.
func (s *scrubber) append(dst, line []byte) []byte {
	if s == nil || len(s.forms) == 0 {
		return append(dst, line...)
	}
	for {
		at, n := -1, 0
		for _, f := range s.forms {
			if i := bytes.Index(line, []byte(f)); i >= 0 && (at < 0 || i < at) {
				at, n = i, len(f)
			}
		}
		if at < 0 {
			return append(dst, line...)
		}
		dst = append(dst, line[:at]...)
		dst = append(dst, redacted...)
		line = line[at+n:]
	}
}

// scrub returns s with every secret replaced.
func (s *scrubber) scrub(text string) string {
	if s == nil || len(s.forms) == 0 {
		return text
	}
	for _, f := range s.forms {
		if strings.Contains(text, f) {
			return string(s.append(nil, []byte(text)))
		}
	}
	return text
}

package mailer

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// maxReplyLen bounds the server text kept in an error, in runes.
const maxReplyLen = 512

// maxCauseLen bounds the text of the underlying error in SendError.Error,
// in runes: a protocol error may quote what a server sent instead of a
// reply.
const maxCauseLen = 1024

// splitReply separates the RFC 3463 enhanced code from the text of a reply
// (lines joined by "\n", as net/textproto returns them) and sanitises the
// text. The code is taken only when its class matches the reply code.
func splitReply(code int, msg string) (EnhancedCode, string) {
	var ec EnhancedCode
	lines := strings.Split(msg, "\n")
	if c, rest, ok := leadingEnhancedCode(code, lines[0]); ok {
		ec = c
		lines[0] = rest
		prefix := c.String() + " "
		for i := 1; i < len(lines); i++ {
			lines[i] = strings.TrimPrefix(lines[i], prefix)
		}
	}
	return ec, sanitizeReply(strings.Join(lines, " "))
}

// leadingEnhancedCode parses the enhanced code at the start of line, the
// first line of a reply with the given code, if its class matches the
// code's.
func leadingEnhancedCode(code int, line string) (EnhancedCode, string, bool) {
	c, rest, ok := parseEnhancedCode(line)
	if !ok || c[0] != code/100 {
		return EnhancedCode{}, line, false
	}
	return c, rest, true
}

// parseEnhancedCode parses "x.y.z rest" with x in 2, 4, 5.
func parseEnhancedCode(s string) (EnhancedCode, string, bool) {
	head, rest, _ := strings.Cut(s, " ")
	var parts [3]string // head split at its dots, without allocating
	for i := range parts {
		var more bool
		parts[i], head, more = strings.Cut(head, ".")
		if more != (i < 2) {
			return EnhancedCode{}, s, false // not exactly three parts
		}
	}
	var c EnhancedCode
	for i, p := range parts {
		if p == "" || len(p) > 3 {
			return EnhancedCode{}, s, false
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return EnhancedCode{}, s, false
		}
		c[i] = n
	}
	if c[0] != 2 && c[0] != 4 && c[0] != 5 {
		return EnhancedCode{}, s, false
	}
	return c, rest, true
}

// sanitizeReply makes server text safe for errors and logs: valid UTF-8
// (GB18030 replies, as QQ Mail sends, are decoded), no control characters,
// single spaces, at most maxReplyLen runes.
func sanitizeReply(s string) string { return sanitizeText(s, maxReplyLen) }

// sanitizeText is sanitizeReply with a bound of limit runes.
func sanitizeText(s string, limit int) string {
	cut := len(s) > limit*utf8.UTFMax // only so much can be kept
	if cut {
		s = s[:limit*utf8.UTFMax]
		// The cut may split a character: drop its first octets, or
		// UTF-8 text would look invalid and be decoded as GB18030.
		for i := 1; i <= utf8.UTFMax && i <= len(s); i++ {
			if utf8.RuneStart(s[len(s)-i]) {
				if !utf8.FullRuneInString(s[len(s)-i:]) {
					s = s[:len(s)-i]
				}
				break
			}
		}
	}
	if !utf8.ValidString(s) {
		if dec, err := simplifiedchinese.GB18030.NewDecoder().String(s); err == nil && utf8.ValidString(dec) && hasHan(dec) {
			s = dec
		} else {
			s = strings.ToValidUTF8(s, "\uFFFD")
		}
	}
	var b strings.Builder
	space := false
	n := 0
	for _, r := range s {
		if r == utf8.RuneError || isControl(r) || unicode.IsSpace(r) {
			if r == utf8.RuneError {
				r = '\uFFFD'
			} else {
				if !space && b.Len() > 0 {
					b.WriteByte(' ')
					n++
				}
				space = true
				continue
			}
		}
		space = false
		if n >= limit {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
		n++
	}
	out := strings.TrimSpace(b.String())
	if cut && !strings.HasSuffix(out, "…") {
		out += "…"
	}
	return out
}

func hasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

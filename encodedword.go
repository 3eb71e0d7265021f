package mailer

import (
	"encoding/base64"
	"unicode/utf8"
)

// RFC 2047 encoded words: how header text that is not plain ASCII is
// split into B or Q words that fit a folded line.

// firstWordBudget is the room for the first encoded word on the line that
// starts with "name: ".
func firstWordBudget(name string) int {
	return max(encodedWordMin, min(encodedWordMax, lineSoftMax-len(name)-2))
}

// encodeWords encodes s as RFC 2047 encoded words in UTF-8, choosing B
// (base64) or Q for the whole value, whichever is shorter: B for CJK text,
// Q for mostly-Latin text. The first word is at most first octets long and
// the others at most encodedWordMax; a word never splits a UTF-8 sequence,
// so each one decodes on its own. Q uses only the characters RFC 2047
// section 5(3) allows in a display name, which are safe in every context.
func encodeWords(s string, first int) []string {
	return encodeWordsIn(s, first, encodedWordMax)
}

// encodeWordsIn is encodeWords with the limit rest for words after the first.
func encodeWordsIn(s string, first, rest int) []string {
	useB := bLen(len(s)) < qLen(s)
	const prefixQ, prefixB = "=?UTF-8?Q?", "=?UTF-8?B?"
	const overhead = len(prefixQ) + 2
	words := make([]string, 0, 1+len(s)/40)
	budget := first
	start, curLen := 0, 0 // the current word is s[start:i], curLen encoded
	flush := func(end int) {
		raw := s[start:end]
		var w []byte
		if useB {
			w = make([]byte, 0, overhead+bLen(len(raw)))
			w = append(w, prefixB...)
			w = base64.StdEncoding.AppendEncode(w, []byte(raw))
		} else {
			w = make([]byte, 0, overhead+curLen)
			w = append(w, prefixQ...)
			for i := 0; i < len(raw); i++ {
				w = appendQ(w, raw[i])
			}
		}
		w = append(w, "?="...)
		words = append(words, string(w))
		start, curLen = end, 0
		budget = rest
	}
	for i := 0; i < len(s); {
		_, size := utf8.DecodeRuneInString(s[i:])
		var add int
		if useB {
			add = bLen(i-start+size) - bLen(i-start)
		} else {
			add = qLen(s[i : i+size])
		}
		if i > start && overhead+curLen+add > budget {
			flush(i)
			if useB {
				add = bLen(size)
			}
		}
		curLen += add
		i += size
	}
	if start < len(s) || len(words) == 0 {
		flush(len(s))
	}
	return words
}

func bLen(n int) int { return (n + 2) / 3 * 4 }

// qLen is the length of s in Q encoding.
func qLen(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if qSafe(s[i]) || s[i] == ' ' {
			n++
		} else {
			n += 3
		}
	}
	return n
}

// qSafe reports whether c stands for itself in Q encoding in every context,
// a display name included (RFC 2047 section 5(3)): letters, digits, "!*+-/".
func qSafe(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return c == '!' || c == '*' || c == '+' || c == '-' || c == '/'
}

const upperHex = "0123456789ABCDEF"

// appendQ appends the Q encoding of c: itself, "_" for a space, or =XX.
func appendQ(dst []byte, c byte) []byte {
	switch {
	case qSafe(c):
		return append(dst, c)
	case c == ' ':
		return append(dst, '_')
	}
	return append(dst, '=', upperHex[c>>4], upperHex[c&15])
}

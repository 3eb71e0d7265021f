package mailer

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Header lines are folded to stay within lineSoftMax octets where the
// content allows (RFC 5322 section 2.1.1 "SHOULD" 78); no line ever exceeds
// lineHardMax (the "MUST" 998).
const (
	lineSoftMax = 76
	lineHardMax = 998
	// encodedWordMax is the longest RFC 2047 encoded word (section 2).
	encodedWordMax = 75
	// encodedWordMin is the smallest budget given to the first encoded word
	// of a header, so that it always shares the line with the field name:
	// a value that starts on a continuation line is read with a leading
	// space by some parsers.
	encodedWordMin = 24
)

// headerBlock accumulates header fields. Every header this package writes,
// at the top of a message or at the top of a MIME part, goes through
// field, the single choke point that refuses field names outside RFC 5322
// ftext and field bodies containing CR, LF, NUL or other controls. The
// builder validates its input before; field is the last line of defence,
// so that no future code path can write an unchecked value.
type headerBlock struct {
	b   []byte
	err error

	// The field in progress (begin, token, end).
	name  string
	start int // where it starts in b
	line  int // octets on its current line
	ntok  int // tokens written
}

// field writes name and the tokens of its value, separated by single
// spaces and folded (CRLF SP) between tokens where a line would grow past
// lineSoftMax. A token is never split. utf8OK allows non-ASCII octets, which
// only address headers with an internationalised local part need (RFC
// 6532).
func (h *headerBlock) field(name string, utf8OK bool, tokens ...string) {
	if !h.begin(name) {
		return
	}
	for _, t := range tokens {
		if !h.token("", t, "", utf8OK) {
			return
		}
	}
	h.end()
}

// fieldWords is field with the tokens of value, which are separated by
// single spaces: fieldWords(name, utf8OK, v) writes what
// field(name, utf8OK, strings.Split(v, " ")...) writes, without the slice.
func (h *headerBlock) fieldWords(name string, utf8OK bool, value string) {
	if !h.begin(name) {
		return
	}
	for {
		t, rest, more := strings.Cut(value, " ")
		if !h.token("", t, "", utf8OK) {
			return
		}
		if !more {
			break
		}
		value = rest
	}
	h.end()
}

// fieldParams writes a media type we formatted ("type/sub; k=v; …"), as
// field does with each item a token and every token but the last ending
// with ";".
func (h *headerBlock) fieldParams(name, ctype string) {
	if !h.begin(name) {
		return
	}
	for {
		t, rest, more := strings.Cut(ctype, "; ")
		suffix := ""
		if more {
			suffix = ";"
		}
		if !h.token("", t, suffix, false) {
			return
		}
		if !more {
			break
		}
		ctype = rest
	}
	h.end()
}

// begin starts the field name; tokens follow, then end. It reports false
// when the block already failed or the name is not allowed.
func (h *headerBlock) begin(name string) bool {
	if h.err != nil {
		return false
	}
	if err := checkFieldName(name); err != nil {
		h.err = err
		return false
	}
	h.name, h.start, h.line, h.ntok = name, len(h.b), len(name)+1, 0
	h.b = append(h.b, name...)
	h.b = append(h.b, ':')
	return true
}

// token writes the token prefix+t+suffix of the field in progress, after a
// space or a fold. On a token that is not allowed it removes the field,
// records the error and reports false.
func (h *headerBlock) token(prefix, t, suffix string, utf8OK bool) bool {
	if err := checkFieldToken(prefix, t, suffix, utf8OK); err != nil {
		h.b = h.b[:h.start]
		h.err = fmt.Errorf("%w: %s: %w", ErrInvalidHeader, h.name, err)
		return false
	}
	n := len(prefix) + len(t) + len(suffix)
	if h.ntok > 0 && h.line+1+n > lineSoftMax {
		h.b = append(h.b, "\r\n"...)
		h.line = 0
	}
	h.ntok++
	h.b = append(h.b, ' ')
	h.b = append(h.b, prefix...)
	h.b = append(h.b, t...)
	h.b = append(h.b, suffix...)
	h.line += 1 + n
	if h.line > lineHardMax {
		h.b = h.b[:h.start]
		h.err = fmt.Errorf("%w: %s: line longer than %d octets", ErrInvalidHeader, h.name, lineHardMax)
		return false
	}
	return true
}

// end ends the field in progress.
func (h *headerBlock) end() { h.b = append(h.b, "\r\n"...) }

// unstructured writes an unstructured field such as Subject (RFC 5322
// section 3.2.5): as it is when it is printable ASCII that folds cleanly,
// otherwise as RFC 2047 encoded words, so that every reader decodes exactly
// the input, spaces included.
func (h *headerBlock) unstructured(name, value string) {
	h.unstructuredIn(name, value, lineSoftMax)
}

// custom writes a custom header's value as unstructured does, except that
// printable ASCII is written as it is even when a token makes its line
// longer than lineSoftMax, up to lineHardMax: programs read such headers
// (a mail provider's X-MSYS-API or X-Mailgun-Variables JSON) without
// decoding encoded words.
func (h *headerBlock) custom(name, value string) {
	h.unstructuredIn(name, value, lineHardMax)
}

// unstructuredIn is unstructured with lines of plain text up to limit.
func (h *headerBlock) unstructuredIn(name, value string, limit int) {
	if value == "" {
		h.field(name, false)
		return
	}
	var buf [16]string // room for the tokens of most values, on the stack
	if toks, ok := plainTokens(buf[:0], value, len(name)+1, limit); ok {
		h.field(name, false, toks...)
		return
	}
	h.field(name, false, encodeWords(value, firstWordBudget(name))...)
}

// checkFieldName applies RFC 5322 section 2.2: printable ASCII except colon.
func checkFieldName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty field name", ErrInvalidHeader)
	}
	if len(name) > 76 {
		return fmt.Errorf("%w: field name longer than 76 characters", ErrInvalidHeader)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 33 || c > 126 || c == ':' {
			return fmt.Errorf("%w: character %q not allowed in a field name", ErrInvalidHeader, rune(c))
		}
	}
	return nil
}

// checkFieldToken refuses the token prefix+t+suffix (prefix and suffix
// are ASCII) if it could end a header line or hide in one: CR, LF, NUL,
// any other ASCII control (tab included: tokens are joined by the writer),
// DEL, and non-ASCII octets unless allowed.
func checkFieldToken(prefix, t, suffix string, utf8OK bool) error {
	if len(prefix)+len(t)+len(suffix) == 0 {
		return fmt.Errorf("empty token")
	}
	for _, part := range [...]string{prefix, t, suffix} {
		for i := 0; i < len(part); i++ {
			c := part[i]
			switch {
			case c == '\r' || c == '\n':
				return fmt.Errorf("contains a line break")
			case c < 0x20 || c == 0x7f:
				return fmt.Errorf("contains control character %U", rune(c))
			case c >= utf8.RuneSelf && !utf8OK:
				return fmt.Errorf("contains a non-ASCII octet")
			}
		}
	}
	if utf8OK && !utf8.ValidString(t) {
		return fmt.Errorf("invalid UTF-8")
	}
	return nil
}

// plainTokens splits an unstructured value for writing as it is. It
// reports false when the value must be encoded instead: non-ASCII or
// control characters, text that a reader would take for an encoded word,
// leading or trailing white space (parsers trim it), or a line that cannot
// be folded within limit at a single space. Folding happens only at a
// single space between two non-space characters: parsers differ in what
// they keep of longer runs of white space at a fold (net/textproto keeps
// one space), and a single space survives them all. Lines are folded
// before a token that would take them past lineSoftMax; limit bounds the
// line a long token makes.
//
// The tokens are appended to dst.
func plainTokens(dst []string, v string, nameLen, limit int) ([]string, bool) {
	if v == "" || v[0] == ' ' || v[len(v)-1] == ' ' || strings.Contains(v, "=?") {
		return nil, false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c > 0x7e {
			return nil, false
		}
	}
	toks := dst
	start := 0
	for i := 1; i < len(v)-1; i++ {
		if v[i] == ' ' && v[i-1] != ' ' && v[i+1] != ' ' {
			toks = append(toks, v[start:i])
			start = i + 1
		}
	}
	toks = append(toks, v[start:])
	line := nameLen
	for i, t := range toks {
		if i > 0 && line+1+len(t) > lineSoftMax {
			line = 0
		}
		line += 1 + len(t)
		if line > limit {
			return nil, false
		}
	}
	return toks, true
}

// fileParams returns the parameter tokens that name a file: for the
// Content-Type "name" and for the Content-Disposition "filename".
//
// A short printable-ASCII name is written as a quoted string in both. Any
// other name is written as RFC 2231 "filename*" (percent-encoded UTF-8,
// split into continuations of at most paramChunk octets, each ending on a
// character boundary) and, because QQ webmail and some older clients
// read only "name", as RFC 2047 encoded words inside the quoted "name"
// parameter, as Thunderbird and Nodemailer write it. The encoded words
// are separate tokens, so the line may fold between them.
func fileParams(name string) (ctype, disp []string) {
	if plainParamValue(name) {
		q := `"` + name + `"`
		return []string{"name=" + q}, []string{"filename=" + q}
	}
	// Room for the quote and the folding space: each token fits in 76.
	words := encodeWordsIn(name, encodedWordMax-len(`name="`)-1, encodedWordMax-1)
	ctype = make([]string, len(words))
	for i, w := range words {
		switch {
		case len(words) == 1:
			w = `name="` + w + `"`
		case i == 0:
			w = `name="` + w
		case i == len(words)-1:
			w += `"`
		}
		ctype[i] = w
	}
	return ctype, rfc2231("filename", name)
}

// paramChunk bounds the value part of one RFC 2231 continuation.
const paramChunk = 60

// plainParamValue reports whether v can be written as a plain quoted string
// that every reader takes literally: printable ASCII without quote,
// backslash or "=?", short enough to share a line.
func plainParamValue(v string) bool {
	if v == "" || len(v) > paramChunk || strings.Contains(v, "=?") {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// rfc2231 encodes the parameter attr=v as RFC 2231 extended parameters:
// attr*=UTF-8”%XX… or, when long, attr*0*=UTF-8”…; attr*1*=…; …
func rfc2231(attr, v string) []string {
	// Each parameter is one token, written after a folding space and
	// followed by ";": keep it within lineSoftMax.
	limit := func(n int) int {
		prefix := len(attr) + len(fmt.Sprintf("*%d*=", n))
		if n == 0 {
			prefix += len("UTF-8''")
		}
		return lineSoftMax - 2 - prefix
	}
	var chunks []string
	var cur []byte
	for i := 0; i < len(v); {
		_, size := utf8.DecodeRuneInString(v[i:])
		enc := make([]byte, 0, 3*size)
		for j := i; j < i+size; j++ {
			if isAttrChar(v[j]) {
				enc = append(enc, v[j])
			} else {
				enc = append(enc, '%', upperHex[v[j]>>4], upperHex[v[j]&15])
			}
		}
		if len(cur) > 0 && len(cur)+len(enc) > limit(len(chunks)) {
			chunks = append(chunks, string(cur))
			cur = cur[:0]
		}
		cur = append(cur, enc...)
		i += size
	}
	chunks = append(chunks, string(cur))
	if len(chunks) == 1 {
		return []string{attr + "*=UTF-8''" + chunks[0]}
	}
	out := make([]string, len(chunks))
	for i, c := range chunks {
		prefix := ""
		if i == 0 {
			prefix = "UTF-8''"
		}
		out[i] = fmt.Sprintf("%s*%d*=%s%s", attr, i, prefix, c)
	}
	return out
}

// isAttrChar reports whether c may appear unencoded in an RFC 2231
// extended value (attribute-char of RFC 2231 section 7, minus the
// characters some readers treat specially).
func isAttrChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", c) >= 0
}

// withSemicolons appends ";" to every token of each group but the last
// one, and joins the groups: the tokens of a header with parameters.
func withSemicolons(groups ...[]string) []string {
	var out []string
	for gi, g := range groups {
		for i, t := range g {
			if i == len(g)-1 && gi < len(groups)-1 {
				t += ";"
			}
			out = append(out, t)
		}
	}
	return out
}

// checkHeaderValue rejects a header value given by the user that could
// break out of its header or hide in it: invalid UTF-8, CR, LF, NUL and
// every other control character except tab, and the invisible characters
// that [isControl] lists, except the zero-width joiners and marks that
// emoji sequences and scripts such as Persian need (U+200B to U+200F).
func checkHeaderValue(v string) error {
	if !utf8.ValidString(v) {
		return fmt.Errorf("%w: invalid UTF-8", ErrInvalidHeader)
	}
	for _, r := range v {
		switch {
		case r == '\t', r >= 0x200b && r <= 0x200f:
			continue
		case r == '\r' || r == '\n':
			return fmt.Errorf("%w: contains a line break", ErrInvalidHeader)
		case isControl(r):
			return fmt.Errorf("%w: contains control character %U", ErrInvalidHeader, r)
		}
	}
	return nil
}

// managedHeaders are written by the builder, by servers or by the Client,
// and cannot be set with [MessageBuilder.Header]; neither can any
// "Content-*" header. Each comes with the advice given instead.
var managedHeaders = map[string]string{
	"from":                  "use MessageBuilder.From",
	"sender":                "is not written: From names the sender; to receive bounces at another address, use MessageBuilder.EnvelopeFrom",
	"to":                    "use MessageBuilder.To",
	"cc":                    "use MessageBuilder.Cc",
	"bcc":                   "use MessageBuilder.Bcc (never written into the message)",
	"reply-to":              "use MessageBuilder.ReplyTo",
	"subject":               "use MessageBuilder.Subject",
	"date":                  "use MessageBuilder.Date",
	"message-id":            "use MessageBuilder.MessageID",
	"mime-version":          "is always written as 1.0",
	"return-path":           "is added by the receiving server from the envelope sender: use MessageBuilder.EnvelopeFrom",
	"received":              "is added by the servers the message passes through",
	"dkim-signature":        "is added when the Client signs the message: use WithDKIM",
	"list-unsubscribe":      "use MessageBuilder.ListUnsubscribe",
	"list-unsubscribe-post": "use MessageBuilder.OneClickUnsubscribe",
	"x-priority":            "use MessageBuilder.Priority",
	"x-msmail-priority":     "use MessageBuilder.Priority",
	"importance":            "use MessageBuilder.Priority",
	"priority":              "use MessageBuilder.Priority",
	"user-agent":            "use MessageBuilder.UserAgent",
	"x-mailer":              "use MessageBuilder.UserAgent",
}

// contentAdvice is the advice for Content-* headers.
const contentAdvice = "is written from the body and attachment methods (Text, HTML, AttachBytes…, Embed…; an attachment's type with ContentType)"

// checkHeaderName applies RFC 5322 section 2.2 (printable ASCII except
// colon) and refuses the headers the builder manages.
func checkHeaderName(name string) error {
	if err := checkFieldName(name); err != nil {
		return err
	}
	lower := strings.ToLower(name)
	if advice, ok := managedHeaders[lower]; ok {
		return fmt.Errorf("%w: %s: %s", ErrInvalidHeader, name, advice)
	}
	if strings.HasPrefix(lower, "content-") {
		return fmt.Errorf("%w: %s: %s", ErrInvalidHeader, name, contentAdvice)
	}
	return nil
}

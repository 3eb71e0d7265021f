package templates

import "strings"

// htmlState follows an HTML document as it is written, far enough to say
// where the next byte goes: between elements, inside an attribute value or
// <title>, or somewhere a marker would not survive the HTML parser.
type htmlState struct {
	st      int
	tag     strings.Builder // the name of the tag being read, lower case
	attr    strings.Builder // the name of the attribute being read, lower case
	valAttr string          // the attribute whose value is being read
	closing bool            // the tag is an end tag
	rawEnd  string          // in raw text: "</title", "</style", …
}

// States of htmlState.
const (
	stText     = iota // between elements
	stTagName         // after "<" or "</"
	stTag             // inside a tag, between attributes
	stAttrName        // reading an attribute name
	stAfterEq         // after "=", before the value
	stValueDQ         // in a "…" value
	stValueSQ         // in a '…' value
	stValueUnq        // in an unquoted value
	stComment         // in <!-- … -->
	stRCDATA          // in <title> or <textarea>: text, no elements
	stRaw             // in <style>, <script> and the like
)

// Places a marker can go.
const (
	inText = iota
	inValue
	nowhere
)

// where says where a marker written now would be.
func (h *htmlState) where() int {
	switch h.st {
	case stText:
		return inText
	case stValueDQ, stValueSQ, stValueUnq:
		switch h.valAttr {
		case "class", "id", "style":
			return nowhere // the inliner reads them
		}
		return inValue
	case stRCDATA:
		return inValue
	}
	return nowhere
}

func (h *htmlState) feed(b []byte) {
	s := string(b)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch h.st {
		case stText:
			switch {
			case strings.HasPrefix(s[i:], "<!--"):
				h.st = stComment
				i += 3
			case c == '<' && i+1 < len(s) && (isASCIILetter(s[i+1]) || s[i+1] == '/' || s[i+1] == '!'):
				h.st, h.closing = stTagName, s[i+1] == '/'
				h.tag.Reset()
				if h.closing {
					i++
				}
			}
		case stTagName:
			if isASCIILetter(c) || c >= '0' && c <= '9' || c == '!' {
				h.tag.WriteByte(lower(c))
				continue
			}
			h.st = stTag
			i--
		case stTag:
			switch {
			case c == '>':
				h.endTag()
			case c == '=':
				h.st = stAfterEq
				h.valAttr = h.attr.String()
			case isSpace(c) || c == '/':
			default:
				h.st = stAttrName
				h.attr.Reset()
				h.attr.WriteByte(lower(c))
			}
		case stAttrName:
			switch {
			case c == '=':
				h.st, h.valAttr = stAfterEq, h.attr.String()
			case c == '>':
				h.endTag()
			case isSpace(c) || c == '/':
				h.st = stTag
			default:
				h.attr.WriteByte(lower(c))
			}
		case stAfterEq:
			switch {
			case c == '"':
				h.st = stValueDQ
			case c == '\'':
				h.st = stValueSQ
			case c == '>':
				h.endTag()
			case isSpace(c):
			default:
				h.st = stValueUnq
			}
		case stValueDQ:
			if c == '"' {
				h.st = stTag
			}
		case stValueSQ:
			if c == '\'' {
				h.st = stTag
			}
		case stValueUnq:
			switch {
			case isSpace(c):
				h.st = stTag
			case c == '>':
				h.endTag()
			}
		case stComment:
			if strings.HasPrefix(s[i:], "-->") {
				h.st = stText
				i += 2
			}
		case stRCDATA, stRaw:
			if c == '<' && len(s)-i >= len(h.rawEnd) && strings.EqualFold(s[i:i+len(h.rawEnd)], h.rawEnd) {
				h.st, h.closing = stTag, true
				i += len(h.rawEnd) - 1
			}
		}
	}
}

// endTag handles the ">" that ends a tag.
func (h *htmlState) endTag() {
	h.st = stText
	if h.closing {
		return
	}
	switch name := h.tag.String(); name {
	case "title", "textarea":
		h.st, h.rawEnd = stRCDATA, "</"+name
	case "style", "script", "xmp", "iframe", "noembed", "noframes", "noscript", "plaintext":
		h.st, h.rawEnd = stRaw, "</"+name
	}
}

func isASCIILetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

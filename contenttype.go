package mailer

import (
	"mime"
	"net/http"
	"path"
	"strings"
	"unicode/utf8"
)

// sniffLen is how much of an attachment is read to guess its type, as
// net/http.DetectContentType reads.
const sniffLen = 512

// commonTypes maps the extensions most often attached to transactional
// mail to their media types. It is consulted before mime.TypeByExtension,
// whose answers depend on the host's mime.types files, so that the same
// message is written the same way on every machine.
var commonTypes = map[string]string{
	".pdf": "application/pdf", ".zip": "application/zip", ".gz": "application/gzip",
	".json": "application/json", ".xml": "application/xml", ".ics": "text/calendar",
	".csv": "text/csv", ".txt": "text/plain", ".htm": "text/html", ".html": "text/html",
	".md": "text/markdown", ".eml": "application/octet-stream", // see leafType
	".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
	".webp": "image/webp", ".svg": "image/svg+xml", ".ico": "image/vnd.microsoft.icon",
	".bmp": "image/bmp", ".avif": "image/avif",
	".mp3": "audio/mpeg", ".mp4": "video/mp4", ".wav": "audio/wav",
	".doc": "application/msword", ".xls": "application/vnd.ms-excel",
	".ppt":  "application/vnd.ms-powerpoint",
	".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
	".odt":  "application/vnd.oasis.opendocument.text", ".ods": "application/vnd.oasis.opendocument.spreadsheet",
	".7z": "application/x-7z-compressed", ".rar": "application/vnd.rar", ".tar": "application/x-tar",
}

// contentType returns the media type of an attachment named name whose
// content starts with head: from the extension if it is known, otherwise
// sniffed from head, otherwise application/octet-stream. Text types get
// "charset=utf-8" when head is valid UTF-8. The result is rebuilt from
// parsed tokens, so whatever the host's mime.types holds, only a clean
// "type/subtype[; charset=utf-8]" reaches a header.
func contentType(name string, head []byte) string {
	ext := strings.ToLower(path.Ext(name))
	t := commonTypes[ext]
	if t == "" && ext != "" {
		t = mime.TypeByExtension(ext)
	}
	if t == "" {
		t = http.DetectContentType(head)
	}
	mt, _, err := mime.ParseMediaType(t)
	if err != nil || !isMediaType(mt) || !leafType(mt) {
		mt = "application/octet-stream"
	}
	if strings.HasPrefix(mt, "text/") && utf8.Valid(trimPartialRune(head)) {
		return mt + "; charset=utf-8"
	}
	return mt
}

// trimPartialRune drops a UTF-8 sequence cut off at the end of head.
func trimPartialRune(head []byte) []byte {
	for i := 1; i <= utf8.UTFMax && i <= len(head); i++ {
		if utf8.RuneStart(head[len(head)-i]) {
			if !utf8.FullRune(head[len(head)-i:]) {
				return head[:len(head)-i]
			}
			break
		}
	}
	return head
}

// leafType reports whether an attachment can be written with media type
// mt (lower case) in base64, as every attachment is: not a multipart type,
// which needs a boundary and parts, nor a message type, whose body must
// not be encoded (RFC 2046 sections 5.1 and 5.2; Python's email package
// reads a base64 message/rfc822 part as an empty message). An attached
// .eml file goes as application/octet-stream: readers decode it to its
// exact bytes and mail clients open it by its name.
func leafType(mt string) bool {
	return !strings.HasPrefix(mt, "multipart/") && !strings.HasPrefix(mt, "message/")
}

// isMediaType reports whether mt is "type/subtype" of RFC 2045 token
// characters.
func isMediaType(mt string) bool {
	typ, sub, ok := strings.Cut(mt, "/")
	return ok && isToken(typ) && isToken(sub)
}

func isToken(s string) bool {
	if s == "" || len(s) > 127 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return false
		}
	}
	return true
}

// Package eml holds test helpers for RFC 5322 messages: Normalize makes
// the output of a message writer comparable with a golden file, and
// CheckStructure checks the rules every message on the wire must follow.
package eml

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"
)

var (
	boundaryRe  = regexp.MustCompile(`boundary="([^"]+)"`)
	messageIDRe = regexp.MustCompile(`(?m)^Message-ID: <[^@>]+@`)
	dateRe      = regexp.MustCompile(`(?m)^Date: [^\r\n]+`)
)

// FixedDate is the Date value Normalize writes.
const FixedDate = "Mon, 01 Jan 2024 00:00:00 +0000"

// Normalize returns raw with the parts that change on every run replaced:
// the Date value by FixedDate, the left side of the Message-ID by "ID",
// and each MIME boundary by BOUNDARY-1, BOUNDARY-2, … in order of first
// appearance. Everything else, line endings included, is kept.
func Normalize(raw []byte) []byte {
	out := dateRe.ReplaceAll(raw, []byte("Date: "+FixedDate))
	out = messageIDRe.ReplaceAll(out, []byte("Message-ID: <ID@"))
	seen := map[string]bool{}
	n := 0
	for _, m := range boundaryRe.FindAllSubmatch(out, -1) {
		b := string(m[1])
		if seen[b] {
			continue
		}
		seen[b] = true
		n++
		out = bytes.ReplaceAll(out, []byte(b), []byte("BOUNDARY-"+strconv.Itoa(n)))
	}
	return out
}

// MaxLine is the longest line RFC 5322 section 2.1.1 allows, without CRLF.
const MaxLine = 998

// CheckStructure checks raw against the rules for a message on the wire
// and returns every violation, joined:
//
//   - every line ends with CRLF: no bare CR or LF anywhere;
//   - no line is longer than 998 octets;
//   - the header has exactly one Date, From, Message-ID and MIME-Version,
//     and no Bcc;
//   - header lines are ASCII, except address headers that carry an
//     internationalised address (RFC 6532) when utf8Addresses is true;
//   - the MIME tree parses with mime/multipart down to every leaf, and
//     every leaf has a Content-Transfer-Encoding of 7bit,
//     quoted-printable or base64 and, for 7bit, ASCII content.
func CheckStructure(raw []byte, utf8Addresses bool) error {
	var errs []error
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '\r':
			if i+1 >= len(raw) || raw[i+1] != '\n' {
				errs = append(errs, fmt.Errorf("bare CR at offset %d", i))
			}
		case '\n':
			if i == 0 || raw[i-1] != '\r' {
				errs = append(errs, fmt.Errorf("bare LF at offset %d", i))
			}
		}
	}
	if !bytes.HasSuffix(raw, []byte("\r\n")) {
		errs = append(errs, errors.New("message does not end with CRLF"))
	}
	for n, line := range bytes.Split(raw, []byte("\r\n")) {
		if len(line) > MaxLine {
			errs = append(errs, fmt.Errorf("line %d has %d octets", n+1, len(line)))
		}
	}
	head, _, found := bytes.Cut(raw, []byte("\r\n\r\n"))
	if !found {
		return errors.Join(append(errs, errors.New("no empty line after the header"))...)
	}
	for _, line := range bytes.Split(head, []byte("\r\n")) {
		if isASCII(line) {
			continue
		}
		name, _, _ := strings.Cut(string(line), ":")
		addr := map[string]bool{"From": true, "To": true, "Cc": true, "Reply-To": true}
		if !utf8Addresses || !addr[name] && (line[0] != ' ' && line[0] != '\t') {
			errs = append(errs, fmt.Errorf("non-ASCII header line %q", line))
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("net/mail: %w", err))...)
	}
	for _, name := range []string{"Date", "From", "Message-ID", "MIME-Version"} {
		if n := len(msg.Header[textproto.CanonicalMIMEHeaderKey(name)]); n != 1 {
			errs = append(errs, fmt.Errorf("%d %s headers, want 1", n, name))
		}
	}
	if len(msg.Header["Bcc"]) > 0 {
		errs = append(errs, errors.New("Bcc header present"))
	}
	if err := checkPart(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, 0); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func checkPart(ctype, cte string, body io.Reader, depth int) error {
	if depth > 8 {
		return errors.New("MIME tree deeper than 8")
	}
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		return fmt.Errorf("Content-Type %q: %w", ctype, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		b := params["boundary"]
		if b == "" || len(b) > 70 {
			return fmt.Errorf("%s: bad boundary %q", mt, b)
		}
		r := multipart.NewReader(body, b)
		n := 0
		for {
			p, err := r.NextRawPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("%s: %w", mt, err)
			}
			n++
			if err := checkPart(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, depth+1); err != nil {
				return err
			}
		}
		if n == 0 {
			return fmt.Errorf("%s without parts", mt)
		}
		return nil
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	switch strings.ToLower(cte) {
	case "7bit":
		if !isASCII(data) {
			return fmt.Errorf("%s: 7bit part with non-ASCII content", mt)
		}
	case "quoted-printable", "base64":
	default:
		return fmt.Errorf("%s: Content-Transfer-Encoding %q", mt, cte)
	}
	return nil
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

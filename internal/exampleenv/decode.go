package exampleenv

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
)

// Received is a message as a reader sees it: decoded headers and bodies.
type Received struct {
	// Header holds the header fields to show, decoded, in order.
	Header [][2]string
	// Parts lists the content types of the leaves, such as
	// "multipart/alternative(text/plain, text/html)".
	Structure string
	// Text and HTML are the decoded bodies.
	Text, HTML string
}

// Decode parses a message with the standard library only.
func Decode(raw []byte) (*Received, error) {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	r := &Received{}
	var dec mime.WordDecoder
	for _, name := range []string{"From", "To", "Subject", "Date", "Message-ID"} {
		v := m.Header.Get(name)
		if d, err := dec.DecodeHeader(v); err == nil {
			v = d
		}
		r.Header = append(r.Header, [2]string{name, v})
	}
	r.Structure, err = r.walk(m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), m.Body)
	return r, err
}

func (r *Received) walk(ctype, cte string, body io.Reader) (string, error) {
	if ctype == "" {
		ctype = "text/plain"
	}
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		var kids []string
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return "", err
			}
			k, err := r.walk(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p)
			if err != nil {
				return "", err
			}
			kids = append(kids, k)
		}
		return mt + "(" + strings.Join(kids, ", ") + ")", nil
	}
	switch strings.ToLower(cte) {
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return "", err
	}
	text := strings.ReplaceAll(string(data), "\r\n", "\n")
	switch {
	case mt == "text/plain" && r.Text == "":
		r.Text = text
	case mt == "text/html" && r.HTML == "":
		r.HTML = text
	}
	return mt, nil
}

// Print writes the headers, the structure and the text part.
func (r *Received) Print(w io.Writer) {
	for _, h := range r.Header {
		fmt.Fprintf(w, "%s: %s\n", h[0], h[1])
	}
	fmt.Fprintf(w, "Content-Type: %s\n\n", r.Structure)
	fmt.Fprint(w, strings.TrimRight(r.Text, "\n")+"\n")
}

package mailer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// attachment is a file attached to a message, or an inline part referenced
// from the HTML body as "cid:<cid>".
type attachment struct {
	name  string // file name shown to the recipient
	ctype string // media type with parameters, such as "text/plain; charset=utf-8"
	cid   string // Content-ID without brackets; set for inline parts
	data  []byte // content held in memory, or
	path  string // a file read at send time, or
	fsys  fs.FS  // a file of fsys (path inside it)
}

// open returns the content of a.
func (a *attachment) open() (io.ReadCloser, error) {
	switch {
	case a.data != nil:
		return io.NopCloser(bytes.NewReader(a.data)), nil
	case a.fsys != nil:
		return a.fsys.Open(a.path)
	case a.path != "":
		return os.Open(a.path)
	}
	return io.NopCloser(bytes.NewReader(nil)), nil
}

// Attachments returns the names of the attached files, in order. Inline
// parts are not included.
func (m *Message) Attachments() []string {
	var out []string
	for _, a := range m.attachments {
		if a.cid == "" {
			out = append(out, a.name)
		}
	}
	return out
}

// AttachFile attaches the file at path. The recipient sees the file's base
// name, which may be in any script. The content type comes from the file
// name's extension or, failing that, from the first 512 bytes of the file,
// unless opts set it (see [ContentType]). The file must exist when AttachFile is called; it is read again, in
// small pieces, each time the message is written, so that a large file is
// never held in memory.
func (b *MessageBuilder) AttachFile(path string, opts ...AttachOption) *MessageBuilder {
	if a, ok := b.fileAttachment("AttachFile", path); ok && b.applyAttachOptions("AttachFile", &a, opts) {
		b.m.attachments = append(b.m.attachments, a)
	}
	return b
}

// AttachBytes attaches data under the file name name. data is copied. The
// content type comes from the name's extension or is sniffed from data,
// unless opts set it: a calendar invitation is
//
//	b.AttachBytes("invite.ics", ics, mailer.ContentType("text/calendar; method=REQUEST"))
func (b *MessageBuilder) AttachBytes(name string, data []byte, opts ...AttachOption) *MessageBuilder {
	if b.checkName("AttachBytes", name) {
		data = slices.Clip(append([]byte{}, data...))
		a := attachment{name: name, ctype: contentType(name, data), data: data}
		if b.applyAttachOptions("AttachBytes", &a, opts) {
			b.m.attachments = append(b.m.attachments, a)
		}
	}
	return b
}

// AttachReader attaches the content of r under the file name name. r is
// read to its end now and held in memory, so that the message can be sent
// more than once; use AttachFile or AttachFS for large files. opts are as
// for AttachBytes.
func (b *MessageBuilder) AttachReader(name string, r io.Reader, opts ...AttachOption) *MessageBuilder {
	if !b.checkName("AttachReader", name) {
		return b
	}
	if r == nil {
		b.errs = append(b.errs, fieldError("AttachReader", name, fmt.Errorf("nil reader")))
		return b
	}
	data, err := io.ReadAll(r)
	if err != nil {
		b.errs = append(b.errs, fieldError("AttachReader", name, err))
		return b
	}
	a := attachment{name: name, ctype: contentType(name, data), data: data}
	if b.applyAttachOptions("AttachReader", &a, opts) {
		b.m.attachments = append(b.m.attachments, a)
	}
	return b
}

// AttachFS attaches the file name of fsys (an embed.FS, for example). Like
// AttachFile, it reads the file each time the message is written; opts are
// as for AttachBytes.
func (b *MessageBuilder) AttachFS(fsys fs.FS, name string, opts ...AttachOption) *MessageBuilder {
	if a, ok := b.fsAttachment("AttachFS", fsys, name); ok && b.applyAttachOptions("AttachFS", &a, opts) {
		b.m.attachments = append(b.m.attachments, a)
	}
	return b
}

// Embed adds an inline part, typically an image, that the HTML body shows
// with <img src="cid:CID">. name is its file name, which also gives its
// content type unless opts set it (see [ContentType]). data is copied.
//
// CID is made of letters, digits, ".", "_", "-" and at most one "@". A CID
// without "@" such as "logo" is completed with the sender's domain
// ("logo@example.com") to make the Content-ID a valid, unique msg-id
// (RFC 2392); the "cid:logo" references in the HTML are completed the same
// way, so write them as "cid:logo".
func (b *MessageBuilder) Embed(cid, name string, data []byte, opts ...AttachOption) *MessageBuilder {
	if b.checkCID(cid) && b.checkName("Embed", name) {
		data = slices.Clip(append([]byte{}, data...))
		a := attachment{name: name, ctype: contentType(name, data), cid: cid, data: data}
		if b.applyAttachOptions("Embed", &a, opts) {
			b.m.attachments = append(b.m.attachments, a)
		}
	}
	return b
}

// EmbedFile is Embed with the content of the file at path, read each time
// the message is written.
func (b *MessageBuilder) EmbedFile(cid, path string, opts ...AttachOption) *MessageBuilder {
	if !b.checkCID(cid) {
		return b
	}
	if a, ok := b.fileAttachment("EmbedFile", path); ok && b.applyAttachOptions("EmbedFile", &a, opts) {
		a.cid = cid
		b.m.attachments = append(b.m.attachments, a)
	}
	return b
}

// EmbedFS is Embed with the content of the file name of fsys, read each
// time the message is written.
func (b *MessageBuilder) EmbedFS(cid string, fsys fs.FS, name string, opts ...AttachOption) *MessageBuilder {
	if !b.checkCID(cid) {
		return b
	}
	if a, ok := b.fsAttachment("EmbedFS", fsys, name); ok && b.applyAttachOptions("EmbedFS", &a, opts) {
		a.cid = cid
		b.m.attachments = append(b.m.attachments, a)
	}
	return b
}

func (b *MessageBuilder) fileAttachment(field, p string) (attachment, bool) {
	name := filepath.Base(p)
	if !b.checkName(field, name) {
		return attachment{}, false
	}
	a := attachment{name: name, path: p}
	return a, b.sniffSource(field, p, &a)
}

func (b *MessageBuilder) fsAttachment(field string, fsys fs.FS, name string) (attachment, bool) {
	if fsys == nil {
		b.errs = append(b.errs, fieldError(field, name, fmt.Errorf("nil file system")))
		return attachment{}, false
	}
	if !b.checkName(field, path.Base(name)) {
		return attachment{}, false
	}
	a := attachment{name: path.Base(name), path: name, fsys: fsys}
	return a, b.sniffSource(field, name, &a)
}

// sniffSource checks that the file of a is a regular file and sets its
// content type from its name or its first 512 bytes.
func (b *MessageBuilder) sniffSource(field, p string, a *attachment) bool {
	fail := func(err error) bool {
		b.errs = append(b.errs, &FieldError{Field: field, Value: quoteValue(p), Err: err})
		return false
	}
	f, err := a.open()
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	if st, ok := f.(interface{ Stat() (fs.FileInfo, error) }); ok {
		info, err := st.Stat()
		if err != nil {
			return fail(err)
		}
		if !info.Mode().IsRegular() {
			return fail(fmt.Errorf("not a regular file"))
		}
	}
	head := make([]byte, sniffLen)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fail(err)
	}
	a.ctype = contentType(a.name, head[:n])
	return true
}

func (b *MessageBuilder) checkName(field, name string) bool {
	err := checkHeaderValue(name)
	if err == nil && (name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`)) {
		err = fmt.Errorf("%w: file name must be a non-empty base name", ErrInvalidHeader)
	}
	if err == nil && len(name) > 255 {
		err = fmt.Errorf("%w: file name longer than 255 octets", ErrInvalidHeader)
	}
	if err != nil {
		b.errs = append(b.errs, fieldError(field+" name", name, err))
		return false
	}
	return true
}

// checkCID accepts Content-IDs made of letters, digits, ".", "_" and "-",
// with an optional "@domain" part of the same characters.
func (b *MessageBuilder) checkCID(cid string) bool {
	ok := cid != "" && len(cid) <= 200 && strings.Count(cid, "@") <= 1
	for i := 0; ok && i < len(cid); i++ {
		ok = isCIDChar(cid[i]) || cid[i] == '@'
	}
	if ok {
		left, right, _ := strings.Cut(cid, "@")
		ok = isDotAtom(left) && (!strings.Contains(cid, "@") || isDotAtom(right))
	}
	if !ok {
		b.errs = append(b.errs, fieldError("Content-ID", cid,
			fmt.Errorf("%w: want letters, digits and . _ - @ only", ErrInvalidHeader)))
	}
	return ok
}

func isCIDChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == '-'
}

// resolveInline completes the Content-IDs of inline parts with the
// sender's domain, rewrites the matching "cid:" references of the HTML and
// checks that inline parts have an HTML body and distinct Content-IDs.
func (m *Message) resolveInline() []error {
	m.wireHTML = m.html
	domain := senderDomain(m.from.Address)
	var errs []error
	seen := make(map[string]bool)
	full := make(map[string]string) // short Content-ID → completed
	for i := range m.attachments {
		a := &m.attachments[i]
		if a.cid == "" {
			continue
		}
		short := a.cid
		if !strings.Contains(short, "@") {
			a.cid = short + "@" + domain
			full[short] = a.cid
		}
		key := strings.ToLower(a.cid)
		if seen[key] {
			errs = append(errs, fieldError("Content-ID", short, fmt.Errorf("%w: used twice", ErrInvalidHeader)))
		}
		seen[key] = true
	}
	if len(full) > 0 {
		m.wireHTML = completeCIDRefs(m.wireHTML, full)
	}
	if len(seen) > 0 && m.html == "" {
		errs = append(errs, &FieldError{Field: "Embed", Err: ErrEmbedWithoutHTML})
	}
	return errs
}

// completeCIDRefs replaces each "cid:short" in html (the scheme in any
// case) that is not followed by another Content-ID character or "@" with
// "cid:" (in lower case) and full[short], in one pass whatever the number
// of embeds.
func completeCIDRefs(html string, full map[string]string) string {
	var b strings.Builder
	done := 0 // html[:done] is written
	for i := 0; ; {
		k := strings.IndexByte(html[i:], ':')
		if k < 0 {
			break
		}
		start := i + k + 1 // after the colon
		i = start
		if start < 4 || !strings.EqualFold(html[start-4:start-1], "cid") {
			continue
		}
		end := start
		for end < len(html) && isCIDChar(html[end]) {
			end++
		}
		i = end
		f, ok := full[html[start:end]]
		if !ok || end < len(html) && html[end] == '@' {
			continue
		}
		if b.Len() == 0 {
			b.Grow(len(html) + 64)
		}
		b.WriteString(html[done : start-4])
		b.WriteString("cid:")
		b.WriteString(f)
		done = end
	}
	if done == 0 {
		return html
	}
	b.WriteString(html[done:])
	return b.String()
}

// senderDomain returns the sender's domain in lower-case ASCII, for
// Message-IDs and Content-IDs, or "localhost" if there is none.
func senderDomain(from string) string {
	if at := strings.LastIndexByte(from, '@'); at >= 0 {
		if d := from[at+1:]; plainDomainLDH(d) {
			return strings.ToLower(d) // what IDNA would return
		}
		if ascii, err := asciiDomain(from[at+1:]); err == nil {
			return strings.ToLower(ascii)
		}
	}
	return "localhost"
}

package mailer

import (
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
	name string // file name shown to the recipient
	cid  string // Content-ID without brackets; set for inline parts
	data []byte // content held in memory, or
	path string // a file read at send time, or
	fsys fs.FS  // a file of fsys (path inside it)
}

// Attachments returns the names of the attached files, in order.
func (m *Message) Attachments() []string {
	var out []string
	for _, a := range m.attachments {
		if a.cid == "" {
			out = append(out, a.name)
		}
	}
	return out
}

// AttachFile attaches the file at path; it is read each time the message is
// sent. The recipient sees the file's base name.
func (b *MessageBuilder) AttachFile(path string) *MessageBuilder {
	if a, ok := b.fileAttachment("AttachFile", path); ok {
		b.m.attachments = append(b.m.attachments, a)
	}
	return b
}

// AttachBytes attaches data under the file name name. data is copied.
func (b *MessageBuilder) AttachBytes(name string, data []byte) *MessageBuilder {
	if b.checkName("AttachBytes", name) {
		b.m.attachments = append(b.m.attachments, attachment{name: name, data: slices.Clone(data)})
	}
	return b
}

// AttachReader attaches the content of r under the file name name. r is
// read to its end now, so that the message can be sent more than once.
func (b *MessageBuilder) AttachReader(name string, r io.Reader) *MessageBuilder {
	if !b.checkName("AttachReader", name) {
		return b
	}
	data, err := io.ReadAll(r)
	if err != nil {
		b.errs = append(b.errs, fieldError("AttachReader", name, err))
		return b
	}
	b.m.attachments = append(b.m.attachments, attachment{name: name, data: data})
	return b
}

// AttachFS attaches the file name of fsys (an embed.FS, for example).
func (b *MessageBuilder) AttachFS(fsys fs.FS, name string) *MessageBuilder {
	if fsys == nil {
		b.errs = append(b.errs, fieldError("AttachFS", name, fmt.Errorf("nil file system")))
		return b
	}
	st, err := fs.Stat(fsys, name)
	if err != nil {
		b.errs = append(b.errs, fieldError("AttachFS", name, err))
		return b
	}
	if !st.Mode().IsRegular() {
		b.errs = append(b.errs, fieldError("AttachFS", name, fmt.Errorf("not a regular file")))
		return b
	}
	b.m.attachments = append(b.m.attachments, attachment{name: path.Base(name), path: name, fsys: fsys})
	return b
}

// Embed adds an inline part, typically an image, that the HTML body shows
// with <img src="cid:CID">. name is its file name, which also gives its
// content type.
func (b *MessageBuilder) Embed(cid, name string, data []byte) *MessageBuilder {
	if b.checkCID(cid) && b.checkName("Embed", name) {
		b.m.attachments = append(b.m.attachments, attachment{name: name, cid: cid, data: slices.Clone(data)})
	}
	return b
}

// EmbedFile is Embed with the content of the file at path.
func (b *MessageBuilder) EmbedFile(cid, path string) *MessageBuilder {
	if !b.checkCID(cid) {
		return b
	}
	if a, ok := b.fileAttachment("EmbedFile", path); ok {
		a.cid = cid
		b.m.attachments = append(b.m.attachments, a)
	}
	return b
}

func (b *MessageBuilder) fileAttachment(field, p string) (attachment, bool) {
	st, err := os.Stat(p)
	if err != nil {
		b.errs = append(b.errs, &FieldError{Field: field, Value: quoteValue(p), Err: err})
		return attachment{}, false
	}
	if !st.Mode().IsRegular() {
		b.errs = append(b.errs, fieldError(field, p, fmt.Errorf("not a regular file")))
		return attachment{}, false
	}
	name := filepath.Base(p)
	if !b.checkName(field, name) {
		return attachment{}, false
	}
	return attachment{name: name, path: p}, true
}

func (b *MessageBuilder) checkName(field, name string) bool {
	err := checkHeaderValue(name)
	if err == nil && (name == "" || strings.ContainsAny(name, `/\`)) {
		err = fmt.Errorf("%w: file name must be a non-empty base name", ErrInvalidHeader)
	}
	if err != nil {
		b.errs = append(b.errs, fieldError(field+" name", name, err))
		return false
	}
	return true
}

// checkCID accepts Content-IDs made of RFC 5322 atext and dots, with an
// optional "@domain" part.
func (b *MessageBuilder) checkCID(cid string) bool {
	ok := cid != "" && len(cid) <= 200
	for i := 0; ok && i < len(cid); i++ {
		ok = isAtext(cid[i]) || cid[i] == '.' || cid[i] == '@'
	}
	if !ok {
		b.errs = append(b.errs, fieldError("Content-ID", cid,
			fmt.Errorf("%w: want letters, digits and . _ - @ only", ErrInvalidHeader)))
	}
	return ok
}

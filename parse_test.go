package mailer

// Independent readers of our output, for round-trip tests: the standard
// library (net/mail, mime, mime/multipart), github.com/emersion/go-message,
// and Python's email package when python3 is installed.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os/exec"
	"strings"
	"testing"

	gomessage "github.com/emersion/go-message"
	gmmail "github.com/emersion/go-message/mail"
	"github.com/stretchr/testify/require"
)

// decoded is what a reader found in a message.
type decoded struct {
	Subject string
	From    []string // "Name <addr>" or "addr"
	To      []string
	Cc      []string
	ReplyTo []string
	Text    string // text/plain body, decoded
	HTML    string
	Tree    string // such as "mixed(alternative(text/plain,text/html),application/pdf)"
	Files   []decodedFile
}

type decodedFile struct {
	Name        string // from Content-Disposition filename (RFC 2231)
	TypeName    string // from Content-Type name (RFC 2047)
	ContentType string
	ContentID   string
	Inline      bool
	Data        []byte
}

func addrStrings(list []*mail.Address) []string {
	var out []string
	for _, a := range list {
		if a.Name == "" {
			out = append(out, a.Address)
		} else {
			out = append(out, a.Name+" <"+a.Address+">")
		}
	}
	return out
}

// readStdlib decodes raw with net/mail, mime and mime/multipart.
func readStdlib(t testing.TB, raw []byte) decoded {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	require.NoError(t, err)
	var d decoded
	var dec mime.WordDecoder
	d.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject"))
	require.NoError(t, err)
	for _, f := range []struct {
		name string
		dst  *[]string
	}{{"From", &d.From}, {"To", &d.To}, {"Cc", &d.Cc}, {"Reply-To", &d.ReplyTo}} {
		if v := msg.Header.Get(f.name); v != "" && v != "undisclosed-recipients:;" {
			list, err := msg.Header.AddressList(f.name)
			require.NoError(t, err, f.name)
			*f.dst = addrStrings(list)
		}
	}
	d.Tree = walkStdlib(t, &d, msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"),
		msg.Header.Get("Content-Disposition"), msg.Header.Get("Content-ID"), msg.Body)
	return d
}

func walkStdlib(t testing.TB, d *decoded, ctype, cte, disp, cid string, body io.Reader) string {
	t.Helper()
	mt, params, err := mime.ParseMediaType(ctype)
	require.NoError(t, err, ctype)
	if sub, ok := strings.CutPrefix(mt, "multipart/"); ok {
		r := multipart.NewReader(body, params["boundary"])
		var kids []string
		for {
			p, err := r.NextRawPart()
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			kids = append(kids, walkStdlib(t, d, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"),
				p.Header.Get("Content-Disposition"), p.Header.Get("Content-ID"), p))
		}
		return sub + "(" + strings.Join(kids, ",") + ")"
	}
	var r io.Reader = body
	switch strings.ToLower(cte) {
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, body)
	}
	data, err := io.ReadAll(r)
	require.NoError(t, err)
	if disp == "" && (mt == "text/plain" || mt == "text/html") {
		if mt == "text/plain" {
			d.Text = string(data)
		} else {
			d.HTML = string(data)
		}
		return mt
	}
	dt, dparams, err := mime.ParseMediaType(disp)
	require.NoError(t, err, disp)
	var dec mime.WordDecoder
	typeName, err := dec.DecodeHeader(params["name"])
	require.NoError(t, err)
	d.Files = append(d.Files, decodedFile{
		Name: dparams["filename"], TypeName: typeName, ContentType: mt,
		ContentID: cid, Inline: dt == "inline", Data: data,
	})
	return mt
}

// readGoMessage decodes raw with github.com/emersion/go-message.
func readGoMessage(t testing.TB, raw []byte) decoded {
	t.Helper()
	mr, err := gmmail.CreateReader(bytes.NewReader(raw))
	require.NoError(t, err)
	var d decoded
	d.Subject, err = mr.Header.Subject()
	require.NoError(t, err)
	for _, f := range []struct {
		name string
		dst  *[]string
	}{{"From", &d.From}, {"To", &d.To}, {"Cc", &d.Cc}, {"Reply-To", &d.ReplyTo}} {
		if v := mr.Header.Get(f.name); v != "" && v != "undisclosed-recipients:;" {
			list, err := mr.Header.AddressList(f.name)
			require.NoError(t, err, f.name)
			*f.dst = addrStrings(list)
		}
	}
	_ = mr.Close()
	ent, err := gomessage.Read(bytes.NewReader(raw))
	require.NoError(t, err)
	d.Tree = walkGoMessage(t, &d, ent)
	return d
}

func walkGoMessage(t testing.TB, d *decoded, e *gomessage.Entity) string {
	t.Helper()
	mt, _, err := e.Header.ContentType()
	require.NoError(t, err)
	if mr := e.MultipartReader(); mr != nil {
		var kids []string
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			kids = append(kids, walkGoMessage(t, d, p))
		}
		return strings.TrimPrefix(mt, "multipart/") + "(" + strings.Join(kids, ",") + ")"
	}
	data, err := io.ReadAll(e.Body)
	require.NoError(t, err)
	disp, _, _ := e.Header.ContentDisposition()
	if disp == "" && (mt == "text/plain" || mt == "text/html") {
		if mt == "text/plain" {
			d.Text = string(data)
		} else {
			d.HTML = string(data)
		}
		return mt
	}
	ah := gmmail.AttachmentHeader{Header: e.Header}
	name, err := ah.Filename()
	require.NoError(t, err)
	_, params, _ := e.Header.ContentType()
	d.Files = append(d.Files, decodedFile{
		Name: name, TypeName: params["name"], ContentType: mt,
		ContentID: e.Header.Get("Content-ID"), Inline: disp == "inline", Data: data,
	})
	return mt
}

// pythonReader is a Python 3 program that prints what the email package
// (policy.default, the modern parser) finds in each message it reads: the
// input is a JSON array of base64-encoded messages, the output a JSON
// array of results, so that one interpreter reads them all.
const pythonReader = `
import sys, json, base64, email
from email import policy
def read(raw):
    msg = email.message_from_bytes(raw, policy=policy.default)
    out = {"Subject": str(msg["Subject"] or ""), "From": [], "To": [], "Cc": [], "ReplyTo": [],
           "Text": "", "HTML": "", "Files": []}
    for key, name in (("From", "From"), ("To", "To"), ("Cc", "Cc"), ("ReplyTo", "Reply-To")):
        h = msg[name]
        if h is None or str(h) == "undisclosed-recipients:;":
            continue
        for a in h.addresses:
            addr = a.username + "@" + a.domain
            out[key].append(a.display_name + " <" + addr + ">" if a.display_name else addr)
    def walk(p):
        if p.is_multipart():
            return p.get_content_subtype() + "(" + ",".join(walk(c) for c in p.iter_parts()) + ")"
        ct = p.get_content_type()
        disp = p.get_content_disposition()
        if disp is None and ct in ("text/plain", "text/html"):
            text = p.get_payload(decode=True).decode("utf-8")
            out["Text" if ct == "text/plain" else "HTML"] = text
            return ct
        out["Files"].append({"Name": p.get_filename() or "", "TypeName": p.get_param("name", header="content-type") or "",
            "ContentType": ct, "ContentID": str(p["Content-ID"] or ""), "Inline": disp == "inline",
            "Data": base64.b64encode(p.get_payload(decode=True)).decode()})
        return ct
    out["Tree"] = walk(msg)
    return out
json.dump([read(base64.b64decode(m)) for m in json.load(sys.stdin)], sys.stdout)
`

// readPythonAll decodes every message of raws with Python's email package,
// in one run of the interpreter (starting one per message made the
// cross-parser tests take seconds). It skips the test when python3 is not
// installed.
func readPythonAll(t testing.TB, raws [][]byte) []decoded {
	t.Helper()
	// Debian's interpreter first: a pyenv shim found first in PATH
	// takes seconds to start.
	py, err := exec.LookPath("/usr/bin/python3")
	if err != nil {
		if py, err = exec.LookPath("python3"); err != nil {
			t.Skip("python3 not installed: skipping the Python email reader")
		}
	}
	in, err := json.Marshal(raws) // []byte marshals as base64
	require.NoError(t, err)
	cmd := exec.Command(py, "-c", pythonReader)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	var d []decoded
	require.NoError(t, json.Unmarshal(out, &d), string(out))
	require.Len(t, d, len(raws))
	return d
}

// readersFor returns the three independent readers for the messages of
// raws, which are read at once by Python: stdlib and go-message read the
// message they are given, python returns its result for the same message.
func readersFor(t *testing.T, raws [][]byte) []struct {
	name string
	read func(testing.TB, []byte) decoded
} {
	t.Helper()
	py := readPythonAll(t, raws)
	byRaw := make(map[string]decoded, len(raws))
	for i, raw := range raws {
		byRaw[string(raw)] = py[i]
	}
	return []struct {
		name string
		read func(testing.TB, []byte) decoded
	}{{"stdlib", readStdlib}, {"go-message", readGoMessage}, {"python", func(t testing.TB, raw []byte) decoded {
		d, ok := byRaw[string(raw)]
		require.True(t, ok, "message not given to readersFor")
		return d
	}}}
}

// crlf writes s with CRLF line breaks, as a text part is sent.
func crlf(s string) string { return canonicalCRLF(s) }

func (d decoded) String() string { return fmt.Sprintf("%+v", d.Tree) }

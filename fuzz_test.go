package mailer

import (
	"bytes"
	"errors"
	"mime"
	"net/mail"
	"strings"
	"testing"

	gmmail "github.com/emersion/go-message/mail"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer/internal/eml"
)

// Run each target for a while with, for example,
//
//	go test -run '^$' -fuzz '^FuzzBuild$' -fuzztime 20s -fuzzminimizetime 3s .
//
// The seed corpus is in testdata/fuzz/<target>; failing inputs found by
// the fuzzer land there too and then run with every go test.

// buildErrors are the errors Build may return for bad input.
var buildErrors = []error{ErrInvalidHeader, ErrInvalidAddress, ErrInvalidBody, ErrEmbedWithoutHTML, ErrNoSender, ErrNoRecipients}

func isBuildError(err error) bool {
	for _, target := range buildErrors {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// FuzzBuild feeds arbitrary subject, sender, custom header, file name and
// bodies to the builder. Build either fails with a typed error, or the
// output parses in two independent readers, has only CRLF line ends and
// lines of at most 998 octets, and decodes to exactly the input.
func FuzzBuild(f *testing.F) {
	f.Add("Hello", "Alice <alice@example.com>", "X-Tag", "v", "a.txt", "body\n", "")
	f.Add("重置您的密码", "系统通知 <noreply@example.com>", "X-Campaign", "春节", "报告 2024.pdf", "您好\n", "<p>您好</p>")
	f.Add(strings.Repeat("x", 1200), "a@b.example", "X-Long", strings.Repeat("y", 1500), strings.Repeat("n", 200)+".bin", "", "<h1>T</h1><a href=\"https://x\">x</a>")
	f.Add("a  b  "+strings.Repeat("word  ", 20), "\"q\\\"uote\" <q@example.com>", "X-Sp", " lead", "=?UTF-8?B?eA==?=", "a\r.\rb\n.\n", "")
	f.Add("Hi\r\nBcc: x@y", "-x@example.com", "X A", "v\r\n", "a\nb", "\xff", "\x00")
	f.Add("Re: x", "a@example.com", "References", "<a.1@b.example>\t c@d.example", "x.txt", "t", "")
	f.Fuzz(func(t *testing.T, subject, from, hname, hvalue, fname, text, html string) {
		// Everything at once: Build succeeds or fails with typed errors.
		_, err := NewMessage().From(from).To("rcpt@example.com").Subject(subject).Text(text).HTML(html).
			Header(hname, hvalue).AttachBytes(fname, []byte(fname)).Build()
		if err != nil && !isBuildError(err) {
			t.Fatalf("untyped error: %v", err)
		}
		// Then only the valid inputs, so that most runs reach the writer.
		b := NewMessage().To("rcpt@example.com")
		valid := func(f func(*MessageBuilder)) bool {
			probe := NewMessage().From("a@example.com").To("b@example.com")
			f(probe)
			_, err := probe.Build()
			return err == nil
		}
		if !valid(func(p *MessageBuilder) { p.From(from) }) {
			from = "fallback@example.com"
		}
		if !valid(func(p *MessageBuilder) { p.Subject(subject) }) {
			subject = ""
		}
		if !valid(func(p *MessageBuilder) { p.Text(text) }) {
			text = ""
		}
		if !valid(func(p *MessageBuilder) { p.HTML(html) }) {
			html = ""
		}
		if !valid(func(p *MessageBuilder) { p.Header(hname, hvalue) }) {
			hname, hvalue = "X-Fuzz", "v"
		}
		if !valid(func(p *MessageBuilder) { p.AttachBytes(fname, nil) }) {
			fname = "f.bin"
		}
		m, err := b.From(from).Subject(subject).Text(text).HTML(html).
			Header(hname, hvalue).AttachBytes(fname, []byte(fname)).Build()
		require.NoError(t, err)
		var buf bytes.Buffer
		_, err = m.WriteTo(&buf)
		require.NoError(t, err)
		raw := buf.Bytes()
		require.NoError(t, eml.CheckStructure(raw, true))
		for _, name := range []string{"Subject", "From", "Content-Type", "Content-Disposition"} {
			for _, line := range fieldLines(raw, name) {
				require.LessOrEqual(t, len(line), 76, "%s line %q", name, line)
			}
		}

		for _, read := range []func(testing.TB, []byte) decoded{readStdlib, readGoMessage} {
			d := read(t, raw)
			assert.Equal(t, subject, d.Subject, "subject")
			sender := m.From()
			want := headerAddrSpec(sender.Address)
			if sender.Name != "" {
				want = sender.Name + " <" + want + ">"
			}
			assert.Equal(t, []string{want}, d.From, "from")
			wantText := canonicalCRLF(m.Text())
			assert.Equal(t, wantText, d.Text, "text")
			if html != "" {
				assert.Equal(t, canonicalCRLF(html), d.HTML, "html")
			}
			require.Len(t, d.Files, 1)
			assert.Equal(t, []byte(fname), d.Files[0].Data, "attachment data")
		}
		// File names and custom headers: the standard library reads them
		// as they are meant (go-message also decodes RFC 2047 inside RFC
		// 2231 values).
		d := readStdlib(t, raw)
		assert.Equal(t, fname, d.Files[0].Name, "filename")
		assert.Equal(t, fname, d.Files[0].TypeName, "name")
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		require.NoError(t, err)
		var dec mime.WordDecoder
		got, err := dec.DecodeHeader(msg.Header.Get(hname))
		require.NoError(t, err)
		want := hvalue
		if ids, ok, _ := parseMsgIDHeader(hname, hvalue); ok {
			want = strings.Join(ids, " ") // written as ids, in angle brackets
			// An independent reader (go-message) finds as many msg-ids,
			// each of them given in the value.
			gm, err := gmmail.CreateReader(bytes.NewReader(raw))
			require.NoError(t, err)
			read, err := gm.Header.MsgIDList(hname)
			require.NoError(t, err, "go-message reads %s", hname)
			require.Len(t, read, len(ids), "msg-ids of %s", hname)
			for _, id := range read {
				assert.Contains(t, hvalue, id, "msg-id %q of %s", id, hname)
			}
		}
		assert.Equal(t, want, got, "custom header")
	})
}

// FuzzParseAddress checks that every address ParseAddress accepts is
// written in a header that net/mail and ParseAddress read back as the same
// name and address, and that its envelope form cannot carry anything but
// one address.
func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{
		"alice@example.com", "Alice <alice@example.com>", "张三 <zhangsan@例子.中国>", "用户@例子.中国",
		`"Smith, John" <john@example.com>`, `"q\"uote" <q@example.com>`, "=?UTF-8?B?5byg5LiJ?= <z@example.com>",
		"a@b.com> ORCPT=rfc822;x@y", `"a@b.com> ORCPT=x"@b.com`, "-oQ/tmp/@x.com", "a@[127.0.0.1]",
		"a@example.com (comment)", "G: a@example.com;", "a\r\n@example.com", "  spaced  <a@example.com>",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidAddress)
			return
		}
		env, _ := envelopeAddress(a.Address)
		require.False(t, strings.ContainsAny(env, "<> \t\r\n\x00\"(),;:"), "envelope %q", env)
		require.False(t, strings.HasPrefix(env, "-"), "envelope %q", env)

		var h headerBlock
		h.addressList("To", []Address{a})
		require.NoError(t, h.err)
		full := "Date: x\r\nFrom: x\r\nMessage-ID: <x@y>\r\nMIME-Version: 1.0\r\n" + string(h.b) +
			"Content-Type: text/plain\r\nContent-Transfer-Encoding: 7bit\r\n\r\nx\r\n"
		require.NoError(t, eml.CheckStructure([]byte(full), true))

		msg, err := mail.ReadMessage(strings.NewReader(string(h.b) + "\r\n"))
		require.NoError(t, err)
		got, err := msg.Header.AddressList("To")
		require.NoError(t, err)
		require.Len(t, got, 1)
		assert.Equal(t, a.Name, got[0].Name, "name")
		assert.Equal(t, headerAddrSpec(a.Address), got[0].Address, "address")

		value := strings.TrimPrefix(strings.ReplaceAll(string(h.b), "\r\n", ""), "To: ")
		again, err := ParseAddress(value)
		require.NoError(t, err, "ParseAddress(%q)", value)
		assert.Equal(t, a.Name, again.Name)
		assert.Equal(t, headerAddrSpec(a.Address), headerAddrSpec(again.Address))
	})
}

// fieldLines returns the lines (first and continuation) of every field
// called name in raw, top-level and part headers alike.
func fieldLines(raw []byte, name string) []string {
	var out []string
	in := false
	for _, line := range strings.Split(string(raw), "\r\n") {
		switch {
		case strings.HasPrefix(line, name+":"):
			in = true
		case in && (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")):
		default:
			in = false
		}
		if in {
			out = append(out, line)
		}
	}
	return out
}

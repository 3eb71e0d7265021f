package bench

import (
	"crypto/rand"
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/postkit/mailer"
)

// A 2 KB alternative message: 1 KB of text and 1 KB of HTML.
var (
	altText = strings.Repeat("Hello Bob, your verification code is 123456. It expires soon.\n", 17)[:1024]
	altHTML = "<html><body>" + strings.Repeat("<p>Hello Bob, your code is <b>123456</b>.</p>\n", 22)[:1000] + "</body></html>"
	date    = time.Date(2024, 3, 15, 9, 30, 0, 0, time.UTC)
)

// BenchmarkAlternative2KB builds a text+HTML message and writes it: with
// this package, and with go-mail used directly (the baseline; target: at
// most 1.3× its time).
func BenchmarkAlternative2KB(b *testing.B) {
	b.Run("mailer", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(altText) + len(altHTML)))
		for b.Loop() {
			m, err := mailer.NewMessage().From("Example <noreply@example.com>").To("Bob <bob@example.com>").
				Subject("Your verification code").Text(altText).HTML(altHTML).Date(date).Build()
			if err != nil {
				b.Fatal(err)
			}
			if _, err := m.WriteTo(io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gomail", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(altText) + len(altHTML)))
		for b.Loop() {
			m := gomail.NewMsg()
			if err := m.From("Example <noreply@example.com>"); err != nil {
				b.Fatal(err)
			}
			if err := m.To("Bob <bob@example.com>"); err != nil {
				b.Fatal(err)
			}
			m.Subject("Your verification code")
			m.SetDateWithValue(date)
			m.SetBodyString(gomail.TypeTextPlain, altText)
			m.AddAlternativeString(gomail.TypeTextHTML, altHTML)
			if _, err := m.WriteTo(io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
}

const bigSize = 20 << 20

// bigFile writes a 20 MiB file of random bytes once per benchmark.
func bigFile(b *testing.B) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "big.bin")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.Reader, bigSize); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkAttachment20MiB writes a message with a 20 MiB attachment read
// from a file: with this package, with go-mail's AttachFile, and the
// streaming reference (the file through the standard library's base64
// encoder, no MIME at all). Targets: allocations under 1 MiB and at least
// 0.7× the reference's throughput.
func BenchmarkAttachment20MiB(b *testing.B) {
	path := bigFile(b)
	b.Run("mailer", func(b *testing.B) {
		m, err := mailer.NewMessage().From("noreply@example.com").To("bob@example.com").
			Subject("Report").Text("Attached.").AttachFile(path).Date(date).Build()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.SetBytes(bigSize)
		for b.Loop() {
			if _, err := m.WriteTo(io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gomail", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(bigSize)
		for b.Loop() {
			m := gomail.NewMsg()
			_ = m.From("noreply@example.com")
			_ = m.To("bob@example.com")
			m.Subject("Report")
			m.SetBodyString(gomail.TypeTextPlain, "Attached.")
			m.AttachFile(path)
			if _, err := m.WriteTo(io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reference", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(bigSize)
		for b.Loop() {
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			enc := base64.NewEncoder(base64.StdEncoding, io.Discard)
			if _, err := io.Copy(enc, f); err != nil {
				b.Fatal(err)
			}
			if err := enc.Close(); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
}

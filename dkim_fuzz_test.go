package mailer_test

import (
	"bytes"
	"crypto/ed25519"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/postkit/mailer"
)

// FuzzDKIMBodyHash compares our body hash (bh=) with go-msgauth's for any
// body, in both body canonicalizations. Bare CRs are left out: SendRaw
// writes them as CRLF, which go-msgauth's signer does not model.
func FuzzDKIMBodyHash(f *testing.F) {
	for _, s := range []string{
		"", "\r\n", "a", "a\r\n\r\n\r\n", " \t \r\n\t\r\n", "x  y\t\tz  \r\n", ".\r\n..\r\n",
		"no final break", "lf only\nlines\n\n", "  leading\r\n\r\n  \r\nend  ",
	} {
		f.Add(s)
	}
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	f.Fuzz(func(t *testing.T, body string) {
		body = strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\r", "")
		msg := []byte("From: a@example.com\r\nSubject: fuzz\r\n\r\n" + body)
		for _, c := range []string{"relaxed/relaxed", "simple/simple"} {
			ours, err := mailer.NewDKIMSigner(mailer.DKIM{Domain: "example.com", Selector: "s", Key: key, Canonicalization: c})
			if err != nil {
				t.Fatal(err)
			}
			sig, err := ours.Signature(msg)
			if err != nil {
				t.Fatal(err)
			}
			can := dkim.CanonicalizationSimple
			if strings.HasPrefix(c, "relaxed") {
				can = dkim.CanonicalizationRelaxed
			}
			var out bytes.Buffer
			if err := dkim.Sign(&out, bytes.NewReader(msg), &dkim.SignOptions{
				Domain: "example.com", Selector: "s", Signer: key, HeaderCanonicalization: can, BodyCanonicalization: can,
			}); err != nil {
				t.Fatal(err)
			}
			theirs := dkimTags(out.String()[:bytes.Index(out.Bytes(), []byte("\r\nFrom:"))])["bh"]
			if got := dkimTags(sig)["bh"]; got != theirs {
				t.Fatalf("%s body %q: bh=%s, go-msgauth bh=%s", c, body, got, theirs)
			}
		}
	})
}

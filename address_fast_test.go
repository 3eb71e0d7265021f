package mailer

import (
	"strings"
	"testing"
)

// FuzzPlainAddrSpec checks the fast path of ParseAddress: every input it
// takes is accepted by the full parse (net/mail, IDNA and the checks) as
// the same address with no name, and every domain plainDomainLDH takes is
// one IDNA accepts and gives back but for its case.
func FuzzPlainAddrSpec(f *testing.F) {
	for _, s := range []string{
		"alice@example.com", "user1@example.com", "bulk@localhost.localdomain", "a.b+c@EXAMPLE.co.uk",
		"a..b@example.com", ".a@example.com", "a.@example.com", "-a@example.com", "a@-b.com", "a@b-.com",
		"a@b..com", "a@b.com.", "a@xn--fsqu00a.xn--fiqs8s", "a@ab--cd.com", "a@b", "a@1.2.3.4",
		"!#$%&'*+-/=?^_`{|}~@example.com", "a@b@c.com", "a b@c.com", "a@b_c.com", "EXAMPLE.com", "a-b.c-d.e",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if plainDomainLDH(s) {
			ascii, err := asciiDomain(s)
			if err != nil || strings.ToLower(ascii) != senderDomain("x@"+s) {
				t.Fatalf("domain %q: fast path gives %q, IDNA %q, %v", s, senderDomain("x@"+s), ascii, err)
			}
		}
		if !plainAddrSpec(s) {
			return
		}
		a, err := parseAddress(s)
		if err != nil {
			t.Fatalf("fast path took %q, which the full parse refuses: %v", s, err)
		}
		if a != (Address{Address: s}) {
			t.Fatalf("fast path took %q as itself, the full parse gives %+v", s, a)
		}
	})
}

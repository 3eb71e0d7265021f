package gateway

import (
	"slices"
	"testing"
)

// A glob rule's domain is compiled label by label into the IDNA ASCII
// form canonRcpt gives recipients, glob labels kept, so that it matches
// every spelling of a matching recipient.
func TestRcptPatternGlobUnicode(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ pat, want, addr string }{
		{"*@*.bücher.example", "*@*.xn--bcher-kva.example", "x@shop.bücher.example"},
		{"*@*.bücher.example", "*@*.xn--bcher-kva.example", "x@shop.xn--bcher-kva.example"},
		{"*@bücher.*", "*@xn--bcher-kva.*", "x@bücher.example"},
		{"*@BÜCHER.*", "*@xn--bcher-kva.*", "x@XN--BCHER-KVA.test"},
		{"*@*.competitor.example", "*@*.competitor.example", "x@shop.ｃompetitor.example"},
		{"*@*.ｃompetitor。example", "*@*.competitor.example", "x@shop.competitor.example"},
		{"*@*.bücher.example.", "*@*.xn--bcher-kva.example", "x@a.bücher.example"},
		{"*@[ab].bücher.example", "*@[ab].xn--bcher-kva.example", "x@a.bücher.example"},
		{"a?@bücher.example", "a?@xn--bcher-kva.example", "ab@bücher.example"},
	} {
		p, err := rcptPattern(c.pat)
		if err != nil || p != c.want {
			t.Errorf("rcptPattern(%q) = %q, %v; want %q", c.pat, p, err, c.want)
		}
		if !matchRecipient(p, c.addr) {
			t.Errorf("%q does not match %q (compiled %q, address seen as %q)", c.pat, c.addr, p, canonRcpt(c.addr))
		}
	}
	for _, pat := range []string{"*@bü*.example", "*@x.Ｃ*.example", "*@[ü].example"} {
		if p, err := rcptPattern(pat); err == nil {
			t.Errorf("rcptPattern(%q) = %q, no error", pat, p)
		}
	}
}

// globLabels splits at the dots IDNA knows, not inside a bracket
// expression nor after a backslash.
func TestGlobLabels(t *testing.T) {
	t.Parallel()
	for dom, want := range map[string][]string{
		"*.bücher.example": {"*", "bücher", "example"},
		"a。b．c｡d":          {"a", "b", "c", "d"},
		"a[.]b.c":          {"a[.]b", "c"},
		"a[].]b.c":         {"a[].]b", "c"},
		"a[^].]b.c":        {"a[^].]b", "c"},
		`a\.b.c`:           {`a\.b`, "c"},
		"example.":         {"example", ""},
	} {
		if got := globLabels(dom); !slices.Equal(got, want) {
			t.Errorf("globLabels(%q) = %q, want %q", dom, got, want)
		}
	}
}

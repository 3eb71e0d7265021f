package mailer

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"strconv"
	"strings"
)

// DNSRecord returns the TXT record that publishes the signer's public key.
func (s *DKIMSigner) DNSRecord() DKIMRecord {
	return DKIMRecordFor(s.selector, s.domain, s.key.Public())
}

// A DKIMRecord is the DNS TXT record that publishes a DKIM public key.
type DKIMRecord struct {
	// Name is the owner name: "<selector>._domainkey.<domain>".
	Name string
	// Value is the record's text: "v=DKIM1; k=rsa; p=…" or
	// "v=DKIM1; k=ed25519; p=…".
	Value string
}

// DKIMRecordFor returns the TXT record for pub (an *rsa.PublicKey or an
// ed25519.PublicKey) under selector and domain. The Value is empty for any
// other key type.
func DKIMRecordFor(selector, domain string, pub crypto.PublicKey) DKIMRecord {
	r := DKIMRecord{Name: selector + "._domainkey." + strings.TrimSuffix(domain, ".")}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err == nil {
			r.Value = "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
		}
	case ed25519.PublicKey:
		r.Value = "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(k)
	}
	return r
}

// String returns the record as a zone-file line, with the text split into
// quoted strings of at most 255 octets as DNS requires:
//
//	s1._domainkey.example.com. IN TXT ("v=DKIM1; k=rsa; p=MIIB…" "…")
func (r DKIMRecord) String() string {
	var parts []string
	for v := r.Value; len(v) > 0; {
		n := min(255, len(v))
		parts = append(parts, strconv.Quote(v[:n]))
		v = v[n:]
	}
	return r.Name + ". IN TXT ( " + strings.Join(parts, " ") + " )"
}

package main

import (
	"fmt"
	"io"
	"net/mail"
	"os"
	"strings"

	"github.com/postkit/mailer"
)

// dkimFlags are the DKIM flags.
type dkimFlags struct {
	key, selector, domain string // -dkim-key, -dkim-selector, -dkim-domain
	dns                   bool   // -dkim-dns: print the TXT record and exit
}

// check checks the DKIM flags on their own.
func (d *dkimFlags) check() error {
	switch {
	case d.key == "" && (d.selector != "" || d.domain != "" || d.dns):
		return invalidf("-dkim-selector, -dkim-domain and -dkim-dns need -dkim-key FILE")
	case d.key != "" && d.selector == "":
		return invalidf("-dkim-key needs -dkim-selector, the name the public key is published under (NAME._domainkey.DOMAIN)")
	}
	return nil
}

// signer reads the key and returns the DKIM signer for the message's
// sender from (whose domain is the default -dkim-domain). Errors are
// *invalidError and never show the key.
func (d *dkimFlags) signer(from string) (*mailer.DKIMSigner, error) {
	pemBytes, err := os.ReadFile(d.key)
	if err != nil {
		return nil, invalidf("-dkim-key: %v", err)
	}
	key, err := mailer.ParseDKIMKey(pemBytes)
	if err != nil {
		return nil, invalidf("-dkim-key %s: %s", d.key, strings.TrimPrefix(err.Error(), "mailer: DKIM key: "))
	}
	domain := d.domain
	if domain == "" {
		a, err := mail.ParseAddress(from)
		if err != nil || !strings.Contains(a.Address, "@") {
			return nil, invalidf("-dkim-key needs -dkim-domain, or -from with an address to take the domain from")
		}
		domain = a.Address[strings.LastIndexByte(a.Address, '@')+1:]
	}
	s, err := mailer.NewDKIMSigner(mailer.DKIM{Domain: domain, Selector: d.selector, Key: key})
	if err != nil {
		return nil, invalidf("%s", strings.TrimPrefix(err.Error(), "mailer: "))
	}
	return s, nil
}

// printDNS prints the TXT record that publishes the key: the owner name,
// the text, and the zone-file line.
func (d *dkimFlags) printDNS(w io.Writer, from string) error {
	s, err := d.signer(from)
	if err != nil {
		return err
	}
	r := s.DNSRecord()
	_, err = fmt.Fprintf(w, "Publish this TXT record:\n  name:  %s\n  value: %s\n\nAs a zone-file line:\n%s\n", r.Name, r.Value, r)
	return err
}

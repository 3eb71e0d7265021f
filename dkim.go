package mailer

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DKIM configures DKIM signing (RFC 6376, with Ed25519 keys from RFC 8463):
// the Client signs every message with it through [WithDKIM], and a
// [DKIMSigner] made by [NewDKIMSigner] signs messages already rendered to
// bytes. Domain, Selector and Key are required.
type DKIM struct {
	// Domain is the signing domain (d=). It must align with the domain of
	// each message's From address: the same domain, or one a subdomain of
	// the other (what DMARC's relaxed alignment accepts for the usual
	// "mail.example.com" and "example.com"). A message whose From does not
	// align is not sent; the error wraps [ErrDKIMAlignment].
	Domain string
	// Selector names the key (s=): its public half is published in DNS as
	// a TXT record at "<Selector>._domainkey.<Domain>"; see
	// [DKIMSigner.DNSRecord].
	Selector string
	// Key signs: an *rsa.PrivateKey of 2048 bits or more, an
	// ed25519.PrivateKey, or any crypto.Signer whose public key is one of
	// those (a key held in a KMS). [ParseDKIMKey] reads one from PEM.
	Key crypto.Signer
	// Headers lists the header fields to sign. Empty means From, Subject,
	// Date, Message-ID, To, Cc, Reply-To, MIME-Version, Content-Type,
	// List-Unsubscribe and List-Unsubscribe-Post. Each field present is
	// signed, and From is oversigned (listed once more than it occurs) so
	// that a From added on the way breaks the signature. From is always
	// signed, even if Headers leaves it out.
	Headers []string
	// Canonicalization is "relaxed/relaxed" (the default: survives the
	// re-folding and whitespace changes of relays), "relaxed/simple",
	// "simple/relaxed" or "simple/simple". The first half applies to the
	// header, the second to the body.
	Canonicalization string
	// Expiration, if positive, sets the signature to expire (x=) this long
	// after signing. Zero means no expiry.
	Expiration time.Duration
}

// defaultDKIMHeaders is the header list of DKIM.Headers when it is empty.
var defaultDKIMHeaders = []string{
	"From", "Subject", "Date", "Message-ID", "To", "Cc", "Reply-To", "MIME-Version",
	"Content-Type", "List-Unsubscribe", "List-Unsubscribe-Post",
}

// ErrDKIMAlignment means a message's From domain does not align with the
// DKIM signing domain, or the message has no single From address to check.
// Nothing was sent.
var ErrDKIMAlignment = errors.New("mailer: DKIM domain does not align with the From domain")

// DKIMAlignmentError reports a message that cannot be signed for its From
// domain. It matches [ErrDKIMAlignment] with errors.Is.
type DKIMAlignmentError struct {
	// Domain is the signing domain (d=).
	Domain string
	// From is the From header's address ("" if there is none).
	From string
}

// Error says which domains differ.
func (e *DKIMAlignmentError) Error() string {
	if e.From == "" {
		return "mailer: DKIM: the message has no single From address to align with d=" + e.Domain
	}
	return fmt.Sprintf("mailer: DKIM: From domain %q does not align with the signing domain %q (d=): "+
		"sign with a key of the From domain, or send from an address of %s", domainOf(e.From), e.Domain, e.Domain)
}

// Is reports whether target is ErrDKIMAlignment.
func (e *DKIMAlignmentError) Is(target error) bool { return target == ErrDKIMAlignment }

// A DKIMSigner signs messages with one key. Make it with [NewDKIMSigner]; it
// is safe for concurrent use. The Client's [WithDKIM] uses one, and code
// that holds a rendered message (a gateway relaying what it received) calls
// [DKIMSigner.Sign] or [DKIMSigner.Signature] on the bytes.
type DKIMSigner struct {
	domain, selector string
	key              crypto.Signer
	algo             string // "rsa-sha256" or "ed25519-sha256"
	headers          []string
	relaxedHeader    bool
	relaxedBody      bool
	expiration       time.Duration
	now              func() time.Time
	fixedTags        [][]byte // v=, a=, c=, d= and s=, the same in every signature
}

// NewDKIMSigner checks d and returns a signer. It fails with a
// *ConfigError naming the field that is missing or invalid: an RSA key
// shorter than 2048 bits, a key of another type, an unknown
// canonicalization, a selector or domain that is not a DNS name.
func NewDKIMSigner(d DKIM) (*DKIMSigner, error) {
	bad := func(field, format string, args ...any) error {
		return configError("DKIM."+field, format, args...)
	}
	s := &DKIMSigner{selector: d.Selector, key: d.Key, expiration: d.Expiration, now: time.Now}
	if d.Domain == "" {
		return nil, bad("Domain", "empty")
	}
	domain, err := asciiDomain(strings.TrimSuffix(d.Domain, "."))
	if err != nil || !strings.Contains(domain, ".") {
		return nil, bad("Domain", "%q is not a domain name", d.Domain)
	}
	s.domain = strings.ToLower(domain)
	if d.Selector == "" {
		return nil, bad("Selector", "empty")
	}
	if _, err := asciiDomain(d.Selector); err != nil || !isASCII(d.Selector) {
		return nil, bad("Selector", "%q is not a DNS name", d.Selector)
	}
	if d.Key == nil {
		return nil, bad("Key", "nil (use ParseDKIMKey to read a PEM key)")
	}
	switch pub := d.Key.Public().(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() < 2048 {
			return nil, bad("Key", "RSA key of %d bits; DKIM needs 2048 or more (RFC 8301)", pub.N.BitLen())
		}
		s.algo = "rsa-sha256"
	case ed25519.PublicKey:
		s.algo = "ed25519-sha256"
	default:
		return nil, bad("Key", "unsupported key type %T (RSA or Ed25519)", pub)
	}
	if d.Expiration < 0 {
		return nil, bad("Expiration", "negative")
	}
	switch c := d.Canonicalization; c {
	case "", "relaxed/relaxed", "relaxed":
		s.relaxedHeader, s.relaxedBody = true, true
	case "relaxed/simple":
		s.relaxedHeader = true
	case "simple/relaxed":
		s.relaxedBody = true
	case "simple/simple", "simple":
	default:
		return nil, bad("Canonicalization", "%q (relaxed/relaxed, relaxed/simple, simple/relaxed or simple/simple)", c)
	}
	list := d.Headers
	if len(list) == 0 {
		list = defaultDKIMHeaders
	}
	for _, h := range list {
		if checkFieldName(h) != nil {
			return nil, bad("Headers", "%q is not a header field name", h)
		}
		if !slices.ContainsFunc(s.headers, func(x string) bool { return strings.EqualFold(x, h) }) {
			s.headers = append(s.headers, h)
		}
	}
	if !slices.ContainsFunc(s.headers, func(x string) bool { return strings.EqualFold(x, "From") }) {
		s.headers = append([]string{"From"}, s.headers...)
	}
	for _, t := range []string{
		"v=1", "a=" + s.algo, "c=" + canonName(s.relaxedHeader) + "/" + canonName(s.relaxedBody),
		"d=" + s.domain, "s=" + s.selector,
	} {
		s.fixedTags = append(s.fixedTags, []byte(t))
	}
	return s, nil
}

// Domain returns the signing domain (d=).
func (s *DKIMSigner) Domain() string { return s.domain }

// Selector returns the selector (s=).
func (s *DKIMSigner) Selector() string { return s.selector }

// Signature returns the DKIM-Signature header field for msg, a whole RFC
// 5322 message (CRLF or LF line ends), to be put in front of it: name,
// folded value and final CRLF. msg is read once and not copied. It fails
// with a *DKIMAlignmentError when msg's From does not align with the
// signing domain.
func (s *DKIMSigner) Signature(msg []byte) (string, error) {
	p := s.newPass()
	_, _ = p.Write(msg)
	return s.finish(p)
}

// SignatureFor is Signature for a message read from r, which is streamed:
// only the header section is held in memory.
func (s *DKIMSigner) SignatureFor(r io.Reader) (string, error) {
	p := s.newPass()
	if _, err := io.Copy(p, r); err != nil {
		return "", err
	}
	return s.finish(p)
}

// Sign returns msg with a DKIM-Signature header field in front, in a new
// slice. See Signature to avoid the copy.
func (s *DKIMSigner) Sign(msg []byte) ([]byte, error) {
	sig, err := s.Signature(msg)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(sig)+len(msg))
	return append(append(out, sig...), msg...), nil
}

// passes recycles dkimPass values, whose scratch buffer and header
// buffer would otherwise be allocated for every message.
var passes = sync.Pool{New: func() any {
	return &dkimPass{h: sha256.New(), header: make([]byte, 0, 2048)}
}}

func (s *DKIMSigner) newPass() *dkimPass {
	p := passes.Get().(*dkimPass)
	h, header, bw := p.h, p.header[:0], p.bw
	h.Reset()
	p.reset()
	p.h, p.header, p.bw, p.relaxed = h, header, bw, s.relaxedBody
	return p
}

// donePass returns p to the pool, unless its header buffer grew large.
func donePass(p *dkimPass) {
	if cap(p.header) <= 64<<10 && cap(p.canon) <= 64<<10 {
		if p.bw != nil {
			p.bw.Reset(nil)
		}
		passes.Put(p)
	}
}

// finish checks alignment and signs the header section p collected.
func (s *DKIMSigner) finish(p *dkimPass) (string, error) {
	sig, err := s.sign(p, true)
	return string(sig), err
}

// sign ends the pass p and returns the DKIM-Signature field, in a new
// slice. check says whether to check the From alignment on the header
// collected (Send has checked the Message's From already). Everything but
// the returned field and the signature value is built in p's buffers, so
// that a message costs a few allocations.
func (s *DKIMSigner) sign(p *dkimPass, check bool) ([]byte, error) {
	defer donePass(p)
	if p.err != nil {
		return nil, p.err
	}
	bh := p.sum()
	hdr := p.splitHeader()
	if check {
		if err := s.aligned(hdr, p.fields); err != nil {
			return nil, err
		}
	}

	// The signed fields, each instance from the bottom up (RFC 6376
	// section 5.4.2), and From once more than it occurs; their names go
	// into h= as they are chosen.
	names := append(p.names[:0], "h="...)
	signed := p.signed[:0]
	for _, name := range s.headers {
		mark := len(signed)
		for i, f := range p.fields {
			if equalFoldASCII(hdr[f.start:f.nameEnd], name) {
				signed = append(signed, i)
			}
		}
		slices.Reverse(signed[mark:])
		for range len(signed) - mark {
			names = append(append(names, name...), ':')
		}
		if strings.EqualFold(name, "From") {
			names = append(append(names, name...), ':') // oversigned: an empty instance
		}
	}
	names = names[:len(names)-1] // the last colon
	p.names, p.signed = names, signed

	now := s.now()
	f := sigFolder{b: append(p.tag[:0], "DKIM-Signature:"...), piece: p.piece}
	f.line = len(f.b)
	for _, t := range s.fixedTags {
		f.tag(t, foldNone)
	}
	tag := strconv.AppendInt(append(p.scratchTag[:0], "t="...), now.Unix(), 10)
	f.tag(tag, foldNone)
	if s.expiration > 0 {
		tag = strconv.AppendInt(append(tag[:0], "x="...), now.Add(s.expiration).Unix(), 10)
		f.tag(tag, foldNone)
	}
	f.tag(names, foldColon)
	tag = base64.StdEncoding.AppendEncode(append(tag[:0], "bh="...), bh[:])
	f.tag(tag, foldAnywhere)
	f.last()
	p.scratchTag, p.piece = tag, f.piece
	unsigned := f.b // ends with "b="
	p.tag = unsigned

	h := p.h
	h.Reset()
	buf := p.canon[:0]
	for _, i := range signed {
		fl := p.fields[i]
		buf = appendCanonHeader(buf, hdr[fl.start:fl.end], s.relaxedHeader)
	}
	buf = appendCanonHeader(buf, unsigned, s.relaxedHeader)
	h.Write(buf[:len(buf)-2]) // the signature's own field without its CRLF
	p.canon = buf
	var digest [sha256.Size]byte
	h.Sum(digest[:0])

	var sig []byte
	var err error
	if k, ok := s.key.(ed25519.PrivateKey); ok {
		// RFC 8463: Ed25519 signs the SHA-256 digest itself.
		sig = ed25519.Sign(k, digest[:])
	} else {
		opts := crypto.SignerOpts(crypto.SHA256)
		if s.algo == "ed25519-sha256" {
			opts = crypto.Hash(0)
		}
		sig, err = s.key.Sign(rand.Reader, digest[:], opts)
	}
	if err != nil {
		return nil, fmt.Errorf("mailer: DKIM: signing: %w", err)
	}
	n := base64.StdEncoding.EncodedLen(len(sig))
	out := make([]byte, 0, len(unsigned)+n+3*(n/60+2)+2)
	out = append(out, unsigned...)
	out = appendFoldedBase64(out, sig, len(unsigned)-bytes.LastIndexByte(unsigned, '\n')-1)
	return append(out, "\r\n"...), nil
}

// aligned checks that the message has one From address, of a domain that
// aligns with the signing domain. hdr is the header section the fields
// span.
func (s *DKIMSigner) aligned(hdr []byte, fields []fieldSpan) error {
	var from []byte
	n := 0
	for _, f := range fields {
		if equalFoldASCII(hdr[f.start:f.nameEnd], "From") {
			from = hdr[f.colon+1 : f.end]
			n++
		}
	}
	if n != 1 {
		return &DKIMAlignmentError{Domain: s.domain}
	}
	unfolded := strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(string(from), "\r\n", ""), "\n", ""))
	list, err := (&mail.AddressParser{WordDecoder: anyCharset}).ParseList(unfolded)
	if err != nil || len(list) != 1 {
		return &DKIMAlignmentError{Domain: s.domain}
	}
	addr := list[0].Address
	if !strings.Contains(addr, "@") || !domainsAlign(domainOf(addr), s.domain) {
		return &DKIMAlignmentError{Domain: s.domain, From: addr}
	}
	return nil
}

// domainsAlign reports whether a and b are the same domain or one is a
// subdomain of the other.
func domainsAlign(a, b string) bool {
	a, b = strings.ToLower(strings.TrimSuffix(a, ".")), strings.ToLower(strings.TrimSuffix(b, "."))
	return a == b || strings.HasSuffix(a, "."+b) || strings.HasSuffix(b, "."+a) && strings.Contains(a, ".")
}

// domainOf returns the domain of addr in lower-case ASCII (punycode).
func domainOf(addr string) string {
	d := addr[strings.LastIndexByte(addr, '@')+1:]
	if ascii, err := asciiDomain(d); err == nil {
		d = ascii
	}
	return strings.ToLower(d)
}

// anyCharset lets the From header's display name be in any charset: only
// the address is needed.
var anyCharset = &mime.WordDecoder{CharsetReader: func(_ string, r io.Reader) (io.Reader, error) { return r, nil }}

func canonName(relaxed bool) string {
	if relaxed {
		return "relaxed"
	}
	return "simple"
}

// signMessage renders m once into a DKIM pass and returns its signature
// header field. The message is streamed: attachments are read, encoded and
// hashed, never held.
func (s *DKIMSigner) signMessage(m *Message) ([]byte, error) {
	p := s.newPass()
	if p.bw == nil {
		p.bw = bufio.NewWriterSize(p, 4096)
	} else {
		p.bw.Reset(p)
	}
	bw := p.bw
	err := m.write(bw)
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		donePass(p)
		return nil, err
	}
	return s.sign(p, true)
}

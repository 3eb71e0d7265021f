package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"time"
)

// errNoClientCA is verifyClientCert's error without a client CA pool.
var errNoClientCA = errors.New("no client CA configured")

// verifyClientCert verifies peers[0], the leaf of a TLS peer's
// certificates, as crypto/tls verifies a client certificate at the
// handshake: for client authentication, against pool, with the other
// peer certificates as intermediates, at now (the zero time is
// time.Now). A nil pool verifies nothing (x509 would take the system
// roots). The handshake verified against the CAs of its own time; the
// admin listener and SMTP sessions call this again so that a reload that
// rotates or removes a client_ca_file ends what a certificate of the old
// CA was worth on connections opened before it.
func verifyClientCert(pool *x509.CertPool, peers []*x509.Certificate, now time.Time) ([][]*x509.Certificate, error) {
	if pool == nil || len(peers) == 0 {
		return nil, errNoClientCA
	}
	opts := x509.VerifyOptions{Roots: pool, Intermediates: x509.NewCertPool(), CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	for _, c := range peers[1:] {
		opts.Intermediates.AddCert(c)
	}
	return peers[0].Verify(opts)
}

// chainsExpire returns until when a certificate that verified with
// chains stays valid: the latest, over the chains, of the earliest
// NotAfter among a chain's certificates.
func chainsExpire(chains [][]*x509.Certificate) time.Time {
	var last time.Time
	for _, ch := range chains {
		end := ch[0].NotAfter
		for _, c := range ch[1:] {
			if c.NotAfter.Before(end) {
				end = c.NotAfter
			}
		}
		if end.After(last) {
			last = end
		}
	}
	return last
}

// certCredential returns the tenant credential that the verified client
// certificate leaf, of sha256 fingerprint fp (hex), names in s at now:
// the first one, in configuration order, that matches it and has not
// expired; nil for none.
func (s *snapshot) certCredential(leaf *x509.Certificate, fp string, now time.Time) *credential {
	for _, c := range s.certs {
		if !c.expired(now) && certMatches(c.cert, leaf.Subject.CommonName, leaf.DNSNames, fp) {
			return c
		}
	}
	return nil
}

func certMatches(c ClientCertConfig, cn string, dns []string, fp string) bool {
	if c.SHA256 != "" && c.SHA256 != fp {
		return false
	}
	if c.CommonName != "" && c.CommonName != cn {
		return false
	}
	if c.SANDNS != "" {
		found := false
		for _, d := range dns {
			if strings.EqualFold(d, c.SANDNS) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// certAuth is what a session authenticated by a client certificate keeps
// to establish that identity again, at each MAIL, under the
// configuration of that time (see recheck).
type certAuth struct {
	peers []*x509.Certificate // as the client sent them, leaf first
	// snap is the configuration of the last check that passed, and until
	// when that check holds: the end of the verified chain or of the
	// credential. Zero before the first check.
	snap  *snapshot
	until time.Time
}

// establish returns the credential that the session's certificate, of
// fingerprint fp, names under snap at now, as for a new connection: snap
// takes client certificates, the certificate verifies against snap's
// client CAs (verifyClientCert), and the credential is the first of snap
// it matches (certCredential); nil for none. It remembers the check for
// recheck.
func (a *certAuth) establish(snap *snapshot, fp string, now time.Time) *credential {
	a.snap = nil
	if snap.clientAuth == tls.NoClientCert {
		return nil
	}
	chains, err := verifyClientCert(snap.clientCAs, a.peers, now)
	if err != nil {
		return nil
	}
	c := snap.certCredential(a.peers[0], fp, now)
	if c == nil {
		return nil
	}
	a.snap, a.until = snap, chainsExpire(chains)
	if !c.expires.IsZero() && c.expires.Before(a.until) {
		a.until = c.expires
	}
	return c
}

// recheck reports whether the session's certificate, of fingerprint fp,
// still names the credential credID under snap at now (establish). A
// check that passed holds, without verifying again, while the
// configuration is the same snapshot and neither the chain nor the
// credential has expired; so a session pays one verification when it
// takes its identity and one after each reload.
func (a *certAuth) recheck(snap *snapshot, fp, credID string, now time.Time) bool {
	if a.snap == snap && now.Before(a.until) {
		return true
	}
	c := a.establish(snap, fp, now)
	if c == nil || c.id() != credID {
		a.snap = nil
		return false
	}
	return true
}

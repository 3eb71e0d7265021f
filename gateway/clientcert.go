package gateway

import (
	"crypto/x509"
	"errors"
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
// admin listener calls this again so that a reload that rotates or
// removes its client_ca_file ends what a certificate of the old CA was
// worth on connections opened before it.
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

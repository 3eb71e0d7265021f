package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"net/http"
	"strings"
)

// authenticate finds the principal of an admin request: a bearer token
// if the request has an Authorization header (a wrong one is not saved by
// a good certificate), else cert, the request's client certificate as
// verified now against the current admin CA (adminBoundary.clientCert;
// nil for none or one that no longer verifies). It returns
// nil when neither names a principal. Every token principal is compared,
// in constant time, so the time taken says nothing about which one
// matched or how close a guess was.
func (a *adminDef) authenticate(r *http.Request, cert *x509.Certificate) *principal {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return nil
		}
		sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
		var found *principal
		for _, p := range a.principals {
			if p.token == nil {
				continue
			}
			if subtle.ConstantTimeCompare(sum[:], p.token) == 1 && found == nil {
				found = p
			}
		}
		return found
	}
	if cert == nil {
		return nil
	}
	sum := sha256.Sum256(cert.Raw)
	fp := hex.EncodeToString(sum[:])
	var found *principal
	for _, p := range a.principals {
		if p.cert == nil {
			continue
		}
		if principalCertMatches(p.cert, cert.Subject.CommonName, cert.DNSNames, fp) && found == nil {
			found = p
		}
	}
	return found
}

// principalCertMatches is certMatches with the fingerprint compared in
// constant time.
func principalCertMatches(c *ClientCertConfig, cn string, dns []string, fp string) bool {
	if c.SHA256 != "" && subtle.ConstantTimeCompare([]byte(c.SHA256), []byte(fp)) != 1 {
		return false
	}
	byFP := ClientCertConfig{SANDNS: c.SANDNS, CommonName: c.CommonName}
	return certMatches(byFP, cn, dns, fp)
}

// may reports whether role may make a call that needs need.
func may(role, need string) bool {
	return role == RoleAdmin || role == need
}

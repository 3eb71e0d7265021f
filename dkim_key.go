package mailer

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
)

// ParseDKIMKey reads a DKIM private key from PEM: an RSA key as PKCS#1
// ("RSA PRIVATE KEY", what `openssl genrsa` writes) or PKCS#8 ("PRIVATE
// KEY", what `openssl genpkey` writes for RSA and Ed25519). RSA keys must
// have 2048 bits or more. Encrypted keys are not read. Errors are
// *ConfigError values that never quote the key.
func ParseDKIMKey(pemBytes []byte) (crypto.Signer, error) {
	bad := func(format string, args ...any) error { return configError("DKIM key", format, args...) }
	var block *pem.Block
	for rest := pemBytes; ; {
		block, rest = pem.Decode(rest)
		if block == nil || block.Type == "RSA PRIVATE KEY" || block.Type == "PRIVATE KEY" {
			break
		}
		if block.Type == "ENCRYPTED PRIVATE KEY" {
			break
		}
	}
	if block != nil && (block.Type == "ENCRYPTED PRIVATE KEY" || block.Headers["Proc-Type"] != "") {
		return nil, bad("the PEM key is encrypted; decrypt it first (openssl pkey -in key.pem -out plain.pem)")
	}
	if block == nil {
		return nil, bad("no PEM private key (RSA PRIVATE KEY or PRIVATE KEY) found")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, bad("cannot parse the %s block: %v", block.Type, err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if n := k.N.BitLen(); n < 2048 {
			return nil, bad("RSA key of %d bits; DKIM needs 2048 or more (RFC 8301)", n)
		}
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	default:
		return nil, bad("unsupported key type %T (RSA or Ed25519)", key)
	}
}

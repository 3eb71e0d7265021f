package gateway

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
)

// AdminConfig is the admin listener: /livez, /readyz, /metrics and the
// admin API under /api/. Without TLS it must be on a loopback address;
// with TLS (cert_file, key_file) it may listen anywhere and, with
// client_ca_file, takes client certificates as principals.
//
// /livez and /readyz need no principal (load balancers probe them).
// Neither does /metrics, unless MetricsAuth is set, where the listener
// itself is its boundary: bound to a loopback address, or TLS that
// requires a certificate of the admin CA (client_ca_file with
// client_auth "require", the default) and a request that carries one;
// metric labels hold only names from the configuration. On any other
// address without required client certificates (no client_ca_file, or
// client_auth "verify_if_given") anyone who reaches the port could read
// it, so /metrics needs a principal (either role) there, as it does
// everywhere with MetricsAuth; so does a request without a verified
// client certificate on a connection made before a reload required
// them. Every /api/ call needs a principal and is audited.
//
// A client certificate counts (as a principal, or for /metrics) only
// while it verifies against the client CA configured now: it is
// verified again on every request, so a reload that rotates or removes
// client_ca_file ends a certificate of the old CA on connections kept
// alive across it too (401, as without a certificate), and new
// connections with it fail the handshake.
type AdminConfig struct {
	// Addr is host:port; port 0 picks a free port. Changing it, removing
	// the admin section or turning its TLS on or off needs a restart: a
	// reload that does is refused.
	Addr string         `yaml:"addr"`
	TLS  AdminTLSConfig `yaml:"tls"`
	// Principals are who may call the admin API, and with which role.
	Principals []PrincipalConfig `yaml:"principals"`
	// MetricsAuth makes /metrics need a principal (either role) on every
	// listener; without it, only a listener that is not its own boundary
	// (see AdminConfig) asks for one.
	MetricsAuth bool `yaml:"metrics_auth"`
}

// AdminTLSConfig turns the admin listener into HTTPS. The files are read
// again on reload; whether the listener speaks TLS at all needs a restart.
type AdminTLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile is the CA of the client certificates that principals
	// name (mTLS). A reload that changes it applies to open connections
	// as well: each request's certificate is verified against the CA
	// read last.
	ClientCAFile string `yaml:"client_ca_file"`
	// ClientAuth is "require" (the default with a CA: no connection
	// without a certificate of that CA) or "verify_if_given" (token
	// principals may connect without one).
	ClientAuth string `yaml:"client_auth"`
}

// PrincipalConfig is one caller of the admin API: a token (its SHA-256,
// from `mailgate token new NAME`, sent as "Authorization: Bearer TOKEN")
// or a client certificate (fingerprint or subject), and a role.
type PrincipalConfig struct {
	// Name is what the audit records for the principal's calls.
	Name string `yaml:"name"`
	// Role is "admin" (everything) or "auditor" (read only: tenants,
	// audit, queue, metrics).
	Role        string            `yaml:"role"`
	TokenSHA256 string            `yaml:"token_sha256"`
	ClientCert  *ClientCertConfig `yaml:"client_cert"`
}

// Admin roles.
const (
	RoleAdmin   = "admin"
	RoleAuditor = "auditor"
)

// principal is a compiled PrincipalConfig.
type principal struct {
	name  string
	role  string
	token []byte // SHA-256 of the token, or nil
	cert  *ClientCertConfig
}

// adminDef is the compiled admin section.
type adminDef struct {
	addr        string
	tls         bool
	cert        *tls.Certificate
	clientCAs   *x509.CertPool
	clientAuth  tls.ClientAuthType
	principals  []*principal
	metricsAuth bool
}

func compileAdmin(cfg *Config, s *snapshot, el *errList) {
	ac := cfg.Admin
	p := "admin"
	if h := cfg.Health.Addr; h != "" {
		if ac.Addr != "" {
			el.add("health.addr", "give admin.addr only (health is its old name)")
		}
		ac.Addr, p = h, "health"
	}
	a := &adminDef{addr: ac.Addr, metricsAuth: ac.MetricsAuth}
	s.admin = a
	t := ac.TLS
	a.tls = t.CertFile != "" || t.KeyFile != ""
	if ac.Addr == "" {
		if a.tls || t.ClientCAFile != "" || len(ac.Principals) > 0 {
			el.add("admin.addr", "missing (the admin section has no listener)")
		}
		return
	}
	if _, _, err := net.SplitHostPort(ac.Addr); err != nil {
		el.add(p+".addr", "%v", err)
	} else if !a.tls && !loopbackAddr(ac.Addr) {
		el.add(p+".addr", "%q is not a loopback address; give admin.tls for another address", ac.Addr)
	}
	if a.tls {
		if t.CertFile == "" || t.KeyFile == "" {
			el.add("admin.tls", "cert_file and key_file go together")
		} else if c, err := tls.LoadX509KeyPair(cfg.path(t.CertFile), cfg.path(t.KeyFile)); err != nil {
			el.add("admin.tls.cert_file", "%v", err)
		} else {
			a.cert = &c
		}
	}
	if t.ClientCAFile != "" {
		if !a.tls {
			el.add("admin.tls.client_ca_file", "needs cert_file and key_file (client certificates need TLS)")
		}
		a.clientCAs = loadCAPool(el, "admin.tls.client_ca_file", cfg.path(t.ClientCAFile), t.ClientCAFile)
	}
	switch t.ClientAuth {
	case "", "require":
		if t.ClientCAFile != "" {
			a.clientAuth = tls.RequireAndVerifyClientCert
		} else if t.ClientAuth != "" {
			el.add("admin.tls.client_auth", "needs client_ca_file")
		}
	case "verify_if_given":
		a.clientAuth = tls.VerifyClientCertIfGiven
		if t.ClientCAFile == "" {
			el.add("admin.tls.client_auth", "needs client_ca_file")
		}
	default:
		el.add("admin.tls.client_auth", "%q is not require or verify_if_given", t.ClientAuth)
	}
	names := map[string]bool{}
	tokens := map[string]string{}
	for i, pc := range ac.Principals {
		pp := fmt.Sprintf("admin.principals[%d]", i)
		pr := &principal{name: pc.Name, role: pc.Role}
		switch {
		case pc.Name == "":
			el.add(pp+".name", "missing (the audit names each call's principal)")
		case strings.ContainsAny(pc.Name, "\x00\r\n\t"):
			el.add(pp+".name", "control characters")
		case names[pc.Name]:
			el.add(pp+".name", "duplicate principal %q", pc.Name)
		}
		names[pc.Name] = true
		if pc.Role != RoleAdmin && pc.Role != RoleAuditor {
			el.add(pp+".role", "%q is not admin or auditor", pc.Role)
		}
		switch {
		case (pc.TokenSHA256 == "") == (pc.ClientCert == nil):
			el.add(pp, "give exactly one of token_sha256, client_cert")
		case pc.TokenSHA256 != "":
			h, err := hex.DecodeString(pc.TokenSHA256)
			if err != nil || len(h) != sha256.Size {
				el.add(pp+".token_sha256", "not 64 hex digits (use `mailgate token new`)")
			} else if prev, dup := tokens[string(h)]; dup {
				el.add(pp+".token_sha256", "the same token as principal %q", prev)
			}
			tokens[string(h)] = pc.Name
			pr.token = h
		default:
			c := *pc.ClientCert
			c.SHA256 = strings.ToLower(strings.ReplaceAll(c.SHA256, ":", ""))
			if c.SANDNS == "" && c.CommonName == "" && c.SHA256 == "" {
				el.add(pp+".client_cert", "needs san_dns, common_name or sha256")
			}
			if c.SHA256 != "" {
				if h, err := hex.DecodeString(c.SHA256); err != nil || len(h) != sha256.Size {
					el.add(pp+".client_cert.sha256", "not a hex SHA-256 fingerprint")
				}
			}
			if t.ClientCAFile == "" {
				el.add(pp+".client_cert", "needs admin.tls.client_ca_file")
			}
			pr.cert = &c
		}
		a.principals = append(a.principals, pr)
	}
}

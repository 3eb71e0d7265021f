package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

func compileTenants(cfg *Config, s *snapshot, el *errList) {
	if len(cfg.Tenants) == 0 {
		el.add("tenants", "no tenant: nobody could send")
	}
	for _, name := range orderedKeys(cfg.Tenants, cfg.tenantOrder) {
		tc := cfg.Tenants[name]
		p := "tenants." + name
		t := &tenant{name: name, allowNull: tc.AllowNullSender, checkHeader: tc.CheckHeaderFrom == nil || *tc.CheckHeaderFrom}
		if len(tc.Credentials) == 0 {
			el.add(p+".credentials", "a tenant needs at least one credential")
		}
		for i, cc := range tc.Credentials {
			compileCredential(fmt.Sprintf("%s.credentials[%d]", p, i), name, cc, s, el)
		}
		if len(tc.Senders) == 0 {
			el.add(p+".senders", "at least one sender address or @domain is needed")
		}
		for i, snd := range tc.Senders {
			if v, ok := senderPattern(snd); ok {
				t.senders = append(t.senders, v)
			} else {
				el.add(fmt.Sprintf("%s.senders[%d]", p, i), "%q is not an address or @domain", snd)
			}
		}
		for i, r := range tc.Recipients.Allow {
			cp, err := rcptPattern(r)
			t.allow = append(t.allow, cp)
			switch {
			case !validRcptPattern(r):
				el.add(fmt.Sprintf("%s.recipients.allow[%d]", p, i), "bad pattern %q", r)
			case err != nil:
				el.add(fmt.Sprintf("%s.recipients.allow[%d]", p, i), "pattern %q: %v", r, err)
			}
		}
		for i, r := range tc.Recipients.Deny {
			cp, err := rcptPattern(r)
			t.deny = append(t.deny, cp)
			switch {
			case !validRcptPattern(r):
				el.add(fmt.Sprintf("%s.recipients.deny[%d]", p, i), "bad pattern %q", r)
			case err != nil:
				el.add(fmt.Sprintf("%s.recipients.deny[%d]", p, i), "pattern %q: %v", r, err)
			}
		}
		lim := tc.Limits
		t.maxBytes, t.maxRcpt = lim.MaxMessageBytes, lim.MaxRecipients
		if t.maxBytes <= 0 || t.maxBytes > s.limits.MaxMessageBytes {
			if t.maxBytes > s.limits.MaxMessageBytes {
				el.add(p+".limits.max_message_bytes", "%d exceeds the server's %d", t.maxBytes, s.limits.MaxMessageBytes)
			}
			t.maxBytes = s.limits.MaxMessageBytes
		}
		if t.maxRcpt <= 0 || t.maxRcpt > s.limits.MaxRecipients {
			if t.maxRcpt > s.limits.MaxRecipients {
				el.add(p+".limits.max_recipients", "%d exceeds the server's %d", t.maxRcpt, s.limits.MaxRecipients)
			}
			t.maxRcpt = s.limits.MaxRecipients
		}
		t.perMinute, t.perDay, t.maxConns = lim.MessagesPerMinute, lim.MessagesPerDay, lim.MaxConnections
		t.cmdTimeout, t.dataIdle, t.dataMax = s.limits.CommandTimeout, s.limits.DataIdleTimeout, s.limits.DataMaxDuration
		if lim.CommandTimeout > 0 {
			t.cmdTimeout = lim.CommandTimeout
		}
		if lim.DataIdleTimeout > 0 {
			t.dataIdle = lim.DataIdleTimeout
		}
		if lim.DataMaxDuration > 0 {
			t.dataMax = lim.DataMaxDuration
		}
		if lim.CommandTimeout < 0 || lim.DataIdleTimeout < 0 || lim.DataMaxDuration < 0 {
			el.add(p+".limits", "timeouts must not be negative")
		}
		if t.perMinute < 0 || t.perDay < 0 || t.maxConns < 0 {
			el.add(p+".limits", "limits must not be negative")
		}
		t.mode = tc.Route.Mode
		if t.mode == "" {
			t.mode = "sync"
		}
		switch t.mode {
		case "sync", "capture", "queue":
		default:
			el.add(p+".route.mode", "%q is not one of sync, queue, capture", t.mode)
		}
		if len(tc.Route.Upstreams) == 0 {
			el.add(p+".route.upstreams", "at least one upstream is needed")
		}
		for i, un := range tc.Route.Upstreams {
			if _, ok := s.upstreams[un]; !ok {
				el.add(fmt.Sprintf("%s.route.upstreams[%d]", p, i), "no upstream called %q", un)
				continue
			}
			t.chain = append(t.chain, un)
		}
		compileRules(p, tc, t, s, el)
		if t.mode != "capture" && len(t.chain) == len(tc.Route.Upstreams) {
			for i, snd := range t.senders {
				ok := false
				for _, un := range t.chain {
					if s.upstreams[un].covers(snd) {
						ok = true
						break
					}
				}
				if !ok {
					el.add(fmt.Sprintf("%s.senders[%d]", p, i), "no upstream in the route (%s) may send as %q; add it to an upstream's senders or change the route",
						strings.Join(t.chain, ", "), snd)
				}
			}
		}
		s.tenants[name] = t
		s.tenantOrder = append(s.tenantOrder, name)
	}
}

func compileCredential(p, tname string, cc CredentialConfig, s *snapshot, el *errList) {
	c := &credential{tenant: tname, username: cc.Username}
	if cc.Expires != nil {
		c.expires = *cc.Expires
	}
	n := 0
	if cc.TokenSHA256 != "" {
		n++
		c.kind = credToken
		h, err := hex.DecodeString(cc.TokenSHA256)
		if err != nil || len(h) != sha256.Size {
			el.add(p+".token_sha256", "not 64 hex digits (use `mailgate token new`)")
		}
		c.hash = h
	}
	if cc.Bcrypt != "" {
		n++
		c.kind = credBcrypt
		if _, err := bcrypt.Cost([]byte(cc.Bcrypt)); err != nil {
			el.add(p+".bcrypt", "not a bcrypt hash: %v", err)
		}
		c.hash = []byte(cc.Bcrypt)
	}
	if cc.Argon2id != "" {
		n++
		c.kind = credArgon2id
		if _, err := parseArgon2id(cc.Argon2id); err != nil {
			el.add(p+".argon2id", "%v", err)
		}
		c.hash = []byte(cc.Argon2id)
	}
	if cc.ClientCert != nil {
		n++
		c.kind = credCert
		c.cert = *cc.ClientCert
		c.cert.SHA256 = strings.ToLower(strings.ReplaceAll(c.cert.SHA256, ":", ""))
		if c.cert.SANDNS == "" && c.cert.CommonName == "" && c.cert.SHA256 == "" {
			el.add(p+".client_cert", "needs san_dns, common_name or sha256")
		}
		if s.clientCAs == nil {
			el.add(p+".client_cert", "needs server.tls.client_ca_file")
		}
		if cc.Username != "" {
			el.add(p+".username", "a client_cert credential has no user name")
		}
		s.certs = append(s.certs, c)
	}
	if n != 1 {
		el.add(p, "give exactly one of token_sha256, bcrypt, argon2id, client_cert")
		return
	}
	if c.kind == credCert {
		return
	}
	if cc.Username == "" {
		el.add(p+".username", "missing")
		return
	}
	if strings.ContainsAny(cc.Username, "\x00\r\n") {
		el.add(p+".username", "control characters")
	}
	if prev, dup := s.users[cc.Username]; dup {
		el.add(p+".username", "%q is also a user of tenant %q", cc.Username, prev.tenant)
		return
	}
	s.users[cc.Username] = c
}

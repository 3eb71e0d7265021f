package gateway

import (
	"errors"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/postkit/mailer/gateway/internal/sasllogin"
)

// authenticated binds the session to cred's tenant.
func (s *session) authenticated(snap *snapshot, cred *credential, user, mech, certFP string) error {
	t := snap.tenants[cred.tenant]
	gc := s.gc
	gc.mu.Lock()
	first := gc.info.tenant == ""
	gc.mu.Unlock()
	if first && !s.g.rates.openConn(t, s.g.now()) {
		s.g.audit.write(&auditRecord{Event: "auth", Session: gc.info.id, Client: gc.RemoteAddr().String(), Mech: mech,
			User: user, Tenant: t.name, Result: "refused", Reason: "tenant_connections"}, s.g.now())
		s.g.prom.auth(gc.listener, mech, "limit")
		gc.kill()
		return errTenantConns
	}
	s.mu.Lock()
	s.ident = &identity{tenant: cred.tenant, credID: cred.id(), user: user, mech: mech, cert: certFP}
	s.mu.Unlock()
	gc.mu.Lock()
	gc.info.tenant, gc.info.user = cred.tenant, user
	gc.cmdIdle = t.cmdTimeout
	gc.mu.Unlock()
	rec := &auditRecord{Event: "auth", Session: gc.info.id, Client: gc.RemoteAddr().String(), Mech: mech, User: user,
		Tenant: cred.tenant, Result: "ok"}
	if certFP != "" {
		rec.ClientCert = "sha256:" + certFP
	}
	s.g.audit.write(rec, s.g.now())
	s.g.prom.auth(gc.listener, mech, "ok")
	return nil
}

func (s *session) AuthMechanisms() []string {
	if !s.tls {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	if s.ident != nil {
		return nil, reply(503, 5, 5, 1, "Already authenticated")
	}
	if _, isTLS := s.conn.TLSConnectionState(); !isTLS || !s.tls {
		// Audited once a connection: enough to know that a credential
		// crossed in clear text, and no way to fill the audit.
		s.gc.mu.Lock()
		first := !s.gc.info.clearAuth
		s.gc.info.clearAuth = true
		s.gc.mu.Unlock()
		if first {
			s.g.audit.write(&auditRecord{Event: "auth", Session: s.gc.info.id, Client: s.gc.RemoteAddr().String(),
				Mech: cleanText(mech, 20), Result: "refused", Reason: "no_tls"}, s.g.now())
		}
		return nil, errTLSRequired
	}
	if s.g.fails.banned(s.gc.ip, s.g.now()) {
		return nil, s.refuseBanned(mech, "")
	}
	switch mech {
	case sasl.Plain:
		return &saslGuard{s: s, mech: mech, inner: sasl.NewPlainServer(func(identity, user, pass string) error {
			if identity != "" && identity != user {
				return s.login(mech, user, "\x00") // an authorization identity is not supported
			}
			return s.login(mech, user, pass)
		})}, nil
	case sasl.Login:
		return &saslGuard{s: s, mech: mech, inner: sasllogin.NewServer(func(user, pass string) error {
			return s.login(mech, user, pass)
		})}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

// saslGuard turns go-sasl's parse errors (which go-smtp would answer 454
// with go-sasl's text) into 501 5.5.2, counted as a failure.
type saslGuard struct {
	s     *session
	mech  string
	inner sasl.Server
}

func (g *saslGuard) Next(resp []byte) ([]byte, bool, error) {
	ch, done, err := g.inner.Next(resp)
	if err != nil {
		var se *smtp.SMTPError
		if !errors.As(err, &se) {
			_, ban := g.s.failed("", "malformed")
			g.s.g.prom.auth(g.s.gc.listener, g.mech, authResult(ban))
			if ban {
				g.s.gc.kill()
			}
			return nil, true, errAuthMalformed
		}
		return nil, true, se
	}
	return ch, done, nil
}

// login checks a user name and password.
func (s *session) login(mech, user, pass string) error {
	g := s.g
	now := g.now()
	if g.fails.banned(s.gc.ip, now) {
		// Banned during the exchange, by another connection's failures.
		return s.refuseBanned(mech, user)
	}
	snap := g.snap.Load()
	cred := snap.users[user]
	// One password check on every path, an unknown user's against the
	// decoy: a failure takes the same work whether the user exists, has
	// expired or gave a wrong password (no user enumeration by timing).
	checked := cred
	if checked == nil {
		checked = snap.decoy
	}
	good := g.auth.check(checked, pass, now)
	reason := ""
	switch {
	case cred == nil:
		reason = "unknown_user"
	case cred.expired(now):
		reason = "expired"
	case !good:
		reason = "bad_password"
	}
	if reason != "" {
		return s.failedLogin(mech, user, reason)
	}
	g.fails.success(user)
	return s.authenticated(snap, cred, user, mech, "")
}

func (s *session) failedLogin(mech, user, reason string) error {
	g := s.g
	delay, ban := s.failed(user, reason)
	g.audit.write(&auditRecord{Event: "auth", Session: s.gc.info.id, Client: s.gc.RemoteAddr().String(), Mech: mech,
		User: cleanText(user, 64), Result: "fail", Reason: reason, Banned: ban, DelayMS: delay.Milliseconds()}, g.now())
	g.prom.auth(s.gc.listener, mech, authResult(ban))
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-g.ctx.Done():
			t.Stop()
		}
	}
	if ban {
		s.gc.kill()
	}
	return errAuthInvalid
}

// refuseBanned answers an AUTH from a banned address, on a connection
// opened before the ban (the listener refuses new ones): no password is
// checked, and the connection closes after the 421.
func (s *session) refuseBanned(mech, user string) error {
	g := s.g
	g.audit.write(&auditRecord{Event: "auth", Session: s.gc.info.id, Client: s.gc.RemoteAddr().String(), Mech: mech,
		User: cleanText(user, 64), Result: "refused", Reason: "banned"}, g.now())
	g.prom.auth(s.gc.listener, mech, "banned")
	s.gc.kill()
	return errAuthBanned
}

func (s *session) failed(user, reason string) (time.Duration, bool) {
	s.gc.mu.Lock()
	s.gc.info.authFail++
	s.gc.mu.Unlock()
	return s.g.fails.fail(s.gc.ip, user, s.g.now(), s.g.snap.Load().authFail)
}

// revalidate checks, with the current configuration snap, that the
// session's credential still exists and has not expired (reload
// revokes): a token user's credential by its id; a client certificate
// as a new connection would find it, verified against snap's client CAs
// and matched against snap's credentials (certAuth.recheck). s.mu is
// held.
func (s *session) revalidate(snap *snapshot) *tenant {
	id := s.ident
	t := snap.tenants[id.tenant]
	if t == nil {
		return nil
	}
	if id.user != "" {
		c := snap.users[id.user]
		if c == nil || c.id() != id.credID || c.expired(s.g.now()) {
			return nil
		}
		return t
	}
	if s.cert == nil || !s.cert.recheck(snap, id.cert, id.credID, s.g.now()) {
		return nil
	}
	return t
}

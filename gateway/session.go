package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

type backend struct {
	g        *Gateway
	listener string
}

// identity is who a session authenticated as.
type identity struct {
	tenant string
	credID string
	user   string
	mech   string
	cert   string // sha256 fingerprint of a client certificate
}

// session is one go-smtp session. go-smtp makes a new one at EHLO and
// again after STARTTLS.
type session struct {
	// mu guards ident and tx: with BDAT, go-smtp runs Data in a goroutine
	// of its own that may outlive an RSET.
	mu    sync.Mutex
	g     *Gateway
	conn  *smtp.Conn
	gc    *guardConn
	tls   bool
	ident *identity
	cert  *certAuth // with an identity of a client certificate
	tx    *txState
}

// txState is one mail transaction, from MAIL to the end of DATA.
type txState struct {
	id         string
	ident      *identity
	snap       *snapshot
	t          *tenant
	from       string
	utf8       bool
	chain      []string
	rcpts      []string
	denied     []string
	reservedAt time.Time
	start      time.Time
	data       bool // DATA has begun
	size       int  // the message's size, once DATA has read it
}

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	gc := underlying(c.Conn())
	if gc == nil {
		return nil, errInternal("conn")
	}
	s := &session{g: b.g, conn: c, gc: gc}
	st, isTLS := c.TLSConnectionState()
	if !isTLS {
		return s, nil
	}
	s.tls = true
	gc.mu.Lock()
	gc.info.tls = tls.VersionName(st.Version)
	gc.mu.Unlock()
	if len(st.VerifiedChains) > 0 && len(st.PeerCertificates) > 0 {
		cert := st.PeerCertificates[0]
		sum := sha256.Sum256(cert.Raw)
		fp := hex.EncodeToString(sum[:])
		snap, now := b.g.snap.Load(), b.g.now()
		// The handshake verified the certificate under the configuration
		// of its time; a reload may have come between it and this EHLO.
		ca := &certAuth{peers: st.PeerCertificates}
		if cr := ca.establish(snap, fp, now); cr != nil {
			if err := s.authenticated(snap, cr, "", "EXTERNAL", fp); err != nil {
				return nil, err
			}
			s.cert = ca
		}
		if s.ident == nil {
			b.g.audit.write(&auditRecord{Event: "auth", Session: gc.info.id, Client: gc.RemoteAddr().String(),
				Mech: "EXTERNAL", ClientCert: "sha256:" + fp, Result: "fail", Reason: "unknown_client_cert"}, b.g.now())
			b.g.prom.auth(gc.listener, "EXTERNAL", "fail")
		}
	}
	return s, nil
}

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	s.Reset()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ident == nil {
		s.g.prom.reject("", "mail", "auth_required")
		return errAuthRequired
	}
	g := s.g
	g.mu.Lock()
	draining := g.draining
	g.mu.Unlock()
	if draining {
		return errShuttingDown
	}
	snap := g.snap.Load()
	t := s.revalidate(snap)
	if t == nil {
		rec := &auditRecord{Event: "auth", Session: s.gc.info.id, Client: s.gc.RemoteAddr().String(),
			User: s.ident.user, Tenant: s.ident.tenant, Result: "revoked"}
		if s.ident.cert != "" {
			rec.ClientCert = "sha256:" + s.ident.cert
		}
		g.audit.write(rec, g.now())
		g.prom.reject("", "mail", "auth_required")
		s.ident = nil
		return errAuthRequired
	}
	now := g.now()
	tx := &txState{id: newID(), ident: s.ident, snap: snap, t: t, from: from, start: now}
	if opts != nil {
		tx.utf8 = opts.UTF8
	}
	if g.paused.is(t.name) {
		return s.rejectTx(tx, "paused", errPaused)
	}
	if from != "" && !validAddress(from) {
		return s.rejectTx(tx, "bad_address", errBadSender)
	}
	if !t.mayFrom(from) {
		return s.rejectTx(tx, "sender_not_allowed", errSender)
	}
	tx.chain = slices.Clone(t.chain) // the Delivery gets its own copy
	if t.mode == "sync" {
		// Queue mode filters per recipient-domain rule when it splits.
		tx.chain = snap.sendersChain(t.chain, from)
	}
	if len(tx.chain) == 0 {
		return s.rejectTx(tx, "sender_not_on_route", errSenderRoute)
	}
	if opts != nil && opts.Size > t.maxBytes {
		return s.rejectTx(tx, "too_large", errTooLarge)
	}
	if why := g.rates.reserve(t, now); why != "" {
		if why == "rate_limited" {
			g.prom.rateRejected("tenant", t.name)
		}
		return s.rejectTx(tx, why, errRate)
	}
	tx.reservedAt = now
	s.tx = tx
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ident == nil {
		s.g.prom.reject("", "rcpt", "auth_required")
		return errAuthRequired
	}
	tx := s.tx
	if tx == nil {
		return reply(503, 5, 5, 1, "MAIL first")
	}
	m := s.g.prom
	if len(tx.rcpts) >= tx.t.maxRcpt {
		m.reject(tx.t.name, "rcpt", "too_many_rcpts")
		m.rcpt(tx.t.name, "too_many", 1)
		return errTooManyRcpts
	}
	if !validAddress(to) {
		tx.denied = append(tx.denied, to)
		m.reject(tx.t.name, "rcpt", "bad_address")
		m.rcpt(tx.t.name, "denied", 1)
		return errBadRecipient
	}
	if !tx.t.mayTo(to) {
		tx.denied = append(tx.denied, to)
		m.reject(tx.t.name, "rcpt", "recipient_denied")
		m.rcpt(tx.t.name, "denied", 1)
		return errRecipient
	}
	tx.rcpts = append(tx.rcpts, to)
	m.rcpt(tx.t.name, "accepted", 1)
	return nil
}

func (s *session) Data(r io.Reader) error {
	s.mu.Lock()
	tx := s.tx
	s.tx = nil
	authed := s.ident != nil
	s.mu.Unlock()
	if !authed || tx == nil {
		io.Copy(io.Discard, r)
		if !authed {
			s.g.prom.reject("", "data", "auth_required")
		}
		return errAuthRequired
	}
	g := s.g
	tx.data = true
	lim := tx.snap.limits
	gen := s.gc.beginData(tx.t.dataIdle, tx.t.dataMax)
	buf := getBuffer()
	defer putBuffer(buf)
	received := s.receivedLine(tx)
	buf.WriteString(received)
	lr := &io.LimitedReader{R: r, N: tx.t.maxBytes + 1}
	_, err := buf.ReadFrom(lr)
	if err == nil && lr.N == 0 {
		_, err = io.Copy(io.Discard, r)
		if err == nil {
			s.gc.endData(gen)
			return s.rejectTx(tx, "too_large", errTooLarge)
		}
	}
	timedOut := s.gc.endData(gen)
	if err != nil {
		var se *smtp.SMTPError
		switch {
		case errors.Is(err, smtp.ErrDataReset):
			// RSET in the middle of BDAT: the message is dropped.
			return s.rejectTx(tx, "aborted", reply(451, 4, 3, 0, "Message aborted"))
		case timedOut || os.IsTimeout(err):
			s.gc.kill()
			return s.rejectTx(tx, "timeout", errDataTimeout)
		case errors.As(err, &se) && se.Code == 552:
			return s.rejectTx(tx, "too_large", errTooLarge)
		}
		s.gc.kill()
		return s.rejectTx(tx, "client_error", errInternal(tx.id))
	}
	msg := buf.Bytes()
	body := msg[len(received):]
	tx.size = len(body)
	if headerSize(body) > maxHeaderBytes {
		return s.rejectTx(tx, "header_too_large", errHeaderTooLarge)
	}
	if hasBareCRLF(body) {
		return s.rejectTx(tx, "bare_lf", errBareLF)
	}
	h, ok := scanHeader(body)
	if !ok {
		return s.rejectTx(tx, "malformed_header", errMalformedHeader)
	}
	if h.received >= lim.MaxReceivedHeaders {
		return s.rejectTx(tx, "loop", errLoop)
	}
	if tx.t.checkHeader && !headerSendersAllowed(tx.t, h) {
		return s.rejectTx(tx, "header_from", errHeaderFrom)
	}
	messageID := h.messageID
	if !h.hasMessageID {
		// RFC 5322 3.6.4 wants one; added before anything signs or
		// stores the message, so the audit, the queue record and the
		// upstream see the same.
		messageID = addMessageID(buf, len(received), tx.id, tx.snap.hostname)
		msg = buf.Bytes()
	}

	ctx, cancel := context.WithTimeout(g.ctx, lim.RelayTimeout)
	defer cancel()
	d := g.delivery[tx.t.mode]
	accept := g.now()
	dtx := &Transaction{ID: tx.id, Tenant: tx.t.name, From: tx.from, To: tx.rcpts, Message: msg, MessageID: messageID, Upstreams: tx.chain}
	dtx.SMTPUTF8 = tx.utf8 && needsSMTPUTF8(dtx) // net/smtp asks for it whenever offered
	res := d.Deliver(ctx, dtx)
	if res.Reply == nil {
		res.Reply = errInternal(tx.id)
	}
	now := g.now()
	if res.Reply.Code/100 != 2 {
		g.rates.release(tx.t.name, tx.reservedAt, now)
	} else {
		s.gc.mu.Lock()
		s.gc.info.messages++
		s.gc.mu.Unlock()
	}
	g.prom.delivered(tx.t.name, tx.t.mode, tx.size, now.Sub(accept), &res)
	rec := s.txRecord(tx, res.Outcome, res.Reply)
	rec.MessageID = messageID
	rec.Size = tx.size
	rec.Mode = tx.t.mode
	rec.Upstream = res.Upstream
	rec.Attempts = res.Attempts
	rec.RcptFailed = g.audit.rcpts(res.FailedRecipients)
	rec.AcceptMS = now.Sub(accept).Milliseconds()
	g.audit.write(rec, now)
	return res.Reply
}

// rejectTx ends a transaction with a refusal, releases its rate
// reservation and writes the audit line.
func (s *session) rejectTx(tx *txState, reason string, r *smtp.SMTPError) error {
	now := s.g.now()
	if !tx.reservedAt.IsZero() {
		s.g.rates.release(tx.t.name, tx.reservedAt, now)
	}
	s.g.audit.write(s.txRecord(tx, "rejected:"+reason, r), now)
	s.g.prom.rejectedTx(tx.t.name, tx.data, tx.size, reason)
	return r
}

func (s *session) txRecord(tx *txState, outcome string, r *smtp.SMTPError) *auditRecord {
	from := tx.from
	a := s.g.audit
	rec := &auditRecord{Event: "message", ID: tx.id, Session: s.gc.info.id, Listener: s.gc.listener,
		Client: s.gc.RemoteAddr().String(), HELO: cleanText(s.conn.Hostname(), 64), TLS: s.gc.info.tls,
		Mech: tx.ident.mech, User: tx.ident.user, Tenant: tx.t.name, MailFrom: &from,
		RcptCount: len(tx.rcpts), Rcpt: a.rcpts(tx.rcpts), RcptDenied: a.rcpts(tx.denied),
		Outcome: outcome, Reply: replyString(r), DurationMS: s.g.now().Sub(tx.start).Milliseconds()}
	if tx.ident.cert != "" {
		rec.ClientCert = "sha256:" + tx.ident.cert
	}
	return rec
}

func (s *session) Reset() {
	s.mu.Lock()
	tx := s.tx
	s.tx = nil
	s.mu.Unlock()
	if tx != nil {
		s.g.rates.release(tx.t.name, tx.reservedAt, s.g.now())
	}
}

func (s *session) Logout() error {
	s.Reset()
	return nil
}

// Package gateway is mailgate, an SMTP submission gateway for the
// applications of a company network: tenants with their own revocable
// credentials, sender rules, limits, routing to provider accounts through
// the mailer library, and a tamper-evident audit log. The daemon is
// gateway/cmd/mailgate; this package lets it be embedded and tested in
// process.
//
// # Security model
//
// The gateway is never an open relay, loopback included: MAIL, RCPT and
// DATA need a tenant, named by AUTH (PLAIN or LOGIN, offered only after
// TLS 1.2 or newer) or by a verified client certificate. Credentials are
// generated tokens stored as SHA-256, or bcrypt/argon2id hashes for
// human-chosen passwords; none is ever written to a log, an error or the
// audit, nor is any AUTH payload. A failed login costs the same password
// work whether the user exists or not. Failed logins wait longer each
// time, and too many from one IP ban it; a user's failures never lock that
// user out from another address.
//
// Each tenant may send only as its senders (envelope and the From and
// Sender header fields), to the recipients its rules allow, within its
// size, recipient, rate and connection limits. Bare CR or LF in a message
// is refused (RFC 5321 section 2.3.8; SMTP smuggling), and so are a
// header section over 64 KiB and a message with too many Received: fields
// (a loop).
//
// # Delivery
//
// A Delivery takes each accepted message. The built-in "sync" relay sends
// the client's bytes, with one Received: line added (and a Message-ID
// under it if the message had none), through the tenant's
// chain of upstreams (each a mailer.Client with its own pool and rate
// limit), one SMTP attempt each, and answers the client with the outcome:
// the next upstream is tried only when nothing was committed upstream, and
// an unknown outcome (the connection lost after the final dot) is
// 451 4.4.2 with no second copy anywhere. "capture" does the same toward a
// capture sink for staging tenants. Replies come from one table: 4xx for
// trouble that is ours or the network's, never an upstream's text or a Go
// error.
//
// "queue" commits the message to a durable outbox (package
// github.com/postkit/mailer/outbox: SQLite, or PostgreSQL shared by
// several instances) and answers "250 2.0.0 queued as <id>" only after the
// commit; the outbox's workers deliver along the tenant's chain with
// retries, recipient-domain rules may split a message across upstreams,
// and a final failure is audited and optionally answered with an RFC 3464
// DSN or a webhook. Gateway.Queue exposes it (Queue) to the admin API and
// the metrics.
//
// # Configuration
//
// Configuration is YAML (LoadConfig), compiled fail-closed (Compile lists
// every problem with its YAML path) and swapped atomically by Reload;
// secrets are only referenced (*_file, *_env). Open sessions take a
// reload at their next MAIL: a revoked credential gets 530 there, and so
// does a client certificate that no longer verifies against the client
// CA configured then or names the same credential. ReloadConfig reads it again
// from the WithConfigLoader source: SIGHUP and POST /api/reload both call
// it. Shutdown drains: idle sessions are closed, messages in DATA or in
// delivery finish.
//
// # Admin
//
// The admin listener (AdminConfig: loopback HTTP, or HTTPS with client
// certificates) serves /livez and /readyz without a principal, /metrics
// without one (unless metrics_auth) where the listener is its own
// boundary (loopback, or TLS requiring a client certificate of the admin
// CA, which the request carries), and the admin API under /api/ to
// principals named by a token hash or a client certificate, with the
// role admin or auditor (read only): tenants without secrets, the audit
// filtered by tenant, time and Message-ID, the queue, reload, pausing a
// tenant, retrying or cancelling a queued message. A missing or wrong
// credential is 401 and a role too small 403, with nothing more in the
// body; every call is audited. A client certificate is verified again on
// every request against the admin CA configured now, so a reload that
// rotates or removes admin.tls.client_ca_file ends what a certificate of
// the old CA was worth on kept-alive connections too.
package gateway

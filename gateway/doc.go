// Package gateway is mailgate, an SMTP submission gateway for the
// applications of a company network: tenants with their own revocable
// credentials, sender rules, limits, routing to provider accounts through
// the mailer library, and a tamper-evident audit log.
package gateway

package gateway

import (
	"github.com/emersion/go-smtp"
)

// Every reply the gateway gives a client comes from here, as a bare
// *smtp.SMTPError (go-smtp turns a wrapped one into 554 with its text): 4xx
// for anything that is our trouble or the network's, no internal text.
func reply(code int, e1, e2, e3 int, text string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{e1, e2, e3}, Message: text}
}

var (
	errAuthRequired    = reply(530, 5, 7, 0, "Authentication required")
	errAuthInvalid     = reply(535, 5, 7, 8, "Authentication credentials invalid")
	errAuthMalformed   = reply(501, 5, 5, 2, "Malformed authentication response")
	errTLSRequired     = reply(523, 5, 7, 10, "TLS is required")
	errAuthTemp        = reply(454, 4, 7, 0, "Temporary authentication failure")
	errAuthBanned      = reply(421, 4, 7, 0, "Too many failed authentications, closing connection")
	errTenantConns     = reply(421, 4, 7, 0, "Too many connections for this account")
	errSender          = reply(553, 5, 7, 1, "Sender address not allowed for this account")
	errSenderRoute     = reply(553, 5, 7, 1, "Sender address not permitted on this route")
	errRecipient       = reply(550, 5, 7, 1, "Recipient not allowed for this account")
	errBadSender       = reply(501, 5, 1, 7, "Bad sender address syntax")
	errBadRecipient    = reply(501, 5, 1, 3, "Bad recipient address syntax")
	errTooManyRcpts    = reply(452, 4, 5, 3, "Too many recipients")
	errTooLarge        = reply(552, 5, 3, 4, "Message size exceeds limit")
	errHeaderTooLarge  = reply(552, 5, 3, 4, "Message header size exceeds limit")
	errRate            = reply(451, 4, 7, 1, "Sending rate limit exceeded, try again later")
	errPaused          = reply(451, 4, 7, 1, "Sending paused for this account, try again later")
	errHeaderFrom      = reply(550, 5, 7, 1, "From header not allowed for this account")
	errBareLF          = reply(550, 5, 6, 0, "Bare CR or LF not allowed")
	errLoop            = reply(554, 5, 4, 6, "Routing loop detected")
	errDataTimeout     = reply(451, 4, 4, 2, "Timeout waiting for data")
	errShuttingDown    = reply(421, 4, 3, 2, "Service shutting down, try again later")
	errMalformedHeader = reply(550, 5, 6, 0, "Message header not valid")
	errStorage         = reply(452, 4, 3, 1, "Insufficient system storage")
)

func errInternal(ref string) *smtp.SMTPError {
	return reply(451, 4, 3, 0, "Internal error (ref "+ref+")")
}

func errUpstreamTemp(ref string) *smtp.SMTPError {
	return reply(451, 4, 4, 1, "Upstream temporarily unavailable (ref "+ref+")")
}

func errUnknownOutcome(ref string) *smtp.SMTPError {
	return reply(451, 4, 4, 2, "Delivery status unknown, retry with the same Message-ID (ref "+ref+")")
}

// errUpstreamPermanent keeps the upstream's class and enhanced code but
// none of its text, which may name internal hosts.
func errUpstreamPermanent(code int, enh [3]int, ref string) *smtp.SMTPError {
	if code < 500 || code > 599 {
		code = 554
	}
	if enh[0] != 5 {
		enh = [3]int{5, 0, 0}
	}
	return reply(code, enh[0], enh[1], enh[2], "Rejected by upstream (ref "+ref+")")
}

func replyOK(ref, upstream string) *smtp.SMTPError {
	return reply(250, 2, 0, 0, "OK id="+ref+" upstream="+upstream)
}

func replyQueued(ref string) *smtp.SMTPError {
	return reply(250, 2, 0, 0, "queued as "+ref)
}

func replyString(e *smtp.SMTPError) string {
	if e == nil {
		return ""
	}
	return itoa(e.Code) + " " + itoa(e.EnhancedCode[0]) + "." + itoa(e.EnhancedCode[1]) + "." + itoa(e.EnhancedCode[2])
}

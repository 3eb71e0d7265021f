package mailer

import (
	"fmt"
	"slices"
	"strings"
)

// addressHeaders are the custom headers that carry addresses: besides
// resending (RFC 5322 section 3.6.6), read receipts (RFC 8098) and the old
// bounce and receipt headers that some servers still honour. Their values
// are checked like To and written like it, never as free text.
var addressHeaders = []string{
	"resent-from", "resent-sender", "resent-to", "resent-cc",
	"disposition-notification-to", "return-receipt-to", "errors-to",
	"mail-followup-to", "mail-reply-to",
}

// errBlindHeader refuses Resent-Bcc: every recipient would read the
// addresses it names.
var errBlindHeader = fmt.Errorf("%w: Resent-Bcc would show its addresses to every recipient; use Bcc", ErrInvalidHeader)

// parseAddressHeader returns the addresses of the value of an address
// header: addresses as ParseAddress accepts them, separated by commas, each
// with an ASCII local part (nothing else in the message would make the
// server's SMTPUTF8 support a condition). ok is false if name is no
// address header.
func parseAddressHeader(name, value string) (addrs []Address, ok bool, err error) {
	lower := strings.ToLower(name)
	if lower == "resent-bcc" {
		return nil, true, errBlindHeader
	}
	if !slices.Contains(addressHeaders, lower) {
		return nil, false, nil
	}
	for _, s := range splitAddresses(value) {
		a, err := ParseAddress(strings.TrimSpace(s))
		if err != nil {
			return nil, true, err
		}
		local := a.Address[:strings.LastIndexByte(a.Address, '@')]
		if !isASCII(local) {
			return nil, true, fmt.Errorf("%w: %q has a non-ASCII local part, which a header other than From, To and Cc cannot carry", ErrInvalidAddress, a.Address)
		}
		addrs = append(addrs, a)
	}
	return addrs, true, nil
}

// splitAddresses splits s at the commas outside quoted strings and angle
// brackets.
func splitAddresses(s string) []string {
	var out []string
	quoted, escaped, angle := false, false, false
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '<':
			angle = true
		case c == '>':
			angle = false
		case c == ',' && !angle:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

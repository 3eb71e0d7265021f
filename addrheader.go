package mailer

import (
	"errors"
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

// msgIDHeaders are the custom headers that carry msg-ids (RFC 5322
// section 3.6.4) rather than text: encoded words may not stand for a
// msg-id (RFC 2047 section 5), and a reader that finds one where it wants
// ids loses the thread. Their values are checked and written as ids.
var msgIDHeaders = []string{"in-reply-to", "references"}

// parseMsgIDHeader returns the msg-ids of the value of a msg-id header,
// each in angle brackets: ids separated by white space, each
// "<left@right>" or, as MessageBuilder.MessageID and Message.MessageID
// have them, without the brackets. An id is printable ASCII without
// white space or angle brackets, of at most 250 characters. ok is false
// if name is no msg-id header.
func parseMsgIDHeader(name, value string) (ids []string, ok bool, err error) {
	if !slices.Contains(msgIDHeaders, strings.ToLower(name)) {
		return nil, false, nil
	}
	for _, f := range strings.Fields(value) {
		id := f
		if strings.HasPrefix(id, "<") || strings.HasSuffix(id, ">") {
			if len(id) < 2 || id[0] != '<' || id[len(id)-1] != '>' {
				return nil, true, fmt.Errorf("%w: msg-id %s: unbalanced angle brackets", ErrInvalidHeader, quoteValue(f))
			}
			id = id[1 : len(id)-1]
		}
		if err := checkMsgIDText(id); err != nil {
			return nil, true, fmt.Errorf("%w: msg-id %s: %s", ErrInvalidHeader, quoteValue(f), err)
		}
		ids = append(ids, "<"+id+">")
	}
	if len(ids) == 0 {
		return nil, true, fmt.Errorf("%w: want one or more <left@right> msg-ids", ErrInvalidHeader)
	}
	return ids, true, nil
}

// checkMsgIDText checks the text of a msg-id between its angle brackets:
// "left@right", printable ASCII without angle brackets, at most 250
// characters. It is laxer than MessageBuilder.MessageID, as the ids of
// the messages replied to were made by other software.
func checkMsgIDText(id string) error {
	at := strings.LastIndexByte(id, '@')
	if at <= 0 || at == len(id)-1 {
		return errors.New("want left@right")
	}
	if len(id) > 250 {
		return errors.New("longer than 250 characters")
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' || c == '<' || c == '>' {
			return fmt.Errorf("character %q not allowed", rune(c))
		}
	}
	return nil
}

package mailer

import (
	"fmt"
	"net/url"
	"strings"
)

// maxURILen bounds a List-Unsubscribe URI, so that it fits on one header
// line however it is folded.
const maxURILen = 900

// ListUnsubscribe adds URIs to the List-Unsubscribe header (RFC 2369), which
// Gmail, Yahoo and Outlook show as an "Unsubscribe" button and which bulk
// senders must provide. Each URI is an https (or http) URL or a mailto URI,
// in ASCII (percent-encode anything else) and without white space, commas
// or angle brackets. See also [MessageBuilder.OneClickUnsubscribe].
func (b *MessageBuilder) ListUnsubscribe(uris ...string) *MessageBuilder {
	for _, u := range uris {
		if err := checkUnsubscribeURI(u); err != nil {
			b.errs = append(b.errs, fieldError("ListUnsubscribe", u, err))
			continue
		}
		b.m.unsubscribe = append(b.m.unsubscribe, u)
	}
	return b
}

// OneClickUnsubscribe adds "List-Unsubscribe-Post: List-Unsubscribe=One-Click"
// (RFC 8058): the recipient's mail provider unsubscribes with a single POST
// to the https URI of List-Unsubscribe, without a confirmation page. Build
// fails unless an https URI was given to [MessageBuilder.ListUnsubscribe].
// Providers honour it only on messages with a DKIM signature that covers
// both headers.
func (b *MessageBuilder) OneClickUnsubscribe() *MessageBuilder {
	b.m.oneClick = true
	return b
}

func checkUnsubscribeURI(s string) error {
	bad := func(why string) error { return fmt.Errorf("%w: List-Unsubscribe URI %s", ErrInvalidHeader, why) }
	if s == "" || len(s) > maxURILen {
		return bad(fmt.Sprintf("must have 1 to %d characters", maxURILen))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '<' || c == '>' || c == ',' || c == '"' {
			return bad(fmt.Sprintf("contains %q", rune(c)))
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return bad("does not parse")
	}
	switch strings.ToLower(u.Scheme) {
	case "https", "http":
		if u.Host == "" {
			return bad("has no host")
		}
	case "mailto":
		if u.Opaque == "" {
			return bad("has no address")
		}
	default:
		return bad("must be https, http or mailto")
	}
	return nil
}

func isHTTPS(u string) bool { return len(u) > 8 && strings.EqualFold(u[:8], "https://") }

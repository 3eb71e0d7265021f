package mailertest

import (
	"bufio"
	"strings"

	"github.com/emersion/go-smtp"
)

// readReply reads one complete, possibly multi-line, SMTP reply.
func readReply(r *bufio.Reader) ([]byte, error) {
	var out []byte
	for {
		l, err := r.ReadBytes('\n')
		if err != nil {
			return nil, err
		}
		out = append(out, l...)
		if len(l) < 4 || l[3] != '-' {
			return out, nil
		}
	}
}

// stripEnhanced removes RFC 3463 codes from a reply ("250 2.0.0 OK" →
// "250 OK") and the ENHANCEDSTATUSCODES capability, for servers that do
// not speak RFC 2034.
func stripEnhanced(reply []byte) []byte {
	lines := strings.SplitAfter(string(reply), "\n")
	var b strings.Builder
	for _, l := range lines {
		if len(l) > 4 {
			if strings.HasPrefix(strings.TrimRight(l[4:], "\r\n"), "ENHANCEDSTATUSCODES") {
				continue
			}
			head, rest, ok := strings.Cut(l[4:], " ")
			if ok && isEnhanced(head) {
				l = l[:4] + rest
			}
		}
		b.WriteString(l)
	}
	return []byte(b.String())
}

func isEnhanced(s string) bool {
	var ec smtp.EnhancedCode
	n, _ := sscanCode(s, &ec)
	return n == 3
}

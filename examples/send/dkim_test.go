package main

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const dkimKeyFile = "../../testdata/dkim/ed25519.pem"

// TestDKIMFlags prints the DNS record of a key, signs a message to the
// local test server with it, and has go-msgauth verify the message as
// received against that record.
func TestDKIMFlags(t *testing.T) {
	dns := runSend(t, nil, "-dkim-dns", "-dkim-key", dkimKeyFile, "-dkim-selector", "s1", "-dkim-domain", "example.com")
	require.Equal(t, 0, dns.code, dns.stderr)
	value := regexp.MustCompile(`value: (v=DKIM1; k=ed25519; p=\S+)`).FindStringSubmatch(dns.stdout)
	require.NotNil(t, value, dns.stdout)
	assert.Contains(t, dns.stdout, "s1._domainkey.example.com. IN TXT (")

	got := runSend(t, nil, "-from", "Alice <alice@example.com>", "-to", "bob@example.net",
		"-subject", "签名测试", "-text", "hello\n.dot line", "-dkim-key", dkimKeyFile, "-dkim-selector", "s1")
	require.Equal(t, 0, got.code, got.stderr)
	received := []byte(strings.ReplaceAll(got.stdout, "\r\n", "\n"))
	received = bytes.ReplaceAll(received, []byte("\n"), []byte("\r\n"))
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(received), &dkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			if name == "s1._domainkey.example.com" {
				return []string{value[1]}, nil
			}
			return nil, errors.New("no record " + name)
		},
	})
	require.NoError(t, err)
	require.Len(t, vs, 1)
	require.NoError(t, vs[0].Err)
}

// TestDKIMFlagsInvalid: missing or mismatched DKIM flags stop before
// anything is sent, with exit status 2 and one line.
func TestDKIMFlagsInvalid(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-dkim-key", dkimKeyFile}, "-dkim-selector"},
		{[]string{"-dkim-selector", "s1"}, "need -dkim-key"},
		{[]string{"-dkim-key", "../../testdata/dkim/rsa1024.pem", "-dkim-selector", "s1"}, "2048"},
		{[]string{"-dkim-key", dkimKeyFile, "-dkim-selector", "s1", "-dkim-domain", "example.org"}, "does not align"},
	} {
		args := append([]string{"-from", "alice@example.com", "-to", "bob@example.net", "-subject", "x", "-text", "x"}, c.args...)
		got := runSend(t, nil, args...)
		assert.Equal(t, 2, got.code, "%v: %s", c.args, got.stderr)
		assert.Contains(t, requireOneLine(t, got.stderr), c.want)
		assert.NotContains(t, got.stderr, "PRIVATE KEY")
	}
}

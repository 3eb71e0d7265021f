package mailer_test

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer"
)

// This file holds the independent DKIM verifiers of the tests: go-msgauth's
// and Python's dkimpy (Debian's python3-dkim), each given the public keys
// through an in-memory DNS.

// dkimKey reads a test key from testdata/dkim.
func dkimKey(t testing.TB, file string) crypto.Signer {
	t.Helper()
	pemBytes, err := os.ReadFile("testdata/dkim/" + file)
	require.NoError(t, err)
	k, err := mailer.ParseDKIMKey(pemBytes)
	require.NoError(t, err)
	return k
}

// newDKIMSigner returns a signer for example.com with the key in file.
func newDKIMSigner(t testing.TB, file, selector string) *mailer.DKIMSigner {
	t.Helper()
	s, err := mailer.NewDKIMSigner(mailer.DKIM{Domain: "example.com", Selector: selector, Key: dkimKey(t, file)})
	require.NoError(t, err)
	return s
}

// fakeDNS holds TXT records by name.
type fakeDNS map[string]string

func dnsOf(signers ...*mailer.DKIMSigner) fakeDNS {
	d := fakeDNS{}
	for _, s := range signers {
		r := s.DNSRecord()
		d[r.Name] = r.Value
	}
	return d
}

// verifyGo verifies every signature of msg with go-msgauth and returns the
// first failure, or an error if msg has no signature.
func verifyGo(t testing.TB, msg []byte, dns fakeDNS) error {
	t.Helper()
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			if v, ok := dns[strings.TrimSuffix(name, ".")]; ok {
				return []string{v}, nil
			}
			return nil, errors.New("no such record: " + name)
		},
	})
	if err != nil {
		return err
	}
	if len(vs) == 0 {
		return errors.New("no DKIM signature")
	}
	for _, v := range vs {
		if v.Err != nil {
			return v.Err
		}
	}
	return nil
}

// debianPython is Debian's interpreter, which has python3-dkim (.ci/run
// installs it).
const debianPython = "/usr/bin/python3"

// pyVerify is the dkimpy side: it reads {"dns": {...}, "messages": [base64]}
// and prints one boolean per message.
const pyVerify = `
import base64, json, sys, dkim, nacl
req = json.load(sys.stdin)
dns = req["dns"]
def lookup(name, timeout=5):
    v = dns.get(name.decode().rstrip("."))
    return v.encode() if v is not None else None
out = [bool(dkim.verify(base64.b64decode(m), dnsfunc=lookup)) for m in req["messages"]]
print(json.dumps(out))
`

// verifyPython verifies msgs with dkimpy in one run and returns its
// verdicts. It skips the test when python3-dkim is not installed.
func verifyPython(t testing.TB, dns fakeDNS, msgs ...[]byte) []bool {
	t.Helper()
	req := struct {
		DNS      fakeDNS  `json:"dns"`
		Messages []string `json:"messages"`
	}{DNS: dns}
	for _, m := range msgs {
		req.Messages = append(req.Messages, base64.StdEncoding.EncodeToString(m))
	}
	in, err := json.Marshal(req)
	require.NoError(t, err)
	cmd := exec.Command(debianPython, "-c", pyVerify)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil && (errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) ||
		strings.Contains(stderr.String(), "ModuleNotFoundError")) {
		// Checked here rather than by a run of its own: each run of the
		// interpreter costs a start.
		if os.Getenv("MAILER_REQUIRE_DKIMPY") != "" {
			t.Fatalf("dkimpy not available (%v: %s), and MAILER_REQUIRE_DKIMPY is set", err, stderr.String())
		}
		t.Skipf("dkimpy not available (%v: %s): apt-get install python3-dkim, as .ci/run does", err, stderr.String())
	}
	require.NoError(t, err, "dkimpy: %s", stderr.String())
	var verdicts []bool
	require.NoError(t, json.Unmarshal(out, &verdicts), "dkimpy said %s", out)
	require.Len(t, verdicts, len(msgs))
	return verdicts
}

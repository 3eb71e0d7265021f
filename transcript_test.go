package mailer_test

import (
	"encoding/base64"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

// TestTranscript: WithTranscript shows the conversation, STARTTLS, AUTH
// and the transactions, with the AUTH payloads redacted, the message
// reduced to its size, and no form of the password or token anywhere,
// even when the server echoes them; for each mechanism.
func TestTranscript(t *testing.T) {
	const user, password, token = "alice@example.com", "s3cret-Passw0rd!", "ya29.token-XYZ-123456"
	secretForms := func(secret string) []string {
		enc := base64.StdEncoding
		return []string{secret, enc.EncodeToString([]byte(secret)),
			enc.EncodeToString([]byte("\x00" + user + "\x00" + secret)),
			enc.EncodeToString([]byte("user=" + user + "\x01auth=Bearer " + secret + "\x01\x01")),
			base64.RawStdEncoding.EncodeToString([]byte(secret))}
	}
	for _, tc := range []struct {
		mech   string
		auth   mailer.Auth
		secret string
	}{
		{"PLAIN", mailer.PlainAuth(user, password), password},
		{"LOGIN", mailer.LoginAuth(user, password), password},
		{"CRAM-MD5", mailer.CRAMMD5Auth(user, password), password},
		{"XOAUTH2", mailer.XOAUTH2Auth(user, mailer.StaticToken(token)), token},
	} {
		t.Run(tc.mech, func(t *testing.T) {
			srv := mailertest.NewServer(t, mailertest.WithUser(user, password), mailertest.WithToken(user, token))
			var out syncBuffer
			c := newClient(t, serverOnly(srv), mailer.WithAuth(tc.auth), mailer.WithTranscript(&out))
			m, err := mailer.NewMessage().From("app@example.com").To("bob@example.com").Subject("Top secret subject").
				Text("The body: BODY-MARKER-42.\n.leading dot").AttachBytes("report.txt", []byte("ATTACHMENT-MARKER")).Build()
			require.NoError(t, err)
			for range 2 {
				_, err = c.Send(bg, m)
				require.NoError(t, err)
			}
			require.NoError(t, c.Close())
			got := out.String()
			t.Log("\n" + got)
			for _, want := range []string{
				"[1] * connected to " + srv.Addr(), "[1] S: 220 ", "[1] C: EHLO ", "[1] C: STARTTLS",
				"[1] * TLS established: TLS 1.3", "[1] C: AUTH " + tc.mech, "[1] S: 235 ",
				"[1] C: MAIL FROM:<app@example.com>", "[1] C: RCPT TO:<bob@example.com>", "[1] C: DATA",
				"[1] S: 354 ", "[1] C: .\n", "[1] C: QUIT", "[1] S: 221 ",
			} {
				assert.Contains(t, got, want)
			}
			sizes := regexp.MustCompile(`C: \[message data: (\d+) octets\]`).FindAllStringSubmatch(got, -1)
			require.Len(t, sizes, 2, "one line per message")
			n, _ := strconv.Atoi(sizes[0][1])
			assert.InDelta(t, len(srv.Messages()[0].Data), n, 64, "the size of the message on the wire")
			for _, leak := range append(secretForms(tc.secret), "BODY-MARKER", "ATTACHMENT-MARKER", "Top secret subject",
				base64.StdEncoding.EncodeToString([]byte(user))) {
				assert.NotContains(t, got, leak)
			}
			for _, l := range strings.Split(strings.TrimSpace(got), "\n") {
				assert.Regexp(t, `^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{3} \[\d+\] (\* |C: |S: )`, l)
			}
		})
	}
}

// TestTranscriptScrubsEchoedSecrets: a server that echoes the AUTH data in
// its refusal has it redacted in the transcript too.
func TestTranscriptScrubsEchoedSecrets(t *testing.T) {
	const user, password = "alice@example.com", "s3cret-Passw0rd!"
	payload := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
	srv := mailertest.NewServer(t, mailertest.WithUser(user, password),
		mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepAUTH, Reply: "535 5.7.8 bad credentials " + payload + " (" + password + ")"}))
	var out syncBuffer
	c := newClient(t, serverOnly(srv), mailer.WithAuth(mailer.PlainAuth(user, password)), mailer.WithTranscript(&out))
	_, err := c.Send(bg, testMessage(t))
	require.Error(t, err)
	require.NoError(t, c.Close())
	got := out.String()
	assert.Regexp(t, `S: 535 5.7.8 bad credentials \[REDACTED\]=* \(\[REDACTED\]\)`, got)
	assert.NotContains(t, got, password)
	assert.NotContains(t, got, payload)
}

func TestWithTranscriptNil(t *testing.T) {
	_, err := mailer.New(mailer.WithServer("smtp.example.com", 587), mailer.WithTranscript(nil))
	assert.ErrorIs(t, err, mailer.ErrInvalidConfig)
}

package mailer_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

const invite = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nPRODID:-//Example//Invite//EN\r\n" +
	"BEGIN:VEVENT\r\nUID:42@example.com\r\nDTSTART:20270101T100000Z\r\nSUMMARY:Réunion\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"

// TestCalendarInvite: ContentType sets an attachment's media type with its
// parameters; the received message, parsed by go-message (mailertest),
// has a text/calendar part with method=REQUEST, the charset and the name.
func TestCalendarInvite(t *testing.T) {
	srv := mailertest.NewServer(t)
	c := newClient(t, serverOnly(srv))
	fsys := fstest.MapFS{"agenda.txt": {Data: []byte("10:00 Réunion")}}
	m, err := mailer.NewMessage().From("app@example.com").To("bob@example.com").Subject("Invitation").
		Text("You are invited.").
		AttachBytes("invite.ics", []byte(invite), mailer.ContentType(`text/calendar; METHOD=REQUEST; component="vevent"`)).
		AttachFS(fsys, "agenda.txt", mailer.ContentType("text/x-agenda")).
		AttachBytes("data.bin", []byte{0xff, 0xfe}, mailer.ContentType("application/vnd.example+json; version=2")).
		Build()
	require.NoError(t, err)
	_, err = c.Send(bg, m)
	require.NoError(t, err)
	got := srv.Messages()[0]
	require.NoError(t, got.DecodeError)
	require.Len(t, got.Attachments, 3)
	ics := got.Attachments[0]
	assert.Equal(t, "text/calendar", ics.ContentType)
	assert.Equal(t, map[string]string{"method": "REQUEST", "component": "vevent", "charset": "utf-8", "name": "invite.ics"}, ics.Params)
	assert.Equal(t, "invite.ics", ics.Filename)
	assert.Equal(t, invite, string(ics.Data))
	assert.Equal(t, "text/x-agenda", got.Attachments[1].ContentType)
	assert.Equal(t, "utf-8", got.Attachments[1].Params["charset"])
	assert.Equal(t, "application/vnd.example+json", got.Attachments[2].ContentType)
	assert.Equal(t, "2", got.Attachments[2].Params["version"])
	assert.NotContains(t, got.Attachments[2].Params, "charset")
}

// TestContentTypeValidated: a content type is parsed and written again,
// never raw; what cannot be written safely is an error naming the field.
func TestContentTypeValidated(t *testing.T) {
	for _, ct := range []string{
		"text/calendar\r\nBcc: victim@example.com",
		"text/calendar; method=REQUEST\nX-Evil: 1",
		"calendar",
		"text/calendar; method",
		"multipart/mixed; boundary=x",
		`text/calendar; name="other.exe"`,
		"text/calendar; method=\"a\\\"b\"",
		"text/calendar; method=\x00",
		"text/calendar; method=\"Réunion\"",
		"text/" + strings.Repeat("x", 200),
		"",
	} {
		_, err := mailer.NewMessage().From("app@example.com").To("bob@example.com").Subject("x").Text("x").
			AttachBytes("invite.ics", []byte(invite), mailer.ContentType(ct)).Build()
		assert.ErrorIs(t, err, mailer.ErrInvalidHeader, "%q", ct)
		assert.ErrorContains(t, err, "AttachBytes content type", "%q", ct)
	}
	_, err := mailer.NewMessage().From("app@example.com").To("bob@example.com").Subject("x").HTML(`<img src="cid:logo">`).
		Embed("logo", "logo.png", []byte("\x89PNG"), mailer.ContentType("image/png; x=\"a b\"")).Build()
	assert.NoError(t, err, "a quoted value with a space is fine")
}

// TestManagedHeaderAdvice: Header refuses the headers the builder, the
// Client or servers write, and says what to do instead, naming methods and
// options that exist.
func TestManagedHeaderAdvice(t *testing.T) {
	for name, advice := range map[string]string{
		"Sender":         "MessageBuilder.EnvelopeFrom",
		"Return-Path":    "MessageBuilder.EnvelopeFrom",
		"DKIM-Signature": "WithDKIM",
		"Subject":        "MessageBuilder.Subject",
		"X-Priority":     "MessageBuilder.Priority",
		"X-Mailer":       "MessageBuilder.UserAgent",
		"Content-Type":   "ContentType",
		"MIME-Version":   "always written",
		"Received":       "added by the servers",
	} {
		_, err := mailer.NewMessage().From("app@example.com").To("bob@example.com").Subject("x").Text("x").
			Header(name, "value").Build()
		assert.ErrorIs(t, err, mailer.ErrInvalidHeader, name)
		assert.ErrorContains(t, err, advice, name)
		assert.NotContains(t, err.Error(), "use its method", name)
	}
	// The advice names what exists.
	var b *mailer.MessageBuilder
	_, _, _, _ = b.EnvelopeFrom, b.Priority, b.UserAgent, b.MessageID
	_ = mailer.WithDKIM
	_ = mailer.ContentType
}

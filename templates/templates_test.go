package templates_test

import (
	"io/fs"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer/templates"
)

func TestFS(t *testing.T) {
	names, err := fs.Glob(templates.FS, "*.tmpl")
	require.NoError(t, err)
	assert.Contains(t, names, "_layout.html.tmpl", "partials are embedded")
	assert.Contains(t, names, "_common.zh-CN.txt.tmpl")
	for _, mail := range []string{templates.NameVerification, templates.NameConfirmAddress, templates.NamePasswordReset} {
		for _, loc := range []string{"en", "zh-CN"} {
			for _, part := range []string{"subject", "txt", "html"} {
				assert.Contains(t, names, mail+"."+loc+"."+part+".tmpl")
			}
		}
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		d      time.Duration
		locale string
		want   string
	}{
		{10 * time.Minute, "en", "10 minutes"},
		{time.Minute, "en-GB", "1 minute"},
		{90 * time.Second, "en", "1 minute"},
		{119 * time.Second, "zh-CN", "1 分钟"},
		{time.Hour - time.Second, "en", "59 minutes"},
		{25 * time.Hour, "en", "25 hours"},
		{25*time.Hour + time.Minute, "en", "1501 minutes"},
		{time.Hour, "en", "1 hour"},
		{90 * time.Minute, "en", "90 minutes"},
		{48 * time.Hour, "", "2 days"},
		{10 * time.Minute, "zh-CN", "10 分钟"},
		{2 * time.Hour, "zh_TW", "2 小时"},
		{24 * time.Hour, "ZH", "1 天"},
		{30 * time.Second, "fr", "30 seconds"},
		{time.Second, "en", "1 second"},
		{45 * time.Second, "zh", "45 秒"},
		{-time.Minute, "en", "0 seconds"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, templates.FormatDuration(tt.d, tt.locale), "%v %s", tt.d, tt.locale)
	}
	assert.Equal(t, "10 分钟", templates.Verification{Expires: 10 * time.Minute}.ExpiresIn("zh-CN"))
	assert.Equal(t, "1 hour", templates.ConfirmAddress{Expires: time.Hour}.ExpiresIn("en"))
	assert.Equal(t, "30 minutes", templates.PasswordReset{Expires: 30 * time.Minute}.ExpiresIn("en"))
}

// TestPasswordResetSingleUse checks that the reset mail promises a link
// that works only once only when the data says the service enforces it.
func TestPasswordResetSingleUse(t *testing.T) {
	set, err := templates.Parse(templates.FS, nil)
	require.NoError(t, err)
	for _, tt := range []struct {
		loc, once string
	}{{"en", "only once"}, {"zh-CN", "一次"}} {
		for _, expires := range []time.Duration{0, 30 * time.Minute} {
			data := templates.PasswordReset{Brand: templates.Brand{Product: "Acme"}, URL: "https://acme.example/r", Expires: expires}
			r, err := set.Render(templates.NamePasswordReset, tt.loc, data)
			require.NoError(t, err)
			assert.NotContains(t, r.Text, tt.once, "%s, expires %v", tt.loc, expires)
			assert.NotContains(t, r.HTML, tt.once)

			data.SingleUse = true
			r, err = set.Render(templates.NamePasswordReset, tt.loc, data)
			require.NoError(t, err)
			assert.Contains(t, r.Text, tt.once, "%s, expires %v", tt.loc, expires)
			assert.Contains(t, r.HTML, tt.once)
		}
	}
}

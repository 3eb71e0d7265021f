package provider_test

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/provider"
)

// wantPresets is every preset of the table with what a Client built from
// it must report. Adding a preset means adding a row here.
var wantPresets = map[string]struct {
	addr string
	tls  mailer.TLSMode
	mech mailer.Mechanism // "" for no authentication
}{
	"gmail":        {"smtp.gmail.com:465", mailer.TLSImplicit, mailer.MechanismPlain},
	"gmail-relay":  {"smtp-relay.gmail.com:465", mailer.TLSImplicit, mailer.MechanismPlain},
	"outlook":      {"smtp-mail.outlook.com:587", mailer.TLSStartTLS, mailer.MechanismLogin},
	"microsoft365": {"smtp.office365.com:587", mailer.TLSStartTLS, mailer.MechanismLogin},
	"yahoo":        {"smtp.mail.yahoo.com:465", mailer.TLSImplicit, mailer.MechanismPlain},
	"icloud":       {"smtp.mail.me.com:587", mailer.TLSStartTLS, mailer.MechanismPlain},
	"qq":           {"smtp.qq.com:465", mailer.TLSImplicit, mailer.MechanismPlain},
	"qq-exmail":    {"smtp.exmail.qq.com:465", mailer.TLSImplicit, mailer.MechanismAuto},
	"163":          {"smtp.163.com:465", mailer.TLSImplicit, mailer.MechanismPlain},
	"126":          {"smtp.126.com:465", mailer.TLSImplicit, mailer.MechanismPlain},
	"yeah":         {"smtp.yeah.net:465", mailer.TLSImplicit, mailer.MechanismPlain},
	"aliyun":       {"smtp.aliyun.com:465", mailer.TLSImplicit, mailer.MechanismAuto},
	"aliyun-qiye":  {"smtp.qiye.aliyun.com:465", mailer.TLSImplicit, mailer.MechanismAuto},
	"zoho":         {"smtp.zoho.com:465", mailer.TLSImplicit, mailer.MechanismLogin},
	"feishu":       {"smtp.feishu.cn:465", mailer.TLSImplicit, mailer.MechanismAuto},
	"sendgrid":     {"smtp.sendgrid.net:587", mailer.TLSStartTLS, mailer.MechanismPlain},
	"mailgun":      {"smtp.mailgun.org:587", mailer.TLSStartTLS, mailer.MechanismPlain},
	"mailgun-eu":   {"smtp.eu.mailgun.org:587", mailer.TLSStartTLS, mailer.MechanismPlain},
	"ses":          {"email-smtp.us-east-1.amazonaws.com:465", mailer.TLSImplicit, mailer.MechanismPlain},
	"postmark":     {"smtp.postmarkapp.com:587", mailer.TLSStartTLS, mailer.MechanismPlain},
	"mailpit":      {"127.0.0.1:1025", mailer.TLSNone, ""},
	"mailhog":      {"127.0.0.1:1025", mailer.TLSNone, ""},
}

func TestAll(t *testing.T) {
	all := provider.All()
	var names []string
	for _, p := range all {
		names = append(names, p.Name)
	}
	var want []string
	for name := range wantPresets {
		want = append(want, name)
	}
	require.ElementsMatch(t, want, names, "the table and wantPresets list different presets")

	for _, p := range all {
		t.Run(p.Name, func(t *testing.T) {
			want := wantPresets[p.Name]
			c, err := mailer.New(p.Option("user@example.com", "secret"))
			require.NoError(t, err)
			assert.Equal(t, want.addr, c.Addr())
			assert.Equal(t, want.addr, p.Addr())
			assert.Equal(t, want.tls, c.TLSMode())
			assert.Equal(t, want.mech, c.Auth().Mechanism())
			if want.mech == "" {
				assert.True(t, c.Auth().IsZero(), "a local catcher takes no credentials")
			} else {
				assert.Equal(t, "user@example.com", c.Auth().Username())
			}

			// Server gives the same server and TLS mode, without credentials.
			c, err = mailer.New(p.Server())
			require.NoError(t, err)
			assert.Equal(t, want.addr, c.Addr())
			assert.Equal(t, want.tls, c.TLSMode())
			assert.True(t, c.Auth().IsZero())

			// OAuth2Option swaps the mechanism only.
			c, err = mailer.New(p.OAuth2Option("user@example.com", mailer.StaticToken("tok")))
			require.NoError(t, err)
			assert.Equal(t, want.addr, c.Addr())
			assert.Equal(t, mailer.MechanismXOAUTH2, c.Auth().Mechanism())
		})
	}
}

var datePattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// TestTableWellFormed checks every entry has what the docs promise.
func TestTableWellFormed(t *testing.T) {
	for _, p := range provider.All() {
		t.Run(p.Name, func(t *testing.T) {
			assert.Equal(t, strings.ToLower(p.Name), p.Name, "canonical names are lower case")
			assert.NotEmpty(t, p.Title)
			assert.NotEmpty(t, p.Host)
			assert.NotZero(t, p.Port)
			assert.NotZero(t, p.TLS, "TLS mode must be explicit")
			assert.NotEmpty(t, p.Notes)
			assert.NotEmpty(t, p.Sources)
			assert.Regexp(t, datePattern, p.Verified)
			assert.NotContains(t, p.String(), "\n")
			if p.TLS == mailer.TLSNone {
				assert.Empty(t, p.Mechanism, "credentials never go over a connection without TLS")
			}
			for _, d := range p.Domains {
				assert.Equal(t, strings.ToLower(d), d)
				assert.Contains(t, d, ".")
			}
			if p.Limits.Messages != 0 {
				assert.Positive(t, p.Limits.Per, "a rate needs its period")
			}
			for i, r := range p.Rules {
				assert.NotEmpty(t, r.Hint, "rule %d has no hint", i)
				assert.NotContains(t, r.Hint, "\n", "rule %d: hints are one line", i)
				assert.Less(t, len([]rune(r.Hint)), 200, "rule %d: hint too long", i)
				assert.NotZero(t, r.Code, "rule %d matches every reply", i)
			}
			// The rules are valid options on their own.
			_, err := mailer.New(mailer.WithServer("localhost", 25), mailer.WithReplyRules(p.Rules...))
			assert.NoError(t, err)
		})
	}
}

// TestTableUnique checks that no name, alias or domain leads to two presets.
func TestTableUnique(t *testing.T) {
	fold := strings.NewReplacer(" ", "", "-", "", "_", "")
	names := map[string]string{}
	domains := map[string]string{}
	for _, p := range provider.All() {
		for _, n := range append([]string{p.Name}, p.Aliases...) {
			key := fold.Replace(strings.ToLower(n))
			if prev, ok := names[key]; ok {
				t.Errorf("name %q of %s already names %s", n, p.Name, prev)
			}
			names[key] = p.Name
		}
		for _, d := range p.Domains {
			if prev, ok := domains[d]; ok {
				t.Errorf("domain %q of %s already belongs to %s", d, p.Name, prev)
			}
			domains[d] = p.Name
		}
	}
}

func TestLookup(t *testing.T) {
	tests := []struct {
		in       string
		wantName string // "" means not found
		wantHost string
	}{
		{"qq", "qq", "smtp.qq.com"},
		{"QQ", "qq", "smtp.qq.com"},
		{"foxmail", "qq", "smtp.qq.com"},
		{" Foxmail ", "qq", "smtp.qq.com"},
		{"163", "163", "smtp.163.com"},
		{"netease", "163", "smtp.163.com"},
		{"126", "126", "smtp.126.com"},
		{"yeah.net", "yeah", "smtp.yeah.net"},
		{"gmail", "gmail", "smtp.gmail.com"},
		{"Google Mail", "gmail", "smtp.gmail.com"},
		{"hotmail", "outlook", "smtp-mail.outlook.com"},
		{"Outlook.com", "outlook", "smtp-mail.outlook.com"},
		{"Microsoft 365", "microsoft365", "smtp.office365.com"},
		{"office365", "microsoft365", "smtp.office365.com"},
		{"exmail", "qq-exmail", "smtp.exmail.qq.com"},
		{"QQ_Exmail", "qq-exmail", "smtp.exmail.qq.com"},
		{"AliyunQiye", "aliyun-qiye", "smtp.qiye.aliyun.com"},
		{"Mailgun-EU", "mailgun-eu", "smtp.eu.mailgun.org"},
		{"amazon-ses", "ses", "email-smtp.us-east-1.amazonaws.com"},
		{"ses-eu-west-1", "ses-eu-west-1", "email-smtp.eu-west-1.amazonaws.com"},
		{"SES-AP-SOUTHEAST-1", "ses-ap-southeast-1", "email-smtp.ap-southeast-1.amazonaws.com"},
		{"ses-us-gov-west-1", "ses-us-gov-west-1", "email-smtp.us-gov-west-1.amazonaws.com"},
		{"mailpit", "mailpit", "127.0.0.1"},
		{"", "", ""},
		{"nope", "", ""},
		{"q q", "qq", "smtp.qq.com"}, // spaces are ignored, like hyphens
		{"qq.com", "", ""},           // a domain is not a name: see ForAddress
		{"ses-", "", ""},
		{"ses-mars-1", "", ""},
		{"ses-eu-west-1.evil.example", "", ""},
		{"ses-eu west-1", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, ok := provider.Lookup(tt.in)
			if tt.wantName == "" {
				assert.False(t, ok)
				assert.Zero(t, p.Name)
				return
			}
			require.True(t, ok)
			assert.Equal(t, tt.wantName, p.Name)
			assert.Equal(t, tt.wantHost, p.Host)
		})
	}
}

func TestForAddress(t *testing.T) {
	tests := []struct {
		addr string
		want string // "" means not found
	}{
		{"alice@qq.com", "qq"},
		{"alice@foxmail.com", "qq"},
		{"Alice@FoxMail.COM", "qq"},
		{"爱丽丝 <alice@qq.com>", "qq"},
		{"bob@163.com", "163"},
		{"bob@126.com", "126"},
		{"bob@yeah.net", "yeah"},
		{"bob@gmail.com", "gmail"},
		{"Bob <bob@googlemail.com>", "gmail"},
		{"x@hotmail.com", "outlook"},
		{"x@live.com", "outlook"},
		{"x@outlook.com", "outlook"},
		{"x@hotmail.co.uk", "outlook"},
		{"x@icloud.com", "icloud"},
		{"x@me.com", "icloud"},
		{"x@yahoo.co.jp", ""}, // Yahoo Japan is another company
		{"x@ymail.com", "yahoo"},
		{"x@aliyun.com", "aliyun"},
		{"x@zohomail.com", "zoho"},
		{"x@vip.163.com", ""}, // VIP mail has its own servers; not in the sources
		{"x@mail.qq.com", ""}, // no subdomain matching
		{"x@example.com", ""},
		{"x@company-on-office365.example", ""},
		{"", ""},
		{"qq.com", ""},
		{"@qq.com", ""},
		{"alice@", ""},
		{"alice@@qq.com", ""},
		{"alice qq.com", ""},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			p, ok := provider.ForAddress(tt.addr)
			assert.Equal(t, tt.want != "", ok)
			assert.Equal(t, tt.want, p.Name)
		})
	}
}

// TestCopies checks that callers cannot change the table.
func TestCopies(t *testing.T) {
	all := provider.All()
	for i := range all {
		if all[i].Name != "qq" {
			continue
		}
		all[i].Host = "evil.example"
		all[i].Aliases[0] = "evil"
		all[i].Domains[0] = "evil.example"
		all[i].Rules[0].Hint = "evil"
	}
	p, ok := provider.Lookup("qq")
	require.True(t, ok)
	p.Rules[0].Hint = "changed"
	p.Domains[0] = "changed"

	for _, p := range []func() (provider.Preset, bool){
		func() (provider.Preset, bool) { return provider.Lookup("qq") },
		func() (provider.Preset, bool) { return provider.ForAddress("a@qq.com") },
	} {
		got, ok := p()
		require.True(t, ok)
		assert.Equal(t, "smtp.qq.com", got.Host)
		assert.Equal(t, "foxmail", got.Aliases[0])
		assert.Equal(t, "qq.com", got.Domains[0])
		assert.Contains(t, got.Rules[0].Hint, "authorization code")
	}
	_, ok = provider.Lookup("evil")
	assert.False(t, ok)
}

func TestOptionUsernames(t *testing.T) {
	tests := []struct {
		name, user, secret string
		wantUser           string
	}{
		{"sendgrid", "", "SG.key", "apikey"},
		{"sendgrid", "apikey", "SG.key", "apikey"},
		{"postmark", "", "server-token", "server-token"},
		{"postmark", "access-key", "secret-key", "access-key"},
		{"qq", "alice@qq.com", "code", "alice@qq.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/"+tt.user, func(t *testing.T) {
			p, ok := provider.Lookup(tt.name)
			require.True(t, ok)
			c, err := mailer.New(p.Option(tt.user, tt.secret))
			require.NoError(t, err)
			assert.Equal(t, tt.wantUser, c.Auth().Username())
		})
	}
}

func TestOptionInvalid(t *testing.T) {
	qq, _ := provider.Lookup("qq")
	mailpit, _ := provider.Lookup("mailpit")
	tests := []struct {
		name    string
		opt     mailer.Option
		wantErr string
	}{
		{"empty user", qq.Option("", "code"), "empty user name"},
		{"empty secret", qq.Option("alice@qq.com", ""), "empty password"},
		{"CRLF in user", qq.Option("alice@qq.com\r\nRCPT TO:<x>", "code"), "CR or LF"},
		{"nil token source", qq.OAuth2Option("alice@qq.com", nil), "nil token source"},
		{"unknown mechanism", provider.Preset{Name: "x", Host: "h", Port: 1, Mechanism: "NTLM"}.Option("u", "p"), `provider "x": unknown mechanism`},
		{"XOAUTH2 preset without token", provider.Preset{Name: "x", Host: "h", Port: 1, Mechanism: mailer.MechanismXOAUTH2}.Option("u", ""), "empty access token"},
		{"zero preset", provider.Preset{}.Option("u", "p"), "WithServer: empty host"},
		{"catcher ignores credentials", mailpit.Option("", ""), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mailer.New(tt.opt)
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			var ce *mailer.ConfigError
			assert.True(t, errors.As(err, &ce), "want a *mailer.ConfigError, got %T", err)
			assert.ErrorIs(t, err, mailer.ErrInvalidConfig)
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestPresetString(t *testing.T) {
	p, _ := provider.Lookup("qq")
	assert.Equal(t, "qq: smtp.qq.com:465 implicit PLAIN", p.String())
	p, _ = provider.Lookup("mailpit")
	assert.Equal(t, "mailpit: 127.0.0.1:1025 none no-auth", p.String())
}

// TestDocTable keeps the summary in doc.go in step with the table: every
// preset has its line, and every line of that shape names a preset.
func TestDocTable(t *testing.T) {
	raw, err := os.ReadFile("doc.go")
	require.NoError(t, err)
	doc := string(raw)
	names := map[string]bool{}
	for _, p := range provider.All() {
		names[p.Name] = true
		mech := string(p.Mechanism)
		if mech == "" {
			mech = "none"
		}
		line := fmt.Sprintf("//\t%-13s %-39s %-9s %s\n", p.Name, p.Addr(), p.TLS, mech)
		assert.Contains(t, doc, line, "doc.go lacks or misstates %s", p.Name)
	}
	row := regexp.MustCompile(`(?m)^//\t(\S+) +\S+:\d+ +(implicit|starttls|opportunistic|none) +\S+$`)
	rows := row.FindAllStringSubmatch(doc, -1)
	assert.Len(t, rows, len(names))
	for _, m := range rows {
		assert.True(t, names[m[1]], "doc.go lists %q, which is not in the table", m[1])
	}
}

func TestForHost(t *testing.T) {
	for host, want := range map[string]string{
		"smtp.qq.com":                        "qq",
		"SMTP.163.COM.":                      "163",
		"smtp.office365.com":                 "microsoft365",
		"email-smtp.eu-west-1.amazonaws.com": "ses-eu-west-1",
		"email-smtp.us-east-1.amazonaws.com": "ses-us-east-1",
		"email-smtp.nowhere.amazonaws.com":   "",
		"mail.corp.example":                  "",
		"":                                   "",
	} {
		p, ok := provider.ForHost(host)
		assert.Equal(t, want != "", ok, host)
		if want != "" {
			assert.Equal(t, want, p.Name, host)
			assert.Equal(t, strings.TrimSuffix(strings.ToLower(host), "."), p.Host)
		}
	}
}

package provider_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
	"github.com/postkit/mailer/provider"
)

// sendThrough sends one message with the given preset through srv. The
// options after the preset (srv.Options: server, TLS mode, CA, credentials)
// override its server and credentials; its reply rules must stay. One
// attempt: the rules' outcome and wait are checked, not waited for.
func sendThrough(t *testing.T, srv *mailertest.Server, preset mailer.Option, from string) error {
	t.Helper()
	c, err := mailer.New(preset, srv.Options(), mailer.WithRetry(mailer.RetryPolicy{MaxAttempts: 1}))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	msg, err := mailer.NewMessage().From(from).To("bob@example.com").Subject("hi").Text("hello").Build()
	require.NoError(t, err)
	_, err = c.Send(t.Context(), msg)
	return err
}

// ruleFor returns the rule of the named preset whose hint is hint. The
// wait a rule asks for is not visible on a SendError, so the tests check it
// on the rule that produced the hint.
func ruleFor(t *testing.T, name, hint string) mailer.ReplyRule {
	t.Helper()
	p, ok := provider.Lookup(name)
	require.True(t, ok)
	for _, r := range p.Rules {
		if r.Hint == hint {
			return r
		}
	}
	t.Fatalf("no rule of %s has hint %q", name, hint)
	return mailer.ReplyRule{}
}

func TestReplyHints(t *testing.T) {
	const pw = "pw-not-in-hints"
	tests := []struct {
		name    string
		preset  string // for ruleFor
		option  func(user string) mailer.Option
		user    string
		step    mailertest.Step
		reply   string
		mechs   []string // server AUTH mechanisms; nil = default
		stage   mailer.Stage
		code    int
		hint    string // substring; "" = no hint expected
		outcome mailer.Outcome
		minWait time.Duration
	}{
		// QQ Mail and Tencent Exmail.
		{
			name: "qq 535 authorization code", preset: "qq",
			option: func(u string) mailer.Option { return provider.QQ(u, pw) }, user: "u@qq.com",
			step:  mailertest.StepAUTH,
			reply: "535 Login Fail. Please enter your authorization code to login. More information in http://service.mail.qq.com/cgi-bin/help?subtype=1&&id=28&&no=1001256",
			stage: mailer.StageAuth, code: 535, hint: "authorization code (授权码)", outcome: mailer.OutcomePermanent,
		},
		{
			name: "exmail 535 client-specific password", preset: "qq-exmail",
			option: func(u string) mailer.Option { return provider.QQExmail(u, pw) }, user: "u@corp.example",
			step: mailertest.StepAUTH, reply: "535 Error: authentication failed",
			stage: mailer.StageAuth, code: 535, hint: "客户端专用密码", outcome: mailer.OutcomePermanent,
		},
		{
			name: "qq 550 frequency limited is temporary", preset: "qq",
			option: func(u string) mailer.Option { return provider.QQ(u, pw) }, user: "u@qq.com",
			step: mailertest.StepMAIL, reply: "550 Connection frequency limited",
			stage: mailer.StageMail, code: 550, hint: "frequency limited", outcome: mailer.OutcomeTemporary, minWait: time.Minute,
		},
		{
			name: "exmail 550 frequency limited is temporary", preset: "qq-exmail",
			option: func(u string) mailer.Option { return provider.QQExmail(u, pw) }, user: "u@corp.example",
			step: mailertest.StepDataEnd, reply: "550 Mail content denied. frequency limited",
			stage: mailer.StageDataEnd, code: 550, hint: "frequency limited", outcome: mailer.OutcomeTemporary, minWait: time.Minute,
		},
		{
			name: "qq 501 from must be the account", preset: "qq",
			option: func(u string) mailer.Option { return provider.QQ(u, pw) }, user: "u@qq.com",
			step: mailertest.StepMAIL, reply: "501 mail from address must be same as authorization user",
			stage: mailer.StageMail, code: 501, hint: "From the same address", outcome: mailer.OutcomePermanent,
		},
		// NetEase 163, 126, yeah.net.
		{
			name: "163 535 authorization code", preset: "163",
			option: func(u string) mailer.Option { return provider.NetEase163(u, pw) }, user: "u@163.com",
			step: mailertest.StepAUTH, reply: "535 Error: authentication failed",
			stage: mailer.StageAuth, code: 535, hint: "客户端授权密码", outcome: mailer.OutcomePermanent,
		},
		{
			name: "126 535 authorization code", preset: "126",
			option: func(u string) mailer.Option { return provider.NetEase126(u, pw) }, user: "u@126.com",
			step: mailertest.StepAUTH, reply: "535 Error: authentication failed",
			stage: mailer.StageAuth, code: 535, hint: "at most 2 codes", outcome: mailer.OutcomePermanent,
		},
		{
			name: "yeah 535 authorization code", preset: "yeah",
			option: func(u string) mailer.Option { return provider.YeahNet(u, pw) }, user: "u@yeah.net",
			step: mailertest.StepAUTH, reply: "535 Error: authentication failed",
			stage: mailer.StageAuth, code: 535, hint: "客户端授权密码", outcome: mailer.OutcomePermanent,
		},
		{
			name: "163 550 no permission at AUTH", preset: "163",
			option: func(u string) mailer.Option { return provider.NetEase163(u, pw) }, user: "u@163.com",
			step: mailertest.StepAUTH, reply: "550 User has no permission",
			stage: mailer.StageAuth, code: 550, hint: "turn on POP3/SMTP/IMAP", outcome: mailer.OutcomePermanent,
		},
		{
			name: "163 550 no permission at MAIL", preset: "163",
			option: func(u string) mailer.Option { return provider.NetEase163(u, pw) }, user: "u@163.com",
			step: mailertest.StepMAIL, reply: "550 User has no permission",
			stage: mailer.StageMail, code: 550, hint: "turn on POP3/SMTP/IMAP", outcome: mailer.OutcomePermanent,
		},
		{
			name: "163 451 DT:SPM waits 2 minutes", preset: "163",
			option: func(u string) mailer.Option { return provider.NetEase163(u, pw) }, user: "u@163.com",
			step: mailertest.StepDataEnd, reply: "451 DT:SPM 163 smtp3,G9xpCgA3 ,please try again",
			stage: mailer.StageDataEnd, code: 451, hint: "after 2 minutes", outcome: mailer.OutcomeTemporary, minWait: 2 * time.Minute,
		},
		{
			name: "163 554 DT:SPM is permanent", preset: "163",
			option: func(u string) mailer.Option { return provider.NetEase163(u, pw) }, user: "u@163.com",
			step:  mailertest.StepDataEnd,
			reply: "554 DT:SPM 163 smtp14,EsCowAD3XK8 please see http://mail.163.com/help/help_spam_16.htm?ip=1.2.3.4",
			stage: mailer.StageDataEnd, code: 554, hint: "help_spam_16", outcome: mailer.OutcomePermanent,
		},
		{
			name: "163 553 local user only", preset: "163",
			option: func(u string) mailer.Option { return provider.NetEase163(u, pw) }, user: "u@163.com",
			step: mailertest.StepMAIL, reply: "553 Local user only,163 smtp5,D9GowACH1",
			stage: mailer.StageMail, code: 553, hint: "Local user only", outcome: mailer.OutcomePermanent,
		},
		{
			name: "163 451 auth lockout is permanent", preset: "163",
			option: func(u string) mailer.Option { return provider.NetEase163(u, pw) }, user: "u@163.com",
			step: mailertest.StepAUTH, reply: "451 Requested mail action not taken: too much fail authentication",
			stage: mailer.StageAuth, code: 451, hint: "stop retrying", outcome: mailer.OutcomePermanent,
		},
		{
			name: "163 421 HL:ICC", preset: "163",
			option: func(u string) mailer.Option { return provider.NetEase163(u, pw) }, user: "u@163.com",
			step: mailertest.StepMAIL, reply: "421 HL:ICC 163 smtp2,Dd",
			stage: mailer.StageMail, code: 421, hint: "fewer connections", outcome: mailer.OutcomeTemporary,
		},
		{
			name: "163 450 RP:DRC", preset: "163",
			option: func(u string) mailer.Option { return provider.NetEase163(u, pw) }, user: "u@163.com",
			step: mailertest.StepRCPT, reply: "450 RP:DRC 163 smtp2,Dd",
			stage: mailer.StageRcpt, code: 450, hint: "fewer messages per connection", outcome: mailer.OutcomeTemporary,
		},
		// Gmail.
		{
			name: "gmail 534 5.7.9 app password", preset: "gmail",
			option: func(u string) mailer.Option { return provider.Gmail(u, pw) }, user: "u@gmail.com",
			step: mailertest.StepAUTH,
			reply: "534-5.7.9 Application-specific password required. Learn more at\r\n" +
				"534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor",
			stage: mailer.StageAuth, code: 534, hint: "app password", outcome: mailer.OutcomePermanent,
		},
		{
			name: "gmail 535 5.7.8 bad credentials", preset: "gmail",
			option: func(u string) mailer.Option { return provider.Gmail(u, pw) }, user: "u@gmail.com",
			step: mailertest.StepAUTH,
			reply: "535-5.7.8 Username and Password not accepted. For more information, go to\r\n" +
				"535 5.7.8  https://support.google.com/mail/?p=BadCredentials",
			stage: mailer.StageAuth, code: 535, hint: "BadCredentials", outcome: mailer.OutcomePermanent,
		},
		{
			name: "gmail 550 5.4.5 daily limit", preset: "gmail",
			option: func(u string) mailer.Option { return provider.Gmail(u, pw) }, user: "u@gmail.com",
			step: mailertest.StepDataEnd, reply: "550 5.4.5 Daily user sending limit exceeded.",
			stage: mailer.StageDataEnd, code: 550, hint: "24 hours", outcome: mailer.OutcomePermanent,
		},
		{
			name: "gmail relay 550 5.4.5 daily relay limit", preset: "gmail-relay",
			option: func(u string) mailer.Option { return provider.GoogleWorkspaceRelay(u, pw) }, user: "u@corp.example",
			step: mailertest.StepMAIL, reply: "550 5.4.5 Daily SMTP relay limit exceeded for user",
			stage: mailer.StageMail, code: 550, hint: "24 hours", outcome: mailer.OutcomePermanent,
		},
		{
			name: "gmail 421 4.7.0 waits minutes", preset: "gmail",
			option: func(u string) mailer.Option { return provider.Gmail(u, pw) }, user: "u@gmail.com",
			step: mailertest.StepMAIL, reply: "421 4.7.0 Try again later, closing connection.",
			stage: mailer.StageMail, code: 421, hint: "421 4.7.0", outcome: mailer.OutcomeTemporary, minWait: 5 * time.Minute,
		},
		{
			name: "gmail 421 4.7.28 waits minutes", preset: "gmail",
			option: func(u string) mailer.Option { return provider.Gmail(u, pw) }, user: "u@gmail.com",
			step:  mailertest.StepDataEnd,
			reply: "421 4.7.28 Gmail has detected an unusual rate of mail originating from your SPF domain; rate limited",
			stage: mailer.StageDataEnd, code: 421, hint: "421 4.7.28", outcome: mailer.OutcomeTemporary, minWait: 5 * time.Minute,
		},
		{
			name: "gmail 450 4.2.1 recipient too fast", preset: "gmail",
			option: func(u string) mailer.Option { return provider.Gmail(u, pw) }, user: "u@gmail.com",
			step:  mailertest.StepRCPT,
			reply: "450 4.2.1 The user you are trying to contact is receiving mail too quickly.",
			stage: mailer.StageRcpt, code: 450, hint: "15 to 30 minutes", outcome: mailer.OutcomeTemporary, minWait: 15 * time.Minute,
		},
		// Microsoft.
		{
			name: "m365 550 5.7.30 basic auth off", preset: "microsoft365",
			option: func(u string) mailer.Option { return provider.Microsoft365(u, pw) }, user: "u@corp.example",
			step: mailertest.StepAUTH, reply: "550 5.7.30 Basic authentication is not supported for Client Submission.",
			stage: mailer.StageAuth, code: 550, hint: "provider.Microsoft365OAuth2", outcome: mailer.OutcomePermanent,
		},
		{
			name: "m365 535 5.7.139 SMTP AUTH disabled", preset: "microsoft365",
			option: func(u string) mailer.Option { return provider.Microsoft365(u, pw) }, user: "u@corp.example",
			step:  mailertest.StepAUTH,
			reply: "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.",
			stage: mailer.StageAuth, code: 535, hint: "enable Authenticated SMTP", outcome: mailer.OutcomePermanent,
		},
		{
			name: "m365 535 5.7.139 basic auth disabled", preset: "microsoft365",
			option: func(u string) mailer.Option { return provider.Microsoft365(u, pw) }, user: "u@corp.example",
			step: mailertest.StepAUTH, reply: "535 5.7.139 Authentication unsuccessful, basic authentication is disabled.",
			stage: mailer.StageAuth, code: 535, hint: "use XOAUTH2 (provider.Microsoft365OAuth2)", outcome: mailer.OutcomePermanent,
		},
		{
			name: "outlook 535 5.7.139 names OutlookOAuth2", preset: "outlook",
			option: func(u string) mailer.Option { return provider.Outlook(u, pw) }, user: "u@hotmail.com",
			step: mailertest.StepAUTH, reply: "535 5.7.139 Authentication unsuccessful, basic authentication is disabled.",
			stage: mailer.StageAuth, code: 535, hint: "provider.OutlookOAuth2", outcome: mailer.OutcomePermanent,
		},
		{
			name: "m365 504 5.7.4 use LOGIN", preset: "microsoft365",
			option: func(u string) mailer.Option { return provider.Microsoft365(u, pw) }, user: "u@corp.example",
			step: mailertest.StepAUTH, reply: "504 5.7.4 Unrecognized authentication type",
			stage: mailer.StageAuth, code: 504, hint: "LOGIN", outcome: mailer.OutcomePermanent,
		},
		{
			name: "m365 432 4.3.2 too many connections", preset: "microsoft365",
			option: func(u string) mailer.Option { return provider.Microsoft365(u, pw) }, user: "u@corp.example",
			step: mailertest.StepMAIL, reply: "432 4.3.2 Concurrent connections limit exceeded.",
			stage: mailer.StageMail, code: 432, hint: "fewer connections", outcome: mailer.OutcomeTemporary,
		},
		// Aliyun.
		{
			name: "aliyun 440 is permanent", preset: "aliyun",
			option: func(u string) mailer.Option { return provider.Aliyun(u, pw) }, user: "u@aliyun.com",
			step: mailertest.StepMAIL, reply: "440 mail from account doesn't conform with authentication",
			stage: mailer.StageMail, code: 440, hint: "440 is permanent", outcome: mailer.OutcomePermanent,
		},
		{
			name: "aliyun qiye 440 other wording is permanent", preset: "aliyun-qiye",
			option: func(u string) mailer.Option { return provider.AliyunQiye(u, pw) }, user: "u@corp.example",
			step: mailertest.StepDataEnd, reply: "440 some other wording",
			stage: mailer.StageDataEnd, code: 440, hint: "440 is permanent", outcome: mailer.OutcomePermanent,
		},
		{
			name: "aliyun 454 behaviour spam", preset: "aliyun",
			option: func(u string) mailer.Option { return provider.Aliyun(u, pw) }, user: "u@aliyun.com",
			step: mailertest.StepDataEnd, reply: "454 Transient reject by behaviour spam at Rcpt State",
			stage: mailer.StageDataEnd, code: 454, hint: "suspected spam", outcome: mailer.OutcomeTemporary,
		},
		{
			name: "aliyun 526 authentication failure", preset: "aliyun",
			option: func(u string) mailer.Option { return provider.Aliyun(u, pw) }, user: "u@aliyun.com",
			step: mailertest.StepAUTH, reply: "526 Authentication failure[0]",
			stage: mailer.StageAuth, code: 526, hint: "full address", outcome: mailer.OutcomePermanent,
		},
		// Sending services.
		{
			name: "sendgrid 535 apikey", preset: "sendgrid",
			option: func(string) mailer.Option { return provider.SendGrid(pw) }, user: "noreply@example.com",
			step: mailertest.StepAUTH, reply: "535 Authentication failed: Bad username / password",
			stage: mailer.StageAuth, code: 535, hint: "literally apikey", outcome: mailer.OutcomePermanent,
		},
		{
			name: "postmark 535 token", preset: "postmark",
			option: func(string) mailer.Option { return provider.Postmark(pw) }, user: "noreply@example.com",
			step: mailertest.StepAUTH, reply: "535 5.7.8 Authentication failed",
			stage: mailer.StageAuth, code: 535, hint: "Server API token", outcome: mailer.OutcomePermanent,
		},
		{
			name: "ses 535 SMTP credentials", preset: "ses",
			option: func(u string) mailer.Option { return provider.SES("eu-west-1", u, pw) }, user: "AKIAEXAMPLE",
			step: mailertest.StepAUTH, reply: "535 Authentication Credentials Invalid",
			stage: mailer.StageAuth, code: 535, hint: "same region", outcome: mailer.OutcomePermanent,
		},
		{
			name: "mailgun 535 domain credentials", preset: "mailgun",
			option: func(u string) mailer.Option { return provider.Mailgun(u, pw) }, user: "postmaster@mg.example.com",
			step: mailertest.StepAUTH, reply: "535 Authentication failed",
			stage: mailer.StageAuth, code: 535, hint: "sending domain", outcome: mailer.OutcomePermanent,
		},
		{
			name: "yahoo 535 app password", preset: "yahoo",
			option: func(u string) mailer.Option { return provider.Yahoo(u, pw) }, user: "u@yahoo.com",
			step: mailertest.StepAUTH, reply: "535 5.7.0 (#AUTH005) Too many bad auth attempts.",
			stage: mailer.StageAuth, code: 535, hint: "app password", outcome: mailer.OutcomePermanent,
		},
		{
			name: "icloud 535 app-specific password", preset: "icloud",
			option: func(u string) mailer.Option { return provider.ICloud(u, pw) }, user: "u@icloud.com",
			step: mailertest.StepAUTH, reply: "535 5.7.8 Authentication failed",
			stage: mailer.StageAuth, code: 535, hint: "app-specific password", outcome: mailer.OutcomePermanent,
		},
		// Replies no rule covers keep the default class and get no hint.
		{
			name: "qq unknown recipient has no hint", preset: "qq",
			option: func(u string) mailer.Option { return provider.QQ(u, pw) }, user: "u@qq.com",
			step: mailertest.StepRCPT, reply: "550 5.1.1 Mailbox not found",
			stage: mailer.StageRcpt, code: 550, outcome: mailer.OutcomePermanent,
		},
		{
			name: "gmail does not take QQ's 535 hint", preset: "gmail",
			option: func(u string) mailer.Option { return provider.Gmail(u, pw) }, user: "u@gmail.com",
			step: mailertest.StepAUTH, reply: "535 Login Fail. Please enter your authorization code to login.",
			stage: mailer.StageAuth, code: 535, outcome: mailer.OutcomePermanent,
		},
		{
			name: "163 plain 451 stays temporary without hint", preset: "163",
			option: func(u string) mailer.Option { return provider.NetEase163(u, pw) }, user: "u@163.com",
			step: mailertest.StepDataEnd, reply: "451 4.3.0 Try again later",
			stage: mailer.StageDataEnd, code: 451, outcome: mailer.OutcomeTemporary,
		},
		{
			name: "zoho has no rules", preset: "zoho",
			option: func(u string) mailer.Option { return provider.Zoho(u, pw) }, user: "u@zoho.com",
			step: mailertest.StepAUTH, reply: "535 Authentication Failed",
			stage: mailer.StageAuth, code: 535, outcome: mailer.OutcomePermanent,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := []mailertest.Option{
				mailertest.WithUser(tt.user, pw),
				mailertest.WithFaults(mailertest.Fault{Step: tt.step, Reply: tt.reply}),
			}
			if tt.mechs != nil {
				opts = append(opts, mailertest.WithMechanisms(tt.mechs...))
			}
			srv := mailertest.NewServer(t, opts...)

			from := tt.user
			if !strings.Contains(from, "@") { // SES user names are access key IDs
				from = "noreply@example.com"
			}
			err := sendThrough(t, srv, tt.option(tt.user), from)
			require.Error(t, err)
			var se *mailer.SendError
			require.True(t, errors.As(err, &se), "want a *mailer.SendError, got %T: %v", err, err)
			assert.Equal(t, tt.stage, se.Stage, "stage")
			assert.Equal(t, tt.code, se.Code, "code")
			assert.Equal(t, tt.outcome, mailer.Classify(err), "outcome")
			assert.Equal(t, tt.outcome == mailer.OutcomeTemporary, se.Temporary(), "Temporary()")
			assert.NotContains(t, se.Hint, pw)
			assert.NotContains(t, err.Error(), pw)
			if tt.hint == "" {
				assert.Empty(t, se.Hint)
				return
			}
			assert.Contains(t, se.Hint, tt.hint)
			assert.Contains(t, err.Error(), "hint: "+se.Hint)
			r := ruleFor(t, tt.preset, se.Hint)
			assert.Equal(t, tt.minWait, r.MinWait, "MinWait of the matching rule")
			assert.Equal(t, tt.minWait, se.MinWait(), "SendError.MinWait")
			assert.Zero(t, srv.Messages(), "nothing was delivered")
		})
	}
}

// TestPresetMechanismOnTheWire checks that, when only the server and its
// CA are overridden, the preset's own mechanism is what the server sees,
// and that a successful send carries no hint.
func TestPresetMechanismOnTheWire(t *testing.T) {
	tests := []struct {
		name   string
		option mailer.Option
		user   string
		mechs  []string
		want   string
	}{
		{"microsoft365 LOGIN", provider.Microsoft365("u@corp.example", "pw"), "u@corp.example", []string{"LOGIN", "XOAUTH2"}, "AUTH LOGIN"},
		{"outlook LOGIN", provider.Outlook("u@hotmail.com", "pw"), "u@hotmail.com", []string{"LOGIN"}, "AUTH LOGIN"},
		{"zoho LOGIN", provider.Zoho("u@zoho.com", "pw"), "u@zoho.com", nil, "AUTH LOGIN"},
		{"qq PLAIN", provider.QQ("u@qq.com", "pw"), "u@qq.com", nil, "AUTH PLAIN"},
		{"sendgrid PLAIN apikey", provider.SendGrid("pw"), "apikey", nil, "AUTH PLAIN"},
		{"exmail AUTO picks CRAM-MD5", provider.QQExmail("u@corp.example", "pw"), "u@corp.example", nil, "AUTH CRAM-MD5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := []mailertest.Option{mailertest.WithUser(tt.user, "pw")}
			if tt.mechs != nil {
				opts = append(opts, mailertest.WithMechanisms(tt.mechs...))
			}
			srv := mailertest.NewServer(t, opts...)
			c, err := mailer.New(tt.option,
				mailer.WithServer(srv.Host(), srv.Port()),
				mailer.WithTLS(mailer.TLSStartTLS),
				mailer.WithRootCAs(srv.CertPool()))
			require.NoError(t, err)
			msg, err := mailer.NewMessage().From("noreply@example.com").To("bob@example.com").Subject("hi").Text("hello").Build()
			require.NoError(t, err)
			_, err = c.Send(t.Context(), msg)
			require.NoError(t, err)
			assert.True(t, slices.ContainsFunc(srv.Commands(), func(c string) bool {
				return c == tt.want || strings.HasPrefix(c, tt.want+" ")
			}), "want %q in %q", tt.want, srv.Commands())
			assert.Len(t, srv.Messages(), 1)
		})
	}
}

// TestPresetsStack checks that options after a preset replace its server
// and TLS mode but keep its rules, and that a second preset adds its rules
// after the first's.
func TestPresetsStack(t *testing.T) {
	srv := mailertest.NewServer(t, mailertest.WithUser("u@163.com", "pw"),
		mailertest.WithFaults(mailertest.Fault{Step: mailertest.StepAUTH, Reply: "535 Error: authentication failed"}))
	err := sendThrough(t, srv, mailer.Options(provider.NetEase163("u@163.com", "pw"), provider.QQ("u@163.com", "pw")), "u@163.com")
	var se *mailer.SendError
	require.True(t, errors.As(err, &se))
	assert.Contains(t, se.Hint, "客户端授权密码", "the first preset's rule matches first")
}

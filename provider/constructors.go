package provider

import "github.com/postkit/mailer"

// The typed constructors below are the presets of the table with the
// credentials each provider expects. Each returns a mailer.Option; options
// passed after it to mailer.New adjust it. Invalid input, such as an empty
// user name or secret, makes mailer.New fail with a *mailer.ConfigError.
// Facts verified on 2026-11-25; see the table (All) for sources and limits.

// Gmail configures Gmail (smtp.gmail.com:465, implicit TLS, PLAIN).
// appPassword must be an app password: Gmail refuses the account password
// ("534 5.7.9 Application-specific password required") unless the account
// uses XOAUTH2, for which see GmailOAuth2. From must be user or one of its
// verified aliases. A free account may send to 500 recipients a day.
func Gmail(user, appPassword string) mailer.Option { return preset("gmail").Option(user, appPassword) }

// GmailOAuth2 configures Gmail with XOAUTH2, taking access tokens (scope
// https://mail.google.com/) from src once per connection. It is the
// default way to send through Gmail: src is usually
// mailer.OAuth2Config(ctx, GmailOAuth2Config(…), token), which refreshes
// the tokens itself (see oauth2.go).
func GmailOAuth2(user string, src mailer.TokenSource) mailer.Option {
	return preset("gmail").OAuth2Option(user, src)
}

// GoogleWorkspaceRelay configures Google Workspace's SMTP relay
// (smtp-relay.gmail.com:465, implicit TLS, PLAIN) with a Workspace user's
// credentials. For a relay that admits your servers by IP address, use
// Lookup("gmail-relay") and its Server method instead. An admin must
// enable the relay in the Admin console.
func GoogleWorkspaceRelay(user, password string) mailer.Option {
	return preset("gmail-relay").Option(user, password)
}

// Outlook configures Outlook.com and Hotmail (smtp-mail.outlook.com:587,
// STARTTLS, LOGIN). Microsoft requires OAuth2 for personal accounts in
// third-party apps since September 2024, so a password works only where
// basic authentication is still allowed; prefer OutlookOAuth2.
func Outlook(user, password string) mailer.Option { return preset("outlook").Option(user, password) }

// OutlookOAuth2 configures Outlook.com and Hotmail with XOAUTH2, taking
// access tokens from src once per connection.
func OutlookOAuth2(user string, src mailer.TokenSource) mailer.Option {
	return preset("outlook").OAuth2Option(user, src)
}

// Microsoft365 configures Microsoft 365 / Exchange Online
// (smtp.office365.com:587, STARTTLS, LOGIN; Microsoft offers no PLAIN).
// SMTP AUTH must be enabled for the mailbox. Microsoft turns basic
// authentication off by default for existing tenants at the end of December
// 2026, after which the server answers "550 5.7.30 Basic authentication is
// not supported": prefer Microsoft365OAuth2. A mailbox may keep 3
// connections open and send 30 messages a minute.
func Microsoft365(user, password string) mailer.Option {
	return preset("microsoft365").Option(user, password)
}

// Microsoft365OAuth2 configures Microsoft 365 with XOAUTH2, taking access
// tokens from src once per connection. It is the default way to send
// through Microsoft 365: src is usually mailer.OAuth2Config(ctx,
// Microsoft365OAuth2Config(…), token), which refreshes the tokens itself.
// A token for a signed-in user needs
// the scope https://outlook.office.com/SMTP.Send; for an application
// without a user, see Microsoft's guide "Authenticate an IMAP, POP or SMTP
// connection using OAuth". SMTP AUTH must still be enabled for the mailbox.
func Microsoft365OAuth2(user string, src mailer.TokenSource) mailer.Option {
	return preset("microsoft365").OAuth2Option(user, src)
}

// Yahoo configures Yahoo Mail (smtp.mail.yahoo.com:465, implicit TLS,
// PLAIN). appPassword must be an app password from Yahoo account security.
func Yahoo(user, appPassword string) mailer.Option { return preset("yahoo").Option(user, appPassword) }

// ICloud configures iCloud Mail (smtp.mail.me.com:587, STARTTLS, PLAIN).
// user is the full iCloud address and appPassword an app-specific password.
func ICloud(user, appPassword string) mailer.Option {
	return preset("icloud").Option(user, appPassword)
}

// QQ configures QQ Mail, for qq.com and foxmail.com addresses (smtp.qq.com:465,
// implicit TLS, PLAIN). authCode is the authorization code (授权码) generated
// in QQ Mail's settings after turning on the SMTP service, not the QQ
// password; with the password QQ answers "535 Login Fail. Please enter your
// authorization code to login". From must be user. QQ answers QUIT with
// garbage after accepting a message; the Client reports it delivered.
func QQ(user, authCode string) mailer.Option { return preset("qq").Option(user, authCode) }

// QQExmail configures Tencent Exmail, QQ's enterprise mail for company
// domains (smtp.exmail.qq.com:465, implicit TLS, mechanism negotiated).
// password is the mailbox password, or a client-specific password
// (客户端专用密码) when the administrator enforces secure login.
func QQExmail(user, password string) mailer.Option { return preset("qq-exmail").Option(user, password) }

// NetEase163 configures NetEase 163 Mail (smtp.163.com:465, implicit TLS,
// PLAIN). authCode is the authorization code (客户端授权密码) created in the
// web settings after enabling POP3/SMTP/IMAP, not the account password; a
// free account may have at most 2 codes. From must be user ("553 Local
// user only" otherwise).
func NetEase163(user, authCode string) mailer.Option { return preset("163").Option(user, authCode) }

// NetEase126 configures NetEase 126 Mail (smtp.126.com:465, implicit TLS,
// PLAIN), with an authorization code as for NetEase163.
func NetEase126(user, authCode string) mailer.Option { return preset("126").Option(user, authCode) }

// YeahNet configures NetEase yeah.net (smtp.yeah.net:465, implicit TLS,
// PLAIN), with an authorization code as for NetEase163.
func YeahNet(user, authCode string) mailer.Option { return preset("yeah").Option(user, authCode) }

// Aliyun configures personal Aliyun Mail (smtp.aliyun.com:465, implicit TLS,
// mechanism negotiated). From must be user: Aliyun refuses others with a
// 440, which is permanent despite its first digit.
func Aliyun(user, password string) mailer.Option { return preset("aliyun").Option(user, password) }

// AliyunQiye configures Aliyun enterprise mail for company domains
// (smtp.qiye.aliyun.com:465, implicit TLS, mechanism negotiated).
func AliyunQiye(user, password string) mailer.Option {
	return preset("aliyun-qiye").Option(user, password)
}

// Zoho configures Zoho Mail in its US data centre (smtp.zoho.com:465,
// implicit TLS, LOGIN). For other regions, pass mailer.WithServer after it.
func Zoho(user, password string) mailer.Option { return preset("zoho").Option(user, password) }

// Feishu configures Feishu Mail (smtp.feishu.cn:465, implicit TLS,
// mechanism negotiated).
func Feishu(user, password string) mailer.Option { return preset("feishu").Option(user, password) }

// SendGrid configures Twilio SendGrid (smtp.sendgrid.net:587, STARTTLS,
// PLAIN). The user name is literally "apikey" and apiKey is an API key with
// Mail Send permission. SendGrid accepts at most 5,000 messages per
// connection.
func SendGrid(apiKey string) mailer.Option { return preset("sendgrid").Option("apikey", apiKey) }

// Mailgun configures Mailgun's US region (smtp.mailgun.org:587, STARTTLS,
// PLAIN) with the SMTP credentials of a sending domain, such as
// "postmaster@mg.example.com".
func Mailgun(user, password string) mailer.Option { return preset("mailgun").Option(user, password) }

// MailgunEU configures Mailgun's EU region (smtp.eu.mailgun.org:587,
// STARTTLS, PLAIN), for domains created there.
func MailgunEU(user, password string) mailer.Option {
	return preset("mailgun-eu").Option(user, password)
}

// SES configures Amazon SES in region, such as "eu-west-1"
// (email-smtp.<region>.amazonaws.com:465, implicit TLS, PLAIN). user and
// password are SES SMTP credentials created for that region, not IAM access
// keys. A region that is not a valid AWS region name makes mailer.New fail.
// Sending limits depend on the account; see Limits in the table.
func SES(region, user, password string) mailer.Option {
	p, err := sesPreset(region)
	if err != nil {
		return invalid("provider.SES", err)
	}
	return p.Option(user, password)
}

// Postmark configures Postmark (smtp.postmarkapp.com:587, STARTTLS, PLAIN).
// serverToken, the Server API token, is both the user name and the
// password. Postmark offers no implicit-TLS port.
//
// Because the token is also the user name, it shows wherever a Client shows
// its user name (String, %v, debug logs), which redact only passwords.
// PostmarkSMTPToken keeps the secret out of them.
func Postmark(serverToken string) mailer.Option {
	return preset("postmark").Option(serverToken, serverToken)
}

// PostmarkSMTPToken configures Postmark like Postmark, with an SMTP token
// generated for a message stream: accessKey is the user name and secretKey
// the password.
func PostmarkSMTPToken(accessKey, secretKey string) mailer.Option {
	return preset("postmark").Option(accessKey, secretKey)
}

// Mailpit configures a local Mailpit (127.0.0.1:1025, no TLS, no
// authentication), a mail catcher for development. Pass
// mailer.WithServer after it to reach Mailpit elsewhere, such as in another
// container.
func Mailpit() mailer.Option { return preset("mailpit").Server() }

// MailHog configures a local MailHog (127.0.0.1:1025, no TLS, no
// authentication), like Mailpit.
func MailHog() mailer.Option { return preset("mailhog").Server() }

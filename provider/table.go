package provider

import (
	"time"

	"github.com/postkit/mailer"
)

// verified is the date the table was last checked against its sources
// (../shared/reference/landscape.md section (c), research of 2026-11-25,
// plus the documents named in the comments).
const verified = "2026-11-25"

// Source keys used in the comments: NM = nodemailer
// lib/well-known/services.json v9.0.5 (entry name); TB = Thunderbird ISPDB
// file; CM = chatmail provider-db file; docs = the provider's documentation;
// notes = ../shared/reference/*.md. Where NM and the provider's documentation
// disagree on the primary port, the documentation wins and the comment says so.
//
// Mechanisms: TB's "password-cleartext" means PLAIN or LOGIN; PLAIN is used
// where nothing says otherwise. AUTO (negotiate) is used where the sources
// say nothing about the mechanism.

// table is the one list of presets. Keep names, aliases and domains unique
// (TestTableUnique checks) and the doc.go summary in step (TestDocTable).
var table = []Preset{
	{
		Name: "gmail", Aliases: []string{"googlemail"}, Title: "Gmail",
		Domains: []string{"gmail.com", "googlemail.com"},              // NM Gmail; TB googlemail.com.xml; CM gmail.md
		Host:    "smtp.gmail.com", Port: 465, TLS: mailer.TLSImplicit, // NM, CM: 465 SSL; TB also lists 587 STARTTLS
		Mechanism: mailer.MechanismPlain, // TB: OAuth2, password-cleartext
		Notes: "The password must be an app password (2-Step Verification on), or use GmailOAuth2. " +
			"From must be the account or a verified alias. 587 STARTTLS also works.",
		Limits: Limits{RecipientsPerDay: 500, Note: "500 recipients per rolling 24 hours for a free account " +
			"(notes; support.google.com/mail/answer/22839); past it Gmail answers 550 5.4.5."},
		Rules:   gmailRules,
		Sources: "NM Gmail; TB googlemail.com.xml; CM gmail.md", Verified: verified,
	},
	{
		Name: "gmail-relay", Aliases: []string{"google-workspace-relay", "gmail-workspace"},
		Title: "Google Workspace SMTP relay",
		Host:  "smtp-relay.gmail.com", Port: 465, TLS: mailer.TLSImplicit, // NM GmailWorkspace (notes); 587 also offered
		Mechanism: mailer.MechanismPlain,
		Notes: "An admin must enable the relay in the Workspace Admin console. It admits clients by IP address " +
			"(use Preset.Server, no credentials) or by SMTP AUTH of a Workspace user, as configured there.",
		Limits: Limits{Note: "Per-user and per-domain relay limits are in Workspace admin help; " +
			"not checked here. Over the daily limit the relay answers 550 5.4.5."},
		Rules:   gmailRules,
		Sources: "NM GmailWorkspace (via notes)", Verified: verified,
	},
	{
		Name: "outlook", Aliases: []string{"hotmail", "outlook.com", "hotmail.com", "live", "msn"},
		Title:   "Outlook.com / Hotmail",
		Domains: outlookDomains,                                              // NM Hotmail (hotmail.com, outlook.com); TB hotmail.com.xml (the rest)
		Host:    "smtp-mail.outlook.com", Port: 587, TLS: mailer.TLSStartTLS, // NM Hotmail; TB hotmail.com.xml
		Mechanism: mailer.MechanismLogin, // no PLAIN; TB lists only OAuth2
		Notes: "Personal Microsoft accounts need OAuth2 in third-party apps since September 2024 (TB lists only OAuth2): " +
			"use OutlookOAuth2; LOGIN with a password works only where basic auth is still allowed.",
		Limits: Limits{Note: "Microsoft publishes no SMTP numbers for personal accounts; 432 4.3.2 " +
			"means too many concurrent connections (sabuhish/fastapi-mail#75)."},
		Rules:   microsoftRules("provider.OutlookOAuth2"),
		Sources: "NM Hotmail; TB hotmail.com.xml", Verified: verified,
	},
	{
		Name: "microsoft365", Aliases: []string{"office365", "outlook365", "m365", "o365", "exchange-online"},
		Title: "Microsoft 365 / Exchange Online",
		Host:  "smtp.office365.com", Port: 587, TLS: mailer.TLSStartTLS, // NM Outlook365 (secure:false); TB office365.com
		Mechanism: mailer.MechanismLogin, // LOGIN or XOAUTH2, no PLAIN (notes)
		Notes: "SMTP AUTH must be enabled for the mailbox. Microsoft disables basic auth (LOGIN) by default for " +
			"existing tenants at the end of December 2026 (Exchange Team blog, 2026-01-27): prefer Microsoft365OAuth2. " +
			"From must be the mailbox or one it may send as.",
		Limits: Limits{MaxConnections: 3, Messages: 30, Per: time.Minute, RecipientsPerDay: 10000,
			Note: "Per mailbox, for SMTP AUTH submission (learn.microsoft.com, smtp-submission-improvements); " +
				"a 4th connection gets 432 4.3.2."},
		Rules:   microsoftRules("provider.Microsoft365OAuth2"),
		Sources: "NM Outlook365; TB office365.com; docs learn.microsoft.com", Verified: verified,
	},
	{
		Name: "yahoo", Aliases: []string{"yahoomail", "ymail"}, Title: "Yahoo Mail",
		Domains: yahooDomains,                                              // NM Yahoo (yahoo.com); TB yahoo.com.xml
		Host:    "smtp.mail.yahoo.com", Port: 465, TLS: mailer.TLSImplicit, // NM; TB also lists 587 STARTTLS
		Mechanism: mailer.MechanismPlain, // TB: OAuth2, password-cleartext
		Notes:     "The password must be an app password generated in Yahoo account security. 587 STARTTLS also works.",
		Rules:     yahooRules,
		Sources:   "NM Yahoo; TB yahoo.com.xml; CM yahoo.md", Verified: verified,
	},
	{
		Name: "icloud", Aliases: []string{"me", "mac"}, Title: "iCloud Mail",
		Domains: []string{"icloud.com", "me.com", "mac.com"},            // NM iCloud (me.com, mac.com); TB me.com.xml
		Host:    "smtp.mail.me.com", Port: 587, TLS: mailer.TLSStartTLS, // NM; TB me.com.xml
		Mechanism: mailer.MechanismPlain, // TB: password-cleartext
		Notes:     "The password must be an app-specific password; the user name is the full iCloud address.",
		Rules:     iCloudRules,
		Sources:   "NM iCloud; TB me.com.xml; CM icloud.md", Verified: verified,
	},
	{
		Name: "qq", Aliases: []string{"foxmail", "qqmail"}, Title: "QQ Mail",
		Domains: []string{"qq.com", "foxmail.com"},                 // NM QQ, TB qq.com.xml: qq.com; CM qq.md adds foxmail.com
		Host:    "smtp.qq.com", Port: 465, TLS: mailer.TLSImplicit, // NM QQ; TB qq.com.xml; CM qq.md
		Mechanism: mailer.MechanismPlain, // TB: password-cleartext
		Notes: "The password is the authorization code (授权码) from QQ Mail settings, not the QQ password. " +
			"From must be the account. QQ answers QUIT and RSET with garbage after a delivery; the Client treats " +
			"the message as delivered. 587 STARTTLS is reported by community pages.",
		Limits:  Limits{Note: "QQ publishes no SMTP numbers in our sources; it answers 550 … frequency limited when throttling."},
		Rules:   qqRules,
		Sources: "NM QQ; TB qq.com.xml; CM qq.md", Verified: verified,
	},
	{
		Name: "qq-exmail", Aliases: []string{"exmail", "qqex", "qq enterprise", "tencent-exmail"},
		Title: "Tencent Exmail (QQ enterprise mail)",
		Host:  "smtp.exmail.qq.com", Port: 465, TLS: mailer.TLSImplicit, // NM QQex
		Mechanism: mailer.MechanismAuto, // not in the sources
		Notes: "Serves company domains. The password is the mailbox password, or a client-specific password " +
			"(客户端专用密码) when the admin enforces secure login. From must be the account.",
		Rules:   exmailRules,
		Sources: "NM QQex", Verified: verified,
	},
	{
		Name: "163", Aliases: []string{"netease", "netease163", "163.com"}, Title: "NetEase 163 Mail",
		Domains: []string{"163.com"},                                // TB 163.com.xml; CM 163.md
		Host:    "smtp.163.com", Port: 465, TLS: mailer.TLSImplicit, // NM 163; TB; CM; zmail info.py: also 994 SSL, 25 plain
		Mechanism: mailer.MechanismPlain,
		Notes: "The password is the authorization code (客户端授权密码), not the account password; enable POP3/SMTP/IMAP " +
			"in the web settings first. Free accounts have at most 2 codes. From must be the account. Also 994 SSL.",
		Limits:  netEaseLimits,
		Rules:   netEaseRules,
		Sources: "NM 163; TB 163.com.xml; CM 163.md", Verified: verified,
	},
	{
		Name: "126", Aliases: []string{"netease126", "126.com"}, Title: "NetEase 126 Mail",
		Domains: []string{"126.com"},                                // TB 126.com.xml
		Host:    "smtp.126.com", Port: 465, TLS: mailer.TLSImplicit, // NM 126; TB; zmail info.py: also 994 SSL
		Mechanism: mailer.MechanismPlain,
		Notes:     "Same rules as 163: the password is the authorization code (客户端授权密码); From must be the account.",
		Limits:    netEaseLimits,
		Rules:     netEaseRules,
		Sources:   "NM 126; TB 126.com.xml", Verified: verified,
	},
	{
		Name: "yeah", Aliases: []string{"yeah.net", "netease-yeah"}, Title: "NetEase yeah.net",
		Domains: []string{"yeah.net"},                                // TB yeah.net.xml
		Host:    "smtp.yeah.net", Port: 465, TLS: mailer.TLSImplicit, // TB; zmail info.py (not in NM)
		Mechanism: mailer.MechanismPlain,
		Notes:     "Same rules as 163: the password is the authorization code (客户端授权密码); From must be the account.",
		Limits:    netEaseLimits,
		Rules:     netEaseRules,
		Sources:   "TB yeah.net.xml; zhangyunhao116/zmail info.py", Verified: verified,
	},
	{
		Name: "aliyun", Aliases: []string{"alimail"}, Title: "Aliyun Mail",
		Domains: []string{"aliyun.com"},                                // NM Aliyun
		Host:    "smtp.aliyun.com", Port: 465, TLS: mailer.TLSImplicit, // NM Aliyun; 25 plain also
		Mechanism: mailer.MechanismAuto, // not in the sources
		Notes:     "Personal Aliyun Mail. From must be the account (440).",
		Rules:     aliyunRules,
		Sources:   "NM Aliyun", Verified: verified,
	},
	{
		Name: "aliyun-qiye", Aliases: []string{"aliyun-enterprise"}, Title: "Aliyun enterprise mail",
		Host: "smtp.qiye.aliyun.com", Port: 465, TLS: mailer.TLSImplicit, // NM AliyunQiye
		Mechanism: mailer.MechanismAuto, // not in the sources
		Notes: "Serves company domains. Older set-ups use smtp.mxhichina.com:465 (NM qiye.aliyun). " +
			"From must be the account (440).",
		Rules:   aliyunRules,
		Sources: "NM AliyunQiye, qiye.aliyun", Verified: verified,
	},
	{
		Name: "zoho", Aliases: []string{"zohomail"}, Title: "Zoho Mail",
		Domains: []string{"zoho.com", "zohomail.com"},                // TB zoho.com.xml
		Host:    "smtp.zoho.com", Port: 465, TLS: mailer.TLSImplicit, // NM Zoho; TB also lists 587 STARTTLS
		Mechanism: mailer.MechanismLogin, // NM Zoho authMethod LOGIN
		Notes: "US data centre. Accounts elsewhere use their region's host (smtp.zoho.eu, community lists) and " +
			"organization domains smtppro.zoho.com (community lists): override with mailer.WithServer.",
		Sources: "NM Zoho; TB zoho.com.xml", Verified: verified,
	},
	{
		Name: "feishu", Aliases: []string{"feishumail"}, Title: "Feishu Mail",
		Host: "smtp.feishu.cn", Port: 465, TLS: mailer.TLSImplicit, // NM Feishu Mail
		Mechanism: mailer.MechanismAuto, // not in the sources
		Notes: "Feishu (China). NM also calls it Lark; the host of Lark's international service is not in our " +
			"sources, so there is no lark alias.",
		Sources: "NM Feishu Mail", Verified: verified,
	},
	{
		Name: "sendgrid", Title: "Twilio SendGrid",
		Host: "smtp.sendgrid.net", Port: 587, TLS: mailer.TLSStartTLS, // NM SendGrid; docs: also 25, 2525 STARTTLS and 465 SSL
		Mechanism: mailer.MechanismPlain,
		Username:  "apikey",
		Notes:     "The user name is literally apikey and the password is an API key with Mail Send permission.",
		Limits: Limits{MessagesPerConnection: 5000, Note: "At most 5,000 messages per connection " +
			"(docs twilio.com/docs/sendgrid, integrating-with-the-smtp-api; vert-x3/vertx-mail-client#195)."},
		Rules:   sendGridRules,
		Sources: "NM SendGrid; docs twilio.com", Verified: verified,
	},
	{
		Name: "mailgun", Aliases: []string{"mailgun-us"}, Title: "Mailgun (US)",
		Host: "smtp.mailgun.org", Port: 587, TLS: mailer.TLSStartTLS, // docs, Symfony 6.3; NM uses 465 SSL
		Mechanism: mailer.MechanismPlain,
		Notes:     "Credentials belong to a sending domain (such as postmaster@your-domain). Also 465 SSL, and 25, 2525 STARTTLS.",
		Rules:     mailgunRules,
		Sources:   "docs documentation.mailgun.com; symfony/mailer CHANGELOG 6.3; NM Mailgun", Verified: verified,
	},
	{
		Name: "mailgun-eu", Title: "Mailgun (EU)",
		Host: "smtp.eu.mailgun.org", Port: 587, TLS: mailer.TLSStartTLS, // docs
		Mechanism: mailer.MechanismPlain,
		Notes:     "For domains created in Mailgun's EU region. Credentials belong to a sending domain.",
		Rules:     mailgunRules,
		Sources:   "docs documentation.mailgun.com", Verified: verified,
	},
	{
		Name: "ses", Aliases: []string{"amazon-ses", "aws-ses"}, Title: "Amazon SES (us-east-1)",
		Host: "email-smtp.us-east-1.amazonaws.com", Port: 465, TLS: mailer.TLSImplicit, // NM SES (all 19 region entries: 465)
		Mechanism: mailer.MechanismPlain,
		Notes: "Use SES(region, …) or Lookup(\"ses-<region>\") for another region. SMTP credentials are per region " +
			"and are not IAM access keys. Also STARTTLS on 25, 587, 2587 and TLS on 2465; EC2 throttles port 25.",
		Limits: Limits{IdleTimeout: 10 * time.Second,
			Note: "Per account and region (GetSendQuota: MaxSendRate, Max24HourSend, counting recipients); " +
				"the sandbox allows 1 message per second and 200 per 24 hours (docs.aws.amazon.com/ses/latest/dg/quotas.html). " +
				"SES closes connections idle for about 10 s (symfony/symfony#36301; notes)."},
		Rules:   sesRules,
		Sources: "NM SES, SES-*; docs docs.aws.amazon.com/ses/latest/dg/smtp-connect.html", Verified: verified,
	},
	{
		Name: "postmark", Aliases: []string{"postmarkapp"}, Title: "Postmark",
		Host: "smtp.postmarkapp.com", Port: 587, TLS: mailer.TLSStartTLS, // docs article 811; NM uses 2525
		Mechanism: mailer.MechanismPlain,
		Notes: "The Server API token is both the user name and the password, or use an SMTP token's access and " +
			"secret keys. Also 25 and 2525 STARTTLS; no 465. Broadcast streams use smtp-broadcasts.postmarkapp.com.",
		Rules:        postmarkRules,
		Sources:      "docs postmarkapp.com/support/article/811; NM Postmark",
		Verified:     verified,
		userIsSecret: true,
	},
	{
		Name: "mailpit", Title: "Mailpit (local mail catcher)",
		Host: "127.0.0.1", Port: 1025, TLS: mailer.TLSNone,
		Notes: "For development: catches every message, no TLS, no credentials; web UI on port 8025. " +
			"In Docker Compose, override the host with mailer.WithServer(\"mailpit\", 1025).",
		Sources: "Mailpit defaults (SMTP 1025); NM Maildev (1025, ignoreTLS)", Verified: verified,
	},
	{
		Name: "mailhog", Title: "MailHog (local mail catcher)",
		Host: "127.0.0.1", Port: 1025, TLS: mailer.TLSNone,
		Notes: "For development: catches every message, no TLS, no credentials; web UI on port 8025. " +
			"MailHog is no longer developed; Mailpit is its maintained successor.",
		Sources: "MailHog defaults (SMTP 1025)", Verified: verified,
	},
}

// netEaseLimits hold what the notes know about NetEase's limits.
var netEaseLimits = Limits{Note: "NetEase publishes no SMTP numbers in our sources; it answers 421 HL:ICC " +
	"(concurrency), 421 HL:IFC (volume) and 450 RP:DRC (recipients per connection) when they are exceeded."}

// outlookDomains are the Outlook.com address domains: NM Hotmail lists
// hotmail.com and outlook.com, TB hotmail.com.xml the others.
var outlookDomains = []string{
	"hotmail.com", "outlook.com", "live.com", "msn.com", "windowslive.com", "livemail.tw",
	"outlook.at", "outlook.be", "outlook.cl", "outlook.cz", "outlook.de", "outlook.dk", "outlook.es",
	"outlook.fr", "outlook.hu", "outlook.ie", "outlook.in", "outlook.it", "outlook.jp", "outlook.kr",
	"outlook.lv", "outlook.my", "outlook.ph", "outlook.pt", "outlook.sa", "outlook.sg", "outlook.sk",
	"outlook.co.id", "outlook.co.il", "outlook.co.th", "outlook.com.ar", "outlook.com.au",
	"outlook.com.br", "outlook.com.gr", "outlook.com.tr", "outlook.com.vn",
	"hotmail.be", "hotmail.ca", "hotmail.cl", "hotmail.cz", "hotmail.de", "hotmail.dk", "hotmail.es",
	"hotmail.fi", "hotmail.fr", "hotmail.gr", "hotmail.hu", "hotmail.it", "hotmail.lt", "hotmail.lv",
	"hotmail.my", "hotmail.nl", "hotmail.no", "hotmail.ph", "hotmail.rs", "hotmail.se", "hotmail.sg",
	"hotmail.sk", "hotmail.co.id", "hotmail.co.il", "hotmail.co.in", "hotmail.co.jp", "hotmail.co.kr",
	"hotmail.co.th", "hotmail.co.uk", "hotmail.co.za", "hotmail.com.ar", "hotmail.com.au",
	"hotmail.com.br", "hotmail.com.hk", "hotmail.com.tr", "hotmail.com.tw", "hotmail.com.vn",
	"live.at", "live.be", "live.ca", "live.cl", "live.cn", "live.de", "live.dk", "live.fi", "live.fr",
	"live.hk", "live.ie", "live.in", "live.it", "live.jp", "live.nl", "live.no", "live.ru", "live.se",
	"live.co.jp", "live.co.kr", "live.co.uk", "live.co.za", "live.com.ar", "live.com.au",
	"live.com.mx", "live.com.my", "live.com.ph", "live.com.pt", "live.com.sg",
}

// yahooDomains are Yahoo's own address domains from TB yahoo.com.xml (NM
// Yahoo lists yahoo.com). TB's cox.net and MX host names are left out.
var yahooDomains = []string{
	"yahoo.com", "yahoo.de", "yahoo.it", "yahoo.fr", "yahoo.es", "yahoo.se", "yahoo.co.in",
	"yahoo.co.uk", "yahoo.co.nz", "yahoo.com.au", "yahoo.com.ar", "yahoo.com.br", "yahoo.com.mx",
	"ymail.com", "myyahoo.com", "rocketmail.com",
}

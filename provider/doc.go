// Package provider holds presets for well-known mail providers: the server,
// port, TLS mode and AUTH mechanism each one expects, the quirks of its
// credentials, the sending limits it publishes, and hints attached to its
// known error replies.
//
// A preset is nothing but a [mailer.Option] built from public options
// (mailer.WithServer, WithTLS, WithAuth, WithReplyRules). Package mailer
// does not know this package exists; anyone can write presets of their own
// the same way.
//
// # Using a preset
//
// Call the provider's constructor with the credentials it expects:
//
//	c, err := mailer.New(provider.QQ("alice@qq.com", authCode))
//
// Options are applied in order, so options after a preset adjust it. To use
// Gmail's STARTTLS port instead of 465:
//
//	c, err := mailer.New(provider.Gmail(user, appPassword),
//		mailer.WithServer("smtp.gmail.com", 587),
//		mailer.WithTLS(mailer.TLSStartTLS))
//
// A later option replaces the server, TLS mode or credentials but never
// removes the preset's reply rules; rules from two presets accumulate, the
// first preset's consulted first.
//
// # Choosing a preset at run time
//
// When the provider comes from configuration, [Lookup] finds a preset by
// name or alias, ignoring case, spaces, hyphens and underscores ("qq",
// "foxmail", "163", "netease", "Microsoft 365", "ses-eu-west-1"), and
// [ForAddress] by the domain of an address ("bob@foxmail.com" is QQ Mail).
// [Preset.Option] then applies it with a user name and secret, and
// [Preset.OAuth2Option] with an OAuth 2.0 token source:
//
//	p, ok := provider.Lookup(cfg.Provider)
//	if !ok {
//		log.Fatalf("unknown mail provider %q", cfg.Provider)
//	}
//	c, err := mailer.New(p.Option(cfg.User, cfg.Password))
//
// [All] returns every preset, with its notes, limits and sources, for
// documentation and configuration screens.
//
// # Hints and outcomes
//
// Each preset carries [mailer.ReplyRule] values for its documented replies.
// When a send fails with one of them, the [*mailer.SendError] carries a
// Hint, such as "QQ Mail needs the authorization code (授权码), not the QQ
// password" for QQ's "535 Login Fail", or "Gmail needs an app password" for
// Gmail's "534 5.7.9". A few rules also correct the outcome of a reply that
// its code misstates: QQ Mail's "550 … frequency limited" is temporary,
// Aliyun's 440 and Gmail's "550 5.4.5" daily limit are permanent, and
// NetEase's "451 DT:SPM" asks for a wait of at least two minutes.
//
// # Limits
//
// [Limits] records the published limits of a provider (connections,
// messages per connection, messages per minute, recipients per day, how
// long the server keeps an idle connection). The preset's options apply
// them to the Client's connection pool and rate limit, as defaults that
// later options override:
//
//	c, err := mailer.New(provider.Microsoft365(user, password), // 3 connections, 30 messages a minute
//		mailer.WithRateLimit(20, time.Minute))                  // a tenant with a lower limit
//
// Providers that publish no numbers (QQ Mail and NetEase keep theirs
// confidential and answer with throttling replies instead) get the
// Client's defaults.
//
// # Presets
//
// Name, server, TLS mode and mechanism of each preset (AUTO negotiates the
// mechanism with the server). Facts were verified on 2026-11-25 against
// nodemailer's well-known services, the Thunderbird ISPDB, the chatmail
// provider database and the providers' documentation; each preset's Sources
// field says which.
//
//	gmail         smtp.gmail.com:465                      implicit  PLAIN
//	gmail-relay   smtp-relay.gmail.com:465                implicit  PLAIN
//	outlook       smtp-mail.outlook.com:587               starttls  LOGIN
//	microsoft365  smtp.office365.com:587                  starttls  LOGIN
//	yahoo         smtp.mail.yahoo.com:465                 implicit  PLAIN
//	icloud        smtp.mail.me.com:587                    starttls  PLAIN
//	qq            smtp.qq.com:465                         implicit  PLAIN
//	qq-exmail     smtp.exmail.qq.com:465                  implicit  AUTO
//	163           smtp.163.com:465                        implicit  PLAIN
//	126           smtp.126.com:465                        implicit  PLAIN
//	yeah          smtp.yeah.net:465                       implicit  PLAIN
//	aliyun        smtp.aliyun.com:465                     implicit  AUTO
//	aliyun-qiye   smtp.qiye.aliyun.com:465                implicit  AUTO
//	zoho          smtp.zoho.com:465                       implicit  LOGIN
//	feishu        smtp.feishu.cn:465                      implicit  AUTO
//	sendgrid      smtp.sendgrid.net:587                   starttls  PLAIN
//	mailgun       smtp.mailgun.org:587                    starttls  PLAIN
//	mailgun-eu    smtp.eu.mailgun.org:587                 starttls  PLAIN
//	ses           email-smtp.us-east-1.amazonaws.com:465  implicit  PLAIN
//	postmark      smtp.postmarkapp.com:587                starttls  PLAIN
//	mailpit       127.0.0.1:1025                          none      none
//	mailhog       127.0.0.1:1025                          none      none
//
// Amazon SES works in any region: [SES] takes the region, and Lookup
// accepts "ses-<region>".
//
// Microsoft: Outlook.com personal accounts need OAuth 2.0 ([OutlookOAuth2])
// since September 2024, and Microsoft 365 turns basic authentication off by
// default at the end of December 2026; prefer [Microsoft365OAuth2].
package provider

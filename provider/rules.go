package provider

import (
	"time"

	"github.com/postkit/mailer"
)

// Reply rules for known provider replies. The first rule that matches a
// failure sets SendError.Hint and, when set, overrides the outcome or the
// least wait before a retry (see mailer.ReplyRule). Hints are one line of
// English, with the Chinese term users search for, and never hold secrets.
//
// Reply texts come from ../shared/reference/reliability.md section 2.2 unless
// a comment says otherwise. Rules match on the code, the enhanced code and a
// distinctive part of the text, so that wording changes around it still
// match.

// Hints shared by several presets or checked by tests.
const (
	hintQQAuth = "QQ Mail needs the authorization code (授权码), not the QQ password: " +
		"turn on the SMTP service in QQ Mail settings (设置) and generate a code there"
	hintExmailAuth = "Tencent Exmail rejected the login: if secure login (安全登录) is on, " +
		"use a client-specific password (客户端专用密码) instead of the mailbox password"
	hintQQFrom = "QQ Mail sends only as the account that logged in: make From the same address as the user name"
	hintQQRate = "QQ Mail limits how often a client connects or sends (frequency limited): " +
		"wait a few minutes and send over fewer connections"

	hintNetEaseAuth = "NetEase needs the authorization code (客户端授权密码), not the account password: " +
		"create one in the web settings under POP3/SMTP/IMAP; free accounts have at most 2 codes"
	hintNetEaseNoPermission = "SMTP is not enabled for this NetEase account: turn on POP3/SMTP/IMAP " +
		"in the 163 web settings (设置) and log in with the authorization code (授权码)"
	hintNetEaseSpamLater = "NetEase deferred the message as possible spam (DT:SPM): " +
		"retry after 2 minutes at the earliest; if it repeats, change the subject or body"
	hintNetEaseSpam = "NetEase rejected the content as spam (DT:SPM, see mail.163.com/help/help_spam_16.htm): " +
		"change the subject or body; retrying the same message will fail again"
	hintNetEaseFrom = "NetEase sends only as the account that logged in (Local user only): " +
		"make From the same address as the user name"
	hintNetEaseLockout = "NetEase blocked logins after too many failures: stop retrying and fix the authorization code (授权码) first"
	hintNetEaseIPBlock = "NetEase temporarily blocked this sender for volume, concurrency or reputation (HL:): " +
		"send less, over fewer connections, and retry later"
	hintNetEaseTooManyRcpts = "NetEase refused more recipients on this connection (RP:DRC): send fewer messages per connection"

	hintGmailAppPassword = "Gmail needs an app password: turn on 2-Step Verification and create one " +
		"at myaccount.google.com/apppasswords, or use XOAUTH2 (provider.GmailOAuth2)"
	hintGmailBadCredentials = "Gmail rejected the credentials (BadCredentials): with a password, use an app password, " +
		"not the account password; with XOAUTH2, check the token's scope and expiry"
	hintGmailDaily = "Gmail's daily sending limit is reached (rolling 24 hours): do not retry now; " +
		"send later or from another account"
	hintGmailRate   = "Gmail is rate limiting this sender (421 4.7.0): wait several minutes and send more slowly"
	hintGmailRate28 = "Gmail is rate limiting this sender (421 4.7.28): send more slowly; " +
		"retries of the same Message-ID count against the limit"
	hintGmailRecipientRate = "The Gmail recipient is receiving mail too quickly: retry in 15 to 30 minutes"

	hintMicrosoftNoSMTPAuth = "SMTP AUTH is disabled for this tenant or mailbox: an admin must enable " +
		"Authenticated SMTP for the mailbox (XOAUTH2 needs it too)"
	hintMicrosoftMechanism = "The server does not accept this AUTH mechanism (5.7.4): " +
		"Microsoft offers LOGIN and XOAUTH2, not PLAIN; keep the preset's LOGIN"
	hintMicrosoftConnections = "Microsoft refused another concurrent connection (432 4.3.2): send over fewer connections " +
		"(Exchange Online allows 3 per mailbox)"

	hintAliyunSender = "Aliyun Mail refused the sender (440 is permanent here despite the 4): " +
		"make From the account that logged in"
	hintAliyunAuth   = "Aliyun Mail rejected the login: use the full address as the user name and check the password"
	hintAliyunSpam   = "Aliyun Mail deferred the message as suspected spam behaviour: send more slowly and retry later"
	hintAliyunQuota  = "Aliyun Mail reports a sending threshold was reached: wait for the quota to reset"
	hintSendGridAuth = "SendGrid: the user name is literally apikey and the password is an API key with Mail Send permission"
	hintPostmarkAuth = "Postmark: use the Server API token as both user name and password"
	hintSESAuth      = "Amazon SES: use SMTP credentials (not IAM access keys) created in the same region as the host"
	hintYahooAuth    = "Yahoo Mail needs an app password: generate one in Yahoo account security settings"
	hintICloudAuth   = "iCloud Mail needs an app-specific password (appleid.apple.com) and the full iCloud address as user name"
	hintMailgunAuth  = "Mailgun: use the SMTP credentials of the sending domain (such as postmaster@your-domain), not the account login"
)

// qqRules serve QQ Mail. Exmail shares the From and rate rules.
var qqRules = []mailer.ReplyRule{
	// "535 Login Fail. Please enter your authorization code to login. More
	// information in http://service.mail.qq.com/…" (YMFE/yapi#2219,
	// louislam/uptime-kuma#3434). Any 535 at AUTH: QQ has no other cause
	// worth telling apart.
	{Stage: mailer.StageAuth, Code: 535, Hint: hintQQAuth},
	qqFromRule,
	qqRateRule,
}

var exmailRules = []mailer.ReplyRule{
	{Stage: mailer.StageAuth, Code: 535, Hint: hintExmailAuth},
	qqFromRule,
	qqRateRule,
}

// "501 mail from address must be same as authorization user"
// (gophish/gophish#1627, fisharebest/webtrees#2370), QQ and Exmail.
var qqFromRule = mailer.ReplyRule{Code: 501, Contains: "must be same as authorization user", Hint: hintQQFrom}

// "550 Connection frequency limited" and "550 … frequency limited"
// (ssrpanel/SSRPanel#1324, meolu/walle-web#289): a throttle despite the
// 5yz code. QQ publishes no wait; one minute is our choice.
var qqRateRule = mailer.ReplyRule{
	Code: 550, Contains: "frequency limited",
	Outcome: mailer.OutcomeTemporary, MinWait: time.Minute, Hint: hintQQRate,
}

// netEaseRules serve 163, 126 and yeah.net, which run the same software.
// Codes list: NetEase's, mirrored at biecuoliao.com/pa/MBRrwEM.html.
var netEaseRules = []mailer.ReplyRule{
	// "535 Error: authentication failed".
	{Stage: mailer.StageAuth, Code: 535, Hint: hintNetEaseAuth},
	// "550 User has no permission", seen at AUTH and at MAIL
	// (open-falcon/mail-provider#6, testerSunshine/12306#62).
	{Code: 550, Contains: "User has no permission", Hint: hintNetEaseNoPermission},
	// "451 Requested mail action not taken: too much fail authentication":
	// retrying makes the lockout longer.
	{Code: 451, Contains: "too much fail authentication", Outcome: mailer.OutcomePermanent, Hint: hintNetEaseLockout},
	// "451 DT:SPM ,please try again": NetEase asks for a resend after two
	// minutes.
	{Code: 451, Contains: "DT:SPM", Outcome: mailer.OutcomeTemporary, MinWait: 2 * time.Minute, Hint: hintNetEaseSpamLater},
	// "554 DT:SPM 163 smtp14,… please see
	// http://mail.163.com/help/help_spam_16.htm…" (jumpserver/jumpserver#644,
	// kootenpv/yagmail#144); no enhanced code.
	{Code: 554, Contains: "DT:SPM", Outcome: mailer.OutcomePermanent, Hint: hintNetEaseSpam},
	// "553 Local user only,163 smtp5,…" (ruanyf/weather-action#5).
	{Code: 553, Contains: "Local user only", Hint: hintNetEaseFrom},
	// "421 HL:REP", "HL:ICC" (concurrency), "HL:IFC" (volume), "HL:MEP".
	{Code: 421, Contains: "HL:", Hint: hintNetEaseIPBlock},
	// "450 RP:DRC": too many recipients on one connection.
	{Code: 450, Contains: "RP:DRC", Hint: hintNetEaseTooManyRcpts},
}

// gmailRules serve Gmail and the Google Workspace relay.
// Replies: support.google.com/a/answer/3726730, PHPMailer#1708.
var gmailRules = []mailer.ReplyRule{
	// "534-5.7.9 Application-specific password required. Learn more at …"
	{Stage: mailer.StageAuth, Code: 534, EnhancedCode: mailer.EnhancedCode{5, 7, 9}, Hint: hintGmailAppPassword},
	// "535-5.7.8 Username and Password not accepted. … BadCredentials"
	{Stage: mailer.StageAuth, Code: 535, EnhancedCode: mailer.EnhancedCode{5, 7, 8}, Hint: hintGmailBadCredentials},
	// "550 5.4.5 Daily user sending limit exceeded" (also "Daily SMTP relay
	// limit exceeded for user" on the relay): permanent for now, the quota
	// window is 24 hours.
	{Code: 550, EnhancedCode: mailer.EnhancedCode{5, 4, 5}, Outcome: mailer.OutcomePermanent, Hint: hintGmailDaily},
	// "421 4.7.0 … temporarily rate limited", "421 4.7.0 Try again later,
	// closing connection". The notes say to wait minutes; five is our
	// choice.
	{Code: 421, EnhancedCode: mailer.EnhancedCode{4, 7, 0}, MinWait: 5 * time.Minute, Hint: hintGmailRate},
	// "421 4.7.28 … rate limited" (per IP, domain, URL or Message-ID).
	{Code: 421, EnhancedCode: mailer.EnhancedCode{4, 7, 28}, MinWait: 5 * time.Minute, Hint: hintGmailRate28},
	// "450 4.2.1 The user you are trying to contact is receiving mail too
	// quickly": at least 15 minutes per the notes.
	{Code: 450, EnhancedCode: mailer.EnhancedCode{4, 2, 1}, MinWait: 15 * time.Minute, Hint: hintGmailRecipientRate},
}

// microsoftRules serve Outlook.com and Microsoft 365; oauth names the
// constructor to switch to.
func microsoftRules(oauth string) []mailer.ReplyRule {
	basicOff := "Microsoft has turned off basic authentication (password login) for SMTP: use XOAUTH2 (" + oauth + ")"
	return []mailer.ReplyRule{
		// "550 5.7.30 Basic authentication is not supported for Client
		// Submission." (OpenCTI-Platform/opencti#12069, quoting Microsoft).
		{Code: 550, EnhancedCode: mailer.EnhancedCode{5, 7, 30}, Hint: basicOff},
		// "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication
		// is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled
		// …" (nodemailer/nodemailer#1484, simonrob/email-oauth2-proxy#193).
		{Stage: mailer.StageAuth, Code: 535, EnhancedCode: mailer.EnhancedCode{5, 7, 139},
			Contains: "SmtpClientAuthentication is disabled", Hint: hintMicrosoftNoSMTPAuth},
		// "535 5.7.139 Authentication unsuccessful, basic authentication is
		// disabled." (rpremraj/mailR#107, lukevella/rallly#3154).
		{Stage: mailer.StageAuth, Code: 535, EnhancedCode: mailer.EnhancedCode{5, 7, 139}, Hint: basicOff},
		// "504 5.7.4 Unrecognized authentication type" (a PLAIN attempt).
		{Stage: mailer.StageAuth, Code: 504, EnhancedCode: mailer.EnhancedCode{5, 7, 4}, Hint: hintMicrosoftMechanism},
		// "432 4.3.2 Concurrent connections limit exceeded."
		// (learn.microsoft.com …/send-emails/smtp-submission-improvements).
		{Code: 432, EnhancedCode: mailer.EnhancedCode{4, 3, 2}, Hint: hintMicrosoftConnections},
	}
}

// aliyunRules serve Aliyun Mail and Aliyun enterprise mail. Replies from
// the list at sh-aliyun.com, as quoted in the notes.
var aliyunRules = []mailer.ReplyRule{
	// "440 mail from account doesn't conform with authentication": a
	// non-standard code for a permanent refusal. Matched on the code only,
	// so other wordings of 440 are permanent too.
	{Code: 440, Outcome: mailer.OutcomePermanent, Hint: hintAliyunSender},
	// "526 Authentication failure".
	{Code: 526, Contains: "Authentication failure", Hint: hintAliyunAuth},
	// "454 Transient reject by behaviour spam".
	{Code: 454, Contains: "behaviour spam", Hint: hintAliyunSpam},
	// "510 … maximum threshold" (the notes elide the middle).
	{Code: 510, Contains: "threshold", Hint: hintAliyunQuota},
}

// Rules for services whose rejected logins have one usual cause. The notes
// record the cause, not the reply text, so these match any 535 at AUTH.
var (
	sendGridRules = []mailer.ReplyRule{{Stage: mailer.StageAuth, Code: 535, Hint: hintSendGridAuth}}
	postmarkRules = []mailer.ReplyRule{{Stage: mailer.StageAuth, Code: 535, Hint: hintPostmarkAuth}}
	sesRules      = []mailer.ReplyRule{{Stage: mailer.StageAuth, Code: 535, Hint: hintSESAuth}}
	yahooRules    = []mailer.ReplyRule{{Stage: mailer.StageAuth, Code: 535, Hint: hintYahooAuth}}
	iCloudRules   = []mailer.ReplyRule{{Stage: mailer.StageAuth, Code: 535, Hint: hintICloudAuth}}
	mailgunRules  = []mailer.ReplyRule{{Stage: mailer.StageAuth, Code: 535, Hint: hintMailgunAuth}}
)

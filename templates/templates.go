// Package templates renders mails from html/template and text/template
// files, and holds built-in ones.
//
// [Parse] reads the templates of an fs.FS once, when the program starts:
// per mail a subject, an HTML body (html/template) and optionally a text
// body, with shared layouts and partials, locale variants ("zh-CN" falls
// back to "zh", then to the default locale) and the CSS of the HTML
// inlined into style attributes, once, at parse time. The resulting [Set]
// is a mailer.TemplateRenderer: mailer.MessageBuilder.Template renders a
// mail into a message. The engine is its own package so that a program
// that sends plain mail does not link it and its CSS inliner.
//
// [FS] holds the built-in mails: a verification code ("verification"), an
// address-confirmation link ("confirm-address") and a password reset
// ("password-reset"), each in English ("en", the default) and Simplified
// Chinese ("zh-CN"). They share one layout: the product name or logo, a
// title, the message, a code box or a button, and a footer. Parse them
// and render them with the data type of each mail:
//
//	set, err := templates.Parse(templates.FS, nil)
//	…
//	msg, err := mailer.NewMessage().From("Acme <noreply@acme.example>").To(user.Email).
//		Template(set, templates.NameVerification, user.Locale, templates.Verification{
//			Brand:   templates.Brand{Product: "Acme"},
//			Code:    "493817",
//			Expires: 10 * time.Minute,
//		}).Build()
//
// The built-in HTML is built from tables with inline CSS, no script and no
// web fonts, and shrinks to fit a phone: it is written for the web and app
// clients of Gmail, Outlook, QQ Mail and 163, and has dark-mode colours
// for the clients that support them. Each mail also has a hand-written
// text part. The files are ordinary templates: copy them next to your own
// to change them, or add partials and locales (see [Parse] for the file
// names). This package does not import mailer.
package templates

import (
	"embed"
	"fmt"
	htmltemplate "html/template"
	"strings"
	"time"
)

// FS holds the built-in template files, for templates.Parse.
//
//go:embed *.tmpl
var FS embed.FS

// Names of the built-in mails.
const (
	NameVerification   = "verification"
	NameConfirmAddress = "confirm-address"
	NamePasswordReset  = "password-reset"
)

// Brand is what every built-in mail says about the sender.
type Brand struct {
	// Product is the name of the product or company, shown at the top of
	// the mail, in the subject and in the text. Required.
	Product string
	// LogoURL, if set, shows an image 40 px high instead of Product at
	// the top: an https: URL, or "cid:logo" for an image added with
	// MessageBuilder.Embed("logo", …). It is an html/template URL, trusted
	// as it is (html/template would refuse the cid: scheme in a plain
	// string), so it must never come from user input.
	LogoURL htmltemplate.URL
	// SupportEmail, if set, is shown in the footer as the address for
	// questions.
	SupportEmail string
}

// Verification is the data of the "verification" mail: a one-time code
// to type in.
type Verification struct {
	Brand
	// Name is the recipient's name for the greeting, or "".
	Name string
	// Code is the code, such as "493817". Required.
	Code string
	// Expires is how long the code stays valid; 0 says nothing about it.
	Expires time.Duration
}

// ExpiresIn returns Expires in words for locale; see [FormatDuration].
func (d Verification) ExpiresIn(locale string) string { return FormatDuration(d.Expires, locale) }

// ConfirmAddress is the data of the "confirm-address" mail: a link that
// confirms the recipient's address.
type ConfirmAddress struct {
	Brand
	// Name is the recipient's name for the greeting, or "".
	Name string
	// URL is the confirmation link, https. Required.
	URL string
	// Expires is how long the link stays valid; 0 says nothing about it.
	Expires time.Duration
}

// ExpiresIn returns Expires in words for locale; see [FormatDuration].
func (d ConfirmAddress) ExpiresIn(locale string) string { return FormatDuration(d.Expires, locale) }

// PasswordReset is the data of the "password-reset" mail: a link to a
// page where the recipient chooses a new password.
type PasswordReset struct {
	Brand
	// Name is the recipient's name for the greeting, or "".
	Name string
	// URL is the reset link, https. Required.
	URL string
	// Expires is how long the link stays valid; 0 says nothing about it.
	Expires time.Duration
	// SingleUse makes the mail promise that the link works only once. Set
	// it only when your service keeps that promise, for example by signing
	// a hash of the user's current password hash into the token, so that
	// the link stops working once the password has changed (as
	// examples/password-reset does). The default says nothing about it.
	SingleUse bool
}

// ExpiresIn returns Expires in words for locale; see [FormatDuration].
func (d PasswordReset) ExpiresIn(locale string) string { return FormatDuration(d.Expires, locale) }

// FormatDuration returns d in words, in whole days, hours or minutes,
// rounded down so that a code never seems to last longer than it does:
// "10 minutes", "1 hour", "2 days" in English and, for a locale whose
// language is "zh", "10 分钟", "1 小时", "2 天". 90 seconds is "1 minute";
// 90 minutes is "90 minutes" (a larger unit only when it is exact); less
// than a minute is given in seconds ("30 seconds", "30 秒").
func FormatDuration(d time.Duration, locale string) string {
	d = max(d, 0)
	n, unit := int64(d/time.Minute), 1
	switch {
	case d < time.Minute:
		n, unit = int64(d/time.Second), 0
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		n, unit = int64(d/(24*time.Hour)), 3
	case d >= time.Hour && d%time.Hour == 0:
		n, unit = int64(d/time.Hour), 2
	}
	lang, _, _ := strings.Cut(strings.ToLower(strings.ReplaceAll(locale, "_", "-")), "-")
	if lang == "zh" {
		return fmt.Sprintf("%d %s", n, [...]string{"秒", "分钟", "小时", "天"}[unit])
	}
	word := [...]string{"second", "minute", "hour", "day"}[unit]
	if n != 1 {
		word += "s"
	}
	return fmt.Sprintf("%d %s", n, word)
}

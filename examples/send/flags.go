package main

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/postkit/mailer/provider"
)

// options holds the flags after parsing, with the environment applied.
type options struct {
	url, urlSource string // urlSource is "-url" or "$MAILER_URL"
	provider       string
	user, password string
	ca, caSource   string // caSource is "-ca" or "$MAILER_CA_FILE"

	from, replyTo, subject string
	to, cc, bcc            list
	text, textFile         string
	html, htmlFile         string
	attach, inline         list
	headers                list

	template, data, locale string // a built-in template, its JSON data and locale

	timeout time.Duration
	retries int
	json    bool
	dkim    dkimFlags

	set map[string]bool // flags given on the command line
}

// list is a repeatable string flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ", ") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

// parseFlags parses args and fills in the defaults from env. It returns
// flag.ErrHelp for -h and an *invalidError for anything else wrong.
func parseFlags(args []string, env func(string) string) (*options, error) {
	o := &options{set: map[string]bool{}}
	fs := newFlagSet(o)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil, err
		}
		return nil, invalidf("%v (see send -h)", err)
	}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	if fs.NArg() > 0 {
		// The word itself is not shown: it may be half of a password
		// with a space in it.
		return o, invalidf("unexpected argument after the flags: each value needs its own flag, " +
			"such as -to ADDR for every recipient, and values with spaces need quotes (see send -h)")
	}
	return o, o.applyEnv(env)
}

// newFlagSet returns the flags, writing to o. Their help is in usage.
func newFlagSet(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // run prints one line; -h prints printUsage
	fs.Usage = func() {}

	fs.StringVar(&o.url, "url", "", "")
	fs.StringVar(&o.provider, "provider", "", "")
	fs.StringVar(&o.user, "user", "", "")
	fs.StringVar(&o.password, "password", "", "")
	fs.StringVar(&o.ca, "ca", "", "")
	fs.StringVar(&o.from, "from", "", "")
	fs.Var(&o.to, "to", "")
	fs.Var(&o.cc, "cc", "")
	fs.Var(&o.bcc, "bcc", "")
	fs.StringVar(&o.replyTo, "reply-to", "", "")
	fs.StringVar(&o.subject, "subject", "", "")
	fs.StringVar(&o.text, "text", "", "")
	fs.StringVar(&o.textFile, "text-file", "", "")
	fs.StringVar(&o.html, "html", "", "")
	fs.StringVar(&o.htmlFile, "html-file", "", "")
	fs.Var(&o.attach, "attach", "")
	fs.Var(&o.inline, "inline", "")
	fs.Var(&o.headers, "header", "")
	fs.StringVar(&o.template, "template", "", "")
	fs.StringVar(&o.data, "data", "", "")
	fs.StringVar(&o.locale, "locale", "", "")
	fs.DurationVar(&o.timeout, "timeout", 0, "")
	fs.IntVar(&o.retries, "retries", 0, "")
	fs.BoolVar(&o.json, "json", false, "")
	fs.StringVar(&o.dkim.key, "dkim-key", "", "")
	fs.StringVar(&o.dkim.selector, "dkim-selector", "", "")
	fs.StringVar(&o.dkim.domain, "dkim-domain", "", "")
	fs.BoolVar(&o.dkim.dns, "dkim-dns", false, "")
	return fs
}

// applyEnv fills in what the flags left to the environment and checks
// that the flags make sense together.
func (o *options) applyEnv(env func(string) string) error {
	o.urlSource, o.caSource = "-url", "-ca"
	if !o.set["url"] && !o.set["provider"] {
		o.url, o.urlSource = env("MAILER_URL"), "$MAILER_URL"
	}
	if !o.set["user"] {
		o.user = env("MAILER_USER")
	}
	if !o.set["password"] {
		o.password = env("MAILER_PASSWORD")
	}
	if !o.set["ca"] {
		o.ca, o.caSource = env("MAILER_CA_FILE"), "$MAILER_CA_FILE"
	}

	if err := o.dkim.check(); err != nil {
		return err
	}
	if o.dkim.dns {
		return nil // only the DNS record is printed: no message
	}
	switch {
	case o.set["url"] && o.set["provider"]:
		return invalidf("give either -url or -provider, not both")
	case o.set["url"] && o.url == "":
		return invalidf("-url is empty")
	case o.set["provider"] && o.provider == "":
		return invalidf("-provider is empty")
	case o.set["text"] && o.set["text-file"]:
		return invalidf("give either -text or -text-file, not both")
	case o.set["html"] && o.set["html-file"]:
		return invalidf("give either -html or -html-file, not both")
	case o.timeout < 0:
		return invalidf("-timeout %v is negative", o.timeout)
	case o.set["retries"] && (o.retries < 1 || o.retries > 100):
		return invalidf("-retries %d: give the total number of attempts, 1 to 100", o.retries)
	case len(o.to) == 0:
		return invalidf("-to is required (see send -h)")
	case o.template != "" && (o.subject != "" || o.text != "" || o.textFile != "" || o.html != "" || o.htmlFile != ""):
		return invalidf("-template makes the subject and bodies: drop -subject, -text and -html")
	case o.template == "" && (o.data != "" || o.locale != ""):
		return invalidf("-data and -locale need -template")
	case o.template != "" && o.data == "":
		return invalidf("-template %s needs -data, such as -data '{\"Product\":\"Acme\",\"Code\":\"123456\",\"Expires\":\"10m\"}'", o.template)
	case o.template == "" && o.subject == "" && o.text == "" && o.textFile == "" && o.html == "" && o.htmlFile == "":
		return invalidf("the message is empty: give -subject, -text or -html")
	}
	return nil
}

// secrets returns the passwords and tokens the options hold, so that no
// message can show them.
func (o *options) secrets() []string {
	var out []string
	if o.password != "" {
		out = append(out, o.password, url.QueryEscape(o.password), url.PathEscape(o.password))
	}
	if o.url == "" {
		return out
	}
	// The password part of the URL, even if the URL does not parse.
	rest := o.url
	if _, after, ok := strings.Cut(rest, "://"); ok {
		rest = after
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		userinfo := rest[:at]
		if _, pass, ok := strings.Cut(userinfo, ":"); ok && pass != "" {
			out = append(out, pass)
			if p, err := url.PathUnescape(pass); err == nil {
				out = append(out, p)
			}
		}
	}
	return out
}

// printUsage writes the help text.
func printUsage(w io.Writer) {
	var names []string
	for _, p := range provider.All() {
		names = append(names, p.Name)
	}
	fmt.Fprint(w, strings.Replace(usage, "PRESETS", wrap(strings.Join(names, ", ")+", ses-<region>", 76, "  "), 1))
}

// wrap breaks s into lines of at most width bytes, each starting with indent.
func wrap(s string, width int, indent string) string {
	var b strings.Builder
	line := indent
	for _, word := range strings.Fields(s) {
		if len(line)+len(word)+1 > width && line != indent {
			b.WriteString(strings.TrimRight(line, " ") + "\n")
			line = indent
		}
		line += word + " "
	}
	b.WriteString(strings.TrimRight(line, " "))
	return b.String()
}

const usage = `send sends one e-mail.

Usage: send [flags] -to ADDR -subject TEXT -text TEXT

With no server given (no -url, no $MAILER_URL, no -provider), send starts an
SMTP test server on 127.0.0.1, delivers the message to it over STARTTLS and
prints the message as received: nothing leaves this machine.

Examples:
  # Try it with nothing configured: the message is printed.
  send -to you@example.com -subject hi -text hello

  # QQ Mail. The password is the authorization code (授权码) from QQ Mail's
  # settings, not the QQ password; keep it in the environment, not in a flag.
  read -rsp 'Authorization code (授权码): ' MAILER_PASSWORD && echo && export MAILER_PASSWORD
  send -provider qq -user alice@qq.com -to bob@example.com -subject 你好 -text 测试

  # Any server by URL: smtp:// is STARTTLS (port 587), smtps:// implicit TLS
  # (port 465). The password comes from $MAILER_PASSWORD, read as above. A URL
  # from a secret store may hold the account, with @ escaped as %40:
  # smtps://alice%40example.com:PASSWORD@smtp.example.com
  export MAILER_URL=smtps://smtp.example.com MAILER_USER=alice@example.com
  send -to bob@example.com -subject Report -text-file report.txt -attach report.pdf

  # A built-in template: a verification code in Chinese.
  send -to you@example.com -template verification -locale zh-CN \
    -data '{"Product":"Acme","Code":"493817","Expires":"10m"}'

  # A company relay whose certificate comes from an in-house CA.
  send -url smtp://relay.corp.example -ca /etc/ssl/corp-ca.pem \
    -from 'Build Bot <ci@corp.example>' -to team@corp.example -subject done -text ok

Server:
  -url URL           server URL (default $MAILER_URL):
                       smtp://[user[:password]@]host[:port][?query]   STARTTLS, required
                       smtps://[user[:password]@]host[:port][?query]  implicit TLS
                     query keys: auth=plain|login|cram-md5|xoauth2|auto,
                     tls=required|opportunistic|none, helo=NAME, timeout=30s
  -provider NAME     a preset, such as qq, 163, gmail or ses-eu-west-1 (list below)
  -user NAME         the account for -provider, or for a -url without one
                     (default $MAILER_USER)
  -password SECRET   its password, authorization code or token (default
                     $MAILER_PASSWORD); prefer the variable: other users of
                     this machine can read flags with ps
  -ca FILE           trust the CA certificates in this PEM file instead of the
                     system's (default $MAILER_CA_FILE)
  -timeout DURATION  give up after this long, such as 30s (default: no limit
                     beyond the timeout of each network step)
  -retries N         attempts in all, the first included (default 3); a
                     temporary failure (4xx reply, network error) is retried
                     with exponential backoff, a permanent one (5xx) never

Message:
  -from ADDR         the sender; "Name <addr>" allowed (default: the user name
                     when it is an address; send@localhost.localdomain for the
                     test server)
  -to ADDR           a recipient (required, repeatable)
  -cc ADDR           a carbon-copy recipient (repeatable)
  -bcc ADDR          a blind-copy recipient: in the envelope only, never in a
                     header (repeatable)
  -reply-to ADDR     the Reply-To address
  -subject TEXT      the subject, in any language
  -text TEXT         the plain-text body
  -text-file FILE    the plain-text body from a UTF-8 file (not with -text)
  -html TEXT         the HTML body
  -html-file FILE    the HTML body from a UTF-8 file (not with -html)
  -attach FILE       attach a file (repeatable)
  -inline CID=FILE   an image the HTML shows with <img src="cid:CID">
                     (repeatable)
  -header 'Name: value'
                     an extra header such as 'X-Campaign: spring' (repeatable)
  -template NAME     make the subject and bodies from a built-in template:
                     verification, confirm-address or password-reset
  -data JSON         the template's data: Product (required), Name, Code
                     (verification) or URL (the others), Expires such as
                     "10m", SupportEmail, LogoURL
  -locale LOCALE     the template's locale, such as en or zh-CN (default en;
                     zh-TW and zh fall back to zh-CN, others to en)

DKIM (RFC 6376; RSA of 2048 bits or more, or Ed25519):
  -dkim-key FILE     sign the message with this PEM private key (PKCS#1 or
                     PKCS#8), made for example with
                     openssl genpkey -algorithm ed25519 -out dkim.pem
  -dkim-selector S   the selector: the public key is published at
                     S._domainkey.DOMAIN
  -dkim-domain D     the signing domain (default: the -from domain); it must
                     be the From domain, a parent or a subdomain of it
  -dkim-dns          print the DNS TXT record that publishes the key, and
                     exit: send -dkim-dns -dkim-key dkim.pem -dkim-selector s1
                     -dkim-domain example.com

Output:
  -json              print the receipt as JSON: message_id, response,
                     recipients, attempts, duration, maybe_duplicate, and
                     "events", the delivery's status events (pending,
                     sending, retrying, sent or failed); with the test server
                     it also holds "received", the message as the server got
                     it. When sending fails, the JSON holds "error" and the
                     events too.
  Without -json, send prints "sent <message-id> to <recipients>: <reply>", or
  with the test server the message as received. Errors go to stderr as one
  line that never shows a password or token.

Exit status: 0 sent; 1 sending failed; 2 invalid flags or message (nothing
sent).

Presets (-provider):
PRESETS
`

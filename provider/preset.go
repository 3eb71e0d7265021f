package provider

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/postkit/mailer"
)

// A Preset describes one provider's SMTP submission service: where it
// listens, how it secures and authenticates connections, what it publishes
// about its limits, and the advice to attach to its known replies.
//
// A Preset is plain data. [Preset.Option] turns it into a [mailer.Option]
// made only of public options (WithServer, WithTLS, WithAuth,
// WithReplyRules), so options given after it to [mailer.New] adjust it.
// Presets returned by [Lookup], [ForAddress] and [All] are copies: changing
// one changes nothing else.
type Preset struct {
	// Name is the canonical name, lower case, such as "qq" or "microsoft365".
	Name string
	// Aliases are other names Lookup accepts, such as "foxmail" for "qq".
	Aliases []string
	// Title is the provider's name for people, such as "QQ Mail".
	Title string
	// Domains are the address domains the provider hosts, which ForAddress
	// maps to this preset. Empty for services that send for any domain
	// (SES, SendGrid) or for company domains (Microsoft 365, Tencent Exmail).
	Domains []string

	// Host and Port are the submission server's address.
	Host string
	Port int
	// TLS is how the connection is secured: mailer.TLSImplicit for an SSL
	// port such as 465, mailer.TLSStartTLS for 587, mailer.TLSNone only for
	// local mail catchers.
	TLS mailer.TLSMode
	// Mechanism is the AUTH mechanism Option uses with a password. Empty
	// means the service takes no credentials (local mail catchers).
	Mechanism mailer.Mechanism
	// Username, when not empty, is the user name the provider expects for
	// every account ("apikey" for SendGrid); Option uses it when given an
	// empty user name.
	Username string

	// Notes records the quirks a user needs to know, in one or two
	// sentences: which secret to use, what From may be, other ports.
	Notes string
	// Limits are the sending limits the provider publishes, as data.
	Limits Limits
	// Rules attach hints (and sometimes a different outcome or a longer
	// wait) to the provider's known replies. See mailer.ReplyRule.
	Rules []mailer.ReplyRule

	// Sources says where the facts come from: NM is nodemailer's
	// lib/well-known/services.json (v9.0.5), TB the Thunderbird ISPDB
	// (thunderbird/autoconfig ispdb/), CM the chatmail provider-db, docs
	// the provider's own documentation.
	Sources string
	// Verified is the date (YYYY-MM-DD) the facts were last checked against
	// the sources. Hosts, ports and limits drift; check again when a preset
	// stops working.
	Verified string

	// userIsSecret makes Option use the secret as the user name when the
	// user name is empty (Postmark's server token is both).
	userIsSecret bool
}

// Limits are the sending limits a provider publishes. [Preset.Option],
// [Preset.OAuth2Option] and [Preset.Server] apply them as defaults of the
// Client: MaxConnections as mailer.WithPool, MessagesPerConnection as
// mailer.WithMessagesPerConnection, Messages and Per as
// mailer.WithRateLimit, IdleTimeout as mailer.WithIdleTimeout. Options given
// after the preset override them, as any option does. RecipientsPerDay is
// information only: a daily quota is not a rate to spread messages over.
//
// A zero field means the provider publishes no number, or that the number
// depends on the account (Amazon SES); the Client's default applies and
// Note says what is known.
type Limits struct {
	// MaxConnections is the most connections one account may have open at
	// the same time.
	MaxConnections int
	// MessagesPerConnection is the most messages one connection may carry.
	MessagesPerConnection int
	// Messages and Per give a rate: at most Messages messages in any period
	// of length Per, such as 30 per minute.
	Messages int
	Per      time.Duration
	// RecipientsPerDay is the most recipients an account may send to in a
	// rolling 24 hours. Past it, providers refuse mail until the window
	// moves on.
	RecipientsPerDay int
	// IdleTimeout is how long the server keeps an idle connection open.
	IdleTimeout time.Duration
	// Note says what the numbers count and anything the fields cannot hold.
	Note string
}

// Option returns the options that configure a Client for this provider:
// server, TLS mode, reply rules and, unless the preset takes no credentials,
// authentication with user and secret using p.Mechanism.
//
// An empty user is replaced by p.Username when the provider has a fixed one
// (SendGrid's "apikey"). Presets without a Mechanism (local mail catchers)
// ignore user and secret. Invalid input, such as an empty user or secret,
// makes mailer.New fail with a *mailer.ConfigError.
func (p Preset) Option(user, secret string) mailer.Option {
	opts := p.base()
	if p.Mechanism == "" {
		return mailer.Options(opts...)
	}
	if user == "" {
		switch {
		case p.Username != "":
			user = p.Username
		case p.userIsSecret:
			user = secret
		}
	}
	var auth mailer.Auth
	switch p.Mechanism {
	case mailer.MechanismPlain:
		auth = mailer.PlainAuth(user, secret)
	case mailer.MechanismLogin:
		auth = mailer.LoginAuth(user, secret)
	case mailer.MechanismCRAMMD5:
		auth = mailer.CRAMMD5Auth(user, secret)
	case mailer.MechanismAuto:
		auth = mailer.AutoAuth(user, secret)
	case mailer.MechanismXOAUTH2:
		if secret == "" {
			return invalid(p.optionName(), errors.New("empty access token"))
		}
		auth = mailer.XOAUTH2Auth(user, mailer.StaticToken(secret))
	default:
		return invalid(p.optionName(), fmt.Errorf("unknown mechanism %q", p.Mechanism))
	}
	return mailer.Options(append(opts, mailer.WithAuth(auth))...)
}

// OAuth2Option is like Option but authenticates with XOAUTH2, taking access
// tokens from src (called once per connection, so a refreshing source keeps
// a long-lived Client working). Use it for Gmail, Outlook.com and Microsoft
// 365, whatever p.Mechanism says. A nil src or an empty user makes
// mailer.New fail.
func (p Preset) OAuth2Option(user string, src mailer.TokenSource) mailer.Option {
	return mailer.Options(append(p.base(), mailer.WithAuth(mailer.XOAUTH2Auth(user, src)))...)
}

// Server returns the options for the server, TLS mode and reply rules only,
// without authentication: for a relay that admits clients by IP address,
// such as Google Workspace's smtp-relay, or to add your own
// mailer.WithAuth after it.
func (p Preset) Server() mailer.Option { return mailer.Options(p.base()...) }

func (p Preset) base() []mailer.Option {
	opts := []mailer.Option{mailer.WithServer(p.Host, p.Port)}
	if p.TLS != 0 {
		opts = append(opts, mailer.WithTLS(p.TLS))
	}
	if len(p.Rules) > 0 {
		opts = append(opts, mailer.WithReplyRules(p.Rules...))
	}
	return append(opts, p.Limits.options()...)
}

// options returns the options that apply the limits the provider publishes.
func (l Limits) options() []mailer.Option {
	var opts []mailer.Option
	if l.MaxConnections > 0 {
		opts = append(opts, mailer.WithPool(l.MaxConnections))
	}
	if l.MessagesPerConnection > 0 {
		opts = append(opts, mailer.WithMessagesPerConnection(l.MessagesPerConnection))
	}
	if l.Messages > 0 {
		opts = append(opts, mailer.WithRateLimit(l.Messages, l.Per))
	}
	if l.IdleTimeout > 0 {
		opts = append(opts, mailer.WithIdleTimeout(l.IdleTimeout))
	}
	return opts
}

// Addr returns the server's "host:port".
func (p Preset) Addr() string { return net.JoinHostPort(p.Host, strconv.Itoa(p.Port)) }

// String returns a one-line summary such as
// "qq: smtp.qq.com:465 implicit PLAIN".
func (p Preset) String() string {
	mech := string(p.Mechanism)
	if mech == "" {
		mech = "no-auth"
	}
	return p.Name + ": " + p.Addr() + " " + p.TLS.String() + " " + mech
}

func (p Preset) optionName() string { return "provider " + strconv.Quote(p.Name) }

// clone returns a copy of p that shares no slice with it.
func (p Preset) clone() Preset {
	p.Aliases = slices.Clone(p.Aliases)
	p.Domains = slices.Clone(p.Domains)
	p.Rules = slices.Clone(p.Rules)
	return p
}

// All returns a copy of every preset, in the order of the table (personal
// and company mailboxes first, then sending services, then local mail
// catchers). Amazon SES appears once, for us-east-1; see [SES] and [Lookup]
// for other regions.
func All() []Preset {
	out := make([]Preset, len(table))
	for i, p := range table {
		out[i] = p.clone()
	}
	return out
}

// Lookup returns the preset called name: a canonical name ("qq", "163",
// "gmail", "microsoft365") or an alias ("foxmail", "netease", "office365").
// Case, spaces, hyphens and underscores are ignored, so "Microsoft 365" and
// "microsoft-365" both work. "ses-<region>", such as "ses-eu-west-1", gives
// Amazon SES in that region.
func Lookup(name string) (Preset, bool) {
	lower := strings.ToLower(strings.TrimSpace(name))
	if region, ok := strings.CutPrefix(lower, "ses-"); ok {
		p, err := sesPreset(region)
		return p, err == nil
	}
	if i, ok := index.byName[normalize(name)]; ok {
		return table[i].clone(), true
	}
	return Preset{}, false
}

// ForAddress returns the preset of the provider that hosts addr's domain,
// such as QQ Mail for "bob@foxmail.com" or Gmail for "Bob <bob@googlemail.com>".
// Only domains the sources list are known: a company domain hosted by
// Microsoft 365 or Tencent Exmail, or a subdomain such as vip.163.com, is
// not found. ForAddress reports false for a malformed address.
func ForAddress(addr string) (Preset, bool) {
	a, err := mail.ParseAddress(addr)
	if err != nil {
		return Preset{}, false
	}
	at := strings.LastIndexByte(a.Address, '@')
	if at < 0 {
		return Preset{}, false
	}
	domain := strings.TrimSuffix(strings.ToLower(a.Address[at+1:]), ".")
	if i, ok := index.byDomain[domain]; ok {
		return table[i].clone(), true
	}
	return Preset{}, false
}

// ForHost returns the preset whose server is host, such as QQ Mail for
// "smtp.qq.com", or Amazon SES in eu-west-1 for
// "email-smtp.eu-west-1.amazonaws.com". Tools that take a server URL use it
// to give the provider's hints. Case and a final dot are ignored.
func ForHost(host string) (Preset, bool) {
	h := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(host)), ".")
	if region, ok := strings.CutPrefix(h, "email-smtp."); ok {
		if region, ok = strings.CutSuffix(region, ".amazonaws.com"); ok {
			p, err := sesPreset(region)
			return p, err == nil
		}
	}
	for _, p := range table {
		if p.Host == h {
			return p.clone(), true
		}
	}
	return Preset{}, false
}

// normalize folds a preset name for comparison.
func normalize(name string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '_':
			return -1
		}
		return r
	}, strings.ToLower(strings.TrimSpace(name)))
}

// index maps normalized names and aliases, and address domains, to
// positions in table. It is built once and never changed.
var index = buildIndex()

type presetIndex struct {
	byName   map[string]int
	byDomain map[string]int
}

func buildIndex() presetIndex {
	ix := presetIndex{byName: map[string]int{}, byDomain: map[string]int{}}
	for i, p := range table {
		for _, n := range append([]string{p.Name}, p.Aliases...) {
			ix.byName[normalize(n)] = i
		}
		for _, d := range p.Domains {
			ix.byDomain[d] = i
		}
	}
	return ix
}

// preset returns the table's preset called name. The typed constructors
// use it; a name missing from the table gives a zero Preset, whose options
// make mailer.New fail (and the tests catch it).
func preset(name string) Preset {
	if i, ok := index.byName[normalize(name)]; ok {
		return table[i]
	}
	return Preset{Name: name}
}

// sesRegion matches AWS region names such as us-east-1, ap-southeast-2,
// eu-central-2 and us-gov-west-1.
var sesRegion = regexp.MustCompile(`^[a-z]{2}(-gov)?-(north|south|east|west|central|northeast|northwest|southeast|southwest)-[1-9][0-9]?$`)

// sesPreset returns the Amazon SES preset for region, with the host
// email-smtp.<region>.amazonaws.com.
func sesPreset(region string) (Preset, error) {
	r := strings.ToLower(region)
	if !sesRegion.MatchString(r) {
		return Preset{}, fmt.Errorf("invalid AWS region %s; want a region such as us-east-1 or eu-west-1", strconv.Quote(region))
	}
	p := preset("ses").clone()
	p.Name = "ses-" + r
	p.Aliases = nil
	p.Title = "Amazon SES (" + r + ")"
	p.Host = "email-smtp." + r + ".amazonaws.com"
	return p, nil
}

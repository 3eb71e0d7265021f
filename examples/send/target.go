package main

import (
	"errors"
	"strconv"
	"strings"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/internal/exampleenv"
	"github.com/postkit/mailer/provider"
)

// localFrom is the sender used with the local test server when -from is
// not given.
const localFrom = "send@localhost.localdomain"

// target says where the message goes.
type target struct {
	// local means no server was given: send starts a mailertest server.
	local bool
	// options configure the Client for a real server.
	options []mailer.Option
	// name says which flag chose the server, for messages: "-provider qq",
	// "-url", "$MAILER_URL".
	name string
	// from is the sender when -from is not given, or "".
	from string
	// fromWhy explains why there is no default sender.
	fromWhy string
}

// resolveTarget turns the server flags into a target. Errors are
// *invalidError.
func resolveTarget(o *options) (*target, error) {
	switch {
	case o.provider != "":
		return providerTarget(o)
	case o.url != "":
		return urlTarget(o)
	}
	for _, name := range []string{"user", "password", "ca"} {
		if o.set[name] {
			return nil, invalidf("-%s needs -provider or -url (or $MAILER_URL); without them the message only goes to a local test server", name)
		}
	}
	return &target{local: true, name: "local test server", from: localFrom}, nil
}

func providerTarget(o *options) (*target, error) {
	p, ok := provider.Lookup(o.provider)
	if !ok {
		var names []string
		for _, p := range provider.All() {
			names = append(names, p.Name)
		}
		return nil, invalidf("unknown -provider %q; known: %s, ses-<region>", o.provider, strings.Join(names, ", "))
	}
	t := &target{name: "-provider " + p.Name}
	if p.Mechanism != "" && o.password == "" {
		return nil, invalidf("-provider %s (%s) needs a password in $MAILER_PASSWORD (or -password): %s",
			p.Name, p.Title, exampleenv.FirstSentence(p.Notes))
	}
	t.options = append(t.options, p.Option(o.user, o.password))
	if p.Mechanism == "" {
		t.from, t.fromWhy = "", p.Title+" takes no account"
	} else {
		t.from, t.fromWhy = defaultFrom(o.user, p.Username)
	}
	if o.ca != "" {
		t.options = append(t.options, mailer.WithCAFile(o.ca))
	}
	return t, nil
}

func urlTarget(o *options) (*target, error) {
	u, err := mailer.ParseURL(o.url)
	if err != nil {
		return nil, invalidf("%s: %s", o.urlSource, configReason(err))
	}
	t := &target{name: o.urlSource, options: []mailer.Option{u.Option()}}
	user := u.Auth.Username()
	switch {
	case !u.Auth.IsZero() && (o.set["user"] || o.set["password"]):
		return nil, invalidf("%s already holds a user and password; drop -user and -password", o.urlSource)
	case u.Auth.IsZero() && o.user != "":
		if o.password == "" {
			return nil, invalidf("user %q needs a password in $MAILER_PASSWORD (or -password)", o.user)
		}
		user = o.user
		t.options = append(t.options, mailer.WithAuth(mailer.AutoAuth(o.user, o.password)))
	case u.Auth.IsZero() && o.set["password"]:
		return nil, invalidf("-password needs -user (or $MAILER_USER)")
	}
	if rules := providerRules(u.Host); len(rules) > 0 {
		t.options = append(t.options, mailer.WithReplyRules(rules...))
	}
	if o.ca != "" {
		t.options = append(t.options, mailer.WithCAFile(o.ca))
	}
	t.from, t.fromWhy = defaultFrom(user, "")
	return t, nil
}

// providerRules returns the reply rules of the preset whose server is
// host, so that a URL for smtp.qq.com gets QQ Mail's hints (such as "use
// the authorization code" for a 535) as -provider qq would.
func providerRules(host string) []mailer.ReplyRule {
	if p, ok := provider.ForHost(host); ok {
		return p.Rules
	}
	return nil
}

// defaultFrom returns user as the sender if it is an address (most
// providers accept only the account as From), or the reason it is not.
func defaultFrom(user, fixed string) (from, why string) {
	switch {
	case user == "" && fixed != "":
		return "", "the user name " + strconv.Quote(fixed) + " is not an address"
	case user == "":
		return "", "no user name was given"
	}
	if _, err := mailer.ParseAddress(user); err != nil {
		return "", "the user name " + strconv.Quote(user) + " is not an address"
	}
	return user, ""
}

// configProblem words an error from mailer.New for the person at the
// keyboard: which flag, and what is wrong.
func configProblem(t *target, o *options, err error) error {
	var ce *mailer.ConfigError
	if !errors.As(err, &ce) {
		return invalidf("%s: %s", t.name, strings.TrimPrefix(err.Error(), "mailer: "))
	}
	if strings.HasPrefix(ce.Option, "WithCAFile") {
		return invalidf("%s %s: %s", o.caSource, o.ca, causeText(ce.Err))
	}
	if o.provider != "" && o.user == "" {
		return invalidf("%s needs -user (or $MAILER_USER): %s", t.name, configReason(err))
	}
	return invalidf("%s: %s", t.name, configReason(err))
}

// configReason is a *mailer.ConfigError's text without the "mailer: "
// prefix, and without the option name when it only says "URL".
func configReason(err error) string {
	var ce *mailer.ConfigError
	if errors.As(err, &ce) && ce.Option == "URL" {
		return causeText(ce.Err)
	}
	return strings.TrimPrefix(err.Error(), "mailer: ")
}

package mailer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/wneessen/go-mail/smtp"
)

// Mechanism names an SMTP AUTH mechanism (RFC 4954).
type Mechanism string

// Mechanisms supported by [Auth].
const (
	MechanismPlain   Mechanism = "PLAIN"    // RFC 4616
	MechanismLogin   Mechanism = "LOGIN"    // draft-murchison-sasl-login; Microsoft 365
	MechanismCRAMMD5 Mechanism = "CRAM-MD5" // RFC 2195
	MechanismXOAUTH2 Mechanism = "XOAUTH2"  // Google and Microsoft OAuth 2.0 bearer tokens
	// MechanismAuto picks the strongest password mechanism the server
	// offers: CRAM-MD5, then PLAIN, then LOGIN.
	MechanismAuto Mechanism = "AUTO"
)

// A TokenSource returns an OAuth 2.0 access token for XOAUTH2. It is called
// once per connection, so a source that refreshes expired tokens (such as
// one wrapping golang.org/x/oauth2) keeps long-running Clients working.
// Its context ends at the latest after the command timeout ([Timeouts]).
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// TokenFunc adapts a function to a TokenSource.
type TokenFunc func(ctx context.Context) (string, error)

// Token calls f(ctx).
func (f TokenFunc) Token(ctx context.Context) (string, error) { return f(ctx) }

// StaticToken returns a TokenSource that always returns token.
func StaticToken(token string) TokenSource {
	return &staticToken{token: func() string { return token }}
}

// staticToken holds its token as a closure, like credentials, so that no
// printing of an enclosing value reveals it.
type staticToken struct{ token func() string }

func (t *staticToken) Token(context.Context) (string, error) { return t.token(), nil }

// String hides the token.
func (*staticToken) String() string { return "mailer.StaticToken(" + redacted + ")" }

// GoString hides the token.
func (*staticToken) GoString() string { return "mailer.StaticToken(" + redacted + ")" }

// Auth holds credentials and the mechanism that presents them. Build one
// with [PlainAuth], [LoginAuth], [CRAMMD5Auth], [XOAUTH2Auth] or [AutoAuth].
// The zero Auth means no authentication.
//
// An Auth never prints its secret: String, GoString, LogValue and
// MarshalText redact it, and the secret is held behind a pointer so that
// printing an enclosing struct with %+v does not reveal it either.
type Auth struct {
	mech  Mechanism
	user  string
	creds *credentials
}

// credentials holds the secret as a closure: fmt and reflection-based
// encoders print a func as an address, so even a %v of a struct with an
// unexported Auth field cannot reveal it.
type credentials struct {
	password func() string
	token    TokenSource
}

func passwordCreds(p string) *credentials {
	return &credentials{password: func() string { return p }}
}

// secret returns the password, or "" for token-based auth.
func (a Auth) secret() string {
	if a.creds == nil || a.creds.password == nil {
		return ""
	}
	return a.creds.password()
}

// PlainAuth authenticates with the PLAIN mechanism.
func PlainAuth(username, password string) Auth {
	return Auth{mech: MechanismPlain, user: username, creds: passwordCreds(password)}
}

// LoginAuth authenticates with the LOGIN mechanism, which Microsoft 365 and
// some Chinese providers require.
func LoginAuth(username, password string) Auth {
	return Auth{mech: MechanismLogin, user: username, creds: passwordCreds(password)}
}

// CRAMMD5Auth authenticates with CRAM-MD5: the secret itself never crosses
// the wire.
func CRAMMD5Auth(username, secret string) Auth {
	return Auth{mech: MechanismCRAMMD5, user: username, creds: passwordCreds(secret)}
}

// XOAUTH2Auth authenticates with XOAUTH2 using tokens from src. Use
// StaticToken for a fixed token.
func XOAUTH2Auth(username string, src TokenSource) Auth {
	return Auth{mech: MechanismXOAUTH2, user: username, creds: &credentials{token: src}}
}

// AutoAuth authenticates with the strongest password mechanism the server
// offers (CRAM-MD5, then PLAIN, then LOGIN).
func AutoAuth(username, password string) Auth {
	return Auth{mech: MechanismAuto, user: username, creds: passwordCreds(password)}
}

// IsZero reports whether a is the zero Auth (no authentication).
func (a Auth) IsZero() bool { return a.mech == "" }

// Mechanism returns the configured mechanism.
func (a Auth) Mechanism() Mechanism { return a.mech }

// Username returns the user name.
func (a Auth) Username() string { return a.user }

// String returns the mechanism and user name, never the secret.
func (a Auth) String() string {
	if a.IsZero() {
		return "none"
	}
	return string(a.mech) + "(" + a.displayUser() + ", [REDACTED])"
}

// displayUser is the user name, unless it is itself the secret (Postmark
// uses the server token as both).
func (a Auth) displayUser() string {
	if s := a.secret(); s != "" && s == a.user {
		return redacted
	}
	if a.creds != nil {
		if t, ok := a.creds.token.(*staticToken); ok && t.token() == a.user {
			return redacted
		}
	}
	return a.user
}

// GoString is like String, for %#v.
func (a Auth) GoString() string { return "mailer.Auth{" + a.String() + "}" }

// LogValue implements slog.LogValuer without the secret.
func (a Auth) LogValue() slog.Value {
	return slog.GroupValue(slog.String("mechanism", string(a.mech)), slog.String("user", a.displayUser()))
}

// MarshalText implements encoding.TextMarshaler (and so JSON) without the secret.
func (a Auth) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

func (a Auth) validate() error {
	switch a.mech {
	case "":
		return nil
	case MechanismPlain, MechanismLogin, MechanismCRAMMD5, MechanismAuto:
		if a.user == "" {
			return errors.New("empty user name")
		}
		if a.secret() == "" {
			return errors.New("empty password")
		}
		if strings.ContainsAny(a.user, "\x00\r\n") || strings.ContainsAny(a.secret(), "\x00\r\n") {
			return errors.New("user name or password contains NUL, CR or LF")
		}
	case MechanismXOAUTH2:
		if a.user == "" {
			return errors.New("empty user name")
		}
		if a.creds == nil || a.creds.token == nil {
			return errors.New("nil token source")
		}
		if strings.ContainsAny(a.user, "\x00\x01\r\n") {
			return errors.New("user name contains control characters")
		}
	default:
		return fmt.Errorf("unknown mechanism %q", a.mech)
	}
	return nil
}

// choose returns the mechanism to use given the server's AUTH list.
func (a Auth) choose(offered []string) (Mechanism, error) {
	has := func(m Mechanism) bool {
		return slices.ContainsFunc(offered, func(s string) bool { return strings.EqualFold(s, string(m)) })
	}
	if a.mech != MechanismAuto {
		if !has(a.mech) {
			return "", fmt.Errorf("%w: server offers %q, not %s", ErrAuthUnsupported, strings.Join(offered, " "), a.mech)
		}
		return a.mech, nil
	}
	for _, m := range []Mechanism{MechanismCRAMMD5, MechanismPlain, MechanismLogin} {
		if has(m) {
			return m, nil
		}
	}
	return "", fmt.Errorf("%w: server offers %q", ErrAuthUnsupported, strings.Join(offered, " "))
}

// saslClient returns go-mail's implementation of mech. host must be the
// name of the server; the TLS policy has been enforced by the caller
// already. A token fetched for XOAUTH2 is added to secrets.
func (a Auth) saslClient(ctx context.Context, mech Mechanism, host string, secrets *scrubber) (smtp.Auth, error) {
	switch mech {
	case MechanismPlain:
		return smtp.PlainAuth("", a.user, a.secret(), host, true), nil
	case MechanismLogin:
		return smtp.LoginAuth(a.user, a.secret(), host, true), nil
	case MechanismCRAMMD5:
		return smtp.CRAMMD5Auth(a.user, a.secret()), nil
	case MechanismXOAUTH2:
		tok, err := a.creds.token.Token(ctx)
		if err != nil {
			return nil, fmt.Errorf("%w: token source: %w", ErrAuth, err)
		}
		if tok == "" || strings.ContainsAny(tok, "\x00\x01\r\n ") {
			return nil, fmt.Errorf("%w: token source returned an empty or malformed token", ErrAuth)
		}
		secrets.addToken(a.user, tok)
		return xoauth2SASL(a.user, tok), nil
	}
	return nil, fmt.Errorf("%w: unknown mechanism %q", ErrAuth, mech)
}

package mailer

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// URL is a parsed server URL. Make one with [ParseURL]; turn it into an
// Option with [URL.Option]. Its String method never shows the password or
// token.
type URL struct {
	// Scheme is "smtp" (STARTTLS) or "smtps" (implicit TLS).
	Scheme string
	// Host is the server host name or IP address (IPv6 without brackets).
	Host string
	// Port is the server port: from the URL, else 587 for smtp and 465 for smtps.
	Port int
	// TLS is the TLS mode from the scheme, the port (smtp:// on port 465
	// means implicit TLS) and the "tls" query key.
	TLS TLSMode
	// Auth holds the credentials; the zero Auth when the URL has no user.
	Auth Auth
	// HELO is the "helo" query value, or "".
	HELO string
	// Timeout is the "timeout" query value, or 0.
	Timeout time.Duration
}

// ParseURL parses a server URL:
//
//	smtp://[user[:password]@]host[:port][?query]    STARTTLS, required (port 587)
//	smtps://[user[:password]@]host[:port][?query]   implicit TLS (port 465)
//
// smtp:// with port 465 means implicit TLS too, since that port expects
// it (RFC 8314); with a tls= key it is an error matching ErrWrongTLSMode.
//
// User and password are URL-escaped ("alice%40qq.com"); an unescaped "@" in
// the user name is accepted too. Query keys:
//
//	auth=plain|login|cram-md5|xoauth2|auto   mechanism (default auto); with
//	                                          xoauth2 the password is the access token
//	tls=required|opportunistic|none           STARTTLS policy for smtp:// (default required);
//	                                          smtps:// accepts only required
//	helo=NAME                                 name sent in EHLO
//	timeout=DURATION                          dial and command timeout, e.g. 30s
//
// Unknown keys, repeated keys and bad values are errors that name the key.
func ParseURL(rawURL string) (*URL, error) {
	if c, ok := cutUserinfo(rawURL); ok {
		// url.Parse would end the user part at c, and what follows
		// (part of the password) would be quoted as a path, a query
		// value or a port: say nothing of it.
		return nil, configError("URL user", "%q before the last @: if the user name or password contains %q, escape it as %s",
			string(c), string(c), url.QueryEscape(string(c)))
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error quotes the whole input, password included.
		return nil, configError("URL", "malformed URL (%s)", urlErrorReason(err))
	}
	out := &URL{Scheme: strings.ToLower(u.Scheme)}
	switch out.Scheme {
	case "smtp":
		out.TLS, out.Port = TLSStartTLS, 587
	case "smtps":
		out.TLS, out.Port = TLSImplicit, 465
	case "":
		return nil, configError("URL", "missing scheme; want smtp:// or smtps://")
	default:
		return nil, configError("URL scheme", "%q is not supported; want smtp or smtps", u.Scheme)
	}
	if u.Opaque != "" || !strings.HasPrefix(rawURL[len(u.Scheme)+1:], "//") {
		// With one slash ("smtp:/alice:pw@host") the user part and
		// the host read as a path: say nothing of it.
		return nil, configError("URL", "missing // after the scheme")
	}
	if u.Path != "" && u.Path != "/" {
		return nil, configError("URL path", "unexpected path %q", u.Path)
	}
	if u.Fragment != "" {
		return nil, configError("URL", "unexpected fragment (escape # in a password as %%23)")
	}
	out.Host = u.Hostname()
	if err := validHost(out.Host); err != nil {
		return nil, &ConfigError{Option: "URL host", Err: err}
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, configError("URL port", "invalid port %q", p)
		}
		out.Port = n
	}

	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, configError("URL query", "malformed query")
	}
	mech := MechanismAuto
	for key, vals := range q {
		if len(vals) != 1 {
			return nil, configError(fmt.Sprintf("URL query key %q", key), "given %d times", len(vals))
		}
		val := vals[0]
		opt := fmt.Sprintf("URL query key %q", key)
		switch key {
		case "auth":
			switch strings.ToLower(val) {
			case "plain":
				mech = MechanismPlain
			case "login":
				mech = MechanismLogin
			case "cram-md5":
				mech = MechanismCRAMMD5
			case "xoauth2":
				mech = MechanismXOAUTH2
			case "auto":
				mech = MechanismAuto
			default:
				return nil, configError(opt, "%q is not one of plain, login, cram-md5, xoauth2, auto", val)
			}
		case "tls":
			switch strings.ToLower(val) {
			case "required":
			case "opportunistic", "none":
				if out.Scheme == "smtps" {
					return nil, configError(opt, "%q is only valid with smtp://", val)
				}
				out.TLS = TLSOpportunistic
				if strings.EqualFold(val, "none") {
					out.TLS = TLSNone
				}
			default:
				return nil, configError(opt, "%q is not one of required, opportunistic, none", val)
			}
		case "helo":
			if err := validHost(val); err != nil {
				return nil, &ConfigError{Option: opt, Err: err}
			}
			out.HELO = val
		case "timeout":
			d, err := time.ParseDuration(val)
			if err != nil || d <= 0 {
				return nil, configError(opt, "%q is not a positive duration such as 30s", val)
			}
			out.Timeout = d
		default:
			return nil, configError(opt, "unknown key; known keys are auth, tls, helo, timeout")
		}
	}
	if out.Scheme == "smtp" && out.Port == 465 {
		// Port 465 speaks TLS from the first byte (RFC 8314): a client
		// waiting for a clear-text greeting would wait for its timeout.
		// Like Symfony's mailer, smtp:// on port 465 means implicit TLS;
		// a STARTTLS policy asked for explicitly is an error.
		if _, ok := q["tls"]; ok {
			return nil, &ConfigError{Option: "URL", Err: errPort465}
		}
		out.TLS = TLSImplicit
	}

	if u.User != nil {
		user := u.User.Username()
		pass, hasPass := u.User.Password()
		if user == "" {
			return nil, configError("URL user", "empty user name")
		}
		if !hasPass || pass == "" {
			// The user name is not quoted: a token given as the user
			// (Postmark's server token is both) would be shown.
			return nil, configError("URL password", "missing password or token after the user name (user:password@host)")
		}
		switch mech {
		case MechanismXOAUTH2:
			out.Auth = XOAUTH2Auth(user, StaticToken(pass))
		case MechanismPlain:
			out.Auth = PlainAuth(user, pass)
		case MechanismLogin:
			out.Auth = LoginAuth(user, pass)
		case MechanismCRAMMD5:
			out.Auth = CRAMMD5Auth(user, pass)
		default:
			out.Auth = AutoAuth(user, pass)
		}
		if err := out.Auth.validate(); err != nil {
			return nil, &ConfigError{Option: "URL user", Err: err}
		}
	} else if q.Has("auth") {
		return nil, configError(`URL query key "auth"`, "given without a user")
	}
	return out, nil
}

// Option returns the options the URL stands for.
func (u *URL) Option() Option {
	opts := []Option{WithServer(u.Host, u.Port), WithTLS(u.TLS)}
	if !u.Auth.IsZero() {
		opts = append(opts, WithAuth(u.Auth))
	}
	if u.HELO != "" {
		opts = append(opts, WithHELO(u.HELO))
	}
	if u.Timeout > 0 {
		opts = append(opts, func(c *config) error {
			c.timeouts.Dial, c.timeouts.Command = u.Timeout, u.Timeout
			return nil
		})
	}
	return Options(opts...)
}

// String formats the URL with the password or token replaced by "REDACTED".
func (u URL) String() string {
	v := url.URL{Scheme: u.Scheme, Host: net.JoinHostPort(u.Host, strconv.Itoa(u.Port))}
	if !u.Auth.IsZero() {
		v.User = url.UserPassword(u.Auth.displayUser(), "REDACTED")
	}
	q := url.Values{}
	if !u.Auth.IsZero() && u.Auth.Mechanism() != MechanismAuto {
		q.Set("auth", strings.ToLower(string(u.Auth.Mechanism())))
	}
	switch u.TLS {
	case TLSOpportunistic:
		q.Set("tls", "opportunistic")
	case TLSNone:
		q.Set("tls", "none")
	}
	if u.HELO != "" {
		q.Set("helo", u.HELO)
	}
	if u.Timeout > 0 {
		q.Set("timeout", u.Timeout.String())
	}
	v.RawQuery = q.Encode()
	return v.String()
}

// GoString is String, for %#v.
func (u URL) GoString() string { return "mailer.URL(" + u.String() + ")" }

// cutUserinfo reports the character that ends the user part of rawURL
// before its last "@": an unescaped "/", "?" or "#" in a password makes
// url.Parse see a host, a path, a query or a fragment where the password
// goes on.
func cutUserinfo(rawURL string) (byte, bool) {
	_, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return 0, false
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return 0, false
	}
	i := strings.IndexAny(rest[:at], "/?#")
	if i < 0 {
		return 0, false
	}
	return rest[i], true
}

// urlErrorReason returns the reason of a url.Parse error without the input.
func urlErrorReason(err error) string {
	if ue, ok := err.(*url.Error); ok {
		err = ue.Err
	}
	msg := strings.TrimPrefix(err.Error(), "net/url: ")
	if msg == "invalid userinfo" {
		return "invalid user name or password: percent-escape characters such as @ : / # ? and non-ASCII letters"
	}
	// Errors such as `invalid port ":x" after host` or `invalid character
	// "…" in host name` quote a fragment of the input; only keep the kind.
	if i := strings.IndexAny(msg, "\":"); i > 0 {
		msg = strings.TrimSpace(msg[:i])
	}
	return msg
}

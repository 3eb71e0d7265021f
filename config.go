package mailer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// TLSMode says how a Client secures its connection to the server.
// The zero value means "from the port": implicit TLS on port 465, STARTTLS
// (required) on any other port.
type TLSMode uint8

// TLS modes.
const (
	// TLSStartTLS connects in clear text and upgrades with STARTTLS before
	// anything else. The server must offer STARTTLS; there is never a
	// fallback to clear text. This is the default on port 587.
	TLSStartTLS TLSMode = iota + 1
	// TLSImplicit speaks TLS from the first byte (port 465, RFC 8314).
	TLSImplicit
	// TLSOpportunistic upgrades with STARTTLS when the server offers it and
	// goes on in clear text when it does not. A STARTTLS that is offered and
	// fails is still an error. Credentials are never sent in clear text
	// unless WithInsecureAuth is also given.
	TLSOpportunistic
	// TLSNone never uses TLS. Credentials are refused unless
	// WithInsecureAuth is given. Meant for relays on a trusted network and
	// for local mail catchers.
	TLSNone
)

// String returns the name used in URLs and logs: "starttls", "implicit",
// "opportunistic", "none".
func (m TLSMode) String() string {
	switch m {
	case TLSStartTLS:
		return "starttls"
	case TLSImplicit:
		return "implicit"
	case TLSOpportunistic:
		return "opportunistic"
	case TLSNone:
		return "none"
	}
	return "auto"
}

// Default timeouts. See [Timeouts].
const (
	DefaultDialTimeout    = 10 * time.Second
	DefaultCommandTimeout = time.Minute
	DefaultDataEndTimeout = 10 * time.Minute
)

// Timeouts bound each network step of an attempt. A zero field means its
// default. The context passed to Send bounds the whole attempt as well;
// whichever ends first wins.
//
// The defaults suit a server on the Internet that answers in
// milliseconds to seconds. With them, a server that accepts the TCP
// connection and then says nothing holds a Send with the default retry
// policy for about 35 s: three attempts of 10 s and the backoff between
// them. In a request handler (a password-reset mail sent while the user
// waits), pass a context with a deadline: Send returns by it, and never
// starts a wait between attempts that would outlast it.
//
//	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
//	defer cancel()
//	receipt, err := c.Send(ctx, msg)
type Timeouts struct {
	// Dial bounds the TCP connect, the implicit TLS handshake and the
	// server's greeting. Default DefaultDialTimeout (10 s; a greeting
	// that never comes is what a port expecting implicit TLS gives a
	// client speaking clear text, and the error then says so).
	Dial time.Duration
	// Command bounds each command and its reply, and each write of the
	// message body (the deadline is renewed while data flows). Default
	// DefaultCommandTimeout (1 min: RFC 5321 section 4.5.3.2 asks servers
	// for 5 min, which submission servers never need). NOOP, RSET and
	// QUIT, which ask no work of the server, are bounded by 5 s. It also
	// bounds each call to an XOAUTH2 TokenSource.
	Command time.Duration
	// DataEnd bounds the wait for the reply to the final "." of the
	// message. A timeout here leaves the outcome unknown (the server may
	// have accepted the message), so it is long: DefaultDataEndTimeout
	// (10 min, RFC 5321 section 4.5.3.2.6).
	DataEnd time.Duration
}

func (t Timeouts) withDefaults() Timeouts {
	if t.Dial <= 0 {
		t.Dial = DefaultDialTimeout
	}
	if t.Command <= 0 {
		t.Command = DefaultCommandTimeout
	}
	if t.DataEnd <= 0 {
		t.DataEnd = DefaultDataEndTimeout
	}
	return t
}

// DialContextFunc dials a network connection, like [net.Dialer.DialContext].
type DialContextFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// ReplyRule attaches advice to a known server reply. Provider presets carry
// rules such as "QQ Mail 535: use the authorization code". The first rule
// that matches a failure sets [SendError.Hint].
type ReplyRule struct {
	// Stage limits the rule to one stage; StageNone matches any stage.
	Stage Stage
	// Code is the reply code to match; 0 matches any code.
	Code int
	// EnhancedCode is the enhanced code to match; the zero value matches any.
	EnhancedCode EnhancedCode
	// Contains is a substring of the reply text to match, compared without
	// regard to case; "" matches any text.
	Contains string
	// Hint is the advice given to the user. It may be empty when the rule
	// only changes the outcome or the wait.
	Hint string
	// Outcome, when not zero, overrides the class of a matching reply. QQ
	// Mail's "550 Connection frequency limited" is temporary despite its
	// 5yz code; Gmail's "550 5.4.5 Daily user sending limit exceeded" is
	// permanent for now.
	Outcome Outcome
	// MinWait, when not zero, is the least time to wait before retrying
	// after a matching reply (163's "451 DT:SPM" asks for minutes).
	MinWait time.Duration
}

func (r ReplyRule) matches(e *SendError) bool {
	if e.Code == 0 {
		return false
	}
	if r.Stage != StageNone && r.Stage != e.Stage {
		return false
	}
	if r.Code != 0 && r.Code != e.Code {
		return false
	}
	if !r.EnhancedCode.IsZero() && r.EnhancedCode != e.EnhancedCode {
		return false
	}
	if r.Contains != "" && !strings.Contains(strings.ToLower(e.Message), strings.ToLower(r.Contains)) {
		return false
	}
	return true
}

// config is what options write to. It is immutable once New returns.
type config struct {
	host         string
	port         int
	tlsMode      TLSMode
	auth         Auth
	rootCAs      *x509.CertPool
	tlsConfig    *tls.Config
	helo         string
	timeouts     Timeouts
	logger       *slog.Logger
	insecureAuth bool
	dial         DialContextFunc
	rules        []ReplyRule
	retry        RetryPolicy
	hooks        []Hook
	transcript   *transcript // WithTranscript; nil without
	pool         poolConfig
	dkim         *DKIMSigner // dkim_send.go
}

// An Option configures a Client. Options are applied in order, so options
// given after a provider preset adjust it.
type Option func(*config) error

// Options combines several options into one. Provider presets are built
// with it.
func Options(opts ...Option) Option {
	return func(c *config) error {
		for _, o := range opts {
			if o == nil {
				continue
			}
			if err := o(c); err != nil {
				return err
			}
		}
		return nil
	}
}

// InvalidOption returns an Option that makes New fail with a *ConfigError
// naming option and wrapping err. Presets and other option constructors use
// it to report bad input, such as an unknown region, from New.
func InvalidOption(option string, err error) Option {
	return func(*config) error { return &ConfigError{Option: option, Err: err} }
}

// WithServer sets the server's host name (or IP address) and port. A port
// of 0 means the default of the TLS mode: 465 for implicit TLS, else 587.
func WithServer(host string, port int) Option {
	return func(c *config) error {
		if err := validHost(host); err != nil {
			return &ConfigError{Option: "WithServer", Err: err}
		}
		if port < 0 || port > 65535 {
			return configError("WithServer", "port %d out of range", port)
		}
		c.host, c.port = host, port
		return nil
	}
}

// WithTLS sets the TLS mode. See [TLSMode] for what each mode does.
// TLSStartTLS and TLSOpportunistic on port 465 make New fail with
// ErrWrongTLSMode: that port expects implicit TLS (RFC 8314), and a
// client waiting there for a clear-text greeting would only time out.
func WithTLS(mode TLSMode) Option {
	return func(c *config) error {
		if mode < TLSStartTLS || mode > TLSNone {
			return configError("WithTLS", "unknown TLS mode %d", mode)
		}
		c.tlsMode = mode
		return nil
	}
}

// WithAuth sets the credentials and mechanism used to authenticate. See
// [PlainAuth], [LoginAuth], [CRAMMD5Auth], [XOAUTH2Auth] and [AutoAuth].
func WithAuth(a Auth) Option {
	return func(c *config) error {
		if err := a.validate(); err != nil {
			return &ConfigError{Option: "WithAuth", Err: err}
		}
		c.auth = a
		return nil
	}
}

// WithRootCAs makes the Client trust the certificate authorities in pool
// (for example a company CA), instead of the system's. Certificates are
// always verified; there is no option to skip verification.
func WithRootCAs(pool *x509.CertPool) Option {
	return func(c *config) error {
		if pool == nil {
			return configError("WithRootCAs", "nil certificate pool")
		}
		c.rootCAs = pool
		return nil
	}
}

// WithCAFile is WithRootCAs with a pool read from a PEM file. New fails if
// the file cannot be read or holds no certificate.
func WithCAFile(path string) Option {
	return func(c *config) error {
		pemData, err := os.ReadFile(path)
		if err != nil {
			return &ConfigError{Option: "WithCAFile", Err: err}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemData) {
			return configError("WithCAFile", "no PEM certificate in %q", path)
		}
		c.rootCAs = pool
		return nil
	}
}

// WithTLSConfig sets the base TLS configuration, for client certificates or
// cipher choices. It is cloned. ServerName defaults to the server host,
// MinVersion is raised to TLS 1.2, and a config that disables certificate
// verification is refused: use WithRootCAs for private CAs.
func WithTLSConfig(cfg *tls.Config) Option {
	return func(c *config) error {
		if cfg == nil {
			return configError("WithTLSConfig", "nil config")
		}
		if cfg.InsecureSkipVerify {
			return configError("WithTLSConfig", "InsecureSkipVerify is not supported; trust the server's CA with WithRootCAs")
		}
		c.tlsConfig = cfg.Clone()
		return nil
	}
}

// WithHELO sets the name sent in EHLO/HELO. The default is the machine's
// host name when it is a valid domain name, else "localhost".
func WithHELO(name string) Option {
	return func(c *config) error {
		if err := validHost(name); err != nil {
			return &ConfigError{Option: "WithHELO", Err: err}
		}
		c.helo = name
		return nil
	}
}

// WithTimeouts sets the network timeouts. Zero fields keep their defaults.
func WithTimeouts(t Timeouts) Option {
	return func(c *config) error {
		for _, f := range []struct {
			name string
			d    time.Duration
		}{{"Dial", t.Dial}, {"Command", t.Command}, {"DataEnd", t.DataEnd}} {
			if f.d < 0 {
				return configError("WithTimeouts", "%s %v is negative", f.name, f.d)
			}
		}
		c.timeouts = t
		return nil
	}
}

// WithLogger sets the logger. The default discards everything. The Client
// logs protocol steps at Debug and outcomes at Info and Warn; no record
// ever holds a password, token or AUTH exchange.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			l = slog.New(slog.DiscardHandler)
		}
		c.logger = l
		return nil
	}
}

// WithInsecureAuth allows credentials on a connection without TLS. Anyone
// on the network path can read them. Use it only for a test server or a
// relay on the same host; it applies to loopback addresses too.
func WithInsecureAuth() Option {
	return func(c *config) error {
		c.insecureAuth = true
		return nil
	}
}

// WithDialContext replaces the function that opens TCP connections, for
// proxies or tests. TLS is still done by the Client.
func WithDialContext(dial DialContextFunc) Option {
	return func(c *config) error {
		if dial == nil {
			return configError("WithDialContext", "nil dial function")
		}
		c.dial = dial
		return nil
	}
}

// WithReplyRules adds rules that attach hints to known server replies.
// Rules added later are consulted after earlier ones.
func WithReplyRules(rules ...ReplyRule) Option {
	return func(c *config) error {
		for i, r := range rules {
			switch {
			case r.Hint == "" && r.Outcome == 0 && r.MinWait == 0:
				return configError("WithReplyRules", "rule %d: no Hint, Outcome or MinWait", i+1)
			case r.Outcome > OutcomePermanent:
				return configError("WithReplyRules", "rule %d: Outcome %d is not an Outcome", i+1, r.Outcome)
			case r.MinWait < 0:
				return configError("WithReplyRules", "rule %d: MinWait %v is negative", i+1, r.MinWait)
			}
		}
		c.rules = append(c.rules[:len(c.rules):len(c.rules)], rules...)
		return nil
	}
}

// WithURL configures the server, TLS mode, credentials and timeouts from a
// URL such as "smtps://user:password@smtp.example.com:465". See [ParseURL].
func WithURL(rawURL string) Option {
	return func(c *config) error {
		u, err := ParseURL(rawURL)
		if err != nil {
			return err
		}
		return u.Option()(c)
	}
}

func newConfig(opts []Option) (*config, error) {
	c := &config{}
	if err := Options(opts...)(c); err != nil {
		return nil, err
	}
	if c.host == "" {
		return nil, ErrNoServer
	}
	if c.tlsMode == 0 {
		if c.port == 465 {
			c.tlsMode = TLSImplicit
		} else {
			c.tlsMode = TLSStartTLS
		}
	}
	if c.port == 0 {
		c.port = 587
		if c.tlsMode == TLSImplicit {
			c.port = 465
		}
	}
	if c.port == 465 && (c.tlsMode == TLSStartTLS || c.tlsMode == TLSOpportunistic) {
		return nil, &ConfigError{Option: "WithTLS", Err: errPort465}
	}
	if c.helo == "" {
		c.helo = defaultHELO()
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	c.timeouts = c.timeouts.withDefaults()
	c.pool = c.pool.withDefaults()
	return c, nil
}

// tlsClientConfig returns the TLS configuration used for one connection.
func (c *config) tlsClientConfig() *tls.Config {
	var t *tls.Config
	if c.tlsConfig != nil {
		t = c.tlsConfig.Clone()
	} else {
		t = &tls.Config{}
	}
	if t.ServerName == "" {
		t.ServerName = c.host
	}
	if t.MinVersion < tls.VersionTLS12 {
		t.MinVersion = tls.VersionTLS12
	}
	if c.rootCAs != nil {
		t.RootCAs = c.rootCAs
	}
	return t
}

func (c *config) addr() string { return net.JoinHostPort(c.host, strconv.Itoa(c.port)) }

func (c *config) String() string {
	s := fmt.Sprintf("%s tls=%s", c.addr(), c.tlsMode)
	if !c.auth.IsZero() {
		s += " auth=" + c.auth.String()
	}
	return s
}

// defaultHELO returns the host name if it is a valid domain name.
func defaultHELO() string {
	h, err := os.Hostname()
	if err != nil || validHost(h) != nil || !strings.Contains(h, ".") {
		return "localhost"
	}
	return h
}

// validHost accepts a domain name, an IPv4 address or an IPv6 address
// (without brackets).
func validHost(h string) error {
	if h == "" {
		return fmt.Errorf("empty host")
	}
	if len(h) > 253 {
		return fmt.Errorf("host longer than 253 characters")
	}
	if net.ParseIP(h) != nil {
		return nil
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("invalid host %s", quoteValue(h))
		}
		for i := 0; i < len(label); i++ {
			ch := label[i]
			ok := ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' ||
				ch == '-' && i > 0 && i < len(label)-1 || ch == '_'
			if !ok {
				return fmt.Errorf("invalid host %s", quoteValue(h))
			}
		}
	}
	return nil
}

package gateway

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/provider"
)

// snapshot is the compiled, immutable form of a Config. Sessions read the
// current one through an atomic pointer; a reload swaps it whole.
type snapshot struct {
	hostname   string
	listeners  []ListenerConfig
	cert       *tls.Certificate
	clientCAs  *x509.CertPool
	clientAuth tls.ClientAuthType
	minTLS     uint16
	limits     LimitsConfig
	authFail   AuthFailuresConfig
	drain      time.Duration

	tenants     map[string]*tenant
	tenantOrder []string
	users       map[string]*credential // by user name
	certs       []*credential          // client-certificate identities
	upstreams   map[string]*upstreamDef
	upOrder     []string

	audit    AuditConfig
	auditKey []byte
	health   string
}

type tenant struct {
	name        string
	senders     []string // lower case: "a@d" or "@d"
	allowNull   bool
	checkHeader bool
	allow, deny []string
	maxBytes    int64
	maxRcpt     int
	perMinute   int
	perDay      int
	maxConns    int
	mode        string
	chain       []string // upstream names
}

type credKind uint8

const (
	credToken credKind = iota + 1
	credBcrypt
	credArgon2id
	credCert
)

var credKindNames = [...]string{"", "token", "bcrypt", "argon2id", "client_cert"}

type credential struct {
	tenant   string
	username string
	kind     credKind
	hash     []byte // token: SHA-256; bcrypt/argon2id: the encoded hash
	expires  time.Time
	cert     ClientCertConfig
}

// id identifies a credential across reloads: a session authenticated with
// it keeps sending only while a credential with the same id exists.
func (c *credential) id() string {
	return c.tenant + "\x00" + c.username + "\x00" + string(c.hash) + "\x00" + c.cert.SANDNS + c.cert.CommonName + c.cert.SHA256
}

func (c *credential) expired(now time.Time) bool {
	return !c.expires.IsZero() && !now.Before(c.expires)
}

// upstreamDef is a compiled upstream: the options to build its Client and
// a key that says whether two reloads describe the same Client.
type upstreamDef struct {
	name    string
	opts    []mailer.Option
	senders []string
	host    string
	key     string
}

func (u *upstreamDef) canSendAs(sender string) bool {
	if len(u.senders) == 0 {
		return true
	}
	return matchSender(u.senders, sender)
}

// covers reports whether u may send as every address a tenant sender
// pattern (an address or "@domain") allows.
func (u *upstreamDef) covers(pattern string) bool {
	if len(u.senders) == 0 {
		return true
	}
	if strings.HasPrefix(pattern, "@") {
		return slices.Contains(u.senders, pattern)
	}
	return matchSender(u.senders, pattern)
}

// Defaults.
const (
	defaultMaxConnections  = 1000
	defaultMaxConnsPerIP   = 50
	defaultCommandTimeout  = 5 * time.Minute
	defaultDataIdleTimeout = 60 * time.Second
	defaultDataMaxDuration = 30 * time.Minute
	defaultWriteTimeout    = time.Minute
	defaultMaxMessageBytes = 25 << 20
	defaultMaxRecipients   = 100
	defaultMaxReceived     = 50
	defaultRelayTimeout    = 2 * time.Minute
	defaultDrainTimeout    = 30 * time.Second
)

// Compile validates cfg completely (certificates load, hashes parse,
// secrets resolve, every tenant sender has an upstream that may send as
// it) and returns every problem at once as a *ConfigError.
func Compile(cfg *Config) (*Table, error) {
	s, err := compile(cfg)
	if err != nil {
		return nil, err
	}
	return s.table(), nil
}

func compile(cfg *Config) (*snapshot, error) {
	var el errList
	s := &snapshot{
		tenants:   map[string]*tenant{},
		users:     map[string]*credential{},
		upstreams: map[string]*upstreamDef{},
	}
	compileServer(cfg, s, &el)
	compileUpstreams(cfg, s, &el)
	compileTenants(cfg, s, &el)
	compileAudit(cfg, s, &el)
	if h := cfg.Health.Addr; h != "" {
		if !loopbackAddr(h) {
			el.add("health.addr", "%q is not a loopback address", h)
		}
		s.health = h
	}
	if err := el.err(); err != nil {
		return nil, err
	}
	return s, nil
}

func compileServer(cfg *Config, s *snapshot, el *errList) {
	sc := cfg.Server
	s.hostname = sc.Hostname
	if s.hostname == "" {
		s.hostname, _ = os.Hostname()
		if s.hostname == "" {
			s.hostname = "mailgate"
		}
	}
	if len(sc.Listeners) == 0 {
		el.add("server.listeners", "at least one listener is needed")
	}
	needTLS := false
	names := map[string]bool{}
	for i, l := range sc.Listeners {
		p := fmt.Sprintf("server.listeners[%d]", i)
		if l.Name == "" {
			el.add(p+".name", "missing")
		} else if names[l.Name] {
			el.add(p+".name", "duplicate listener %q", l.Name)
		}
		names[l.Name] = true
		if _, _, err := net.SplitHostPort(l.Addr); err != nil {
			el.add(p+".addr", "%v", err)
		}
		switch l.TLS {
		case "starttls", "implicit":
			needTLS = true
		case "none":
			if !loopbackAddr(l.Addr) {
				el.add(p+".tls", "a listener without TLS must be on a loopback address, not %q", l.Addr)
			}
		default:
			el.add(p+".tls", "%q is not one of starttls, implicit, none", l.TLS)
		}
	}
	s.listeners = sc.Listeners

	t := sc.TLS
	switch t.MinVersion {
	case "", "1.2":
		s.minTLS = tls.VersionTLS12
	case "1.3":
		s.minTLS = tls.VersionTLS13
	default:
		el.add("server.tls.min_version", "%q is not 1.2 or 1.3", t.MinVersion)
	}
	if t.CertFile != "" || t.KeyFile != "" || needTLS {
		if t.CertFile == "" || t.KeyFile == "" {
			el.add("server.tls", "cert_file and key_file are needed by the TLS listeners")
		} else if c, err := tls.LoadX509KeyPair(cfg.path(t.CertFile), cfg.path(t.KeyFile)); err != nil {
			el.add("server.tls.cert_file", "%v", err)
		} else {
			s.cert = &c
		}
	}
	if t.ClientCAFile != "" {
		b, err := os.ReadFile(cfg.path(t.ClientCAFile))
		if err != nil {
			el.add("server.tls.client_ca_file", "%v", err)
		} else {
			s.clientCAs = x509.NewCertPool()
			if !s.clientCAs.AppendCertsFromPEM(b) {
				el.add("server.tls.client_ca_file", "no PEM certificate in %s", t.ClientCAFile)
			}
		}
	}
	switch t.ClientAuth {
	case "", "verify_if_given":
		if t.ClientCAFile != "" {
			s.clientAuth = tls.VerifyClientCertIfGiven
		}
	case "none":
	case "require":
		s.clientAuth = tls.RequireAndVerifyClientCert
	default:
		el.add("server.tls.client_auth", "%q is not one of none, verify_if_given, require", t.ClientAuth)
	}
	if s.clientAuth != tls.NoClientCert && t.ClientCAFile == "" {
		el.add("server.tls.client_auth", "needs client_ca_file")
	}

	l := sc.Limits
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.MaxConnections, defaultMaxConnections)
	def(&l.MaxConnectionsPerIP, defaultMaxConnsPerIP)
	def(&l.MaxRecipients, defaultMaxRecipients)
	def(&l.MaxReceivedHeaders, defaultMaxReceived)
	defD(&l.CommandTimeout, defaultCommandTimeout)
	defD(&l.DataIdleTimeout, defaultDataIdleTimeout)
	defD(&l.DataMaxDuration, defaultDataMaxDuration)
	defD(&l.WriteTimeout, defaultWriteTimeout)
	defD(&l.RelayTimeout, defaultRelayTimeout)
	if l.MaxMessageBytes == 0 {
		l.MaxMessageBytes = defaultMaxMessageBytes
	}
	if l.BareLF == "" {
		l.BareLF = "reject"
	}
	if l.BareLF != "reject" {
		el.add("server.limits.bare_lf", "%q: only reject is supported", l.BareLF)
	}
	for name, v := range map[string]int64{"max_connections": int64(l.MaxConnections), "max_connections_per_ip": int64(l.MaxConnectionsPerIP),
		"max_recipients": int64(l.MaxRecipients), "max_received_headers": int64(l.MaxReceivedHeaders), "max_message_bytes": l.MaxMessageBytes} {
		if v < 0 {
			el.add("server.limits."+name, "must not be negative")
		}
	}
	s.limits = l

	a := sc.AuthFailures
	def(&a.PerIP, 10)
	def(&a.PerUser, 20)
	defD(&a.Window, 10*time.Minute)
	defD(&a.Ban, 15*time.Minute)
	defD(&a.Delay, time.Second)
	defD(&a.MaxDelay, 5*time.Second)
	s.authFail = a
	s.drain = sc.DrainTimeout
	if s.drain == 0 {
		s.drain = defaultDrainTimeout
	}
}

func compileUpstreams(cfg *Config, s *snapshot, el *errList) {
	for _, name := range orderedKeys(cfg.Upstreams, cfg.upstreamOrder) {
		u := cfg.Upstreams[name]
		p := "upstreams." + name
		def := &upstreamDef{name: name}
		var user string
		secret, hasSecret := resolveSecret(p, "password", u.PasswordFile, u.PasswordEnv, cfg, el)
		mech := mailer.MechanismAuto
		if u.Preset != "" {
			pr, ok := provider.Lookup(u.Preset)
			if !ok {
				el.add(p+".preset", "unknown provider preset %q", u.Preset)
			} else {
				def.host = pr.Addr()
				if hasSecret {
					def.opts = append(def.opts, pr.Option(u.Username, secret))
				} else {
					def.opts = append(def.opts, pr.Server())
				}
			}
		}
		if u.URL != "" {
			// The URL names the account but holds no password: take the
			// user and mechanism out and pair them with the secret.
			bare := u.URL
			if raw, err := url.Parse(u.URL); err == nil {
				if raw.User != nil {
					if _, set := raw.User.Password(); set {
						el.add(p+".url", "holds a password; use password_file or password_env")
					}
					user = raw.User.Username()
					raw.User = nil
				}
				q := raw.Query()
				switch strings.ToLower(q.Get("auth")) {
				case "plain":
					mech = mailer.MechanismPlain
				case "login":
					mech = mailer.MechanismLogin
				case "", "auto":
				default:
					el.add(p+".url", "auth=%s: only plain, login or auto with a password", q.Get("auth"))
				}
				q.Del("auth")
				raw.RawQuery = q.Encode()
				bare = raw.String()
			}
			pu, err := mailer.ParseURL(bare)
			if err != nil {
				el.add(p+".url", "%v", err)
			} else {
				def.host = net.JoinHostPort(pu.Host, fmt.Sprint(pu.Port))
				def.opts = append(def.opts, pu.Option())
				if pu.TLS == mailer.TLSNone && !loopbackHost(pu.Host) {
					el.add(p+".url", "tls=none to %s: only a loopback upstream may go without TLS", pu.Host)
				}
			}
		}
		if u.URL == "" && u.Preset == "" {
			el.add(p, "needs url or preset")
		}
		if u.Username != "" {
			user = u.Username
		}
		if hasSecret && u.URL != "" {
			if user == "" {
				el.add(p+".username", "a password is set but no user name (in url or username)")
			}
			switch mech {
			case mailer.MechanismPlain:
				def.opts = append(def.opts, mailer.WithAuth(mailer.PlainAuth(user, secret)))
			case mailer.MechanismLogin:
				def.opts = append(def.opts, mailer.WithAuth(mailer.LoginAuth(user, secret)))
			default:
				def.opts = append(def.opts, mailer.WithAuth(mailer.AutoAuth(user, secret)))
			}
		} else if user != "" && !hasSecret && u.Preset == "" {
			el.add(p, "user %q has no password_file or password_env", user)
		}
		if u.CAFile != "" {
			if _, err := os.Stat(cfg.path(u.CAFile)); err != nil {
				el.add(p+".ca_file", "%v", err)
			}
			def.opts = append(def.opts, mailer.WithCAFile(cfg.path(u.CAFile)))
		}
		if u.Pool < 0 {
			el.add(p+".pool", "must not be negative")
		} else if u.Pool > 0 {
			def.opts = append(def.opts, mailer.WithPool(u.Pool))
		}
		switch {
		case u.Rate.PerSecond > 0 && u.Rate.PerMinute > 0:
			el.add(p+".rate", "give per_second or per_minute, not both")
		case u.Rate.PerSecond > 0:
			def.opts = append(def.opts, mailer.WithRateLimit(u.Rate.PerSecond, time.Second))
		case u.Rate.PerMinute > 0:
			def.opts = append(def.opts, mailer.WithRateLimit(u.Rate.PerMinute, time.Minute))
		}
		for i, snd := range u.Senders {
			if v, ok := senderPattern(snd); ok {
				def.senders = append(def.senders, v)
			} else {
				el.add(fmt.Sprintf("%s.senders[%d]", p, i), "%q is not an address or @domain", snd)
			}
		}
		// The key tells reloads whether the Client can be kept: the same
		// configuration and the same secret (hashed, never kept in clear).
		sum := sha256.Sum256([]byte(secret))
		def.key = fmt.Sprintf("%#v|%x|%s", u, sum, cfg.path(u.CAFile))
		if len(def.opts) > 0 {
			// Check the options now so a bad one is a load error.
			if c, err := mailer.New(def.opts...); err != nil {
				el.add(p, "%v", err)
			} else {
				c.Close()
			}
		}
		s.upstreams[name] = def
		s.upOrder = append(s.upOrder, name)
	}
}

func compileTenants(cfg *Config, s *snapshot, el *errList) {
	if len(cfg.Tenants) == 0 {
		el.add("tenants", "no tenant: nobody could send")
	}
	for _, name := range orderedKeys(cfg.Tenants, cfg.tenantOrder) {
		tc := cfg.Tenants[name]
		p := "tenants." + name
		t := &tenant{name: name, allowNull: tc.AllowNullSender, checkHeader: tc.CheckHeaderFrom == nil || *tc.CheckHeaderFrom}
		if len(tc.Credentials) == 0 {
			el.add(p+".credentials", "a tenant needs at least one credential")
		}
		for i, cc := range tc.Credentials {
			compileCredential(fmt.Sprintf("%s.credentials[%d]", p, i), name, cc, s, el)
		}
		if len(tc.Senders) == 0 {
			el.add(p+".senders", "at least one sender address or @domain is needed")
		}
		for i, snd := range tc.Senders {
			if v, ok := senderPattern(snd); ok {
				t.senders = append(t.senders, v)
			} else {
				el.add(fmt.Sprintf("%s.senders[%d]", p, i), "%q is not an address or @domain", snd)
			}
		}
		for i, r := range tc.Recipients.Allow {
			t.allow = append(t.allow, strings.ToLower(strings.TrimSpace(r)))
			if !validRcptPattern(r) {
				el.add(fmt.Sprintf("%s.recipients.allow[%d]", p, i), "bad pattern %q", r)
			}
		}
		for i, r := range tc.Recipients.Deny {
			t.deny = append(t.deny, strings.ToLower(strings.TrimSpace(r)))
			if !validRcptPattern(r) {
				el.add(fmt.Sprintf("%s.recipients.deny[%d]", p, i), "bad pattern %q", r)
			}
		}
		lim := tc.Limits
		t.maxBytes, t.maxRcpt = lim.MaxMessageBytes, lim.MaxRecipients
		if t.maxBytes <= 0 || t.maxBytes > s.limits.MaxMessageBytes {
			if t.maxBytes > s.limits.MaxMessageBytes {
				el.add(p+".limits.max_message_bytes", "%d exceeds the server's %d", t.maxBytes, s.limits.MaxMessageBytes)
			}
			t.maxBytes = s.limits.MaxMessageBytes
		}
		if t.maxRcpt <= 0 || t.maxRcpt > s.limits.MaxRecipients {
			if t.maxRcpt > s.limits.MaxRecipients {
				el.add(p+".limits.max_recipients", "%d exceeds the server's %d", t.maxRcpt, s.limits.MaxRecipients)
			}
			t.maxRcpt = s.limits.MaxRecipients
		}
		t.perMinute, t.perDay, t.maxConns = lim.MessagesPerMinute, lim.MessagesPerDay, lim.MaxConnections
		if t.perMinute < 0 || t.perDay < 0 || t.maxConns < 0 {
			el.add(p+".limits", "limits must not be negative")
		}
		t.mode = tc.Route.Mode
		if t.mode == "" {
			t.mode = "sync"
		}
		switch t.mode {
		case "sync", "capture":
		case "queue":
			el.add(p+".route.mode", "queue mode is not available in this version")
		default:
			el.add(p+".route.mode", "%q is not one of sync, capture", t.mode)
		}
		if len(tc.Route.Upstreams) == 0 {
			el.add(p+".route.upstreams", "at least one upstream is needed")
		}
		for i, un := range tc.Route.Upstreams {
			if _, ok := s.upstreams[un]; !ok {
				el.add(fmt.Sprintf("%s.route.upstreams[%d]", p, i), "no upstream called %q", un)
				continue
			}
			t.chain = append(t.chain, un)
		}
		if t.mode == "sync" && len(t.chain) == len(tc.Route.Upstreams) {
			for i, snd := range t.senders {
				ok := false
				for _, un := range t.chain {
					if s.upstreams[un].covers(snd) {
						ok = true
						break
					}
				}
				if !ok {
					el.add(fmt.Sprintf("%s.senders[%d]", p, i), "no upstream in the route (%s) may send as %q; add it to an upstream's senders or change the route",
						strings.Join(t.chain, ", "), snd)
				}
			}
		}
		s.tenants[name] = t
		s.tenantOrder = append(s.tenantOrder, name)
	}
}

func compileCredential(p, tname string, cc CredentialConfig, s *snapshot, el *errList) {
	c := &credential{tenant: tname, username: cc.Username}
	if cc.Expires != nil {
		c.expires = *cc.Expires
	}
	n := 0
	if cc.TokenSHA256 != "" {
		n++
		c.kind = credToken
		h, err := hex.DecodeString(cc.TokenSHA256)
		if err != nil || len(h) != sha256.Size {
			el.add(p+".token_sha256", "not 64 hex digits (use `mailgate token new`)")
		}
		c.hash = h
	}
	if cc.Bcrypt != "" {
		n++
		c.kind = credBcrypt
		if _, err := bcrypt.Cost([]byte(cc.Bcrypt)); err != nil {
			el.add(p+".bcrypt", "not a bcrypt hash: %v", err)
		}
		c.hash = []byte(cc.Bcrypt)
	}
	if cc.Argon2id != "" {
		n++
		c.kind = credArgon2id
		if _, err := parseArgon2id(cc.Argon2id); err != nil {
			el.add(p+".argon2id", "%v", err)
		}
		c.hash = []byte(cc.Argon2id)
	}
	if cc.ClientCert != nil {
		n++
		c.kind = credCert
		c.cert = *cc.ClientCert
		c.cert.SHA256 = strings.ToLower(strings.ReplaceAll(c.cert.SHA256, ":", ""))
		if c.cert.SANDNS == "" && c.cert.CommonName == "" && c.cert.SHA256 == "" {
			el.add(p+".client_cert", "needs san_dns, common_name or sha256")
		}
		if s.clientCAs == nil {
			el.add(p+".client_cert", "needs server.tls.client_ca_file")
		}
		if cc.Username != "" {
			el.add(p+".username", "a client_cert credential has no user name")
		}
		s.certs = append(s.certs, c)
	}
	if n != 1 {
		el.add(p, "give exactly one of token_sha256, bcrypt, argon2id, client_cert")
		return
	}
	if c.kind == credCert {
		return
	}
	if cc.Username == "" {
		el.add(p+".username", "missing")
		return
	}
	if strings.ContainsAny(cc.Username, "\x00\r\n") {
		el.add(p+".username", "control characters")
	}
	if prev, dup := s.users[cc.Username]; dup {
		el.add(p+".username", "%q is also a user of tenant %q", cc.Username, prev.tenant)
		return
	}
	s.users[cc.Username] = c
}

func compileAudit(cfg *Config, s *snapshot, el *errList) {
	a := cfg.Audit
	if a.Path != "" && a.Path != "-" {
		a.Path = cfg.path(a.Path)
	}
	switch a.Recipients {
	case "", "plain":
		a.Recipients = "plain"
	case "hash":
		key, ok := resolveSecret("audit", "hash_key", a.HashKeyFile, a.HashKeyEnv, cfg, el)
		if !ok {
			el.add("audit.recipients", "hash needs hash_key_file or hash_key_env")
		}
		s.auditKey = []byte(key)
	default:
		el.add("audit.recipients", "%q is not plain or hash", a.Recipients)
	}
	s.audit = a
}

// resolveSecret reads a secret given by reference (file or environment).
func resolveSecret(p, name, file, env string, cfg *Config, el *errList) (string, bool) {
	switch {
	case file != "" && env != "":
		el.add(p+"."+name+"_file", "give %s_file or %s_env, not both", name, name)
	case file != "":
		b, err := os.ReadFile(cfg.path(file))
		if err != nil {
			el.add(p+"."+name+"_file", "%v", err)
			return "", false
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			el.add(p+"."+name+"_file", "%s is empty", file)
		}
		return v, v != ""
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			el.add(p+"."+name+"_env", "environment variable %s is not set", env)
			return "", false
		}
		return v, true
	}
	return "", false
}

func orderedKeys[V any](m map[string]V, order []string) []string {
	var keys []string
	seen := map[string]bool{}
	for _, k := range order {
		if _, ok := m[k]; ok && !seen[k] {
			keys = append(keys, k)
			seen[k] = true
		}
	}
	var rest []string
	for k := range m {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	return append(keys, rest...)
}

func loopbackAddr(hostport string) bool {
	h, _, err := net.SplitHostPort(hostport)
	return err == nil && loopbackHost(h)
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsLoopback()
}

package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/postkit/mailer"
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
	// decoy is checked in place of an unknown user's credential: the
	// same password work as for the users there are (dummyCredential).
	decoy     *credential
	certs     []*credential // client-certificate identities
	upstreams map[string]*upstreamDef
	upOrder   []string

	audit    AuditConfig
	auditKey []byte
	admin    *adminDef
	queue    *queueDef
	// limitsState is the day counts' file, absolute (LimitsStateConfig).
	limitsState string
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
	cmdTimeout  time.Duration
	dataIdle    time.Duration
	dataMax     time.Duration
	mode        string
	chain       []string // upstream names
	rules       []routeRule
	onFailure   FailureNoticeConfig
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

// sendersChain returns the upstreams of names that may send as sender, in
// their order: the chain a message from sender can take.
func (s *snapshot) sendersChain(names []string, sender string) []string {
	var chain []string
	for _, name := range names {
		if u := s.upstreams[name]; u != nil && u.canSendAs(sender) {
			chain = append(chain, name)
		}
	}
	return chain
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
	s.decoy = dummyCredential(s.users)
	compileAudit(cfg, s, &el)
	compileAdmin(cfg, s, &el)
	compileQueue(cfg, s, &el)
	compileLimitsState(cfg, s, &el)
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
		s.clientCAs = loadCAPool(el, "server.tls.client_ca_file", cfg.path(t.ClientCAFile), t.ClientCAFile)
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

// loadCAPool reads the PEM CA certificates of a client_ca_file setting;
// a read error or a file without a certificate is an error of field.
func loadCAPool(el *errList, field, path, name string) *x509.CertPool {
	b, err := os.ReadFile(path)
	if err != nil {
		el.add(field, "%v", err)
		return nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		el.add(field, "no PEM certificate in %s", name)
		return nil
	}
	return pool
}

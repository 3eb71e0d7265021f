package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the YAML configuration of a gateway (see the package example
// and the README). Secrets are never written in it: passwords and keys are
// read from files (*_file) or environment variables (*_env). Load a Config
// with LoadConfig or ParseConfig, and check it with Compile.
type Config struct {
	Server    ServerConfig              `yaml:"server"`
	Upstreams map[string]UpstreamConfig `yaml:"upstreams"`
	Tenants   map[string]TenantConfig   `yaml:"tenants"`
	Audit     AuditConfig               `yaml:"audit"`
	Admin     AdminConfig               `yaml:"admin"`
	// Health is the old name of the admin listener: health.addr is
	// admin.addr.
	//
	// Deprecated: use Admin.
	Health HealthConfig `yaml:"health"`
	// Queue is the durable queue of the tenants in queue mode.
	Queue QueueConfig `yaml:"queue"`
	// LimitsState is the file that keeps the daily quota counts across
	// restarts.
	LimitsState LimitsStateConfig `yaml:"limits_state"`

	// dir is the directory relative file names are resolved against: the
	// directory of the configuration file.
	dir string
	// order lists tenant and upstream names in file order.
	tenantOrder, upstreamOrder []string
}

// ServerConfig says where and how the gateway listens.
type ServerConfig struct {
	// Hostname is the name in the greeting and the Received: line.
	Hostname  string           `yaml:"hostname"`
	Listeners []ListenerConfig `yaml:"listeners"`
	TLS       TLSConfig        `yaml:"tls"`
	Limits    LimitsConfig     `yaml:"limits"`
	// AuthFailures sets the brute-force defence.
	AuthFailures AuthFailuresConfig `yaml:"auth_failures"`
	// DrainTimeout bounds how long SIGTERM waits for messages in flight
	// (default 30s).
	DrainTimeout time.Duration `yaml:"drain_timeout"`
}

// ListenerConfig is one SMTP listener.
type ListenerConfig struct {
	Name string `yaml:"name"`
	// Addr is host:port; port 0 picks a free port.
	Addr string `yaml:"addr"`
	// TLS is "starttls" (port 587), "implicit" (port 465) or "none"; "none"
	// is allowed on loopback addresses only, and never offers AUTH.
	TLS string `yaml:"tls"`
}

// TLSConfig is the server certificate and the optional client CA.
type TLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// MinVersion is "1.2" (default) or "1.3".
	MinVersion string `yaml:"min_version"`
	// ClientCAFile enables client certificates as tenant identities. A
	// session's certificate is verified again against the CA configured
	// at each MAIL, so rotating or removing the file ends open sessions
	// of the old CA's certificates there (530).
	ClientCAFile string `yaml:"client_ca_file"`
	// ClientAuth is "none", "verify_if_given" (default with a CA) or "require".
	ClientAuth string `yaml:"client_auth"`
}

// LimitsConfig holds the server-wide limits.
type LimitsConfig struct {
	MaxConnections      int           `yaml:"max_connections"`        // default 1000
	MaxConnectionsPerIP int           `yaml:"max_connections_per_ip"` // default 50
	CommandTimeout      time.Duration `yaml:"command_timeout"`        // default 5m
	DataIdleTimeout     time.Duration `yaml:"data_idle_timeout"`      // default 60s
	DataMaxDuration     time.Duration `yaml:"data_max_duration"`      // default 30m
	WriteTimeout        time.Duration `yaml:"write_timeout"`          // default 1m
	MaxMessageBytes     int64         `yaml:"max_message_bytes"`      // default 25 MiB
	MaxRecipients       int           `yaml:"max_recipients"`         // default 100
	MaxReceivedHeaders  int           `yaml:"max_received_headers"`   // default 50
	// BareLF is "reject" (the only mode so far): a bare CR or LF in the
	// message is refused with 550 5.6.0.
	BareLF string `yaml:"bare_lf"`
	// RelayTimeout bounds one message's delivery upstream in sync mode
	// (default 2m).
	RelayTimeout time.Duration `yaml:"relay_timeout"`
}

// AuthFailuresConfig is the brute-force defence: failures are counted per
// client IP and per user name over Window; each failure waits Delay times
// the count (at most MaxDelay) before its 535; after PerIP failures the IP
// is banned for Ban and its connection closed. A user's failures slow
// further attempts at that user but never ban it, so a user who logs in
// from elsewhere is not locked out.
type AuthFailuresConfig struct {
	PerIP    int           `yaml:"per_ip"`    // default 10
	PerUser  int           `yaml:"per_user"`  // default 20
	Window   time.Duration `yaml:"window"`    // default 10m
	Ban      time.Duration `yaml:"ban"`       // default 15m
	Delay    time.Duration `yaml:"delay"`     // default 1s
	MaxDelay time.Duration `yaml:"max_delay"` // default 5s
}

// UpstreamConfig is one provider account: a mailer.Client with its own
// pool and rate limit.
type UpstreamConfig struct {
	// URL is the server URL without a password, such as
	// "smtps://alice%40qq.com@smtp.qq.com:465" (see mailer.ParseURL).
	URL string `yaml:"url"`
	// Preset is a provider preset name (provider.Lookup), such as "qq";
	// without URL it gives the server too.
	Preset       string `yaml:"preset"`
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
	CAFile       string `yaml:"ca_file"`
	// Senders are the envelope senders this account may send as
	// (addresses or "@domain"); empty means any.
	Senders []string   `yaml:"senders"`
	Pool    int        `yaml:"pool"`
	Rate    RateConfig `yaml:"rate"`
}

// RateConfig is an upstream's sending rate.
type RateConfig struct {
	PerSecond int `yaml:"per_second"`
	PerMinute int `yaml:"per_minute"`
}

// TenantConfig is one application (or team) allowed to send.
type TenantConfig struct {
	Credentials []CredentialConfig `yaml:"credentials"`
	// Senders are the addresses ("billing@corp.com") and domains
	// ("@notify.corp.com") the tenant may use as envelope sender and in
	// the From and Sender header fields.
	Senders []string `yaml:"senders"`
	// AllowNullSender lets the tenant use MAIL FROM:<> (bounces).
	AllowNullSender bool `yaml:"allow_null_sender"`
	// CheckHeaderFrom checks From and Sender against Senders (default true).
	CheckHeaderFrom *bool            `yaml:"check_header_from"`
	Recipients      RecipientsConfig `yaml:"recipients"`
	Limits          TenantLimits     `yaml:"limits"`
	Route           RouteConfig      `yaml:"route"`
}

// CredentialConfig is one way to authenticate as a tenant: a user name
// with a token hash, a bcrypt or argon2id hash, or a client certificate.
type CredentialConfig struct {
	Username string `yaml:"username"`
	// TokenSHA256 is the hex SHA-256 of a generated token
	// (`mailgate token new TENANT`).
	TokenSHA256 string `yaml:"token_sha256"`
	// Bcrypt and Argon2id are hashes of a human-chosen password; a
	// successful check is cached for a few minutes.
	Bcrypt   string `yaml:"bcrypt"`
	Argon2id string `yaml:"argon2id"`
	// Expires ends the credential (a date or a time).
	Expires    *time.Time        `yaml:"expires"`
	ClientCert *ClientCertConfig `yaml:"client_cert"`
}

// ClientCertConfig names a verified client certificate.
type ClientCertConfig struct {
	SANDNS     string `yaml:"san_dns"`
	CommonName string `yaml:"common_name"`
	// SHA256 is the hex SHA-256 fingerprint of the certificate.
	SHA256 string `yaml:"sha256"`
}

// RecipientsConfig are recipient patterns: "user@example.com",
// "@example.com", "*@example.com", "*.example.com" globs. Deny wins; an
// empty Allow allows any recipient. Matching ignores case and compares
// domains in the ASCII form the upstream gets (IDNA: "bücher.example"
// and "xn--bcher-kva.example" are one domain, as are full-width
// spellings); "*" matches any characters of an address. In a glob's
// domain each label without glob characters is converted too
// ("*@*.bücher.example" matches "x@shop.xn--bcher-kva.example"); a
// label mixing glob characters with non-ASCII ones ("bü*") is a
// configuration error, since it cannot match the ASCII form reliably,
// and an ASCII glob label matches the ASCII form only ("b*" does not
// match "bücher", which is compared as "xn--bcher-kva").
type RecipientsConfig struct {
	Allow []string `yaml:"allow"`
	Deny  []string `yaml:"deny"`
}

// TenantLimits are a tenant's own limits; zero means the server's limit
// (sizes, recipients) or none (rates).
type TenantLimits struct {
	MaxMessageBytes int64 `yaml:"max_message_bytes"`
	MaxRecipients   int   `yaml:"max_recipients"`
	// MessagesPerMinute holds over any 60 s (a sliding window, not the
	// calendar minute): the next MAIL is 451 4.7.1 while the tenant has
	// had this many messages in the last 60 s.
	MessagesPerMinute int `yaml:"messages_per_minute"`
	// MessagesPerDay is counted per UTC day, 00:00 to 00:00 UTC, and
	// survives a restart (LimitsStateConfig).
	MessagesPerDay int `yaml:"messages_per_day"`
	MaxConnections int `yaml:"max_connections"`
	// Timeouts shorter (or longer) than the server's, for this tenant's
	// sessions once authenticated.
	CommandTimeout  time.Duration `yaml:"command_timeout"`
	DataIdleTimeout time.Duration `yaml:"data_idle_timeout"`
	DataMaxDuration time.Duration `yaml:"data_max_duration"`
}

// RouteConfig is how a tenant's mail leaves: Mode "sync" (the client's
// 250 is the upstream's 250), "queue" (the client's 250 once the message
// is committed to the durable queue; workers deliver it) or "capture" (to
// a capture sink such as Mailpit, for staging), through Upstreams in
// failover order.
type RouteConfig struct {
	Mode      string   `yaml:"mode"`
	Upstreams []string `yaml:"upstreams"`
	// Rules send the recipients of some domains through other upstreams,
	// splitting one message into one queued copy per chain. Queue mode
	// only: in sync mode one reply would have to stand for several
	// upstreams' answers.
	Rules []RouteRule `yaml:"rules"`
	// OnFailure says whom to tell when a queued message fails for good.
	// Queue mode only (in sync mode the client hears it at once).
	OnFailure FailureNoticeConfig `yaml:"on_failure"`
}

// RouteRule routes recipients in ToDomains through Upstreams: "corp.com"
// matches that domain, ".corp.com" its subdomains. The first matching
// rule wins; other recipients take the route's Upstreams.
type RouteRule struct {
	ToDomains []string `yaml:"to_domains"`
	Upstreams []string `yaml:"upstreams"`
}

// FailureNoticeConfig is what happens when a queued message fails for
// good, besides the audit line: a delivery status notification (RFC
// 3464) to the envelope sender (never to the null sender), and/or a JSON
// POST to Webhook (no message body and no envelope recipients; its
// "reply" is the upstream's text, which may quote a recipient).
type FailureNoticeConfig struct {
	DSN     bool   `yaml:"dsn"`
	Webhook string `yaml:"webhook"`
}

// AuditConfig is the audit log: one hash-chained JSON line per session,
// authentication, message and reload.
type AuditConfig struct {
	// Path is the file; "-" is standard output; empty disables the audit.
	// A path that is no regular file (/dev/stdout, a FIFO, a pipe) is
	// only written to: its chain starts afresh at each start, it is not
	// served by GET /api/audit, and a reload does not reopen it.
	Path string `yaml:"path"`
	// Recipients is "plain" or "hash" (keyed HMAC-SHA256, needs a key).
	Recipients  string `yaml:"recipients"`
	HashKeyFile string `yaml:"hash_key_file"`
	HashKeyEnv  string `yaml:"hash_key_env"`
}

// HealthConfig is the old form of the admin listener's address (see
// AdminConfig).
//
// Deprecated: use AdminConfig.
type HealthConfig struct {
	Addr string `yaml:"addr"`
}

// LoadConfig reads and parses the YAML file at path. Relative file names
// in it are resolved against the file's directory. It does not validate
// beyond the YAML shape; Compile does.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	abs, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	cfg.dir = abs
	return cfg, nil
}

// ParseConfig parses YAML. Unknown keys are errors, so a misspelt limit
// is not silently ignored.
func ParseConfig(b []byte) (*Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var cfg Config
	if err := dec.Decode(&cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty configuration")
		}
		return nil, err
	}
	// Map order is lost by the decoder; read it from the node tree so the
	// tenant table and errors come in file order.
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err == nil && len(root.Content) == 1 {
		cfg.tenantOrder = mapKeys(&root, "tenants")
		cfg.upstreamOrder = mapKeys(&root, "upstreams")
	}
	return &cfg, nil
}

func mapKeys(root *yaml.Node, key string) []string {
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		if doc.Content[i].Value == key && doc.Content[i+1].Kind == yaml.MappingNode {
			var keys []string
			m := doc.Content[i+1]
			for j := 0; j+1 < len(m.Content); j += 2 {
				keys = append(keys, m.Content[j].Value)
			}
			return keys
		}
	}
	return nil
}

// SetDir sets the directory relative file names are resolved against
// (LoadConfig sets it to the file's directory).
func (c *Config) SetDir(dir string) { c.dir = dir }

func (c *Config) path(name string) string {
	if name == "" || filepath.IsAbs(name) || c.dir == "" {
		return name
	}
	return filepath.Join(c.dir, name)
}

package gateway

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// QueueConfig is the durable queue (the outbox) under queue mode: SQLite
// in one file by default, PostgreSQL when several gateway instances share
// one queue. A reload keeps the running queue: changes here need a
// restart.
type QueueConfig struct {
	// Driver is "sqlite" (default) or "postgres".
	Driver string `yaml:"driver"`
	// Path is the SQLite file (default mailgate-queue.db next to the
	// configuration).
	Path string `yaml:"path"`
	// DSN is the PostgreSQL URL ("postgres://mailgate@db/mail"); a password
	// belongs in DSNFile, DSNEnv or PGPASSWORD, not here.
	DSN     string `yaml:"dsn"`
	DSNFile string `yaml:"dsn_file"`
	DSNEnv  string `yaml:"dsn_env"`
	// Schema is the PostgreSQL schema of the queue's tables (default
	// public); instances that share a queue use the same one.
	Schema string `yaml:"schema"`
	// MaxDepth is how many messages may wait; past it a new message is
	// refused with 452 4.3.1 (0: no limit).
	MaxDepth int64 `yaml:"max_depth"`
	// Workers is how many messages this instance sends at once
	// (default 10).
	Workers int `yaml:"workers"`
	// MaxAttempts is the attempts a message gets before it fails
	// (default 10).
	MaxAttempts int `yaml:"max_attempts"`
	// MinWait and MaxWait bound the wait after a temporary failure
	// (defaults 1m and 1h, exponential with jitter).
	MinWait time.Duration `yaml:"min_wait"`
	MaxWait time.Duration `yaml:"max_wait"`
	// ThrottleWait is the least pause after a throttling reply (421,
	// 4.7.x); default 2m.
	ThrottleWait time.Duration `yaml:"throttle_wait"`
	// Retention is how long finished messages are kept (default 720h).
	Retention time.Duration `yaml:"retention"`
	// PollInterval is the longest a due message waits unnoticed (default
	// 100ms on SQLite, 1s on PostgreSQL, which is woken by NOTIFY).
	PollInterval time.Duration `yaml:"poll_interval"`
	// SendTimeout bounds one delivery attempt through a tenant's chain
	// (default 2m).
	SendTimeout time.Duration `yaml:"send_timeout"`
	// RetryUnknown chooses what happens to a message whose outcome is
	// unknown: the gateway died while sending it, or the connection was
	// lost after the final dot. The default, false, makes it final
	// (state "unknown" in /api/queue, where POST
	// /api/queue/{id}/retry sends it again): at most once, as the
	// outbox does, so that a message answered 250 never reaches the
	// upstream twice. true sends it again: at least once, the upstream may
	// get it twice with the same Message-ID.
	RetryUnknown *bool `yaml:"retry_unknown"`
}

// queueDef is the compiled queue configuration.
type queueDef struct {
	cfg  QueueConfig // durations and counts as written
	dsn  string      // PostgreSQL URL, secrets resolved
	path string      // SQLite file, absolute
	used bool        // some tenant is in queue mode
}

func compileQueue(cfg *Config, s *snapshot, el *errList) {
	q := cfg.Queue
	d := &queueDef{cfg: q}
	for _, t := range s.tenants {
		if t.mode == "queue" {
			d.used = true
		}
	}
	switch q.Driver {
	case "", "sqlite":
		d.cfg.Driver = "sqlite"
		if q.DSN != "" || q.DSNFile != "" || q.DSNEnv != "" || q.Schema != "" {
			el.add("queue.dsn", "dsn and schema are for driver postgres; sqlite takes path")
		}
		d.path = q.Path
		if d.path == "" {
			d.path = "mailgate-queue.db"
		}
		d.path = cfg.path(d.path)
	case "postgres":
		if q.Path != "" {
			el.add("queue.path", "path is for driver sqlite; postgres takes dsn")
		}
		n := 0
		for _, v := range []string{q.DSN, q.DSNFile, q.DSNEnv} {
			if v != "" {
				n++
			}
		}
		switch {
		case n > 1:
			el.add("queue.dsn", "give one of dsn, dsn_file, dsn_env")
		case q.DSN != "":
			d.dsn = q.DSN
		case n == 1:
			d.dsn, _ = resolveSecret("queue", "dsn", q.DSNFile, q.DSNEnv, cfg, el)
		case d.used:
			el.add("queue.dsn", "driver postgres needs dsn, dsn_file or dsn_env")
		}
		if d.dsn != "" {
			if u, err := url.Parse(d.dsn); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
				el.add("queue.dsn", "not a postgres:// URL")
			} else if _, has := u.User.Password(); has && q.DSN != "" {
				el.add("queue.dsn", "holds a password; use dsn_file, dsn_env or PGPASSWORD")
			}
		}
		if q.Schema != "" && strings.ContainsAny(q.Schema, "\"\x00") {
			el.add("queue.schema", "invalid schema name")
		}
	default:
		el.add("queue.driver", "%q is not sqlite or postgres", q.Driver)
	}
	if q.MaxDepth < 0 {
		el.add("queue.max_depth", "must not be negative")
	}
	if q.Workers < 0 || q.Workers > 10000 {
		el.add("queue.workers", "%d out of range 0..10000", q.Workers)
	}
	if q.MaxAttempts < 0 || q.MaxAttempts > 1000 {
		el.add("queue.max_attempts", "%d out of range 0..1000", q.MaxAttempts)
	}
	for name, v := range map[string]time.Duration{"min_wait": q.MinWait, "max_wait": q.MaxWait, "throttle_wait": q.ThrottleWait,
		"retention": q.Retention, "poll_interval": q.PollInterval, "send_timeout": q.SendTimeout} {
		if v < 0 {
			el.add("queue."+name, "must not be negative")
		}
	}
	if q.MaxWait > 0 && q.MinWait > q.MaxWait {
		el.add("queue.min_wait", "%v is above max_wait %v", q.MinWait, q.MaxWait)
	}
	if d.cfg.SendTimeout == 0 {
		d.cfg.SendTimeout = 2 * time.Minute
	}
	s.queue = d
}

// compileRules checks a tenant's route rules and failure notice: queue
// mode only, known upstreams, domain patterns.
func compileRules(p string, tc TenantConfig, t *tenant, s *snapshot, el *errList) {
	r := tc.Route
	if len(r.Rules) > 0 && t.mode != "queue" {
		el.add(p+".route.rules", "recipient-domain rules split a message across upstreams and need mode queue (mode %s gives one reply for all recipients)", t.mode)
	}
	if (r.OnFailure.DSN || r.OnFailure.Webhook != "") && t.mode != "queue" {
		el.add(p+".route.on_failure", "needs mode queue (in mode %s the client hears a failure at once)", t.mode)
	}
	if w := r.OnFailure.Webhook; w != "" {
		if u, err := url.Parse(w); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			el.add(p+".route.on_failure.webhook", "not an http(s) URL")
		} else if u.User != nil {
			el.add(p+".route.on_failure.webhook", "must not hold credentials")
		}
	}
	t.onFailure = r.OnFailure
	for i, rule := range r.Rules {
		rp := fmt.Sprintf("%s.route.rules[%d]", p, i)
		cr := routeRule{}
		if len(rule.ToDomains) == 0 {
			el.add(rp+".to_domains", "at least one domain is needed")
		}
		for j, dom := range rule.ToDomains {
			dom = strings.ToLower(strings.TrimSpace(dom))
			if strings.Trim(dom, ".") == "" || strings.ContainsAny(dom, "@ *,") {
				el.add(fmt.Sprintf("%s.to_domains[%d]", rp, j), "%q is not a domain (\"corp.com\" or \".corp.com\")", rule.ToDomains[j])
			}
			cr.domains = append(cr.domains, dom)
		}
		if len(rule.Upstreams) == 0 {
			el.add(rp+".upstreams", "at least one upstream is needed")
		}
		for j, un := range rule.Upstreams {
			if _, ok := s.upstreams[un]; !ok {
				el.add(fmt.Sprintf("%s.upstreams[%d]", rp, j), "no upstream called %q", un)
				continue
			}
			cr.chain = append(cr.chain, un)
		}
		t.rules = append(t.rules, cr)
	}
}

// routeRule is a compiled RouteRule.
type routeRule struct {
	domains []string // "corp.com" exact, ".corp.com" subdomains
	chain   []string
}

func (r *routeRule) matches(domain string) bool {
	for _, d := range r.domains {
		if d == domain || strings.HasPrefix(d, ".") && strings.HasSuffix(domain, d) {
			return true
		}
	}
	return false
}

package gateway

import (
	"crypto/sha256"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/provider"
)

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

package gateway

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// verifyCacheTTL is how long a successful bcrypt or argon2id check is
// remembered, so that an application that opens a connection per message
// does not pay 80 ms of bcrypt each time (and an attacker gets no CPU
// amplifier from repeating a known password).
const verifyCacheTTL = 5 * time.Minute

// verifier checks passwords against credentials.
type verifier struct {
	key   [32]byte // HMAC key of the cache; random per process
	mu    sync.Mutex
	cache map[[32]byte]time.Time
	// compared, if set, is told each password comparison made, by scheme
	// and cost ("sha256", "bcrypt/10", "argon2id/m=65536,t=3,p=4"): the
	// tests' way to see the work a login did without timing it.
	compared atomic.Pointer[func(scheme string)]
}

func (v *verifier) did(scheme string) {
	if f := v.compared.Load(); f != nil {
		(*f)(scheme)
	}
}

func newVerifier() *verifier {
	v := &verifier{cache: map[[32]byte]time.Time{}}
	if _, err := rand.Read(v.key[:]); err != nil {
		panic(err)
	}
	return v
}

// check reports whether password is right for c.
func (v *verifier) check(c *credential, password string, now time.Time) bool {
	switch c.kind {
	case credToken:
		sum := sha256.Sum256([]byte(password))
		v.did("sha256")
		return subtle.ConstantTimeCompare(sum[:], c.hash) == 1
	case credBcrypt, credArgon2id:
		mac := hmac.New(sha256.New, v.key[:])
		mac.Write([]byte(c.id()))
		mac.Write([]byte{0})
		mac.Write([]byte(password))
		var k [32]byte
		copy(k[:], mac.Sum(nil))
		v.mu.Lock()
		exp, ok := v.cache[k]
		v.mu.Unlock()
		if ok && now.Before(exp) {
			return true
		}
		var good bool
		if c.kind == credBcrypt {
			cost, _ := bcrypt.Cost(c.hash)
			v.did("bcrypt/" + strconv.Itoa(cost))
			good = bcrypt.CompareHashAndPassword(c.hash, []byte(password)) == nil
		} else {
			if p, err := parseArgon2id(string(c.hash)); err == nil {
				v.did(fmt.Sprintf("argon2id/m=%d,t=%d,p=%d", p.memory, p.time, p.threads))
			}
			good = checkArgon2id(string(c.hash), password)
		}
		if good {
			v.mu.Lock()
			if len(v.cache) > 10000 {
				for k, e := range v.cache {
					if !now.Before(e) {
						delete(v.cache, k)
					}
				}
			}
			v.cache[k] = now.Add(verifyCacheTTL)
			v.mu.Unlock()
		}
		return good
	}
	return false
}

// dummyCredential returns a credential that no password matches and
// whose check costs what a check of users' costliest credential costs:
// bcrypt at the highest cost among them, else argon2id with the largest
// parameters, else a SHA-256 token. A login for an unknown user is checked
// against it, so that it takes as long as a failed login for a known one
// (no user enumeration by timing). Users of a cheaper scheme than the
// costliest stay faster to fail: keep human passwords to one scheme and
// cost.
func dummyCredential(users map[string]*credential) *credential {
	bcryptCost := 0
	var argon *argon2Params
	for _, c := range users {
		switch c.kind {
		case credBcrypt:
			if n, err := bcrypt.Cost(c.hash); err == nil && n > bcryptCost {
				bcryptCost = n
			}
		case credArgon2id:
			if p, err := parseArgon2id(string(c.hash)); err == nil &&
				(argon == nil || uint64(p.memory)*uint64(p.time) > uint64(argon.memory)*uint64(argon.time)) {
				argon = p
			}
		}
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	d := &credential{tenant: "\x00decoy", kind: credToken, hash: secret}
	switch {
	case bcryptCost > 0:
		// A hash made at the lowest cost, then relabelled: checking it
		// costs bcryptCost, and nothing matches it.
		h, err := bcrypt.GenerateFromPassword(secret[:16], bcrypt.MinCost)
		if err != nil {
			panic(err)
		}
		d.kind, d.hash = credBcrypt, fmt.Appendf(nil, "%s%02d%s", h[:4], bcryptCost, h[6:])
	case argon != nil:
		salt, sum := make([]byte, len(argon.salt)), make([]byte, len(argon.hash))
		rand.Read(salt)
		rand.Read(sum)
		d.kind = credArgon2id
		d.hash = fmt.Appendf(nil, "$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", argon.memory, argon.time, argon.threads,
			base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(sum))
	}
	return d
}

type argon2Params struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	hash    []byte
}

// parseArgon2id parses the PHC string form
// "$argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>" (base64 without padding).
func parseArgon2id(s string) (*argon2Params, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != "v=19" {
		return nil, errors.New("not an argon2id hash in PHC form ($argon2id$v=19$m=…,t=…,p=…$salt$hash)")
	}
	p := &argon2Params{}
	for _, kv := range strings.Split(parts[3], ",") {
		k, val, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(val, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("argon2id parameter %q: %v", kv, err)
		}
		switch k {
		case "m":
			p.memory = uint32(n)
		case "t":
			p.time = uint32(n)
		case "p":
			if n > 255 {
				return nil, fmt.Errorf("argon2id parameter %q out of range", kv)
			}
			p.threads = uint8(n)
		default:
			return nil, fmt.Errorf("unknown argon2id parameter %q", k)
		}
	}
	if p.memory == 0 || p.time == 0 || p.threads == 0 || p.memory > 4<<20 {
		return nil, errors.New("argon2id parameters m, t and p are needed (m at most 4 GiB)")
	}
	var err error
	if p.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil {
		return nil, fmt.Errorf("argon2id salt: %v", err)
	}
	if p.hash, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(p.hash) < 16 {
		return nil, errors.New("argon2id hash: bad base64 or shorter than 16 bytes")
	}
	return p, nil
}

func checkArgon2id(encoded, password string) bool {
	p, err := parseArgon2id(encoded)
	if err != nil {
		return false
	}
	got := argon2.IDKey([]byte(password), p.salt, p.time, p.memory, p.threads, uint32(len(p.hash)))
	return subtle.ConstantTimeCompare(got, p.hash) == 1
}

// HashArgon2id returns the PHC string of password with fresh salt and the
// RFC 9106 second recommended parameters (64 MiB, 3 passes, 4 lanes).
func HashArgon2id(password string) string {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		panic(err)
	}
	h := argon2.IDKey([]byte(password), salt, 3, 64<<10, 4, 32)
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=3,p=4$%s$%s", 64<<10,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(h))
}

// NewToken returns a fresh credential token (256 random bits, URL-safe)
// and the hex SHA-256 to put in the configuration as token_sha256.
func NewToken() (token, sha256Hex string) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	token = "mgt_" + base64.RawURLEncoding.EncodeToString(b)
	return token, TokenHash(token)
}

// TokenHash returns the hex SHA-256 of token, as token_sha256 holds it.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

package mailertest

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// checkFunc verifies a user name and a secret (password or token).
type checkFunc func(user, secret string) error

// loginServer implements the LOGIN mechanism.
type loginServer struct {
	check    checkFunc
	user     string
	step     int
	username func(string)
}

func (s *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch s.step {
	case 0:
		s.step = 1
		if resp == nil {
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		s.user = string(resp)
		s.username(s.user)
		s.step = 2
		return []byte("Password:"), false, nil
	default:
		return nil, true, s.check(s.user, string(resp))
	}
}

// cramServer implements CRAM-MD5 (RFC 2195).
type cramServer struct {
	secret    func(user string) (string, bool)
	challenge []byte
	username  func(string)
}

func (s *cramServer) Next(resp []byte) ([]byte, bool, error) {
	if s.challenge == nil {
		s.challenge = fmt.Appendf(nil, "<%s@mailertest>", rand.Text())
		return s.challenge, false, nil
	}
	user, digest, ok := strings.Cut(string(resp), " ")
	if !ok {
		return nil, true, smtp.ErrAuthFailed
	}
	s.username(user)
	secret, ok := s.secret(user)
	if !ok {
		return nil, true, smtp.ErrAuthFailed
	}
	mac := hmac.New(md5.New, []byte(secret))
	mac.Write(s.challenge)
	want := hex.EncodeToString(mac.Sum(nil))
	if subtle.ConstantTimeCompare([]byte(want), []byte(digest)) != 1 {
		return nil, true, smtp.ErrAuthFailed
	}
	return nil, true, nil
}

// xoauth2Server implements Google's XOAUTH2: an initial response
// "user=U\x01auth=Bearer T\x01\x01"; on failure a JSON error challenge, an
// empty client response, then 535.
type xoauth2Server struct {
	check    checkFunc
	failed   bool
	started  bool
	username func(string)
}

func (s *xoauth2Server) Next(resp []byte) ([]byte, bool, error) {
	if s.failed {
		return nil, true, smtp.ErrAuthFailed
	}
	if resp == nil && !s.started {
		s.started = true
		return []byte{}, false, nil
	}
	var user, token string
	for _, field := range bytes.Split(resp, []byte{1}) {
		k, v, _ := strings.Cut(string(field), "=")
		switch k {
		case "user":
			user = v
		case "auth":
			token, _ = strings.CutPrefix(v, "Bearer ")
		}
	}
	s.username(user)
	if s.check(user, token) != nil {
		s.failed = true
		return []byte(`{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}`), false, nil
	}
	return nil, true, nil
}

var _ sasl.Server = (*loginServer)(nil)

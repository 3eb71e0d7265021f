// Package sasllogin is the server side of the LOGIN SASL mechanism
// (draft-murchison-sasl-login), which go-sasl provides only for clients.
// Legacy clients (PowerShell Send-MailMessage, Outlook setups) need it.
package sasllogin

import (
	"errors"

	"github.com/emersion/go-sasl"
)

// ErrMalformed is returned for an empty user name.
var ErrMalformed = errors.New("sasllogin: malformed response")

// Authenticator checks a user name and password.
type Authenticator func(username, password string) error

type server struct {
	auth     Authenticator
	step     int
	username string
}

// NewServer returns a LOGIN sasl.Server. It accepts the initial-response
// form (AUTH LOGIN <base64 user>) too.
func NewServer(auth Authenticator) sasl.Server {
	return &server{auth: auth}
}

func (s *server) Next(response []byte) (challenge []byte, done bool, err error) {
	switch s.step {
	case 0:
		s.step = 1
		if response == nil {
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		if len(response) == 0 {
			return nil, true, ErrMalformed
		}
		s.username = string(response)
		s.step = 2
		return []byte("Password:"), false, nil
	case 2:
		s.step = 3
		return nil, true, s.auth(s.username, string(response))
	}
	return nil, true, sasl.ErrUnexpectedClientResponse
}

package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// minKeyLen is the shortest HMAC key accepted: 256 bits, the size of the
// SHA-256 output.
const minKeyLen = 32

// Errors of verifyToken.
var (
	errMalformed = errors.New("malformed reset token")
	errSignature = errors.New("reset token signature does not match")
	errExpired   = errors.New("reset token has expired")
)

var b64 = base64.RawURLEncoding

// newToken returns a token for user that expires at exp:
// base64url(user "|" unix seconds) "." base64url(HMAC-SHA256(key, same)).
// It is URL-safe as it is.
//
// It proves only who and until when. A real service also makes it
// single-use, for example by adding to the signed payload a hash of the
// user's current password hash, so that the link stops working once the
// password has changed.
func newToken(key []byte, user string, exp time.Time) string {
	payload := user + "|" + strconv.FormatInt(exp.Unix(), 10)
	return b64.EncodeToString([]byte(payload)) + "." + b64.EncodeToString(sign(key, payload))
}

// verifyToken checks token's signature with key, then its expiry against
// now, and returns the user it was made for.
func verifyToken(key []byte, token string, now time.Time) (string, error) {
	p64, s64, ok := strings.Cut(token, ".")
	if !ok {
		return "", errMalformed
	}
	payload, err := b64.DecodeString(p64)
	if err != nil {
		return "", errMalformed
	}
	sig, err := b64.DecodeString(s64)
	if err != nil {
		return "", errMalformed
	}
	// Check the signature before looking at the payload.
	if !hmac.Equal(sig, sign(key, string(payload))) {
		return "", errSignature
	}
	i := strings.LastIndexByte(string(payload), '|')
	if i <= 0 {
		return "", errMalformed
	}
	user := string(payload[:i])
	exp, err := strconv.ParseInt(string(payload[i+1:]), 10, 64)
	if err != nil {
		return "", errMalformed
	}
	if !now.Before(time.Unix(exp, 0)) {
		return "", errExpired
	}
	return user, nil
}

func sign(key []byte, payload string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

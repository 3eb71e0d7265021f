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
	errSignature = errors.New("reset token signature does not match (forged, or the password has changed since: the link was used)")
	errExpired   = errors.New("reset token has expired")
)

var b64 = base64.RawURLEncoding

// newToken returns a token for user that expires at exp:
// base64url(user "|" unix seconds) "." base64url(HMAC-SHA256(key, same
// "|" SHA-256(passwordHash))). It is URL-safe as it is.
//
// passwordHash is the user's current password hash from your user store
// (bcrypt, argon2id, …). It is signed but not carried in the token: once
// the password has changed, the token no longer verifies, so the link
// works only once, as the mail promises (templates.PasswordReset.SingleUse).
func newToken(key []byte, user string, passwordHash []byte, exp time.Time) string {
	payload := user + "|" + strconv.FormatInt(exp.Unix(), 10)
	return b64.EncodeToString([]byte(payload)) + "." + b64.EncodeToString(sign(key, payload, passwordHash))
}

// verifyToken checks token's signature with key and the current password
// hash of the user it names (from passwordHashOf, your user store), then
// its expiry against now, and returns the user it was made for.
func verifyToken(key []byte, token string, passwordHashOf func(user string) []byte, now time.Time) (string, error) {
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
	i := strings.LastIndexByte(string(payload), '|')
	if i <= 0 {
		return "", errMalformed
	}
	user := string(payload[:i])
	// Check the signature before trusting anything in the payload: the
	// user is only used to find the password hash it was signed with.
	if !hmac.Equal(sig, sign(key, string(payload), passwordHashOf(user))) {
		return "", errSignature
	}
	exp, err := strconv.ParseInt(string(payload[i+1:]), 10, 64)
	if err != nil {
		return "", errMalformed
	}
	if !now.Before(time.Unix(exp, 0)) {
		return "", errExpired
	}
	return user, nil
}

func sign(key []byte, payload string, passwordHash []byte) []byte {
	fingerprint := sha256.Sum256(passwordHash)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(payload))
	m.Write([]byte("|"))
	m.Write(fingerprint[:])
	return m.Sum(nil)
}

// passwordHashOf stands for a look-up in your user store: it returns the
// user's current password hash. This program has no users; it returns a
// fixed stand-in per user.
func passwordHashOf(user string) []byte {
	return []byte("$argon2id$v=19$m=65536,t=3,p=4$stand-in$" + user)
}

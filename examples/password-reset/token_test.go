package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

var (
	hashA = []byte("$2a$10$hash-before-the-reset")
	hashB = []byte("$2a$10$hash-after-the-reset")
)

func hashIs(h []byte) func(string) []byte { return func(string) []byte { return h } }

func TestToken(t *testing.T) {
	now := time.Date(2024, 3, 15, 9, 30, 0, 0, time.UTC)
	tok := newToken(testKey, "bob@example.com", hashA, now.Add(30*time.Minute))
	assert.Regexp(t, `^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$`, tok, "URL-safe, 32-byte MAC")

	user, err := verifyToken(testKey, tok, hashIs(hashA), now)
	require.NoError(t, err)
	assert.Equal(t, "bob@example.com", user)
	user, err = verifyToken(testKey, tok, hashIs(hashA), now.Add(30*time.Minute-time.Second))
	require.NoError(t, err)
	assert.Equal(t, "bob@example.com", user)

	payload, sig, _ := strings.Cut(tok, ".")
	other := newToken(testKey, "eve@example.com", hashA, now.Add(30*time.Minute))
	otherPayload, _, _ := strings.Cut(other, ".")
	tests := []struct {
		name  string
		key   []byte
		token string
		at    time.Time
		want  error
	}{
		{"used: the password has changed", testKey, tok, now, errSignature},
		{"expired", testKey, tok, now.Add(30 * time.Minute), errExpired},
		{"long expired", testKey, tok, now.Add(24 * time.Hour), errExpired},
		{"other user", testKey, otherPayload + "." + sig, now, errSignature},
		{"other key", []byte("fedcba9876543210fedcba9876543210"), tok, now, errSignature},
		{"changed signature", testKey, payload + "." + strings.Repeat("A", 43), now, errSignature},
		{"no dot", testKey, payload + sig, now, errMalformed},
		{"bad base64", testKey, "!!." + sig, now, errMalformed},
		{"empty", testKey, "", now, errMalformed},
		{"no expiry", testKey, b64.EncodeToString([]byte("bob")) + "." + b64.EncodeToString(sign(testKey, "bob", hashA)), now, errMalformed},
		{"bad expiry", testKey, b64.EncodeToString([]byte("bob|x")) + "." + b64.EncodeToString(sign(testKey, "bob|x", hashA)), now, errMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hash := hashA
			if strings.HasPrefix(tt.name, "used") {
				hash = hashB
			}
			user, err := verifyToken(tt.key, tt.token, hashIs(hash), tt.at)
			assert.ErrorIs(t, err, tt.want)
			assert.Empty(t, user)
		})
	}
}

func TestTokenUserWithBar(t *testing.T) {
	now := time.Now()
	tok := newToken(testKey, `"a|b"@example.com`, hashA, now.Add(time.Minute))
	user, err := verifyToken(testKey, tok, hashIs(hashA), now)
	require.NoError(t, err)
	assert.Equal(t, `"a|b"@example.com`, user)
}

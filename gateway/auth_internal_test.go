package gateway

import (
	"errors"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// The decoy an unknown user is checked against parses as the costliest
// scheme of the configuration, at its cost, and matches no password.
func TestDummyCredential(t *testing.T) {
	t.Parallel()
	h4, _ := bcrypt.GenerateFromPassword([]byte("a"), 4)
	h5, _ := bcrypt.GenerateFromPassword([]byte("b"), 5)
	d := dummyCredential(map[string]*credential{"a": {kind: credBcrypt, hash: h4}, "b": {kind: credBcrypt, hash: h5},
		"t": {kind: credToken, hash: make([]byte, 32)}})
	if cost, err := bcrypt.Cost(d.hash); d.kind != credBcrypt || err != nil || cost != 5 {
		t.Fatalf("bcrypt decoy: kind %v, cost %d, %v", d.kind, cost, err)
	}
	if err := bcrypt.CompareHashAndPassword(d.hash, []byte("")); !errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
		t.Fatalf("bcrypt decoy compare: %v, want a mismatch after the work", err)
	}

	a := "$argon2id$v=19$m=8,t=2,p=1$c2FsdHNhbHRzYWx0$MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"
	d = dummyCredential(map[string]*credential{"a": {kind: credArgon2id, hash: []byte(a)}})
	p, err := parseArgon2id(string(d.hash))
	if d.kind != credArgon2id || err != nil || p.memory != 8 || p.time != 2 || p.threads != 1 || len(p.hash) != 32 {
		t.Fatalf("argon2id decoy %q: %+v, %v", d.hash, p, err)
	}
	if checkArgon2id(string(d.hash), "") {
		t.Fatal("argon2id decoy matched")
	}

	if d = dummyCredential(nil); d.kind != credToken || len(d.hash) != 32 {
		t.Fatalf("token decoy: kind %v, %d bytes", d.kind, len(d.hash))
	}
}

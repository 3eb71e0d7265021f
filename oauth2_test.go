package mailer_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/mailertest"
)

// tokenIssuer is an OAuth 2.0 token endpoint (over loopback HTTP) and the
// mail server's view of the tokens it issued, on one fake clock.
type tokenIssuer struct {
	mu       sync.Mutex
	now      time.Time
	n        int
	expiry   map[string]time.Time // access token → expiry
	revoked  map[string]bool
	grantBad bool // the refresh token was revoked: answer invalid_grant
	lifetime time.Duration
	refreshs int
}

func newTokenIssuer(t *testing.T) (*tokenIssuer, *httptest.Server) {
	ti := &tokenIssuer{now: time.Now(), expiry: map[string]time.Time{}, revoked: map[string]bool{}, lifetime: time.Hour}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		ti.mu.Lock()
		defer ti.mu.Unlock()
		ti.refreshs++
		w.Header().Set("Content-Type", "application/json")
		if ti.grantBad || r.Form.Get("refresh_token") != "refresh-secret" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_grant","error_description":"Token has been expired or revoked."}`))
			return
		}
		ti.n++
		tok := fmt.Sprintf("access-%d", ti.n)
		ti.expiry[tok] = ti.now.Add(ti.lifetime)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"access_token": tok, "token_type": "Bearer", "expires_in": int(ti.lifetime / time.Second),
		})
	}))
	t.Cleanup(srv.Close)
	return ti, srv
}

// valid is the mail server's check of a token.
func (ti *tokenIssuer) valid(tok string) bool {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	exp, ok := ti.expiry[tok]
	return ok && !ti.revoked[tok] && ti.now.Before(exp)
}

func (ti *tokenIssuer) clock() time.Time {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	return ti.now
}

func (ti *tokenIssuer) advance(d time.Duration) {
	ti.mu.Lock()
	ti.now = ti.now.Add(d)
	ti.mu.Unlock()
}

// oauthSetup starts a mail server that checks tokens with ti and a Client
// that refreshes them with the token endpoint at tokenURL. The first access
// token ("access-0") expires in 10 minutes.
func oauthSetup(t *testing.T, ti *tokenIssuer, tokenURL string, opts ...mailer.Option) (*mailertest.Server, *mailer.Client) {
	srv := mailertest.NewServer(t, mailertest.WithTokenFunc("me@example.com", ti.valid))
	ti.mu.Lock()
	ti.expiry["access-0"] = ti.now.Add(10 * time.Minute)
	ti.mu.Unlock()
	conf := &oauth2.Config{ClientID: "id", ClientSecret: "client-secret", Endpoint: oauth2.Endpoint{TokenURL: tokenURL}}
	src := mailer.OAuth2Config(bg, conf, &oauth2.Token{
		AccessToken: "access-0", RefreshToken: "refresh-secret", Expiry: ti.clock().Add(10 * time.Minute),
	})
	mailer.SetOAuth2Clock(src, ti.clock)
	c := newClient(t, append([]mailer.Option{serverOnly(srv), mailer.WithAuth(mailer.XOAUTH2Auth("me@example.com", src))}, opts...)...)
	return srv, c
}

// authRefusals counts the server's 535 replies (AUTH refused).
func authRefusals(srv *mailertest.Server) int {
	n := 0
	for _, l := range srv.Transcript() {
		if !l.FromClient && strings.HasPrefix(l.Text, "535") {
			n++
		}
	}
	return n
}

// TestOAuth2RefreshBeforeExpiry: the access token expires between two
// sends; the second connection refreshes it first, and no AUTH fails.
func TestOAuth2RefreshBeforeExpiry(t *testing.T) {
	ti, tokenSrv := newTokenIssuer(t)
	srv, c := oauthSetup(t, ti, tokenSrv.URL)
	for i := range 3 {
		_, err := c.Send(bg, testMessage(t))
		require.NoError(t, err, "send %d", i)
		srv.CloseConnections() // the next send authenticates again
		ti.advance(9*time.Minute + 30*time.Second)
	}
	assert.Len(t, srv.Messages(), 3)
	assert.Zero(t, authRefusals(srv), "no AUTH was refused")
	assert.Equal(t, 1, ti.refreshs, "refreshed once, a minute before access-0 expired")
}

// TestOAuth2RefreshOnRefusal: the server refuses a token the client still
// thinks valid (revoked early); the client refreshes once and
// authenticates again on the same connection, and the send succeeds in its
// first attempt.
func TestOAuth2RefreshOnRefusal(t *testing.T) {
	ti, tokenSrv := newTokenIssuer(t)
	srv, c := oauthSetup(t, ti, tokenSrv.URL)
	ti.mu.Lock()
	ti.revoked["access-0"] = true
	ti.mu.Unlock()
	rcpt, err := c.Send(bg, testMessage(t))
	require.NoError(t, err)
	assert.Equal(t, 1, rcpt.Attempts)
	assert.Equal(t, 1, ti.refreshs)
	assert.Equal(t, 1, authRefusals(srv))
	assert.Len(t, srv.Messages(), 1)
}

// TestOAuth2RevokedGrant: the refresh token was revoked; the send fails for
// good at AUTH with a hint to sign in again, and no secret in the error.
func TestOAuth2RevokedGrant(t *testing.T) {
	ti, tokenSrv := newTokenIssuer(t)
	srv, c := oauthSetup(t, ti, tokenSrv.URL, fastRetry(3)) // a permanent failure is not retried
	ti.mu.Lock()
	ti.revoked["access-0"] = true
	ti.grantBad = true
	ti.mu.Unlock()
	_, err := c.Send(bg, testMessage(t))
	se := sendErr(t, err)
	assert.Equal(t, 1, se.Attempts)
	assert.Equal(t, mailer.StageAuth, se.Stage)
	assert.Equal(t, mailer.OutcomePermanent, mailer.Classify(err))
	require.ErrorIs(t, err, mailer.ErrOAuth2Grant)
	require.ErrorIs(t, err, mailer.ErrAuth)
	assert.Contains(t, se.Hint, "sign in again")
	assert.Contains(t, err.Error(), "invalid_grant")
	for _, secret := range []string{"access-0", "refresh-secret", "client-secret"} {
		assert.NotContains(t, err.Error(), secret)
		assert.NotContains(t, se.Hint, secret)
	}
	assert.Empty(t, srv.Messages())

	// The same when the access token is simply out of date.
	ti.mu.Lock()
	ti.revoked["access-0"] = false
	ti.mu.Unlock()
	ti.advance(time.Hour)
	_, err = c.Send(bg, testMessage(t))
	require.ErrorIs(t, err, mailer.ErrOAuth2Grant)
	assert.Contains(t, sendErr(t, err).Hint, "sign in again")
}

// TestOAuth2TokenSource: any oauth2.TokenSource. One that has a new token
// when asked again recovers from a refusal; one that keeps returning the
// refused token fails for good, with the hint.
func TestOAuth2TokenSource(t *testing.T) {
	var mu sync.Mutex
	valid := "second"
	srv := mailertest.NewServer(t, mailertest.WithTokenFunc("me@example.com", func(tok string) bool {
		mu.Lock()
		defer mu.Unlock()
		return tok == valid
	}))
	n := 0
	rotating := oauth2TokenFunc(func() (*oauth2.Token, error) {
		n++
		return &oauth2.Token{AccessToken: []string{"first", "second"}[min(n-1, 1)], Expiry: time.Now().Add(time.Hour)}, nil
	})
	c := newClient(t, serverOnly(srv), mailer.WithAuth(mailer.XOAUTH2Auth("me@example.com", mailer.OAuth2TokenSource(rotating))))
	_, err := c.Send(bg, testMessage(t))
	require.NoError(t, err)
	assert.Equal(t, 2, n)

	static := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "stale-token"})
	c = newClient(t, serverOnly(srv), mailer.WithAuth(mailer.XOAUTH2Auth("me@example.com", mailer.OAuth2TokenSource(static))))
	_, err = c.Send(bg, testMessage(t))
	require.ErrorIs(t, err, mailer.ErrOAuth2Grant)
	assert.Equal(t, mailer.OutcomePermanent, mailer.Classify(err))
	assert.Contains(t, sendErr(t, err).Hint, "sign in again")
	assert.NotContains(t, err.Error(), "stale-token")
}

type oauth2TokenFunc func() (*oauth2.Token, error)

func (f oauth2TokenFunc) Token() (*oauth2.Token, error) { return f() }

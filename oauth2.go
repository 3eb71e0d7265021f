package mailer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/wneessen/go-mail/smtp"
	"golang.org/x/oauth2"
)

// This file connects XOAUTH2 to golang.org/x/oauth2 (a small module of
// the Go project that needs only the standard library): access tokens are
// refreshed a minute before they expire, and once more when the server
// refuses one anyway (a token revoked early, or clocks that disagree).

// oauth2Early is how long before its expiry a token is refreshed: an SMTP
// session started with a token about to expire could fail at AUTH.
const oauth2Early = time.Minute

// A TokenRefresher is a TokenSource that can replace a token the server
// refused. When the server answers XOAUTH2 with 535 (after its 334 error
// challenge), the Client calls Refresh once and authenticates again on the
// same connection with the new token. [OAuth2Config] and
// [OAuth2TokenSource] return TokenRefreshers.
type TokenRefresher interface {
	TokenSource
	// Refresh returns a token other than rejected, which the server
	// refused. It fails if it cannot get one.
	Refresh(ctx context.Context, rejected string) (string, error)
}

// ErrOAuth2Grant means the OAuth 2.0 authorization no longer holds: the
// token endpoint refused to refresh (invalid_grant: the refresh token was
// revoked, expired, or the password changed), or the server refused a
// freshly refreshed token. Someone must sign in again. It wraps ErrAuth.
var ErrOAuth2Grant = fmt.Errorf("%w: OAuth 2.0 grant refused", ErrAuth)

// oauth2Hint is the Hint of a send that failed with ErrOAuth2Grant.
const oauth2Hint = "the OAuth 2.0 authorization was revoked or has expired (or lacks the mail scope): " +
	"the account owner must sign in again to issue a new refresh token; retrying will not help"

// OAuth2Config returns the TokenSource of the default XOAUTH2 path: access
// tokens got by refreshing tok with conf (a client of Google or Microsoft
// 365; see the provider package's GmailOAuth2Config and
// Microsoft365OAuth2Config). tok needs a RefreshToken; its AccessToken,
// if any, is used until a minute before its Expiry. A refresh token
// rotated by the server is kept. ctx supplies the HTTP client for the token
// endpoint, as with conf.TokenSource (the oauth2.HTTPClient context
// value); each refresh is bounded by the context of the Send that needs it.
func OAuth2Config(ctx context.Context, conf *oauth2.Config, tok *oauth2.Token) TokenSource {
	s := &oauth2Source{now: time.Now}
	if tok != nil {
		s.tok = tok
	}
	hc := ctx.Value(oauth2.HTTPClient)
	s.refresh = func(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error) {
		if conf == nil {
			return nil, errors.New("nil oauth2.Config")
		}
		if cur == nil || cur.RefreshToken == "" {
			return nil, fmt.Errorf("%w: the token has no refresh token", ErrOAuth2Grant)
		}
		if hc != nil {
			ctx = context.WithValue(ctx, oauth2.HTTPClient, hc)
		}
		// A token without an access token makes the source refresh now.
		next, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: cur.RefreshToken}).Token()
		if err != nil {
			return nil, err
		}
		if next.RefreshToken == "" {
			next.RefreshToken = cur.RefreshToken
		}
		return next, nil
	}
	return s
}

// OAuth2TokenSource returns a TokenSource that takes access tokens from
// src, any golang.org/x/oauth2 source (a service account's JWT source,
// google.DefaultTokenSource, conf.TokenSource). Such sources refresh on
// their own shortly before expiry; when the server refuses a token,
// src is asked once more. Prefer [OAuth2Config] when you hold the
// refresh token: it can refresh whenever it needs to.
func OAuth2TokenSource(src oauth2.TokenSource) TokenSource {
	return &oauth2Source{now: time.Now, refresh: func(context.Context, *oauth2.Token) (*oauth2.Token, error) {
		if src == nil {
			return nil, errors.New("nil oauth2.TokenSource")
		}
		return src.Token()
	}}
}

// oauth2Source holds the current token and refreshes it.
type oauth2Source struct {
	mu      sync.Mutex
	tok     *oauth2.Token
	refresh func(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error)
	now     func() time.Time
}

// Token returns the current access token, refreshed first if it expires
// within a minute.
func (s *oauth2Source) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fresh() {
		return s.tok.AccessToken, nil
	}
	if err := s.renew(ctx); err != nil {
		return "", err
	}
	return s.tok.AccessToken, nil
}

// Refresh replaces rejected by a new token, unless another connection did
// already.
func (s *oauth2Source) Refresh(ctx context.Context, rejected string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != nil && s.tok.AccessToken != rejected && s.fresh() {
		return s.tok.AccessToken, nil
	}
	if err := s.renew(ctx); err != nil {
		return "", err
	}
	if s.tok.AccessToken == rejected {
		return "", fmt.Errorf("%w: the server refused the token and the token source has no other", ErrOAuth2Grant)
	}
	return s.tok.AccessToken, nil
}

func (s *oauth2Source) fresh() bool {
	t := s.tok
	return t != nil && t.AccessToken != "" && (t.Expiry.IsZero() || s.now().Add(oauth2Early).Before(t.Expiry))
}

// renew asks for a new token. Errors carry the OAuth 2.0 error code and
// description but never the response body, which could echo a secret.
func (s *oauth2Source) renew(ctx context.Context) error {
	next, err := s.refresh(ctx, s.tok)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			msg := fmt.Sprintf("token endpoint answered %q", re.ErrorCode)
			if re.Response != nil && re.ErrorCode == "" {
				msg = "token endpoint answered " + re.Response.Status
			}
			if re.ErrorDescription != "" {
				msg += ": " + re.ErrorDescription
			}
			if re.ErrorCode == "invalid_grant" || re.ErrorCode == "unauthorized_client" || re.ErrorCode == "invalid_client" {
				return fmt.Errorf("%w: %s", ErrOAuth2Grant, msg)
			}
			return errors.New("OAuth 2.0 refresh failed: " + msg)
		}
		return fmt.Errorf("OAuth 2.0 refresh failed: %w", err)
	}
	if next == nil || next.AccessToken == "" {
		return errors.New("OAuth 2.0 token source returned no access token")
	}
	s.tok = next
	return nil
}

// errTokenRefreshed marks an XOAUTH2 refusal after which the token was
// refreshed: the pool dials once more (pool.dial).
var errTokenRefreshed = errors.New("OAuth 2.0 token refused by the server and refreshed")

type tokenRefreshedKey struct{}

// withTokenRefreshed marks the dial that follows a refresh: a refusal then
// is final.
func withTokenRefreshed(ctx context.Context) context.Context {
	return context.WithValue(ctx, tokenRefreshedKey{}, true)
}

// refreshRefused handles the server's refusal (535) of an XOAUTH2 token
// when the token source can refresh: it refreshes once and returns an
// error wrapping errTokenRefreshed, so that the pool dials again; after
// that second dial a refusal is final (ErrOAuth2Grant). Other errors are
// returned as they are.
func (cn *conn) refreshRefused(err error, rejected string) error {
	r, ok := cn.cfg.auth.creds.token.(TokenRefresher)
	if !ok || replyError(cn.ctx, StageAuth, err).Code != 535 {
		return err
	}
	if cn.ctx.Value(tokenRefreshedKey{}) != nil {
		return fmt.Errorf("%w: the server refused a freshly refreshed token: %w", ErrOAuth2Grant, err)
	}
	tctx, cancel := cn.tokenContext()
	defer cancel()
	if _, rerr := r.Refresh(tctx, rejected); rerr != nil {
		return fmt.Errorf("the server refused the token (%s), and refreshing it failed: %w", replyError(cn.ctx, StageAuth, err).Message, rerr)
	}
	return fmt.Errorf("%w: %w", errTokenRefreshed, err)
}

// authHint returns the hint for an authentication failure that no reply
// rule explains.
func authHint(err error) string {
	if errors.Is(err, ErrOAuth2Grant) {
		return oauth2Hint
	}
	return ""
}

// xoauth2 is go-mail's XOAUTH2 mechanism, remembering its token so that a
// refused one can be named to Refresh.
type xoauth2 struct {
	smtp.Auth
	token string
}

func xoauth2SASL(user, token string) smtp.Auth {
	return &xoauth2{Auth: smtp.XOAuth2Auth(user, token), token: token}
}

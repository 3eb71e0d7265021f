package mailer

import "time"

// SetOAuth2Clock gives a token source of OAuth2Config or OAuth2TokenSource
// a fake clock, for the tests of refreshing before expiry.
func SetOAuth2Clock(ts TokenSource, now func() time.Time) { ts.(*oauth2Source).now = now }

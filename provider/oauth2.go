package provider

import (
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/endpoints"
)

// OAuth 2.0 is the default way to send through Gmail and Microsoft 365:
// Microsoft is retiring basic authentication for SMTP submission, and
// Google lets a password in only as an app password. The path is
//
//	conf := provider.GmailOAuth2Config(clientID, clientSecret, redirectURL)
//	// Once: the account owner signs in (conf.AuthCodeURL, conf.Exchange)
//	// and you store the token, whose RefreshToken is what matters.
//	c, err := mailer.New(provider.GmailOAuth2(user, mailer.OAuth2Config(ctx, conf, tok)))
//
// mailer.OAuth2Config refreshes the access token a minute before it
// expires and once more when the server refuses it; a refresh token that was
// revoked fails the send for good (mailer.ErrOAuth2Grant) with a hint to
// sign in again.

// GmailScope is the OAuth 2.0 scope that XOAUTH2 needs for Gmail SMTP.
const GmailScope = "https://mail.google.com/"

// Microsoft365Scope is the delegated OAuth 2.0 scope for SMTP submission
// to Microsoft 365 (and Outlook.com).
const Microsoft365Scope = "https://outlook.office.com/SMTP.Send"

// GmailOAuth2Config returns the OAuth 2.0 client configuration for sending
// through Gmail as a signed-in user: Google's endpoints, the scope
// GmailScope, and the client of your Google Cloud project. Ask for offline
// access (oauth2.AccessTypeOffline) so that the sign-in yields a refresh
// token. Pass it to mailer.OAuth2Config, then to GmailOAuth2.
func GmailOAuth2Config(clientID, clientSecret, redirectURL string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: clientID, ClientSecret: clientSecret, RedirectURL: redirectURL,
		Endpoint: endpoints.Google, Scopes: []string{GmailScope},
	}
}

// Microsoft365OAuth2Config returns the OAuth 2.0 client configuration for
// sending through Microsoft 365 as a signed-in user: the Microsoft identity
// platform of tenant ("" means "common"), the scopes Microsoft365Scope and
// offline_access (for a refresh token), and your app registration. Pass it
// to mailer.OAuth2Config, then to Microsoft365OAuth2 or OutlookOAuth2.
// Microsoft rotates refresh tokens; mailer.OAuth2Config keeps the newest
// for the life of the process.
func Microsoft365OAuth2Config(tenant, clientID, clientSecret, redirectURL string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: clientID, ClientSecret: clientSecret, RedirectURL: redirectURL,
		Endpoint: endpoints.AzureAD(tenant), Scopes: []string{Microsoft365Scope, "offline_access"},
	}
}

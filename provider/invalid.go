package provider

import "github.com/postkit/mailer"

// invalid returns an Option that makes mailer.New fail with a
// *mailer.ConfigError naming option.
func invalid(option string, err error) mailer.Option {
	return mailer.InvalidOption(option, err)
}

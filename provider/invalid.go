package provider

import "github.com/postkit/mailer"

// invalid returns an Option that makes mailer.New fail with a
// *mailer.ConfigError naming option.
//
// Package mailer has no public constructor for a failing Option, and an
// Option is a func whose parameter type (*config) is unexported, so a
// function literal of that type cannot be written here. failing lets the
// compiler infer the parameter type from mailer.Option instead. The option
// never touches the configuration.
func invalid(option string, err error) mailer.Option {
	return failing[mailer.Option](&mailer.ConfigError{Option: option, Err: err})
}

// failing returns a function of type F that ignores its argument and
// returns err.
func failing[F ~func(*C) error, C any](err error) F {
	return F(func(*C) error { return err })
}

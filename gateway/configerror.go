package gateway

import (
	"fmt"
	"strings"
)

// FieldError is one problem in a configuration, at a YAML path such as
// "tenants.billing.senders[1]".
type FieldError struct {
	Path   string
	Reason string
}

// Error returns "path: reason".
func (e FieldError) Error() string { return e.Path + ": " + e.Reason }

// ConfigError lists every problem Compile found; a configuration with any
// of them does not load (fail closed).
type ConfigError struct {
	Errors []FieldError
}

// Error lists every problem, one a line.
func (e *ConfigError) Error() string {
	lines := make([]string, len(e.Errors))
	for i, f := range e.Errors {
		lines[i] = f.Error()
	}
	return fmt.Sprintf("invalid configuration (%d errors):\n  %s", len(e.Errors), strings.Join(lines, "\n  "))
}

type errList struct{ errs []FieldError }

func (l *errList) add(path, format string, args ...any) {
	l.errs = append(l.errs, FieldError{Path: path, Reason: fmt.Sprintf(format, args...)})
}

func (l *errList) err() error {
	if len(l.errs) == 0 {
		return nil
	}
	return &ConfigError{Errors: l.errs}
}

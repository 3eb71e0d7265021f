package mailer

import (
	"fmt"
	"strconv"
)

// Priority is the importance a message asks mail clients to show. The zero
// value, PriorityNormal, writes no priority header.
type Priority int8

// Priorities. High is for what the recipient must act on now (a login
// code); most transactional mail should stay Normal, and Low suits digests.
const (
	PriorityNormal Priority = iota
	PriorityHigh
	PriorityLow
)

// String returns "normal", "high" or "low".
func (p Priority) String() string {
	switch p {
	case PriorityNormal:
		return "normal"
	case PriorityHigh:
		return "high"
	case PriorityLow:
		return "low"
	}
	return "priority(" + strconv.Itoa(int(p)) + ")"
}

// Priority sets the priority. High and Low are written as "X-Priority"
// (1 or 5, read by Outlook, Thunderbird and Apple Mail) and "Importance"
// (RFC 2156: high or low); Normal writes neither.
func (b *MessageBuilder) Priority(p Priority) *MessageBuilder {
	if p < PriorityNormal || p > PriorityLow {
		b.errs = append(b.errs, &FieldError{Field: "Priority", Value: p.String(),
			Err: fmt.Errorf("%w: unknown priority", ErrInvalidHeader)})
		return b
	}
	b.m.priority = p
	return b
}

// priorityHeaders returns the X-Priority and Importance values for p.
func priorityHeaders(p Priority) (xPriority, importance string) {
	switch p {
	case PriorityHigh:
		return "1 (Highest)", "high"
	case PriorityLow:
		return "5 (Lowest)", "low"
	}
	return "", ""
}

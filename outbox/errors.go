package outbox

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors, matched with [errors.Is].
var (
	// ErrAlreadyEnqueued means a record with the same Message-ID exists:
	// the Message-ID is the idempotency key, for as long as the record is
	// kept (Options.Retention). Enqueue returns the ID with it, so a caller
	// that retries its own request may treat it as success.
	ErrAlreadyEnqueued = errors.New("outbox: message already enqueued")
	// ErrNotFound means no record has that Message-ID.
	ErrNotFound = errors.New("outbox: no such message")
	// ErrBodyTooLarge is matched by every [*BodyTooLargeError].
	ErrBodyTooLarge = errors.New("outbox: message too large")
	// ErrMigrationsPending is matched by every [*MigrationError].
	ErrMigrationsPending = errors.New("outbox: database migrations not applied")
	// ErrWrongStatus is matched by every [*StatusError].
	ErrWrongStatus = errors.New("outbox: operation not allowed in this status")
	// ErrNoMessageID means raw message bytes have no Message-ID header,
	// which the outbox needs as its key.
	ErrNoMessageID = errors.New("outbox: message has no Message-ID header")
	// ErrInvalidKey means the record's key (the Message-ID, or the Key
	// option) is not valid UTF-8.
	ErrInvalidKey = errors.New("outbox: the key (Message-ID or Key) is not valid UTF-8")
	// ErrNoRecipients means the envelope names no recipient.
	ErrNoRecipients = errors.New("outbox: envelope has no recipients")
	// ErrStopped is returned by Start after Stop, and by Stop before Start.
	ErrStopped = errors.New("outbox: not running")
)

// BodyTooLargeError reports a message larger than Options.MaxBodyBytes. It
// matches ErrBodyTooLarge.
type BodyTooLargeError struct {
	MessageID string
	Size      int64 // bytes of the rendered message
	Limit     int64 // Options.MaxBodyBytes
}

func (e *BodyTooLargeError) Error() string {
	return fmt.Sprintf("outbox: message %q is %d bytes, over the limit of %d (Options.MaxBodyBytes)", e.MessageID, e.Size, e.Limit)
}

// Is reports whether target is ErrBodyTooLarge.
func (e *BodyTooLargeError) Is(target error) bool { return target == ErrBodyTooLarge }

// MigrationError reports migrations that were not applied; Start fails
// with it until Migrate has run. It matches ErrMigrationsPending.
type MigrationError struct {
	// Pending names what is missing, such as "river: 1, 2, 3" or
	// "mail_outbox: 1".
	Pending []string
}

func (e *MigrationError) Error() string {
	return "outbox: database migrations not applied (run Migrate, or `mailq migrate`): " + strings.Join(e.Pending, "; ")
}

// Is reports whether target is ErrMigrationsPending.
func (e *MigrationError) Is(target error) bool { return target == ErrMigrationsPending }

// StatusError reports an operation that the record's status does not
// allow, such as cancelling a message already SENT. It matches
// ErrWrongStatus.
type StatusError struct {
	MessageID string
	Op        string // "cancel", "retry"
	Status    Status // the record's status
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("outbox: cannot %s message %q: it is %s", e.Op, e.MessageID, e.Status)
}

// Is reports whether target is ErrWrongStatus.
func (e *StatusError) Is(target error) bool { return target == ErrWrongStatus }

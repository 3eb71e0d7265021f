package outbox

import (
	"time"

	"github.com/postkit/mailer"
)

// Status is where a message stands in the outbox. It is stored as text;
// new values may be added.
type Status string

// Statuses. PENDING and SENDING are on the way; the others are final until
// [Outbox.Retry] sends the message again.
const (
	// StatusPending: enqueued and waiting for its first attempt, a retry
	// after a temporary failure, or the end of a throttling pause
	// (Record.NextAttemptAt says when).
	StatusPending Status = "PENDING"
	// StatusSending: an attempt is in progress.
	StatusSending Status = "SENDING"
	// StatusSent: the server accepted the message; Record.Response holds
	// its reply, often with the provider's queue ID.
	StatusSent Status = "SENT"
	// StatusFailed: a permanent reply (5xx, rejected credentials, TLS
	// policy), or the attempts ran out.
	StatusFailed Status = "FAILED"
	// StatusUnknown: the message may have been delivered: the connection
	// was lost after the final dot, or the process died while sending. It
	// is not sent again unless Options.RetryUnknown is set.
	StatusUnknown Status = "UNKNOWN"
	// StatusCancelled: cancelled by [Outbox.Cancel] before it was sent.
	StatusCancelled Status = "CANCELLED"
)

// Statuses lists every status, in life-cycle order.
var Statuses = []Status{StatusPending, StatusSending, StatusSent, StatusFailed, StatusUnknown, StatusCancelled}

// Final reports whether s is a final status: SENT, FAILED, UNKNOWN or
// CANCELLED.
func (s Status) Final() bool {
	return s == StatusSent || s == StatusFailed || s == StatusUnknown || s == StatusCancelled
}

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	for _, k := range Statuses {
		if s == k {
			return true
		}
	}
	return false
}

// Record is the status record of one message. It never holds the message
// body; LastError never holds credentials.
type Record struct {
	// MessageID is the Message-ID, without angle brackets: the key.
	MessageID string `json:"message_id"`
	// Status is where the message stands.
	Status Status `json:"status"`
	// Attempts counts the SMTP attempts made. Throttling pauses do not
	// count.
	Attempts int `json:"attempts"`
	// NextAttemptAt is when the next attempt is due; zero unless PENDING.
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
	// LastCode and LastEnhancedCode are the server's reply code of the
	// last failed attempt, or of the 250 when SENT; 0 and "" when there
	// was no reply.
	LastCode         int    `json:"last_code,omitempty"`
	LastEnhancedCode string `json:"last_enhanced_code,omitempty"`
	// LastError is the sanitised error of the last failed attempt.
	LastError string `json:"last_error,omitempty"`
	// Response is the server's reply to the final dot (StatusSent).
	Response string `json:"response,omitempty"`
	// Envelope is the SMTP envelope the message is sent with.
	Envelope mailer.Envelope `json:"envelope"`
	// Size is the length of the stored message in bytes.
	Size int64 `json:"size"`
	// JobID is the River job that carries the current attempt, 0 if none.
	JobID int64 `json:"job_id,omitempty"`
	// Route is the routing tag given with the Route EnqueueOption, "" if
	// none.
	Route string `json:"route,omitempty"`
	// CreatedAt and UpdatedAt are when the record was stored and last
	// changed.
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

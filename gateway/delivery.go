package gateway

import (
	"context"

	"github.com/emersion/go-smtp"
)

// Delivery takes an accepted message on from the end of DATA: the sync
// relay, the capture relay, and the durable queue of queue mode.
type Delivery interface {
	// Deliver delivers tx and says what to answer the client. It must
	// honour ctx and must not keep tx.Message after it returns.
	Deliver(ctx context.Context, tx *Transaction) Result
}

// Transaction is one message accepted from a client.
type Transaction struct {
	ID        string   // reference quoted in replies and the audit
	Tenant    string   // tenant name
	From      string   // envelope sender; "" is the null sender
	To        []string // envelope recipients (Bcc included)
	SMTPUTF8  bool     // the client asked for it and an address or the header needs it
	Message   []byte   // the client's bytes with the gateway's Received: line on top (and a Message-ID under it if the client gave none)
	MessageID string   // the Message-ID header field, as the client wrote it or as the gateway added it
	Upstreams []string // the tenant's route, without upstreams that may not send as From
}

// Result is what a Delivery did.
type Result struct {
	// Reply is the client's answer, from the reply table; a 2xx code means
	// accepted.
	Reply *smtp.SMTPError
	// Outcome is delivered, failed, unknown or rejected:<reason>.
	Outcome string
	// Upstream is the upstream that took the message, if any.
	Upstream string
	// Attempts lists each upstream attempt.
	Attempts []Attempt
	// FailedRecipients are recipients the upstream refused while
	// accepting the others.
	FailedRecipients []string
}

// Attempt is one upstream attempt, as the audit shows it.
type Attempt struct {
	Upstream string `json:"upstream"`
	Code     int    `json:"code,omitempty"`
	Enhanced string `json:"enhanced,omitempty"`
	Reply    string `json:"reply,omitempty"`
	Stage    string `json:"stage,omitempty"`
	Outcome  string `json:"outcome"`
	MS       int64  `json:"ms"`
}

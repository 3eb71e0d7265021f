package outbox

import (
	"context"

	"github.com/postkit/mailer"
)

// Key stores the message under k instead of its Message-ID header: k is
// then the record's key (Record.MessageID, Status, Cancel, Retry) and the
// idempotency key. A gateway that relays other programs' messages uses its
// own transaction IDs this way, so that two clients that reuse a
// Message-ID, or one message split into several records, do not collide.
// With Key, EnqueueRaw does not need a Message-ID header.
func Key(k string) EnqueueOption { return func(e *enqueueOptions) { e.key = k } }

// Route stores a routing tag with the message: an opaque string (at most
// MaxRouteLen bytes) that the Sender reads back with RouteFromContext
// while the message is being sent, to choose which accounts send it. One
// outbox can so serve several tenants or upstream chains with one Sender.
// The tag is kept in Record.Route; it should hold no secret.
func Route(r string) EnqueueOption { return func(e *enqueueOptions) { e.route = r } }

// MaxRouteLen bounds a routing tag.
const MaxRouteLen = 4096

type routeKey struct{}

// RouteFromContext returns the routing tag of the message being sent
// (see Route), or "". The outbox sets it on the context it gives the
// Sender's SendRaw and the hooks.
func RouteFromContext(ctx context.Context) string {
	r, _ := ctx.Value(routeKey{}).(string)
	return r
}

func optionsOf(opts []EnqueueOption) enqueueOptions {
	var eo enqueueOptions
	for _, f := range opts {
		if f != nil {
			f(&eo)
		}
	}
	return eo
}

// RawMessage is one message of EnqueueRawMany: what EnqueueRaw takes, with
// its Key and Route options as fields.
type RawMessage struct {
	Envelope mailer.Envelope
	Message  []byte
	// Key is the record's key; "" means the Message-ID header.
	Key string
	// Route is the routing tag (see Route).
	Route string
}

// EnqueueRawMany stores msgs in one transaction (shared, once the outbox
// is started, with other writes by the group commit) and returns their
// keys. It is all or nothing, like EnqueueMany. A gateway that accepts
// messages from many connections at once batches them this way: one
// INSERT and one job insert for the batch instead of one each.
func (o *Outbox[TTx]) EnqueueRawMany(ctx context.Context, msgs []RawMessage) ([]string, error) {
	ps := make([]pendingMail, 0, len(msgs))
	ids := make([]string, 0, len(msgs))
	for _, m := range msgs {
		var opts []EnqueueOption
		if m.Key != "" {
			opts = append(opts, Key(m.Key))
		}
		p, err := o.fromRaw(m.Envelope, m.Message, opts)
		if err != nil {
			return nil, err
		}
		p.route = m.Route
		ps = append(ps, p)
		ids = append(ids, p.id)
	}
	return ids, o.insertOwn(ctx, ps, nil)
}

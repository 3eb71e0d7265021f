package outbox

import "context"

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

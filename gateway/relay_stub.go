//go:build !sendraw

package gateway

import "context"

// relay is a placeholder until Client.SendRaw lands.
type relay struct {
	g    *Gateway
	mode string
}

func (r *relay) Deliver(ctx context.Context, tx *Transaction) Result {
	return Result{Reply: errUpstreamTemp(tx.ID), Outcome: "failed"}
}

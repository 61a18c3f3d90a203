package app

import (
	"context"
	"time"

	"github.com/posgate/posgate/admin"
	"github.com/posgate/posgate/adminapi"
	"github.com/posgate/posgate/routing"
)

// forwarderReversals adapts the reversal forwarder to admin.Reversals: admin does not import
// routing (internal/deptest).
type forwarderReversals struct{ f *routing.Forwarder }

// reversalsAPI is what the admin server reads reversals through; nil without a forwarder.
func (n *Node) reversalsAPI() admin.Reversals {
	if n.Forwarder == nil {
		return nil
	}
	return forwarderReversals{n.Forwarder}
}

// Reversals implements admin.Reversals.
func (r forwarderReversals) Reversals(ctx context.Context, q admin.ReversalQuery) (adminapi.ReversalList, error) {
	rq := routing.DeliveredQuery{TID: q.TID, RRN: q.RRN, IDPrefix: q.TxnPrefix, Since: q.Since, Until: q.Until, Limit: q.Limit}
	delivered, err := r.f.Delivered(ctx, rq)
	if err != nil {
		return adminapi.ReversalList{}, err
	}
	pending, err := r.f.Pending(ctx, rq)
	if err != nil {
		return adminapi.ReversalList{}, err
	}
	out := adminapi.ReversalList{
		Delivered: make([]adminapi.DeliveredReversal, 0, len(delivered)),
		Pending:   make([]adminapi.PendingReversal, 0, len(pending)),
	}
	for _, d := range delivered {
		out.Delivered = append(out.Delivered, adminapi.DeliveredReversal{Reversal: reversalView(&d.Reversal, d.QueuedAt),
			MTI: d.MTI, ResponseCode: d.ResponseCode, Attempts: d.Attempts, DeliveredAt: d.DeliveredAt})
	}
	for _, p := range pending {
		out.Pending = append(out.Pending, adminapi.PendingReversal{Reversal: reversalView(&p.Reversal, p.QueuedAt),
			OverBudget: p.OverBudget})
	}
	return out, nil
}

func reversalView(r *routing.Reversal, queued time.Time) adminapi.Reversal {
	return adminapi.Reversal{ID: r.ID, Route: r.Route, TID: r.TID, MID: r.MID, RRN: r.RRN, AuthCode: r.AuthCode,
		ProcessingCode: r.ProcessingCode, AmountFen: r.Amount, Currency: r.Currency, Reason: r.Reason, STAN: r.STAN,
		Original:  adminapi.ReversalOriginal{MTI: r.Original.MTI, STAN: r.Original.STAN, Transmission: r.Original.Transmission},
		CreatedAt: r.CreatedAt, QueuedAt: queued}
}

package payments

import (
	"context"

	"github.com/seed75218f88/credits/internal/invoicing"
	"github.com/seed75218f88/credits/internal/platform/db"
)

// Invoicing is the payments side of invoicing: it satisfies
// invoicing.TopUpSource over the paid payment orders, so the invoices an
// account can request follow its top-ups and refunds.
type Invoicing struct{ s *Service }

// Invoicing returns the adapter invoicing is built with.
func (s *Service) Invoicing() *Invoicing { return &Invoicing{s: s} }

var _ invoicing.TopUpSource = (*Invoicing)(nil)

// PaidTopUps lists the account's paid top-ups (see Service.PaidTopUps) as
// invoicing sees them, read on q (invoicing's transaction).
func (a *Invoicing) PaidTopUps(ctx context.Context, q db.DBTX, accountID int64) ([]invoicing.TopUp, error) {
	paid, err := paidTopUps(ctx, q, accountID)
	if err != nil {
		return nil, err
	}
	out := make([]invoicing.TopUp, len(paid))
	for i, p := range paid {
		out[i] = invoicing.TopUp{OrderID: p.OrderID, OrderNo: p.OrderNo, AmountFen: p.AmountFen, RefundedFen: p.RefundedFen, PaidAt: p.PaidAt}
	}
	return out, nil
}

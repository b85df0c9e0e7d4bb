package creditline

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// Mismatch is one line whose bills and credit lot disagree.
type Mismatch struct {
	AccountID int64
	Rule      string
	Stored    decimal.Decimal
	Derived   decimal.Decimal
}

func (m Mismatch) String() string {
	return fmt.Sprintf("credit line of account %d: %s: %s, derived %s", m.AccountID, m.Rule, m.Stored, m.Derived)
}

// The rules Verify checks, with the ledger's own (ledger.Verify) these
// make what is used of a line = unpaid bills + unbilled consumption +
// holds:
//   - line: the credit lot's amount is the line's credits;
//   - billed: the credit lot's consumption before billed_through is the
//     sum of the line's bills;
//   - restored: the credit lot's credit_restore events add up to the
//     line's paid bills, each restored once.
//
// Both sums add what the lot's archived months left in their checkpoint
// (ledger_archived_lots): an archived month lies wholly before the line's
// billed_through (ledger.Archive refuses it before), so all its
// consumption counts as billed. A restored month's checkpoint no longer
// counts; its events are back in ledger_event_view.
const sqlVerify = `
SELECT l.account_id, v.rule, v.stored, v.derived
FROM credit_lines l
JOIN ledger_lot_view lot ON lot.pool_id = l.account_id AND lot.id = l.lot_id
LEFT JOIN ledger_archived_lots x ON x.pool_id = l.account_id AND x.lot_id = l.lot_id
CROSS JOIN LATERAL (SELECT
    coalesce(sum(-e.amount) FILTER (WHERE e.type IN ('deduction', 'reservation_expired_charge') AND e.at < l.billed_through), 0)
      + coalesce(x.consumed, 0) AS consumed,
    coalesce(sum(e.amount) FILTER (WHERE e.type = 'credit_restore'), 0) + coalesce(x.credit_restore, 0) AS restored
  FROM ledger_event_view e WHERE e.pool_id = l.account_id AND e.lot_id = l.lot_id) e
CROSS JOIN LATERAL (SELECT coalesce(sum(credits), 0) AS billed,
                           coalesce(sum(credits) FILTER (WHERE status = 'paid'), 0) AS paid
  FROM credit_bills b WHERE b.account_id = l.account_id) b
CROSS JOIN LATERAL (VALUES ('line', l.credits, lot.amount), ('billed', b.billed, e.consumed),
                           ('restored', b.paid, e.restored)) v(rule, stored, derived)
WHERE v.stored <> v.derived
ORDER BY l.account_id, v.rule`

// Verify checks every line's rules in one read-only snapshot and returns
// the mismatches: none on a healthy ledger. Errors: database errors.
func (s *Service) Verify(ctx context.Context) ([]Mismatch, error) {
	var out []Mismatch
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, sqlVerify)
		var err error
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Mismatch, error) {
			var m Mismatch
			err := r.Scan(&m.AccountID, &m.Rule, &m.Stored, &m.Derived)
			return m, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("creditline: verify: %w", err)
	}
	return out, nil
}

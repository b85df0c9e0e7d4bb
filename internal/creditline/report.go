package creditline

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
)

// Postpaid consumption as money (the finance reports' one rule for it):
// the credits a line's consumption takes are worth the credit price, and a
// bill is worth its amount. Within each bill's period, and within the
// period not billed yet, the first c credits consumed are worth
// RMBForCredits(c, price) (cumulative rounding, as ledger.LotValue does
// for paid lots: no drift however many events), and the event that brings
// a bill's period to the bill's credits takes what is left of the bill's
// amount. So a bill's period is worth exactly the bill, and, the price
// unchanged, an event's worth does not change when its period is billed.

// Use is postpaid consumption worth Fen: one event of a credit lot (a
// deduction or a reservation charged at expiry), or, before the start of
// what was asked for, a whole bill (At is then its period's start).
type Use struct {
	PoolID  int64
	At      time.Time // ledger time
	Credits decimal.Decimal
	Fen     int64
	BillID  int64 // the bill whose period holds it; 0 not billed yet
}

// sqlReportBills lists the bills of live accounts issued before $1 (of
// pool $2, or every pool when 0).
const sqlReportBills = `
SELECT ` + billColumnsB + `
FROM credit_bills b JOIN ledger_account_view p ON p.id = b.account_id AND p.mode = 'live'
WHERE b.issued_at < $1 AND ($2::bigint = 0 OR b.account_id = $2)
ORDER BY b.account_id, b.period_start`

const billColumnsB = `b.id, b.account_id, b.period_start, b.period_end, b.credits, b.amount_fen, b.issued_at, b.due_at,
	b.grace_until, b.status, b.reference_code, b.paid_at, b.paid_via, b.paid_ref, b.paid_by, b.restore_op`

// sqlReportUses reads the credit lots' consumption of live accounts in
// [cut, $3), the pool's cut given by $1/$2 (its last bill's end at or
// before the report's start; -infinity when none), in ledger order. The
// archived months' events are not there: a bill whose period began before
// the archive's end ($9) comes in ($5–$8) as one row at its period's start
// holding what of it is archived (its credits less its period's live
// consumption), so the bill's cumulation starts where its archived events
// left it. Every archived month is billed (ledger.Archive refuses one that
// is not), so no unbilled consumption is archived.
const sqlReportUses = `
SELECT pool_id, at, credits FROM (
SELECT e.pool_id, e.at, e.id, -e.amount AS credits
FROM ledger_event_view e
JOIN ledger_lot_view l ON l.pool_id = e.pool_id AND l.id = e.lot_id AND l.kind = 'credit'
JOIN ledger_account_view p ON p.id = e.pool_id AND p.mode = 'live'
LEFT JOIN unnest($1::bigint[], $2::timestamptz[]) c(pool_id, cut) ON c.pool_id = e.pool_id
WHERE e.type IN ('deduction', 'reservation_expired_charge') AND e.at >= coalesce(c.cut, '-infinity') AND e.at < $3
  AND ($4::bigint = 0 OR e.pool_id = $4)
UNION ALL
SELECT b.pool_id, b.period_start, 0, b.credits::numeric - coalesce((
    SELECT sum(-e.amount) FROM ledger_event_view e
    JOIN ledger_lot_view l ON l.pool_id = e.pool_id AND l.id = e.lot_id AND l.kind = 'credit'
    WHERE e.pool_id = b.pool_id AND e.type IN ('deduction', 'reservation_expired_charge')
      AND e.at >= $9 AND e.at < b.period_end), 0)
FROM unnest($5::bigint[], $6::timestamptz[], $7::timestamptz[], $8::text[]) b(pool_id, period_start, period_end, credits)
) u
ORDER BY pool_id, at, id`

// ReportBills lists the bills of live accounts issued before to (of
// poolID, or every pool when 0), by account and period: what the finance
// reports count as billed and, by PaidAt, as paid. Errors: database
// errors.
func (s *Service) ReportBills(ctx context.Context, to time.Time, poolID int64) ([]Bill, error) {
	rows, _ := s.pool.Query(ctx, sqlReportBills, to, poolID)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Bill])
	if err != nil {
		return nil, fmt.Errorf("creditline: report bills: %w", err)
	}
	return out, nil
}

// Uses visits the postpaid consumption of live accounts before to (of
// poolID, or every pool when 0), valued by the rule above, by pool in
// ledger order. Bills whose period ended at or before from are visited
// whole, each as one Use at its period's start, so a report's opening
// costs one row per bill and its range only the events since the last
// bill before it; what of a bill's period lies in archived months is one
// Use at its period's start (see sqlReportUses). Errors: database errors.
func (s *Service) Uses(ctx context.Context, from, to time.Time, poolID int64, visit func(Use)) error {
	// every bill of a period that started before to: an event's period
	// may have been billed after to
	bills, err := s.ReportBills(ctx, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), poolID)
	if err != nil {
		return err
	}
	byPool := map[int64][]Bill{}
	var pools []int64
	var cuts []time.Time
	for _, b := range bills {
		if !b.PeriodEnd.After(from) {
			visit(Use{PoolID: b.AccountID, At: b.PeriodStart, Credits: b.Credits, Fen: b.AmountFen, BillID: b.ID})
			if n := len(pools); n > 0 && pools[n-1] == b.AccountID {
				cuts[n-1] = b.PeriodEnd
			} else {
				pools, cuts = append(pools, b.AccountID), append(cuts, b.PeriodEnd)
			}
			continue
		}
		byPool[b.AccountID] = append(byPool[b.AccountID], b)
	}
	until, err := ledger.ArchivedUntil(ctx, s.pool)
	if err != nil {
		return fmt.Errorf("creditline: uses: %w", err)
	}
	var archPools []int64
	var archStarts, archEnds []time.Time
	var archCredits []string // numeric as text
	for _, b := range bills {
		if b.PeriodEnd.After(from) && b.PeriodStart.Before(until) && b.PeriodStart.Before(to) {
			archPools, archStarts, archEnds = append(archPools, b.AccountID), append(archStarts, b.PeriodStart), append(archEnds, b.PeriodEnd)
			archCredits = append(archCredits, b.Credits.String())
		}
	}
	rows, err := s.pool.Query(ctx, sqlReportUses, pools, cuts, to, poolID, archPools, archStarts, archEnds, archCredits, until)
	if err != nil {
		return fmt.Errorf("creditline: uses: %w", err)
	}
	var (
		cur      int64 = -1
		segment  int64 = -1 // the bill of the current cumulation; 0 the unbilled period
		cum      decimal.Decimal
		fenSoFar int64
		u        Use
	)
	_, err = pgx.ForEachRow(rows, []any{&u.PoolID, &u.At, &u.Credits}, func() error {
		bill := billHolding(byPool[u.PoolID], u.At)
		if u.PoolID != cur || bill.ID != segment {
			cur, segment, cum, fenSoFar = u.PoolID, bill.ID, decimal.Zero, 0
		}
		cum = cum.Add(u.Credits)
		fen := ledger.RMBForCredits(cum, s.opt.CreditPriceRMB).Shift(2).IntPart()
		if bill.ID != 0 && cum.GreaterThanOrEqual(bill.Credits) {
			fen = bill.AmountFen
		}
		u.Fen, u.BillID = fen-fenSoFar, bill.ID
		fenSoFar = fen
		visit(u)
		return nil
	})
	if err != nil {
		return fmt.Errorf("creditline: uses: %w", err)
	}
	return nil
}

// billHolding is the bill whose period holds at (zero when none).
func billHolding(bills []Bill, at time.Time) Bill {
	for _, b := range bills {
		if !at.Before(b.PeriodStart) && at.Before(b.PeriodEnd) {
			return b
		}
	}
	return Bill{}
}

// PaidBills lists the account's paid bills, oldest first, read through q
// (the caller's transaction, or nil for the pool): what invoicing counts as
// paid money and lets the account invoice. Errors: database errors.
func (s *Service) PaidBills(ctx context.Context, q db.DBTX, accountID int64) ([]Bill, error) {
	if q == nil {
		q = s.pool
	}
	rows, _ := q.Query(ctx, `SELECT `+billColumns+` FROM credit_bills WHERE account_id = $1 AND status = 'paid' ORDER BY paid_at, id`, accountID)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Bill])
	if err != nil {
		return nil, fmt.Errorf("creditline: paid bills: %w", err)
	}
	return out, nil
}

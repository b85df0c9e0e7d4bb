package ledger

import (
	"context"
	"fmt"
	"math/big"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/platform/db"
)

// FenShare is what part of a lot of whole credits bought for paidFen is
// worth: paidFen × part ÷ whole, rounded half to even to the fen, computed
// exactly (no division precision is lost). FenShare(f, whole, whole) = f.
func FenShare(paidFen int64, part, whole decimal.Decimal) int64 {
	if !whole.IsPositive() {
		return 0
	}
	num := new(big.Int).Mul(big.NewInt(paidFen), micro(part))
	return roundDiv(num, micro(whole)).Int64()
}

// CreditsForFen is the credits paidFen's share fen buy of a lot of whole
// credits: whole × fen ÷ paidFen, rounded half to even to Scale places,
// computed exactly. It is the inverse of FenShare (up to rounding).
func CreditsForFen(fen, paidFen int64, whole decimal.Decimal) decimal.Decimal {
	if paidFen <= 0 {
		return decimal.Zero
	}
	num := new(big.Int).Mul(micro(whole), big.NewInt(fen))
	return decimal.NewFromBigInt(roundDiv(num, big.NewInt(paidFen)), -Scale)
}

// micro is a credit amount in millionths (the ledger's scale), exactly.
func micro(d decimal.Decimal) *big.Int { return Round(d).Shift(Scale).BigInt() }

// roundDiv is num ÷ den rounded half to even (den > 0).
func roundDiv(num, den *big.Int) *big.Int {
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	r2 := new(big.Int).Abs(r)
	r2.Lsh(r2, 1)
	if c := r2.Cmp(den); c > 0 || (c == 0 && q.Bit(0) == 1) {
		if num.Sign() < 0 {
			return q.Sub(q, big.NewInt(1))
		}
		return q.Add(q, big.NewInt(1))
	}
	return q
}

// LotValue allocates a paid lot's price to the credits leaving it, in
// ledger order; the revenue report and refunds use the same rule:
//
//   - Consumption and expiry share one axis: the first c credits used
//     (spent or expired) are worth FenShare(PaidFen, c, Amount), so an
//     outflow moving the axis from c to c' is worth the difference
//     (cumulative rounding: each outflow within a fen of its exact share,
//     and no drift however many there are).
//   - A refund takes the fen it states (what was paid back plus any bonus
//     deduction; RefundRequest.Fen), recorded on its event.
//   - The outflow that empties the lot (used + refunded = Amount, nothing
//     held) takes whatever fen are left, so a lot that is used up, expired
//     or refunded to the last credit allocates exactly PaidFen.
//
// The zero value is not useful: start from NewLotValue or fill PaidFen and
// Amount.
type LotValue struct {
	PaidFen     int64
	Amount      decimal.Decimal
	Used        decimal.Decimal // credits spent or expired so far
	UsedFen     int64           // what they were worth
	Refunded    decimal.Decimal // credits refunded so far
	RefundedFen int64           // what refunds took
}

// NewLotValue is the position of a paid lot now, given paidFen (its price,
// or what is assumed for a lot without one) and what open reservations
// hold from it: held credit is neither used nor refundable yet.
func NewLotValue(lot Lot, paidFen int64, held decimal.Decimal) LotValue {
	v := LotValue{PaidFen: paidFen, Amount: lot.Amount, Refunded: lot.Refunded, RefundedFen: lot.RefundedFen}
	v.Used = lot.Amount.Sub(lot.Remaining).Sub(held).Sub(lot.Refunded)
	if v.Used.Add(v.Refunded).Equal(v.Amount) {
		v.UsedFen = paidFen - v.RefundedFen
	} else {
		v.UsedFen = FenShare(paidFen, v.Used, v.Amount)
	}
	return v
}

// Left is the fen not yet allocated: the lot's deferred revenue.
func (v LotValue) Left() int64 { return v.PaidFen - v.UsedFen - v.RefundedFen }

// Use records q credits spent or expired and returns what they are worth.
func (v *LotValue) Use(q decimal.Decimal) int64 {
	v.Used = v.Used.Add(q)
	fen := FenShare(v.PaidFen, v.Used, v.Amount) - v.UsedFen
	if v.Used.Add(v.Refunded).GreaterThanOrEqual(v.Amount) {
		fen = v.Left()
	}
	v.UsedFen += fen
	return fen
}

// Refund records a refund of q credits that took fen and returns fen.
func (v *LotValue) Refund(q decimal.Decimal, fen int64) int64 {
	v.Refunded = v.Refunded.Add(q)
	v.RefundedFen += fen
	return fen
}

// UnstatedRefundFen is what a refund of q credits recorded without its fen
// (before lots had a price) is taken to be worth: its share on an axis of
// refunds alone, FenShare(PaidFen, refunded + q) − FenShare(PaidFen,
// refunded), or the rest when it empties the lot. At a price of a whole
// number of credits per fen it is exactly what was paid back.
func (v LotValue) UnstatedRefundFen(q decimal.Decimal) int64 {
	if v.Used.Add(v.Refunded).Add(q).GreaterThanOrEqual(v.Amount) {
		return v.Left()
	}
	return FenShare(v.PaidFen, v.Refunded.Add(q), v.Amount) - FenShare(v.PaidFen, v.Refunded, v.Amount)
}

// LotUsage is a lot with what open reservations hold from it and what the
// expiry sweep took from it (revocations by refunds are in Lot.Refunded).
type LotUsage struct {
	Lot
	Held    decimal.Decimal `db:"held"`
	Expired decimal.Decimal `db:"expired"`
}

// sqlLotUsage reads lots with their holds and swept expiry. The expiry
// events of a lot are at or after its expiry, so the (pool_id, at, id)
// index finds them.
const sqlLotUsage = `
SELECT l.*,
       CASE WHEN p.reserved = 0 THEN 0 ELSE coalesce((
           SELECT sum((h->>'amount')::numeric) FROM ledger_reservations r, jsonb_array_elements(r.holds) h
           WHERE r.pool_id = l.pool_id AND r.status = 'open' AND (h->>'lot')::bigint = l.id), 0) END AS held,
       coalesce((
           SELECT -sum(e.amount) FROM ledger_events e
           WHERE e.pool_id = l.pool_id AND e.at >= l.expires_at AND e.lot_id = l.id
             AND e.type = 'expiry' AND e.reason_code <> '` + ReasonRefundBonus + `'), 0) AS expired
FROM (SELECT ` + lotColumns + ` FROM ledger_lots WHERE id = ANY ($1)) l
JOIN ledger_accounts p ON p.id = l.pool_id`

// LotUsage returns the lots lotIDs (of any pools) with their holds and
// expiry, by id; unknown ids are left out.
func (l *Ledger) LotUsage(ctx context.Context, lotIDs []int64) (map[int64]LotUsage, error) {
	return lotUsage(ctx, l.pool, lotIDs)
}

// LotUsageTx is LotUsage inside the caller's transaction tx, after locking
// the lots' pools (in ascending order, as the ledger's writers do), so that
// nothing changes them until tx ends: payments reads a top-up's paid and
// bonus lots with it before a refund.
func (l *Ledger) LotUsageTx(ctx context.Context, tx pgx.Tx, lotIDs []int64) (map[int64]LotUsage, error) {
	const lock = `SELECT id FROM ledger_accounts
WHERE id IN (SELECT pool_id FROM ledger_lots WHERE id = ANY ($1)) ORDER BY id FOR UPDATE`
	if _, err := tx.Exec(ctx, lock, lotIDs); err != nil {
		return nil, fmt.Errorf("ledger: lot usage: %w", err)
	}
	return lotUsage(ctx, tx, lotIDs)
}

func lotUsage(ctx context.Context, q db.DBTX, lotIDs []int64) (map[int64]LotUsage, error) {
	rows, _ := q.Query(ctx, sqlLotUsage, lotIDs)
	got, err := pgx.CollectRows(rows, pgx.RowToStructByName[LotUsage])
	if err != nil {
		return nil, fmt.Errorf("ledger: lot usage: %w", err)
	}
	out := make(map[int64]LotUsage, len(got))
	for _, u := range got {
		out[u.ID] = u
	}
	return out, nil
}

package plans

import (
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
)

// Errors of the money rules.
var (
	// ErrOutsidePeriod: the instant is not within the period it is priced in.
	ErrOutsidePeriod = errors.New("plans: instant outside the period")
	// ErrNotAnUpgrade: the new price is below the old one (a downgrade is
	// scheduled for the period's end and never prorated).
	ErrNotAnUpgrade = errors.New("plans: not an upgrade")
	// ErrInvalidTerms: a negative amount or a non-positive credit price.
	ErrInvalidTerms = errors.New("plans: invalid terms")
)

// Remaining returns the whole seconds left in [start, end) at `at`
// (⌊(end − at) / 1 s⌋) and the period's length in seconds.
//
// Errors: ErrOutsidePeriod when at is before start or after end (at = end
// leaves 0 seconds), or the period is empty.
func Remaining(start, end, at time.Time) (remaining, total int64, err error) {
	if !end.After(start) || at.Before(start) || at.After(end) {
		return 0, 0, fmt.Errorf("%w: %s not in [%s, %s)", ErrOutsidePeriod,
			at.UTC().Format(time.RFC3339), start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339))
	}
	return int64(end.Sub(at) / time.Second), int64(end.Sub(start) / time.Second), nil
}

// UpgradePrice is what an upgrade at `at` costs, in fen: (newFen − oldFen) ×
// remaining / total, where remaining and total are the whole seconds left in
// and the length of the period [start, end) (see Remaining), computed
// exactly and rounded once, half to even, to the fen. ¥100 → ¥200 with 15 of
// 30 days left costs ¥50.00. oldFen is the price of the plan in force: a
// downgrade scheduled for the period's end changes nothing until then, so an
// upgrade after it is still priced from the current plan. Each upgrade in a
// period is priced on its own, from the plan in force at its instant.
//
// Errors: ErrNotAnUpgrade when newFen < oldFen; ErrInvalidTerms for a
// negative price; ErrOutsidePeriod as Remaining.
func UpgradePrice(oldFen, newFen int64, start, end, at time.Time) (int64, error) {
	if oldFen < 0 || newFen < 0 {
		return 0, fmt.Errorf("%w: negative price", ErrInvalidTerms)
	}
	if newFen < oldFen {
		return 0, fmt.Errorf("%w: %d fen to %d fen", ErrNotAnUpgrade, oldFen, newFen)
	}
	remaining, total, err := Remaining(start, end, at)
	if err != nil {
		return 0, err
	}
	r := new(big.Rat).SetFrac(new(big.Int).Mul(big.NewInt(newFen-oldFen), big.NewInt(remaining)), big.NewInt(total))
	return roundHalfEven(r).Int64(), nil
}

// UpgradeCredits is the plan credit an upgrade at `at` grants for the rest
// of the grant period [start, end) (the billing period of a monthly plan,
// the current month of a yearly one): (newCredits − oldCredits) × remaining
// / total, computed exactly and rounded once with ledger.Round's rule (half
// to even, ledger.Scale places). A new plan with fewer monthly credits
// grants nothing (the result is never negative); credits already granted
// stay.
//
// Errors: ErrInvalidTerms for negative credits; ErrOutsidePeriod as
// Remaining.
func UpgradeCredits(oldCredits, newCredits decimal.Decimal, start, end, at time.Time) (decimal.Decimal, error) {
	if oldCredits.IsNegative() || newCredits.IsNegative() {
		return decimal.Zero, fmt.Errorf("%w: negative credits", ErrInvalidTerms)
	}
	remaining, total, err := Remaining(start, end, at)
	if err != nil {
		return decimal.Zero, err
	}
	diff := newCredits.Sub(oldCredits)
	if !diff.IsPositive() {
		return decimal.Zero, nil
	}
	r := diff.Rat()
	r.Mul(r, big.NewRat(remaining, total))
	return roundCredits(r), nil
}

// RefundTerms are what the yearly refund rule needs.
type RefundTerms struct {
	// YearlyPriceFen is what the year was bought for.
	YearlyPriceFen int64
	// MonthlyCredits is the plan credit granted each month.
	MonthlyCredits decimal.Decimal
	// Anchor is the subscription's first day (its periods' anchor).
	Anchor time.Time
	// At is when the refund is asked for.
	At time.Time
	// Consumed is the plan credit spent so far in the year containing At.
	Consumed decimal.Decimal
	// CreditPriceRMB is the price of one credit in yuan (CREDIT_PRICE_RMB):
	// what the customer would have paid for the excess credit as a top-up.
	CreditPriceRMB decimal.Decimal
}

// Refund is the yearly refund rule's result, with every step shown.
type Refund struct {
	// Year is the yearly period containing At.
	Year Period
	// UnusedMonths is how many monthly periods of Year begin after At.
	UnusedMonths int
	// UnusedFen is YearlyPriceFen × UnusedMonths / 12, rounded once.
	UnusedFen int64
	// Entitled is the elapsed share of the year's plan credit
	// (12 × MonthlyCredits × elapsed / length), rounded with ledger.Round.
	Entitled decimal.Decimal
	// Excess is the plan credit consumed beyond Entitled (≥ 0), rounded
	// with ledger.Round.
	Excess decimal.Decimal
	// DeductionFen is Excess at CreditPriceRMB, in fen, rounded once.
	DeductionFen int64
	// RefundFen is UnusedFen − DeductionFen, never below 0.
	RefundFen int64
}

// YearlyRefund applies the refund rule of a yearly plan: the months of the
// year that have not begun at At are refunded at the monthly equivalent
// (yearly price × unused months / 12, rounded once half to even to the fen;
// the month in progress is used), minus the plan credit consumed beyond the
// elapsed share of the year's plan credit (12 × monthly credits × elapsed
// seconds / the year's seconds, elapsed = length − Remaining), valued at the
// credit price and rounded once half to even to the fen; the refund is never
// below 0.
//
// Errors: ErrInvalidTerms for a negative price or consumption, or a credit
// price that is not positive; ErrOutsidePeriod when At is before Anchor.
func YearlyRefund(t RefundTerms) (Refund, error) {
	if t.YearlyPriceFen < 0 || t.MonthlyCredits.IsNegative() || t.Consumed.IsNegative() || !t.CreditPriceRMB.IsPositive() {
		return Refund{}, fmt.Errorf("%w: refund terms", ErrInvalidTerms)
	}
	if t.At.Before(t.Anchor) {
		return Refund{}, fmt.Errorf("%w: refund before the subscription started", ErrOutsidePeriod)
	}
	y, yStart, yEnd := PeriodContaining(t.Anchor, Yearly, t.At)
	m, _, _ := PeriodContaining(t.Anchor, Monthly, t.At)
	unused := 11 - (m - 12*y)
	res := Refund{Year: Period{Start: yStart, End: yEnd}, UnusedMonths: unused}
	res.UnusedFen = roundHalfEven(big.NewRat(t.YearlyPriceFen*int64(unused), 12)).Int64()

	remaining, total, err := Remaining(yStart, yEnd, t.At)
	if err != nil {
		return Refund{}, err
	}
	entitled := t.MonthlyCredits.Mul(decimal.NewFromInt(12)).Rat()
	entitled.Mul(entitled, big.NewRat(total-remaining, total))
	res.Entitled = roundCredits(entitled)
	excess := new(big.Rat).Sub(t.Consumed.Rat(), entitled)
	if excess.Sign() > 0 {
		res.Excess = roundCredits(excess)
		value := new(big.Rat).Mul(excess, t.CreditPriceRMB.Rat())
		value.Mul(value, big.NewRat(100, 1))
		res.DeductionFen = roundHalfEven(value).Int64()
	}
	res.RefundFen = max(0, res.UnusedFen-res.DeductionFen)
	return res, nil
}

// roundCredits rounds r to ledger.Scale places, half to even (ledger.Round's
// rule applied to the exact value).
func roundCredits(r *big.Rat) decimal.Decimal {
	scaled := new(big.Rat).Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(ledger.Scale), nil)))
	return decimal.NewFromBigInt(roundHalfEven(scaled), -ledger.Scale)
}

// roundHalfEven rounds r to the nearest integer, a half to the even one.
func roundHalfEven(r *big.Rat) *big.Int {
	num, den := r.Num(), r.Denom()                      // den > 0
	q, m := new(big.Int).DivMod(num, den, new(big.Int)) // Euclidean: 0 ≤ m < den, q = ⌊r⌋
	switch new(big.Int).Lsh(m, 1).Cmp(den) {
	case 1:
		q.Add(q, big.NewInt(1))
	case 0:
		if q.Bit(0) == 1 {
			q.Add(q, big.NewInt(1))
		}
	}
	return q
}

package ledger

import (
	"fmt"

	"github.com/shopspring/decimal"
)

// Scale is the number of decimal places a credit amount has.
const Scale = 6

// DefaultCreditPriceRMB is the default price of one credit in yuan (¥0.001).
var DefaultCreditPriceRMB = decimal.New(1, -3)

// Round rounds a credit amount to Scale places, half to even (banker's
// rounding). The ledger applies it exactly once, to each amount entering an
// operation, so a charge computed from token counts is rounded once.
func Round(d decimal.Decimal) decimal.Decimal { return d.RoundBank(Scale) }

// CreditsForRMB converts a yuan amount into credits at pricePerCredit (yuan
// per credit), rounded with Round.
func CreditsForRMB(rmb, pricePerCredit decimal.Decimal) (decimal.Decimal, error) {
	if !pricePerCredit.IsPositive() {
		return decimal.Zero, fmt.Errorf("ledger: credit price %s: %w", pricePerCredit, ErrInvalidAmount)
	}
	return Round(rmb.DivRound(pricePerCredit, Scale+4)), nil
}

// RMBForCredits converts credits into yuan at pricePerCredit, rounded half
// to even to the fen (2 places).
func RMBForCredits(credits, pricePerCredit decimal.Decimal) decimal.Decimal {
	return credits.Mul(pricePerCredit).RoundBank(2)
}

// MaxCredits is the largest amount one operation may carry: a trillion
// credits (¥1,000,000,000 at the default price). Amounts are numeric(24, 6),
// at most 10^18; the bound leaves room for a balance to hold many such
// operations, so no sum of them overflows a column.
var MaxCredits = decimal.New(1, 12)

// checkAmount rounds d and refuses zero, negative and out-of-range amounts.
func checkAmount(d decimal.Decimal) (decimal.Decimal, error) {
	r := Round(d)
	if !r.IsPositive() || r.GreaterThan(MaxCredits) {
		return r, fmt.Errorf("%w: %s", ErrInvalidAmount, d)
	}
	return r, nil
}

package payments

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/platform/format"
)

// Default top-up products.
var (
	// DefaultTiers are the offered amounts in fen: ¥30, ¥100, ¥300, ¥1,000.
	DefaultTiers = []int64{3000, 10000, 30000, 100000}
	// DefaultBonus gives +20 % on the ¥100 tier.
	DefaultBonus = map[int64]decimal.Decimal{10000: decimal.NewFromInt(20)}
)

// Default limits and lifetimes.
const (
	DefaultMinFen         int64 = 1000      // ¥10: smallest custom amount
	DefaultMaxFen         int64 = 5000000   // ¥50,000: largest QR top-up
	DefaultTransferMaxFen int64 = 100000000 // ¥1,000,000: largest bank transfer order
	DefaultBonusValidity        = 90 * 24 * time.Hour
	DefaultOrderTTL             = 15 * time.Minute
	DefaultTransferTTL          = 7 * 24 * time.Hour
)

// Quote is what a top-up of AmountFen credits: the paid lot's Credits and,
// when a bonus promotion applies, a promo lot of BonusCredits that expires
// BonusValidity after payment (BonusExpiresAt is that instant if paid now;
// nil when there is no bonus or it never expires).
type Quote struct {
	AmountFen      int64
	Credits        decimal.Decimal
	BonusPercent   decimal.Decimal
	BonusCredits   decimal.Decimal
	BonusValidity  time.Duration
	BonusExpiresAt *time.Time
}

// HasBonus reports whether the top-up earns a promo lot.
func (q Quote) HasBonus() bool { return q.BonusCredits.IsPositive() }

// AmountYuan is the amount in yuan (two places).
func (q Quote) AmountYuan() decimal.Decimal { return decimal.New(q.AmountFen, -2) }

// AmountError says an amount is outside the accepted range (both in fen);
// it matches ErrAmountOutOfRange.
type AmountError struct {
	AmountFen, MinFen, MaxFen int64
}

func (e *AmountError) Error() string {
	return fmt.Sprintf("payments: amount %d fen outside [%d, %d]", e.AmountFen, e.MinFen, e.MaxFen)
}

// Is matches ErrAmountOutOfRange.
func (e *AmountError) Is(target error) bool { return target == ErrAmountOutOfRange }

// Unwrap gives forms the failure of the field "amount": code
// amount_out_of_range with the arguments min and max as money.
func (e *AmountError) Unwrap() error {
	return fielderr.One("payments", "amount", "amount_out_of_range", "min", money(e.MinFen), "max", money(e.MaxFen))
}

// money writes fen as money ("¥1,234.50").
func money(fen int64) string { return format.Money(decimal.New(fen, -2)) }

// Tiers returns the offered top-up amounts with their quotes, smallest first.
func (s *Service) Tiers() []Quote {
	p := s.products()
	out := make([]Quote, 0, len(p.Tiers))
	for _, fen := range p.Tiers {
		out = append(out, s.quote(p, fen))
	}
	return out
}

// Limits returns the smallest and largest custom QR top-up in fen.
func (s *Service) Limits() (minFen, maxFen int64) { return s.opts.MinFen, s.opts.MaxFen }

// Quote prices a QR top-up of amountFen: a tier, or a custom amount within
// Limits. Errors: *AmountError (ErrAmountOutOfRange).
func (s *Service) Quote(amountFen int64) (Quote, error) {
	p := s.products()
	if !slices.Contains(p.Tiers, amountFen) && (amountFen < s.opts.MinFen || amountFen > s.opts.MaxFen) {
		return Quote{}, &AmountError{AmountFen: amountFen, MinFen: s.opts.MinFen, MaxFen: s.opts.MaxFen}
	}
	return s.quote(p, amountFen), nil
}

// quoteTransfer prices a bank transfer, allowed up to TransferMaxFen.
func (s *Service) quoteTransfer(amountFen int64) (Quote, error) {
	p := s.products()
	if !slices.Contains(p.Tiers, amountFen) && (amountFen < s.opts.MinFen || amountFen > s.opts.TransferMaxFen) {
		return Quote{}, &AmountError{AmountFen: amountFen, MinFen: s.opts.MinFen, MaxFen: s.opts.TransferMaxFen}
	}
	return s.quote(p, amountFen), nil
}

// quote prices amountFen with the products p in force.
func (s *Service) quote(p Products, amountFen int64) Quote {
	// The credit price is validated positive in New, so this cannot fail.
	credits, _ := ledger.CreditsForRMB(decimal.New(amountFen, -2), s.opts.CreditPriceRMB)
	q := Quote{AmountFen: amountFen, Credits: credits}
	if pct, ok := p.Bonus[amountFen]; ok && pct.IsPositive() {
		q.BonusPercent = pct
		q.BonusCredits = ledger.Round(credits.Mul(pct).Div(decimal.NewFromInt(100)))
		if p.BonusValidity > 0 {
			q.BonusValidity = p.BonusValidity
			at := s.now().Add(p.BonusValidity)
			q.BonusExpiresAt = &at
		}
	}
	return q
}

// ParseTiers reads a TOPUP_TIERS value: yuan amounts separated by commas,
// such as "30,100,300,1000" (fen allowed: "9.90"). It returns fen, sorted.
func ParseTiers(v string) ([]int64, error) {
	var out []int64
	for part := range strings.SplitSeq(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		fen, err := yuanToFen(part)
		if err != nil {
			return nil, fmt.Errorf("TOPUP_TIERS: %w", err)
		}
		if !slices.Contains(out, fen) {
			out = append(out, fen)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("TOPUP_TIERS: no amounts")
	}
	slices.Sort(out)
	return out, nil
}

// ParseBonus reads a TOPUP_BONUS value: tier:percent pairs in yuan and
// percent, such as "100:20,300:25"; a bonus applies to exactly that tier.
// "none" or an empty value means no bonus.
func ParseBonus(v string) (map[int64]decimal.Decimal, error) {
	out := map[int64]decimal.Decimal{}
	if strings.TrimSpace(v) == "none" {
		return out, nil
	}
	for part := range strings.SplitSeq(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		amt, pct, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("TOPUP_BONUS: %q is not tier:percent", part)
		}
		fen, err := yuanToFen(strings.TrimSpace(amt))
		if err != nil {
			return nil, fmt.Errorf("TOPUP_BONUS: %w", err)
		}
		p, err := decimal.NewFromString(strings.TrimSpace(pct))
		if err != nil || p.IsNegative() || p.GreaterThan(decimal.NewFromInt(1000)) {
			return nil, fmt.Errorf("TOPUP_BONUS: percent %q must be a number between 0 and 1000", pct)
		}
		out[fen] = p
	}
	return out, nil
}

// yuanToFen converts "100" or "9.90" to fen, refusing fractions of a fen
// and non-positive amounts.
func yuanToFen(v string) (int64, error) {
	d, err := decimal.NewFromString(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not an amount in yuan", v)
	}
	fen, err := toFen(d)
	if err != nil || fen <= 0 {
		return 0, fmt.Errorf("%q is not a positive amount of whole fen", v)
	}
	return fen, nil
}

// Package pricing owns the rate cards: versioned, immutable price lists that
// say how many credits each model call costs, and the cost arithmetic the
// ledger charges with.
//
// Units: every price is in credits (1 credit = CREDIT_PRICE_RMB, default
// ¥0.001). Token prices are credits per 1,000 tokens; per_request prices are
// credits per call. A cost is computed exactly and rounded once, half-even, to
// CreditScale (6) decimal places.
package pricing

import (
	"errors"
	"fmt"

	"github.com/shopspring/decimal"
)

// CreditScale is the number of decimal places a credit amount carries.
const CreditScale = 6

// BillingType says how a model is billed.
type BillingType string

// Billing types.
const (
	// BillingToken bills input, output and cache-hit tokens at per-1k rates.
	BillingToken BillingType = "token"
	// BillingPerRequest bills a fixed price per call (e.g. one generated image).
	BillingPerRequest BillingType = "per_request"
	// BillingFree bills nothing; calls are still metered and rate limited.
	BillingFree BillingType = "free"
)

// Valid reports whether t is one of the known billing types.
func (t BillingType) Valid() bool {
	return t == BillingToken || t == BillingPerRequest || t == BillingFree
}

// ModelPrice is one model's line on a rate card.
//
// Token counts are three disjoint buckets: InputPer1K applies to input tokens
// that did NOT hit the provider's context cache, CacheHitPer1K to input tokens
// that did, OutputPer1K to output tokens (reasoning tokens included). A
// model whose provider has no cache discount carries CacheHitPer1K equal to
// InputPer1K.
type ModelPrice struct {
	Model         string          `json:"model"`
	BillingType   BillingType     `json:"billing_type"`
	InputPer1K    decimal.Decimal `json:"input_per_1k"`
	OutputPer1K   decimal.Decimal `json:"output_per_1k"`
	CacheHitPer1K decimal.Decimal `json:"cache_hit_per_1k"`
	PerRequest    decimal.Decimal `json:"per_request"`
}

// Errors returned by this package. Callers match them with errors.Is.
var (
	// ErrUnknownModel: the model is not on the card in force.
	ErrUnknownModel = errors.New("pricing: unknown model")
	// ErrNoRateCard: no rate card is in force at the requested time.
	ErrNoRateCard = errors.New("pricing: no rate card in force")
	// ErrInvalidCard: a card offered to Publish breaks a rule; the
	// *ValidationError that wraps it says which.
	ErrInvalidCard = errors.New("pricing: invalid rate card")
)

// Validation error codes (stable: the API and the back office map them to
// messages in locales/pricing.*.toml).
const (
	CodeNoModels          = "rate_card.no_models"
	CodeBadModelName      = "rate_card.bad_model_name"
	CodeDuplicateModel    = "rate_card.duplicate_model"
	CodeBadBillingType    = "rate_card.bad_billing_type"
	CodeNegativePrice     = "rate_card.negative_price"
	CodeBadPriceShape     = "rate_card.bad_price_shape"
	CodeNoActor           = "rate_card.no_actor"
	CodeEffectiveInPast   = "rate_card.effective_in_past"
	CodeEffectiveNotAfter = "rate_card.effective_not_after_previous"
)

// ValidationError says why a card was refused: a Code from the list above and
// the Model it concerns, if any. It matches ErrInvalidCard with errors.Is.
type ValidationError struct {
	Code  string
	Model string
}

func (e *ValidationError) Error() string {
	if e.Model != "" {
		return fmt.Sprintf("pricing: invalid rate card: %s (model %q)", e.Code, e.Model)
	}
	return "pricing: invalid rate card: " + e.Code
}

// Is makes errors.Is(err, ErrInvalidCard) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidCard }

// MaxTokens is the most tokens of one kind one call may report, and
// MaxRequests the most requests one usage event may count. Bigger counts
// are refused at the edge (reserve, commit, usage events), so no cost can
// leave what the ledger's columns hold.
const (
	MaxTokens   = 1_000_000_000
	MaxRequests = 1_000_000
)

// CountsInRange reports whether each token count is 0 to MaxTokens.
func CountsInRange(tokens ...int64) bool {
	for _, n := range tokens {
		if n < 0 || n > MaxTokens {
			return false
		}
	}
	return true
}

// ReservationHold is the credits held before a call: maxInput tokens at the
// input rate plus maxOutput tokens at the output rate (the cache-hit share is
// unknown in advance, so all input is held at the full input rate). A
// per_request model holds one request's price; a free model holds zero.
// Negative counts are treated as zero: callers validate requests first.
// The result is rounded once, half-even, to 6 decimals.
func ReservationHold(p ModelPrice, maxInput, maxOutput int64) decimal.Decimal {
	switch p.BillingType {
	case BillingToken:
		sum := perK(p.InputPer1K, maxInput).Add(perK(p.OutputPer1K, maxOutput))
		return sum.RoundBank(CreditScale)
	case BillingPerRequest:
		return p.PerRequest.RoundBank(CreditScale)
	default:
		return decimal.Zero
	}
}

// UsageCost is the credits a finished call costs.
//
// input is the count of input tokens that missed the cache, cacheHit the
// count that hit it (separate, not a subset of input), output the output
// tokens. A per_request model costs requests × its price (requests ≤ 0 costs
// nothing: a caller charging one call passes 1); tokens are ignored for it. A
// free model costs zero. Negative counts are treated as zero. The exact sum is
// rounded once, half-even, to 6 decimals.
func UsageCost(p ModelPrice, input, output, cacheHit, requests int64) decimal.Decimal {
	switch p.BillingType {
	case BillingToken:
		sum := perK(p.InputPer1K, input).
			Add(perK(p.OutputPer1K, output)).
			Add(perK(p.CacheHitPer1K, cacheHit))
		return sum.RoundBank(CreditScale)
	case BillingPerRequest:
		if requests <= 0 {
			return decimal.Zero
		}
		return p.PerRequest.Mul(decimal.NewFromInt(requests)).RoundBank(CreditScale)
	default:
		return decimal.Zero
	}
}

// perK is tokens × rate / 1000, exact (dividing by 1000 only moves the point).
func perK(rate decimal.Decimal, tokens int64) decimal.Decimal {
	if tokens <= 0 {
		return decimal.Zero
	}
	return rate.Mul(decimal.NewFromInt(tokens)).Shift(-3)
}

// validatePrice checks one price line's shape (the database checks it again).
func validatePrice(p ModelPrice) error {
	if p.Model == "" || len(p.Model) > 128 {
		return &ValidationError{Code: CodeBadModelName, Model: p.Model}
	}
	if !p.BillingType.Valid() {
		return &ValidationError{Code: CodeBadBillingType, Model: p.Model}
	}
	for _, d := range []decimal.Decimal{p.InputPer1K, p.OutputPer1K, p.CacheHitPer1K, p.PerRequest} {
		if d.IsNegative() {
			return &ValidationError{Code: CodeNegativePrice, Model: p.Model}
		}
	}
	tokenRates := !p.InputPer1K.IsZero() || !p.OutputPer1K.IsZero() || !p.CacheHitPer1K.IsZero()
	ok := true
	switch p.BillingType {
	case BillingToken:
		ok = p.PerRequest.IsZero()
	case BillingPerRequest:
		ok = p.PerRequest.IsPositive() && !tokenRates
	case BillingFree:
		ok = !tokenRates && p.PerRequest.IsZero()
	}
	if !ok {
		return &ValidationError{Code: CodeBadPriceShape, Model: p.Model}
	}
	return nil
}

// ValidateLine checks one line's shape as Publish does: a name of 1 to 128
// bytes, a known billing type, no negative rate, and the rates its billing
// type allows. The cost cards (internal/costs) share these shapes.
// Errors: *ValidationError with CodeBadModelName, CodeBadBillingType,
// CodeNegativePrice or CodeBadPriceShape.
func ValidateLine(p ModelPrice) error { return validatePrice(p) }

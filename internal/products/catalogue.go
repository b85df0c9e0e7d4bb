// Package products is the catalogue of one-time products — a feature
// unlock, a model pack (a credit bundle with its own validity) or a
// fine-tune job — and the entitlements their payment delivers.
//
// A product is known by its code; each published version is immutable,
// like a plan's: staff edit one draft per code and publish it as the next
// version. A product order (internal/payments, purpose "product") names
// the version its price was read from; paying it calls GrantTx in the
// transaction that marks the order paid, so an order delivers exactly one
// entitlement (account, product, since, until). A model pack's credits are
// credited by payments as a paid lot priced at the price paid (its expiry
// is the pack's credit days), so spending, expiry and refunds value them
// like any top-up. Refunding the order within its window revokes the
// entitlement (RevokeTx), once.
package products

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/draft"
)

// Errors of the catalogue and the entitlements.
var (
	// ErrNotFound: no such product, version, draft or entitlement.
	ErrNotFound = errors.New("products: not found")
	// ErrInvalidProduct: a spec breaks a rule; the *ValidationError says which.
	ErrInvalidProduct = errors.New("products: invalid product")
	// ErrCodeTaken: a new product's code already has a version or a draft.
	ErrCodeTaken = errors.New("products: code already in use")
	// ErrStaleDraft: the draft was saved by someone else since it was read,
	// or a version was published after it was copied.
	ErrStaleDraft = errors.New("products: draft changed meanwhile")
	// ErrAlreadyPublished: the draft was published already (perhaps by a
	// concurrent request).
	ErrAlreadyPublished = errors.New("products: draft already published")
)

// Kind is what a product delivers.
type Kind string

// The product kinds.
const (
	// Feature unlocks a feature for the entitlement's duration.
	Feature Kind = "feature"
	// ModelPack is a credit bundle: Credits as a paid lot that expires
	// CreditDays after payment (never, when 0).
	ModelPack Kind = "model_pack"
	// FineTune is JobCount fine-tune jobs, usable for the entitlement's
	// duration.
	FineTune Kind = "fine_tune"
)

// Kinds lists the kinds in the order the editor offers them.
var Kinds = []Kind{Feature, ModelPack, FineTune}

// DefaultRefundDays is the refund window a new product starts with in the
// editor (days after payment).
const DefaultRefundDays = 7

// Spec is the content of a product: what a draft holds and a version
// freezes.
type Spec struct {
	Code          string          `json:"code"`
	NameZH        string          `json:"name_zh"`
	NameEN        string          `json:"name_en"`
	DescriptionZH string          `json:"description_zh"`
	DescriptionEN string          `json:"description_en"`
	Kind          Kind            `json:"kind"`
	PriceFen      int64           `json:"price_fen"`
	Credits       decimal.Decimal `json:"credits"`     // model packs only
	CreditDays    int             `json:"credit_days"` // model packs: 0 never expires
	JobCount      int             `json:"job_count"`   // fine-tune only
	// EntitlementDays is how long the entitlement lasts after payment;
	// 0 is unlimited.
	EntitlementDays int `json:"entitlement_days"`
	// RefundDays is the refund window after payment; 0: not refundable.
	RefundDays int `json:"refund_days"`
}

// Product is one published version of a product. It is immutable.
type Product struct {
	Spec
	Version     int       `json:"version"`
	PublishedAt time.Time `json:"published_at"`
	PublishedBy string    `json:"published_by"`
}

// Name is the product's name in the language ("en" or Chinese).
func (s Spec) Name(lang string) string {
	if lang == "en" {
		return s.NameEN
	}
	return s.NameZH
}

// Description is the product's description in the language.
func (s Spec) Description(lang string) string {
	if lang == "en" {
		return s.DescriptionEN
	}
	return s.DescriptionZH
}

// Until is when an entitlement bought at since ends (nil: unlimited).
func (s Spec) Until(since time.Time) *time.Time {
	if s.EntitlementDays == 0 {
		return nil
	}
	t := since.AddDate(0, 0, s.EntitlementDays)
	return &t
}

// Draft is the editable next version of a product.
type Draft = draft.Draft[Spec]

// Validation codes of ValidationError, each the editor field it concerns.
const (
	CodeBadCode        = "code"             // not [a-z][a-z0-9_-]{0,31}
	CodeBadName        = "name"             // a name empty or over 64 characters
	CodeBadDescription = "description"      // a description over 300 characters
	CodeBadKind        = "kind"             // not feature, model_pack or fine_tune
	CodeBadPrice       = "price"            // not ¥0.01–¥1,000,000
	CodeBadCredits     = "credits"          // a model pack without credits, or credits on another kind
	CodeBadCreditDays  = "credit_days"      // outside 0–3660, or set on another kind
	CodeBadJobs        = "job_count"        // a fine-tune product without 1–10000 jobs, or jobs on another kind
	CodeBadDays        = "entitlement_days" // outside 0–3660
	CodeBadRefundDays  = "refund_days"      // outside 0–365
	CodeNoActor        = "actor"            // no one named as editing
)

// ValidationError says which rule a spec breaks.
type ValidationError struct{ Code string }

func (e *ValidationError) Error() string { return "products: invalid product: " + e.Code }

// Is makes errors.Is(err, ErrInvalidProduct) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidProduct }

var codePattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// MaxPriceFen is the highest product price, ¥1,000,000.
const MaxPriceFen int64 = 100_000_000

// Validate checks spec against the catalogue's rules (those the database
// enforces too). It reports every rule broken, so an editor can mark all
// fields at once.
//
// Errors: errors.Join of *ValidationError (each errors.Is ErrInvalidProduct).
func Validate(s Spec) error {
	var errs []error
	bad := func(code string) { errs = append(errs, &ValidationError{Code: code}) }
	if !codePattern.MatchString(s.Code) {
		bad(CodeBadCode)
	}
	if !textOK(s.NameZH, 64) || !textOK(s.NameEN, 64) {
		bad(CodeBadName)
	}
	if len([]rune(s.DescriptionZH)) > 300 || len([]rune(s.DescriptionEN)) > 300 {
		bad(CodeBadDescription)
	}
	if s.Kind != Feature && s.Kind != ModelPack && s.Kind != FineTune {
		bad(CodeBadKind)
	}
	if s.PriceFen <= 0 || s.PriceFen > MaxPriceFen {
		bad(CodeBadPrice)
	}
	pack := s.Kind == ModelPack
	if pack != s.Credits.IsPositive() || s.Credits.IsNegative() || !ledger.Round(s.Credits).Equal(s.Credits) ||
		s.Credits.GreaterThan(ledger.MaxCredits) {
		bad(CodeBadCredits)
	}
	if s.CreditDays < 0 || s.CreditDays > 3660 || (!pack && s.CreditDays != 0) {
		bad(CodeBadCreditDays)
	}
	if (s.Kind == FineTune) != (s.JobCount > 0) || s.JobCount < 0 || s.JobCount > 10000 {
		bad(CodeBadJobs)
	}
	if s.EntitlementDays < 0 || s.EntitlementDays > 3660 {
		bad(CodeBadDays)
	}
	if s.RefundDays < 0 || s.RefundDays > 365 {
		bad(CodeBadRefundDays)
	}
	return errors.Join(errs...)
}

// ValidationCodes lists the codes of every rule Validate reports, for the
// editor's field messages.
func ValidationCodes(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		if ve, ok := err.(*ValidationError); ok {
			out = append(out, ve.Code)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
		}
	}
	walk(err)
	return out
}

func textOK(s string, max int) bool { return s != "" && len([]rune(s)) <= max }

// wrap prefixes err with the operation, keeping sentinels matchable and
// validation errors as they are.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrInvalidProduct) {
		return err
	}
	return fmt.Errorf("products: %s: %w", op, err)
}

package plans

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/draft"
)

// Errors of the catalogue.
var (
	// ErrNotFound: no such plan, version or draft.
	ErrNotFound = errors.New("plans: not found")
	// ErrInvalidPlan: a spec breaks a rule; the *ValidationError says which.
	ErrInvalidPlan = errors.New("plans: invalid plan")
	// ErrCodeTaken: a new plan's code already has a version or a draft.
	ErrCodeTaken = errors.New("plans: code already in use")
	// ErrStaleDraft: the draft changed since it was read (another editor
	// saved it), or a version was published after it was copied.
	ErrStaleDraft = errors.New("plans: draft changed meanwhile")
	// ErrAlreadyPublished: the draft was published already (perhaps by a
	// concurrent request); the published version comes with it.
	ErrAlreadyPublished = errors.New("plans: draft already published")
)

// Unit is what a quota counts.
type Unit string

// The units of a quota.
const (
	Requests Unit = "requests"
	Tokens   Unit = "tokens"
)

// Unlimited is the quota limit that never refuses.
const Unlimited int64 = -1

// Tier levels of the demo catalogue; a higher tier is an upgrade.
const (
	TierFree         = 0
	TierBasic        = 1
	TierStandard     = 2
	TierProfessional = 3
)

// Spec is the content of a plan: what a draft holds and a version freezes.
type Spec struct {
	Code            string          `json:"code"`
	NameZH          string          `json:"name_zh"`
	NameEN          string          `json:"name_en"`
	Tier            int             `json:"tier"`
	MonthlyPriceFen int64           `json:"monthly_price_fen"`
	YearlyPriceFen  int64           `json:"yearly_price_fen"`
	MonthlyCredits  decimal.Decimal `json:"monthly_credits"`
	// RPM and TPM limit the subscriber's requests and tokens per minute;
	// 0 leaves the platform's default.
	RPM      int       `json:"rpm"`
	TPM      int64     `json:"tpm"`
	Features []Feature `json:"features"`
	Items    []Item    `json:"items"`
}

// Feature is one line of the plan's display features, in both languages.
type Feature struct {
	ZH string `json:"zh"`
	EN string `json:"en"`
}

// Item is a model, or a named group of models, with its quotas; every quota
// of an item applies at once.
type Item struct {
	// No numbers the item within its version (1, 2, …, in order); assigned
	// on publish, so quota usage can refer to (code, version, item).
	No int `json:"no,omitempty"`
	// Group names a multi-model item ("deepseek"); empty for one model.
	Group  string   `json:"group,omitempty"`
	Models []string `json:"models"`
	Quotas []Quota  `json:"quotas"`
}

// Quota is a limit of Unit within one window; Limit −1 (Unlimited) never
// refuses.
type Quota struct {
	Unit   Unit   `json:"unit"`
	Window Window `json:"window"`
	Limit  int64  `json:"limit"`
}

// Plan is one published version of a plan. It is immutable.
type Plan struct {
	Spec
	Version     int       `json:"version"`
	PublishedAt time.Time `json:"published_at"`
	PublishedBy string    `json:"published_by"`
}

// Item returns the item covering model, if the plan has one.
func (p Plan) Item(model string) (Item, bool) {
	for _, it := range p.Items {
		for _, m := range it.Models {
			if m == model {
				return it, true
			}
		}
	}
	return Item{}, false
}

// Draft is the editable next version of a plan.
type Draft = draft.Draft[Spec]

// Validation codes of ValidationError.
const (
	CodeBadCode        = "code"            // code is not [a-z][a-z0-9_-]{0,31}
	CodeBadName        = "name"            // a name is empty or over 64 characters
	CodeBadTier        = "tier"            // tier outside 0–99
	CodeBadPrice       = "price"           // a price is negative
	CodeBadCredits     = "credits"         // plan credits negative, too large or finer than the ledger's scale
	CodeBadRate        = "rate"            // RPM or TPM negative
	CodeBadFeature     = "feature"         // a feature line is empty in a language or over 200 characters
	CodeNoModels       = "item.models"     // an item lists no model, or an empty or over-long model name
	CodeDuplicateModel = "item.duplicate"  // a model appears in two items (or twice in one)
	CodeBadGroup       = "item.group"      // a multi-model item without a group name, or one over 64 characters
	CodeNoQuotas       = "item.quotas"     // an item without quotas
	CodeBadUnit        = "quota.unit"      // unit is not requests or tokens
	CodeBadWindow      = "quota.window"    // unknown window kind, or rolling hours outside 1–8784
	CodeBadLimit       = "quota.limit"     // limit is neither −1 nor positive
	CodeDuplicateQuota = "quota.duplicate" // two quotas of an item with the same unit and window
	CodeNoActor        = "actor"           // no one named as publishing
)

// ValidationError says which rule a spec breaks. Item and Quota are
// 1-based positions (0 when the rule is about the plan itself).
type ValidationError struct {
	Code  string
	Item  int
	Quota int
	Model string
}

func (e *ValidationError) Error() string {
	s := "plans: invalid plan: " + e.Code
	if e.Item > 0 {
		s += fmt.Sprintf(" (item %d", e.Item)
		if e.Quota > 0 {
			s += fmt.Sprintf(", quota %d", e.Quota)
		}
		s += ")"
	}
	if e.Model != "" {
		s += fmt.Sprintf(" %q", e.Model)
	}
	return s
}

// Is makes errors.Is(err, ErrInvalidPlan) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidPlan }

var codePattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// ValidCode reports whether code may name a plan (CodeBadCode otherwise): a
// form checks it beside its other fields, before Validate sees the spec.
func ValidCode(code string) bool { return codePattern.MatchString(code) }

// Validate checks spec against the catalogue's rules (the same the database
// enforces, so a valid spec always publishes).
//
// Errors: *ValidationError (errors.Is ErrInvalidPlan).
func Validate(s Spec) error {
	bad := func(code string) error { return &ValidationError{Code: code} }
	switch {
	case !ValidCode(s.Code):
		return bad(CodeBadCode)
	case !textOK(s.NameZH, 64) || !textOK(s.NameEN, 64):
		return bad(CodeBadName)
	case s.Tier < 0 || s.Tier > 99:
		return bad(CodeBadTier)
	case s.MonthlyPriceFen < 0 || s.YearlyPriceFen < 0:
		return bad(CodeBadPrice)
	case s.MonthlyCredits.IsNegative() || !ledger.Round(s.MonthlyCredits).Equal(s.MonthlyCredits) ||
		s.MonthlyCredits.GreaterThan(ledger.MaxCredits):
		return bad(CodeBadCredits)
	case s.RPM < 0 || s.TPM < 0 || s.RPM > 1<<31-1:
		return bad(CodeBadRate)
	}
	for _, f := range s.Features {
		if !textOK(f.ZH, 200) || !textOK(f.EN, 200) {
			return bad(CodeBadFeature)
		}
	}
	seen := map[string]bool{}
	for i, it := range s.Items {
		pos := i + 1
		if len(it.Models) == 0 {
			return &ValidationError{Code: CodeNoModels, Item: pos}
		}
		if len(it.Group) > 64 || len(it.Models) > 1 && it.Group == "" {
			return &ValidationError{Code: CodeBadGroup, Item: pos}
		}
		for _, m := range it.Models {
			if m == "" || len(m) > 128 {
				return &ValidationError{Code: CodeNoModels, Item: pos}
			}
			if seen[m] {
				return &ValidationError{Code: CodeDuplicateModel, Item: pos, Model: m}
			}
			seen[m] = true
		}
		if len(it.Quotas) == 0 {
			return &ValidationError{Code: CodeNoQuotas, Item: pos}
		}
		windows := map[Quota]bool{}
		for j, q := range it.Quotas {
			qe := func(code string) error { return &ValidationError{Code: code, Item: pos, Quota: j + 1} }
			if q.Unit != Requests && q.Unit != Tokens {
				return qe(CodeBadUnit)
			}
			if err := q.Window.validate(); err != nil {
				return qe(CodeBadWindow)
			}
			if q.Limit != Unlimited && q.Limit <= 0 {
				return qe(CodeBadLimit)
			}
			key := Quota{Unit: q.Unit, Window: q.Window}
			if windows[key] {
				return qe(CodeDuplicateQuota)
			}
			windows[key] = true
		}
	}
	return nil
}

func textOK(s string, max int) bool { return s != "" && len([]rune(s)) <= max }

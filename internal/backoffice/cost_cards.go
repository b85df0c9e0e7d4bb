package backoffice

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/costs"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/pricing"
)

// errNoCosts: the service was built without Options.Costs.
var errNoCosts = errors.New("backoffice: cost cards are not wired (Options.Costs)")

// CostCardRequest is the cost card form as typed: when it takes effect
// (Asia/Shanghai "2006-01-02T15:04", empty for now), the lines
// ("model input output cache-hit" in RMB per 1,000 tokens for a token model,
// "model price" in RMB per call for a per-request one, "model" for a free
// one; a model's billing type is its public rate card's) and a note.
type CostCardRequest struct {
	EffectiveAt string
	Lines       string
	Note        string
}

// CostCards are the cost card versions, oldest first, and the one in force
// now (nil: none yet), for the back office's cost card page.
func (s *Service) CostCards(ctx context.Context) ([]costs.Card, *costs.Card, error) {
	if s.opt.Costs == nil {
		return nil, nil, errNoCosts
	}
	all, err := s.opt.Costs.Versions(ctx)
	if err != nil {
		return nil, nil, err
	}
	cur, err := s.opt.Costs.InForce(ctx, s.opt.Now())
	if errors.Is(err, costs.ErrNoCostCard) {
		return all, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return all, &cur, nil
}

// PublishCostCard publishes the form as the next cost card version and
// audits it (cost_card_published) in one transaction; finance and admins
// only. Every field's problem comes back at once.
// Errors: ErrForbidden; *fielderr.Errors for effective_at (cost_effective_at:
// not a time, or in the past or not after the newest version's), lines
// (rate_card_line, cost_card_model: not on the public card, cost_card_price:
// a negative rate or a shape its billing type refuses, cost_card_duplicate,
// cost_card_no_models) and note (reason_required).
func (s *Service) PublishCostCard(ctx context.Context, r CostCardRequest, a Actor) (int, error) {
	if err := a.require(auth.RoleFinance, auth.RoleAdmin); err != nil {
		return 0, err
	}
	if s.opt.Costs == nil || s.opt.Pricing == nil {
		return 0, errNoCosts
	}
	public, err := s.opt.Pricing.InForce(ctx, s.opt.Now())
	if err != nil && !errors.Is(err, pricing.ErrNoRateCard) {
		return 0, err // no public card: every line names a model not on it
	}
	card, err := readCostCard(r, public, s.opt.Now())
	if err != nil {
		return 0, err
	}
	card.Actor = a.ref()
	var version int
	err = db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if version, err = s.opt.Costs.PublishTx(ctx, tx, card); err != nil {
			return err
		}
		e := staffEntry(a, ActionCostCardPublished, 0)
		e.Reason = card.Note
		e.Detail = map[string]any{"version": version, "effective_at": card.EffectiveAt.UTC(), "models": len(card.Models)}
		_, err := Audit(ctx, tx, e)
		return err
	})
	var ve *costs.ValidationError
	if errors.As(err, &ve) {
		name, code := costField(ve.Code)
		return 0, fielderr.One("backoffice", name, code, "model", ve.Model)
	}
	if err != nil {
		return 0, err
	}
	s.opt.Costs.Forget()
	return version, nil
}

// readCostCard reads the form, every field's problem at once.
func readCostCard(r CostCardRequest, public pricing.Card, now time.Time) (costs.Card, error) {
	card := costs.Card{Note: strings.TrimSpace(r.Note), EffectiveAt: now}
	errs := fielderr.New("backoffice")
	if at := strings.TrimSpace(r.EffectiveAt); at != "" {
		t, err := time.ParseInLocation("2006-01-02T15:04", at, format.Shanghai)
		if err != nil || t.Before(now.Add(-pricing.PastTolerance)) {
			errs.Add("effective_at", "cost_effective_at")
		}
		// A time typed to the minute means that minute, unless it is the
		// current one (then: now).
		if t.After(now) {
			card.EffectiveAt = t
		}
	}
	lines, err := pricing.ParseLines(r.Lines, public)
	var le *pricing.LineError
	switch {
	case errors.As(err, &le) && le.Code == pricing.CodeModelNotPublic:
		errs.Add("lines", "cost_card_model", "model", le.Model)
	case errors.As(err, &le):
		errs.Add("lines", "rate_card_line", "line", strconv.Itoa(le.Line))
	case err != nil:
		return card, err
	}
	card.Models = lines
	if card.Note == "" {
		errs.Add("note", "reason_required")
	}
	if errs.Code("lines") == "" {
		check := card
		check.Actor = "staff"
		var ve *costs.ValidationError
		if err := costs.ValidateCard(check); errors.As(err, &ve) {
			name, code := costField(ve.Code)
			errs.Add(name, code, "model", ve.Model)
		}
	}
	if !errs.Empty() {
		return card, errs
	}
	return card, nil
}

// costField is the form field and code of a costs validation code.
func costField(code string) (string, string) {
	switch code {
	case costs.CodeEffectiveInPast, costs.CodeEffectiveNotAfter:
		return "effective_at", "cost_effective_at"
	case costs.CodeNoModels:
		return "lines", "cost_card_no_models"
	case costs.CodeDuplicateModel:
		return "lines", "cost_card_duplicate"
	case costs.CodeNoActor:
		return "note", "reason_required"
	}
	return "lines", "cost_card_price"
}

// Margins is the margin report of the charges that happened in [from, to)
// (internal/costs), charged credits valued at the credit price; finance
// and admins only. Errors: ErrForbidden.
func (s *Service) Margins(ctx context.Context, from, to time.Time, a Actor) (costs.MarginReport, error) {
	if err := a.require(auth.RoleFinance, auth.RoleAdmin); err != nil {
		return costs.MarginReport{}, err
	}
	if s.opt.Costs == nil {
		return costs.MarginReport{}, errNoCosts
	}
	return s.opt.Costs.Margins(ctx, from, to, s.creditPrice())
}

// creditPrice is the yuan price of one credit (the setting).
func (s *Service) creditPrice() decimal.Decimal { return s.opt.CreditPriceRMB }

// MarginAlerts are the newest limit negative-margin alerts (a model's
// day), newest first. Errors: database errors.
func (s *Service) MarginAlerts(ctx context.Context, limit int) ([]costs.Alert, error) {
	if s.opt.Costs == nil {
		return nil, errNoCosts
	}
	return s.opt.Costs.Alerts(ctx, limit)
}

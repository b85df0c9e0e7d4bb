package backoffice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/pricing"
)

// # Prices per customer
//
// Admins set a customer's own rate card on its page (pricing.AccountCard:
// pinned, discount, custom, or none). A card that prices any rate deeper
// below the public card in force than Settings.RateCardDiscountPct
// (business setting limits.rate_card_discount, default 20 %) waits as an
// approval (ApproveRateCard) for an admin other than the requester; one
// within the limit is in force at once. Each is audited in its
// transaction.

// Audit actions of prices per customer.
const (
	ActionRateCardSet       Action = "rate_card_set"       // an account's own rate card set (a new version)
	ActionRateCardRequested Action = "rate_card_requested" // one beyond the discount limit waits for approval
)

// RateCardActions are the audit actions of prices per customer (the audit
// page's filter offers them).
var RateCardActions = []Action{ActionRateCardSet, ActionRateCardRequested}

// ApproveRateCard: an account rate card beyond the discount limit; an
// admin other than the requester approves it. Its amount is the depth in
// percent.
const ApproveRateCard ApprovalAction = "rate_card"

// DefaultRateCardDiscountPct is the discount limit when none is set.
var DefaultRateCardDiscountPct = decimal.NewFromInt(20)

// rateCardLimit is RateCardDiscountPct (0 when negative).
func (s Settings) rateCardLimit() decimal.Decimal {
	return decimal.Max(s.RateCardDiscountPct, decimal.Zero)
}

// RateCardDiscountLimit is the deepest discount (percent) a card applies
// without approval (the form says it).
func (s *Service) RateCardDiscountLimit() decimal.Decimal { return s.Settings().rateCardLimit() }

// RateCardFieldCodes are the field codes SetRateCard reports.
var RateCardFieldCodes = []string{"rate_card_kind", "rate_card_pinned", "rate_card_discount", "rate_card_line",
	"rate_card_model", "rate_card_price", "rate_card_duplicate", "rate_card_no_models", "reason_required"}

// RateCardPayload is the card an ApproveRateCard request holds.
type RateCardPayload struct {
	AccountID     int64                `json:"account_id"`
	Kind          pricing.CardKind     `json:"kind"`
	PinnedVersion int                  `json:"pinned_version,omitempty"`
	DiscountPct   decimal.Decimal      `json:"discount_pct"`
	Models        []pricing.ModelPrice `json:"models,omitempty"`
	Depth         decimal.Decimal      `json:"depth"`
	Reason        string               `json:"reason"`
}

// RateCard returns the card an ApproveRateCard request holds.
func (a Approval) RateCard() (RateCardPayload, error) {
	var p RateCardPayload
	err := json.Unmarshal(a.Payload, &p)
	return p, err
}

// SetRateCardRequest is the customer page's prices form as typed.
type SetRateCardRequest struct {
	AccountID int64
	Kind      string // none, pinned, discount, custom
	Pinned    string // a public version (pinned)
	Discount  string // percent (discount)
	Prices    string // lines (custom), pricing.ParseLines
	Reason    string
}

// RateCardResult is what SetRateCard did: the card now in force, or the
// approval it waits for (Pending).
type RateCardResult struct {
	Card     pricing.AccountCard
	Pending  bool
	Approval Approval
}

// SetRateCard gives an account its own rate card (a new version), audited.
// A card priced deeper below the public card in force than the discount
// limit waits as an ApproveRateCard approval instead. Admins only.
//
// Errors: ErrForbidden; ErrAccountNotFound; ErrApprovalPending (a card of
// this account already waits); *fielderr.Errors for kind, pinned_version,
// discount, prices and reason, all at once (codes in RateCardFieldCodes);
// pricing.ErrNoRateCard; database errors.
func (s *Service) SetRateCard(ctx context.Context, r SetRateCardRequest, actor Actor) (RateCardResult, error) {
	var out RateCardResult
	if err := actor.require(auth.RoleAdmin); err != nil {
		return out, err
	}
	if s.opt.Pricing == nil {
		return out, errors.New("backoffice: set rate card: no pricing configured")
	}
	acc, err := ledger.AccountByID(ctx, s.pool, r.AccountID)
	if errors.Is(err, ledger.ErrNotFound) {
		return out, ErrAccountNotFound
	}
	if err != nil {
		return out, err
	}
	public, err := s.opt.Pricing.InForce(ctx, s.opt.Pricing.Now()) // the clock account cards take effect by
	if err != nil {
		return out, err
	}
	versions := s.opt.Pricing.VersionFunc(ctx)
	p, err := readRateCard(r, public, versions)
	if err != nil {
		return out, err
	}
	p.AccountID = acc.ID
	card := p.card(actor.ref())
	if p.Depth, err = pricing.DepthOf(card, public, versions); err != nil {
		return out, err
	}
	limit := s.Settings().rateCardLimit()
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if p.Depth.GreaterThan(limit) {
			bal, err := readBalance(ctx, tx, acc.ID)
			if err != nil {
				return err
			}
			payload, _ := json.Marshal(p)
			a, _, err := newApproval(ctx, tx, Approval{Action: ApproveRateCard, Subject: fmt.Sprintf("rate_card:%d", acc.ID),
				AccountID: acc.ID, Amount: p.Depth, Payload: payload, Reason: p.Reason,
				RequestedBy: actor.User.ID, RequestedByEmail: actor.User.Email, RequestedAt: s.now()}, "")
			if err != nil {
				return err
			}
			out.Pending, out.Approval = true, a
			e := staffEntry(actor, ActionRateCardRequested, acc.ID)
			e.BalanceBefore, e.BalanceAfter, e.Reason = &bal, &bal, p.Reason
			e.Detail = map[string]any{"approval_id": a.ID, "kind": p.Kind, "depth": p.Depth, "limit": limit}
			_, err = Audit(ctx, tx, e)
			return err
		}
		var err error
		out.Card, err = s.setRateCardTx(ctx, tx, p, actor, nil)
		return err
	})
	if err != nil {
		return out, rateCardErr(err)
	}
	if !out.Pending && s.opt.OnPriceChange != nil {
		s.opt.OnPriceChange(acc.ID)
	}
	return out, nil
}

// card is the pricing.AccountCard p describes.
func (p RateCardPayload) card(actor string) pricing.AccountCard {
	return pricing.AccountCard{AccountID: p.AccountID, Kind: p.Kind, PinnedVersion: p.PinnedVersion,
		DiscountPct: p.DiscountPct, Models: p.Models, Actor: actor, Note: p.Reason}
}

// readRateCard reads the form into a payload, every field's problem at
// once, checked against the public card in force.
func readRateCard(r SetRateCardRequest, public pricing.Card, versions func(int) (pricing.Card, error)) (RateCardPayload, error) {
	p := RateCardPayload{Kind: pricing.CardKind(strings.TrimSpace(r.Kind)), Reason: strings.TrimSpace(r.Reason)}
	errs := fielderr.New("backoffice")
	if !p.Kind.Valid() {
		errs.Add("kind", "rate_card_kind")
	}
	switch p.Kind {
	case pricing.KindPinned:
		v, err := strconv.Atoi(strings.TrimSpace(r.Pinned))
		if err != nil || v <= 0 {
			errs.Add("pinned_version", "rate_card_pinned")
		}
		p.PinnedVersion = v
	case pricing.KindDiscount:
		d, err := format.ParseDecimal(strings.TrimRight(strings.TrimSpace(r.Discount), "%％"))
		if err != nil {
			errs.Add("discount", "rate_card_discount")
		}
		p.DiscountPct = d
	case pricing.KindCustom:
		lines, err := pricing.ParseLines(r.Prices, public)
		var le *pricing.LineError
		switch {
		case errors.As(err, &le) && le.Code == pricing.CodeModelNotPublic:
			errs.Add("prices", "rate_card_model", "model", le.Model)
		case errors.As(err, &le):
			errs.Add("prices", "rate_card_line", "line", strconv.Itoa(le.Line))
		}
		p.Models = lines
	}
	if p.Reason == "" {
		errs.Add("reason", "reason_required")
	}
	if p.Kind.Valid() && errs.Code("pinned_version") == "" && errs.Code("discount") == "" && errs.Code("prices") == "" {
		err := pricing.ValidateAccountCard(p.card("staff"), public, versions)
		var ve *pricing.ValidationError
		if errors.As(err, &ve) {
			name, code := cardField(ve.Code)
			errs.Add(name, code, "model", ve.Model)
		}
	}
	if !errs.Empty() {
		return p, errs
	}
	return p, nil
}

// cardField is the form field and code of a pricing validation code.
func cardField(code string) (string, string) {
	switch code {
	case pricing.CodeBadKind:
		return "kind", "rate_card_kind"
	case pricing.CodePinnedUnknown:
		return "pinned_version", "rate_card_pinned"
	case pricing.CodeDiscountRange:
		return "discount", "rate_card_discount"
	case pricing.CodeNoModels:
		return "prices", "rate_card_no_models"
	case pricing.CodeDuplicateModel:
		return "prices", "rate_card_duplicate"
	case pricing.CodeModelNotPublic:
		return "prices", "rate_card_model"
	}
	return "prices", "rate_card_price"
}

// rateCardErr turns pricing's refusal at the time of writing (the public
// card changed since the form was read) into the form's field errors.
func rateCardErr(err error) error {
	var ve *pricing.ValidationError
	if errors.As(err, &ve) {
		name, code := cardField(ve.Code)
		return fielderr.One("backoffice", name, code, "model", ve.Model)
	}
	return err
}

// setRateCardTx stores the card p describes as the account's next
// version on tx, audited (approvalID names the approval that applied it).
func (s *Service) setRateCardTx(ctx context.Context, tx pgx.Tx, p RateCardPayload, actor Actor, approvalID *int64) (pricing.AccountCard, error) {
	before, err := s.opt.Pricing.AccountCardsTx(ctx, tx, p.AccountID)
	if err != nil {
		return pricing.AccountCard{}, err
	}
	c := p.card(actor.ref())
	if approvalID != nil {
		c.ApprovalID = *approvalID
	}
	card, err := s.opt.Pricing.SetAccountCardTx(ctx, tx, c)
	if err != nil {
		return card, err
	}
	bal, err := readBalance(ctx, tx, p.AccountID)
	if err != nil {
		return card, err
	}
	e := staffEntry(actor, ActionRateCardSet, p.AccountID)
	e.BalanceBefore, e.BalanceAfter, e.Reason = &bal, &bal, p.Reason
	detail := map[string]any{"card_id": card.ID, "version": card.Version, "kind": card.Kind, "depth": p.Depth}
	switch card.Kind {
	case pricing.KindPinned:
		detail["pinned_version"] = card.PinnedVersion
	case pricing.KindDiscount:
		detail["discount_pct"] = card.DiscountPct
	case pricing.KindCustom:
		detail["models"] = card.Models
	}
	if len(before) > 0 {
		prev := before[len(before)-1]
		detail["before"] = map[string]any{"card_id": prev.ID, "version": prev.Version, "kind": prev.Kind}
	}
	if approvalID != nil {
		detail["approval_id"] = *approvalID
	}
	e.Detail = detail
	_, err = Audit(ctx, tx, e)
	return card, err
}

// applyRateCardApproval sets the card an approved ApproveRateCard request
// holds, as its requester, and marks the request applied, audited
// (Approve's part for rate cards).
func (s *Service) applyRateCardApproval(ctx context.Context, tx pgx.Tx, a Approval, approver Actor) (Approval, error) {
	if s.opt.Pricing == nil {
		return Approval{}, errors.New("backoffice: approve rate card: no pricing configured")
	}
	p, err := a.RateCard()
	if err != nil {
		return Approval{}, fmt.Errorf("backoffice: approval %d payload: %w", a.ID, err)
	}
	requester := Actor{User: auth.User{ID: a.RequestedBy, Email: a.RequestedByEmail}}
	card, err := s.setRateCardTx(ctx, tx, p, requester, &a.ID)
	if err != nil {
		return Approval{}, rateCardErr(err)
	}
	return s.markApplied(ctx, tx, a, approver, map[string]any{"card_id": card.ID, "version": card.Version},
		map[string]any{"depth": p.Depth, "card_id": card.ID, "version": card.Version}, nil, nil)
}

// AccountPrices is what prices an account's calls, for its page.
type AccountPrices struct {
	// Versions are the account's own card versions, oldest first.
	Versions []pricing.AccountCard
	// Current is the card in force now: its own, else (Inherited) its
	// enterprise's; nil: the public card.
	Current   *pricing.AccountCard
	Inherited bool
	// Public is the public version in force; Published every published
	// version, newest first.
	Public    int
	Published []int
}

// AccountPrices reads the account's own card versions, the card in force
// (pricing.Effective) and the public versions. Errors:
// ErrAccountNotFound, pricing.ErrNoRateCard, database errors.
func (s *Service) AccountPrices(ctx context.Context, accountID int64) (AccountPrices, error) {
	var out AccountPrices
	if s.opt.Pricing == nil {
		return out, fmt.Errorf("backoffice: account prices: %w (no pricing configured)", pricing.ErrNoRateCard)
	}
	acc, err := ledger.AccountByID(ctx, s.pool, accountID)
	if errors.Is(err, ledger.ErrNotFound) {
		return out, ErrAccountNotFound
	}
	if err != nil {
		return out, err
	}
	if out.Versions, err = s.opt.Pricing.AccountCards(ctx, acc.ID); err != nil {
		return out, err
	}
	var enterprise []pricing.AccountCard
	if acc.ParentID != nil {
		if enterprise, err = s.opt.Pricing.AccountCards(ctx, *acc.ParentID); err != nil {
			return out, err
		}
	}
	now := s.opt.Pricing.Now()
	out.Current = pricing.Effective(out.Versions, enterprise, now)
	out.Inherited = out.Current != nil && out.Current.AccountID != acc.ID
	public, err := s.opt.Pricing.InForce(ctx, now)
	if err != nil {
		return out, err
	}
	out.Public = public.Version
	versions, err := s.opt.Pricing.Versions(ctx)
	if err != nil {
		return out, err
	}
	for i := len(versions) - 1; i >= 0; i-- {
		if !versions[i].EffectiveAt.After(now) {
			out.Published = append(out.Published, versions[i].Version)
		}
	}
	return out, nil
}

// AccountCards lists the versions of an account's own rate card, oldest
// first. Errors: pricing.ErrNoRateCard (no pricing configured), database
// errors.
func (s *Service) AccountCards(ctx context.Context, accountID int64) ([]pricing.AccountCard, error) {
	if s.opt.Pricing == nil {
		return nil, fmt.Errorf("backoffice: account cards: %w (no pricing configured)", pricing.ErrNoRateCard)
	}
	return s.opt.Pricing.AccountCards(ctx, accountID)
}

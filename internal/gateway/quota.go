package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/internal/pricing"
)

// # Plan quota
//
// A call to a model the pool's plan covers is paid by the item's quota or by
// credits, as the pool's billing preference says (plans.Preference):
//
//   - plan_first: quota; past it, credits (plan lots first, then the
//     wallet: the ledger's spend order).
//   - wallet_first: credits; when they cannot cover the hold, quota.
//   - plan_only: quota; past it, plans.ErrQuotaExhausted (the API's 429
//     plan_quota_exhausted with the instant the window frees up).
//   - wallet_only: credits only.
//
// A quota-paid reservation is a plans quota use (token kind 3): its commit
// settles the actual requests and tokens in the same windows; tokens beyond
// the room the windows have left are charged as credits at the reservation's
// rate (the last tokens of the call: output first, then input, then cache
// hits). One idempotency key is one call: a key whose call fell to credits
// stays there (plans.ErrDeclined), and a wallet-first retry first asks
// whether its key holds quota already.

// PaidBy says what paid a call: quota of an item, plan credits, the wallet.
type PaidBy struct {
	Quota       *QuotaPaid      `json:"quota,omitempty"`
	PlanCredits decimal.Decimal `json:"plan_credits"`
	Wallet      decimal.Decimal `json:"wallet"`
}

// QuotaPaid is the quota a call held or used.
type QuotaPaid struct {
	Item     string `json:"item"`
	Requests int64  `json:"requests"`
	Tokens   int64  `json:"tokens"`
}

func creditsPaid(total, plan decimal.Decimal) PaidBy {
	return PaidBy{PlanCredits: plan, Wallet: total.Sub(plan)}
}

// cover is what the pool's plan says about model (nothing without quotas).
func (s *Service) cover(ctx context.Context, a *accountInfo, model string) (plans.Coverage, error) {
	if s.quotas == nil {
		return plans.Coverage{}, nil
	}
	return s.quotas.Cover(ctx, a.acct.PoolID, model)
}

// reserveQuota holds quota for the call. Errors: plans.ErrQuotaExhausted
// (*plans.ExhaustedError), plans.ErrDeclined, plans.ErrNoHold (replayOnly),
// plans.ErrNotFound (the plan no longer covers the model), and the
// idempotency and frozen errors.
func (s *Service) reserveQuota(ctx context.Context, key Key, a *accountInfo, in ReserveInput, c plans.Coverage,
	q pricing.Quote, fallback, replayOnly bool) (ReservationView, error) {
	version := q.Version
	h, err := s.quotas.Hold(ctx, plans.HoldRequest{Coverage: c, AccountID: a.acct.ID, Model: in.Model,
		IdempotencyKey: "rsv:" + in.IdempotencyKey, RequestHash: in.hash(), SessionID: in.SessionID,
		RateCardVersion: version, Requests: 1, Tokens: in.MaxInputTokens + in.MaxOutputTokens,
		TTL: s.opts.ReservationTTL, Fallback: fallback, ReplayOnly: replayOnly})
	if err != nil {
		return ReservationView{}, quotaError(err)
	}
	tok := reservationToken{mode: key.Mode, quota: true, reservation: h.ID, account: a.acct.ID, version: version, model: q.Index,
		card: q.Card, cost: s.costVersion(ctx, s.now())}
	return ReservationView{ID: s.encodeToken(tok), Reserved: decimal.Zero, ExpiresAt: h.ExpiresAt, RateCardVersion: version,
		PaidBy: PaidBy{Quota: &QuotaPaid{Item: h.Item, Requests: 1, Tokens: in.MaxInputTokens + in.MaxOutputTokens}}}, nil
}

// quotaError answers plans' errors as the gateway's own where one exists.
func quotaError(err error) error {
	switch {
	case errors.Is(err, plans.ErrUseConflict):
		return ErrIdempotencyConflict
	case errors.Is(err, plans.ErrAccountFrozen):
		return ledger.ErrAccountFrozen
	case errors.Is(err, plans.ErrUseNotFound):
		return ErrNotFound
	case errors.Is(err, plans.ErrUseClosed):
		return ledger.ErrReservationClosed
	}
	return err
}

// reserveWithPlan pays a covered call as c.Preference says; credits is the
// ledger path (Reserve's own). handled is false when the plan no longer
// covers the model and the call is the ledger's as usual.
func (s *Service) reserveWithPlan(ctx context.Context, key Key, a *accountInfo, in ReserveInput, c plans.Coverage,
	q pricing.Quote, credits func(shadow string) (ReservationView, error)) (v ReservationView, handled bool, err error) {
	switch c.Preference {
	case plans.WalletOnly:
		return ReservationView{}, false, nil
	case plans.WalletFirst:
		v, err = s.reserveQuota(ctx, key, a, in, c, q, false, true)
		switch {
		case err == nil:
			return v, true, nil // a retry of a call quota paid
		case errors.Is(err, plans.ErrNoHold), errors.Is(err, plans.ErrNotFound):
		default:
			return v, true, err
		}
		v, err = credits("")
		if !errors.Is(err, ledger.ErrInsufficientCredits) {
			return v, true, err
		}
		qv, qerr := s.reserveQuota(ctx, key, a, in, c, q, false, false)
		if qerr != nil {
			return v, true, err // the quota is no way out: the credits' refusal stands
		}
		return qv, true, nil
	}
	v, err = s.reserveQuota(ctx, key, a, in, c, q, c.Preference == plans.PlanFirst, false)
	switch {
	case c.Preference == plans.PlanOnly && errors.Is(err, plans.ErrQuotaExhausted):
		// a plan-only account past its quota: refused, unless the
		// enforcement switch says to let it through to credits (shadow:
		// and record the refusal it would have been)
		mode, merr := s.ledger.EnforcementOf(ctx, a.acct)
		switch {
		case merr != nil:
			return v, true, merr
		case mode == ledger.EnforceShadow:
			v, err = credits("plan_quota_exhausted")
		case mode == ledger.EnforceOff:
			v, err = credits("")
		}
		return v, true, err
	case err == nil, c.Preference == plans.PlanOnly && !errors.Is(err, plans.ErrNotFound):
		return v, true, err
	case errors.Is(err, plans.ErrQuotaExhausted), errors.Is(err, plans.ErrDeclined), errors.Is(err, plans.ErrNotFound):
		v, err = credits("")
		return v, true, err
	}
	return v, true, err
}

// commitQuota settles a quota-paid call and charges what did not fit. The
// settle, the call's usage record and the answer's available credit are one
// statement in the ledger writer's batch (gateway_quota_commit).
func (s *Service) commitQuota(ctx context.Context, t reservationToken, price pricing.ModelPrice, own *pricing.AccountCard,
	in CommitInput, requests int64) (CommitView, error) {
	a, err := s.accountByID(ctx, t.account)
	if err != nil {
		return CommitView{}, err
	}
	now := s.now()
	st, err := s.quotas.Settle(ctx, plans.SettleRequest{UseID: t.reservation, PoolID: a.acct.PoolID, AccountID: t.account,
		Requests: requests, InputTokens: in.InputTokens, OutputTokens: in.OutputTokens, CacheHitTokens: in.CacheHitTokens,
		Outcome: in.Outcome, Via: "gateway_quota_commit", With: map[string]any{
			"account_id": t.account, "now": now}})
	if err != nil {
		return CommitView{}, quotaError(err)
	}
	v := CommitView{PaidBy: PaidBy{Quota: &QuotaPaid{Item: st.Item, Requests: st.Requests, Tokens: st.Tokens}}}
	if cost := excessCost(price, in, st.ExcessTokens); cost.IsPositive() {
		d := usageDetail(in.InputTokens, in.OutputTokens, in.CacheHitTokens, 0, t.version, in.Outcome, own)
		// The cost beside this price is the upstream cost of the same excess
		// tokens (the quota-paid part's cost is in no charge).
		input, out, cache := excessTokens(in, st.ExcessTokens)
		d.CostVersion, d.Cost = s.cost(ctx, t.cost, price.Model, input, out, cache, 0)
		d.Upstream = in.Upstream
		detail := d.appendJSON(nil)
		ch, err := s.ledger.Charge(ctx, ledger.ChargeRequest{AccountID: t.account, Amount: cost,
			IdempotencyKey: "quota-excess:" + strconv.FormatInt(st.UseID, 10), Model: st.Item, Detail: detail})
		if err != nil {
			return CommitView{}, verificationRequired(err)
		}
		v.Charged, v.Unpaid, v.Available = ch.Charged, ch.Unpaid, ch.Available
		v.PaidBy.PlanCredits, v.PaidBy.Wallet = ch.PlanCharged, ch.Charged.Sub(ch.PlanCharged)
		return v, nil
	}
	var with struct {
		Available decimal.Decimal `json:"available"`
	}
	if err := json.Unmarshal(st.With, &with); err != nil {
		return CommitView{}, fmt.Errorf("gateway: quota commit: %w", err)
	}
	v.Available = with.Available
	return v, nil
}

// excessCost is what the tokens beyond the quota cost: the last tokens of
// the call, output first, then input, then cache hits.
func excessCost(p pricing.ModelPrice, in CommitInput, excess int64) decimal.Decimal {
	if excess <= 0 {
		return decimal.Zero
	}
	input, out, cache := excessTokens(in, excess)
	return pricing.UsageCost(p, input, out, cache, 0)
}

// excessTokens splits excess (> 0) tokens of the call by kind: output
// first, then input, then cache hits.
func excessTokens(in CommitInput, excess int64) (input, out, cache int64) {
	out = min(excess, in.OutputTokens)
	input = min(excess-out, in.InputTokens)
	cache = min(excess-out-input, in.CacheHitTokens)
	return input, out, cache
}

// releaseQuota gives a quota-paid call's hold back.
func (s *Service) releaseQuota(ctx context.Context, t reservationToken) (ReleaseView, error) {
	a, err := s.accountByID(ctx, t.account)
	if err != nil {
		return ReleaseView{}, err
	}
	if _, err := s.quotas.Release(ctx, t.reservation, a.acct.PoolID, t.account); err != nil {
		return ReleaseView{}, quotaError(err)
	}
	b, err := s.ledger.Balance(ctx, t.account)
	if err != nil {
		return ReleaseView{}, err
	}
	return ReleaseView{Available: b.Available}, nil
}

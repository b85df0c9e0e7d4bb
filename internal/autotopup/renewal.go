package autotopup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/internal/platform/db"
)

// # Plan auto-renewal by agreement
//
// A subscription that renews (active, i.e. not canceled, or past due within
// grace) of an account with a signed agreement is renewed through the
// agreement: RenewalNoticeLead before its renewal date (the term end) its
// renewal order (made by the plans job, internal/plans/renewal.go) gets an
// agreement payment order of purpose plan_renewal and a run, and the
// pre-debit notice goes out where the channel requires one (WeChat Pay);
// the debit job waits until the renewal date, checks the renewal is still
// unpaid, and debits it with the same retry, pause and notice rules as a
// top-up. Paying the order renews the subscription exactly as a renewal
// paid at the checkout (the PlanPaid hook). A renewal still unpaid at the
// term end puts the subscription past due with its grace (the plans job);
// a debit that succeeds within grace renews it from the old term end; a
// failed one leaves it in grace, to be paid by hand, and pauses auto
// top-up. The channel's per-debit and daily limits apply; the auto top-up
// monthly cap does not (it is the customer's cap on top-ups).

// Renewals are the plan renewals auto top-up pays (*plans.Subscriptions).
type Renewals interface {
	PayableRenewals(ctx context.Context, by time.Time, limit int) ([]plans.PayableRenewal, error)
	RenewalPayable(ctx context.Context, subscriptionID int64, periodStart time.Time) (bool, error)
}

// ScanRenewals orders the agreement debits of the renewals due within
// RenewalNoticeLead: one run and one order per renewal period, made under
// the agreement row's lock, the debit scheduled on the renewal date, and
// the pre-debit notice sent. It returns how many it ordered. Errors:
// database errors (the first; the others still run).
func (s *Service) ScanRenewals(ctx context.Context) (int, error) {
	if s.opts.Renewals == nil {
		return 0, nil
	}
	due, err := s.opts.Renewals.PayableRenewals(ctx, s.now().Add(s.opts.RenewalNoticeLead), 200)
	if err != nil {
		return 0, fmt.Errorf("autotopup: scan renewals: %w", err)
	}
	ordered := 0
	var first error
	for _, r := range due {
		ok, err := s.orderRenewal(ctx, r)
		if err != nil && first == nil {
			first = fmt.Errorf("autotopup: renewal of subscription %d: %w", r.SubscriptionID, err)
		}
		if ok {
			ordered++
		}
	}
	return ordered, first
}

// orderRenewal makes the run and order of one renewal, if the account has
// a signed agreement and none was made for the period; then sends the
// pre-debit notice.
func (s *Service) orderRenewal(ctx context.Context, r plans.PayableRenewal) (bool, error) {
	var a Agreement
	var runID int64
	var o payments.Order
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		runID = 0
		var err error
		a, err = queryAgreement(ctx, tx, selectInForce+` FOR UPDATE`, r.AccountID)
		if errors.Is(err, ErrNotFound) {
			return nil // no agreement in force: the customer pays at the checkout
		}
		if err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM autotopup_runs WHERE purpose = 'plan_renewal'
			AND subscription_id = $1 AND period_start = $2)`, r.SubscriptionID, r.PeriodStart).Scan(&exists); err != nil || exists {
			return err
		}
		now := s.now().In(chinaTime)
		day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
		detail := map[string]any{"subscription_id": r.SubscriptionID, "plan": r.PlanCode, "cycle": r.Cycle,
			"period_start": r.PeriodStart, "amount_fen": r.PriceFen, "purpose": PurposePlanRenewal}
		var dayFen int64
		if err := tx.QueryRow(ctx, `SELECT coalesce(sum(amount_fen), 0) FROM autotopup_runs WHERE account_id = $1 AND day = $2 AND state <> 'failed'`,
			a.AccountID, day).Scan(&dayFen); err != nil {
			return err
		}
		lim := s.opts.Limits[a.Channel]
		reason := ""
		switch {
		case lim.PerDebitFen > 0 && r.PriceFen > lim.PerDebitFen:
			reason = "per_debit_limit"
		case lim.DailyFen > 0 && dayFen+r.PriceFen > lim.DailyFen:
			reason = "daily_limit"
		}
		if reason != "" {
			// Recorded once: the run row marks the period as handled.
			detail["reason"] = reason
			return s.historyTx(ctx, tx, a.AccountID, HistorySkipped, detail, Actor{}, "autotopup_skipped")
		}
		ttl := r.PeriodStart.Sub(s.now()) + 24*time.Hour
		if ttl < s.opts.OrderTTL {
			ttl = s.opts.OrderTTL
		}
		o, err = s.payments.CreateAgreementPlanOrderTx(ctx, tx, a.AccountID, payments.PlanOffer{Code: r.PlanCode, Version: r.PlanVersion,
			Cycle: string(r.Cycle), PriceFen: r.PriceFen, SubscriptionID: r.SubscriptionID, PeriodStart: r.PeriodStart}, a.Channel, ttl)
		if err != nil {
			return err
		}
		notBefore := r.PeriodStart
		err = tx.QueryRow(ctx, `INSERT INTO autotopup_runs (account_id, agreement_id, purpose, subscription_id, period_start, not_before,
			order_no, amount_fen, day) VALUES ($1, $2, 'plan_renewal', $3, $4, $5, $6, $7, $8) RETURNING id`,
			a.AccountID, a.ID, r.SubscriptionID, r.PeriodStart, notBefore, o.OrderNo, r.PriceFen, day).Scan(&runID)
		if err != nil {
			return err
		}
		detail["order_no"] = o.OrderNo
		if err := s.historyTx(ctx, tx, a.AccountID, HistoryDebitRequested, detail, Actor{}, "autotopup_renewal_requested"); err != nil {
			return err
		}
		opts := &river.InsertOpts{}
		if notBefore.After(s.now()) {
			opts.ScheduledAt = notBefore
		}
		_, err = s.jobs.InsertTx(ctx, tx, DebitArgs{RunID: runID}, opts)
		return err
	})
	if err != nil || runID == 0 {
		return false, err
	}
	// The pre-debit notice, after the order exists; a failure is recorded,
	// not retried (the debit itself tells the customer if it fails).
	ch, err := s.payments.AgreementChannel(a.Channel)
	if err == nil {
		err = ch.PreDebitNotice(ctx, *a.ContractID, r.PriceFen)
	}
	detail := map[string]any{"order_no": o.OrderNo, "amount_fen": r.PriceFen}
	if err != nil {
		detail["error"] = err.Error()
	}
	return true, db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		return s.historyTx(ctx, tx, a.AccountID, HistoryPreDebitNotice, detail, Actor{}, "autotopup_pre_debit_notice")
	})
}

package plans

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/platform/jobs"
	"github.com/seed75218f88/credits/internal/platform/mail"
	"github.com/seed75218f88/credits/internal/webhook"
)

// Notice is a subscription change the account is told about (webhook and
// mail), sent inside the transaction that made it (Options.Notify).
type Notice struct {
	// Kind is renewal_ordered, renewed, past_due, expired, upgraded,
	// downgrade_scheduled or canceled.
	Kind         EventKind
	Subscription Subscription
	// Renewal is the renewal order concerned (nil for expired).
	Renewal *Renewal
	// EventID is the subscription event announced, when a kind can happen
	// more than once in a term (upgraded, downgrade_scheduled, canceled,
	// resumed): it keeps the webhook event ids apart.
	EventID int64
	// Upgrade is what an upgrade cost and granted (upgraded only).
	Upgrade *UpgradeNotice
}

// UpgradeNotice is an upgrade as webhooks report it.
type UpgradeNotice struct {
	FromPlan    string          `json:"from_plan"`
	FromVersion int             `json:"from_plan_version"`
	PriceFen    int64           `json:"price_fen"`
	Credits     decimal.Decimal `json:"credits"`
}

// notify passes n to Options.Notify, when set.
func (s *Subscriptions) notify(ctx context.Context, tx pgx.Tx, n Notice) error {
	if s.notifyHook == nil {
		return nil
	}
	return s.notifyHook(ctx, tx, n)
}

// Webhook event types of subscriptions.
const (
	WebhookRenewalDue = "subscription.renewal_due"
	WebhookRenewed    = "subscription.renewed"
	WebhookPastDue    = "subscription.past_due"
	WebhookExpired    = "subscription.expired"
	// WebhookUpgraded, WebhookDowngradeScheduled, WebhookCanceled: plan
	// changes (changes.go).
	WebhookUpgraded           = "subscription.upgraded"
	WebhookDowngradeScheduled = "subscription.downgrade_scheduled"
	WebhookCanceled           = "subscription.canceled"
)

// SubscriptionPayload is the data of a subscription.* webhook event.
type SubscriptionPayload struct {
	Account        string      `json:"account"`
	SubscriptionID int64       `json:"subscription_id"`
	Plan           string      `json:"plan"`
	PlanVersion    int         `json:"plan_version"`
	Cycle          Cycle       `json:"cycle"`
	State          State       `json:"state"`
	TermEnd        time.Time   `json:"term_end"`
	GraceUntil     *time.Time  `json:"grace_until,omitempty"`
	Renewal        *RenewalDue `json:"renewal,omitempty"`
	// Next is the change scheduled for the term's end, if any.
	Next *ScheduledPlan `json:"next,omitempty"`
	// Upgrade is set on subscription.upgraded.
	Upgrade *UpgradeNotice `json:"upgrade,omitempty"`
}

// ScheduledPlan is a change scheduled for the term's end as webhooks
// report it.
type ScheduledPlan struct {
	Plan        string    `json:"plan"`
	PlanVersion int       `json:"plan_version"`
	Cycle       Cycle     `json:"cycle"`
	From        time.Time `json:"from"`
}

// RenewalDue is a renewal order as webhooks report it.
type RenewalDue struct {
	PeriodStart time.Time `json:"period_start"`
	PeriodEnd   time.Time `json:"period_end"`
	Plan        string    `json:"plan"`
	PlanVersion int       `json:"plan_version"`
	Cycle       Cycle     `json:"cycle"`
	PriceFen    int64     `json:"price_fen"`
}

// Notifier sends subscription notices as signed webhooks (internal/webhook)
// and mails to the account's portal user in the user's language, both
// queued through River in the caller's transaction.
type Notifier struct {
	Webhooks *webhook.Service
	Jobs     jobs.Inserter
	I18n     *i18n.Bundle
}

// notices maps a notice kind to its webhook type and mail key.
var notices = map[EventKind]struct{ webhook, mail string }{
	EventRenewalOrdered: {WebhookRenewalDue, "mail.plan_renewal_due"},
	EventRenewed:        {WebhookRenewed, ""},
	EventPastDue:        {WebhookPastDue, "mail.plan_past_due"},
	EventExpired:        {WebhookExpired, "mail.plan_expired"},
	// The customer made these changes on the portal: a webhook, no mail.
	EventUpgraded:           {WebhookUpgraded, ""},
	EventDowngradeScheduled: {WebhookDowngradeScheduled, ""},
	EventCanceled:           {WebhookCanceled, ""},
}

// Notify queues n's webhook (an event id derived from the subscription,
// kind and term, so a retried transaction cannot announce it twice) and
// mail. It works inside the caller's transaction.
func (n *Notifier) Notify(ctx context.Context, tx pgx.Tx, no Notice) error {
	kind, ok := notices[no.Kind]
	if !ok {
		return nil
	}
	sub := no.Subscription
	acc, err := ledger.AccountByID(ctx, tx, sub.AccountID)
	if err != nil {
		return err
	}
	p := SubscriptionPayload{SubscriptionID: sub.ID, Plan: sub.PlanCode, PlanVersion: sub.PlanVersion, Cycle: sub.Cycle,
		State: sub.State, TermEnd: sub.TermEnd, GraceUntil: sub.GraceUntil, Upgrade: no.Upgrade}
	if sub.NextPlanCode != "" {
		p.Next = &ScheduledPlan{Plan: sub.NextPlanCode, PlanVersion: sub.NextPlanVersion, Cycle: sub.NextCycle, From: sub.TermEnd}
	}
	if acc.ExternalID != nil {
		p.Account = *acc.ExternalID
	}
	r := no.Renewal
	if r != nil {
		p.Renewal = &RenewalDue{PeriodStart: r.PeriodStart, PeriodEnd: r.PeriodEnd, Plan: r.PlanCode, PlanVersion: r.PlanVersion,
			Cycle: r.Cycle, PriceFen: r.PriceFen}
	}
	id := fmt.Sprintf("evt_sub_%s_%d_%d", no.Kind, sub.ID, sub.TermEnd.Unix())
	if no.EventID != 0 {
		id = fmt.Sprintf("evt_sub_%s_%d_e%d", no.Kind, sub.ID, no.EventID)
	}
	ev := &webhook.Event{ID: id, AccountID: sub.AccountID, Type: kind.webhook, Payload: p}
	if err := n.Webhooks.EnqueueEventTx(ctx, tx, ev); err != nil {
		return err
	}
	if kind.mail == "" || n.I18n == nil {
		return nil
	}
	var email, locale string
	err = tx.QueryRow(ctx, `SELECT email, locale FROM users WHERE account_id = $1 AND email IS NOT NULL AND NOT disabled
ORDER BY id LIMIT 1`, sub.AccountID).Scan(&email, &locale)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	l := n.I18n.Localizer(locale)
	data := map[string]any{"Plan": sub.PlanCode, "TermEnd": sub.TermEnd.In(format.Shanghai).Format("2006-01-02 15:04")}
	if r != nil {
		data["Price"] = format.Money(decimal.New(r.PriceFen, -2))
		data["Renewal"] = r.PlanCode
		data["Cycle"] = l.T("plans.buy." + string(r.Cycle))
	}
	if sub.GraceUntil != nil {
		data["GraceUntil"] = sub.GraceUntil.In(format.Shanghai).Format("2006-01-02 15:04")
	}
	return mail.EnqueueTx(ctx, n.Jobs, tx, mail.Compose(l, kind.mail, data, email))
}

package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/platform/jobs"
	"github.com/seed75218f88/credits/internal/platform/mail"
	"github.com/seed75218f88/credits/internal/webhook"

	"github.com/seed75218f88/credits/internal/platform/format"
)

// # Why an outbox
//
// The issue asks that alerts be "enqueued in the same transaction as the
// ledger write that caused them, so no alert is lost or sent twice". The
// ledger folds many callers' writes into one transaction of its own and
// offers no hook, and checking thresholds on every reserve would add work
// to the hot path. So the ledger's event table is the outbox: ScanEvents
// reads the events after a cursor, decides the crossings, enqueues the mail
// and webhook jobs (with ids derived from the events, so even a replay
// could not deliver twice) and advances the cursor, all in ONE transaction.
// If it commits, the jobs exist and the cursor moved; if it fails, neither
// happened and the next run sees the same events. The cursor row is locked
// for the scan, so scanners on several servers never overlap.
//
// Event ids come from one identity sequence. A lower id may still be in an
// uncommitted transaction when a higher one is visible, so the scan stops
// at a gap in the ids unless the event after it was recorded more than
// GapTimeout ago (then the gap is an id burnt by a rolled-back transaction;
// the ledger's writer transactions time out after a minute).
//
// Low balance: each pool remembers its baseline, the balance after its
// latest top-up (purchase) or grant, and the deepest threshold announced
// since. When an event leaves the pool's owned credit (balance_after:
// lots' remainders, holds excluded, less the credit line: the unused line
// is not the pool's money, ledger.FeedEvent.OwnAfter) below 20 % or 5 % of
// the baseline, and
// that threshold was not yet announced, one alert goes out (only the deeper
// one when a single event crosses both). The next top-up or grant resets it.
//
// Expiry reminders: RemindExpiring announces once each lot with credit left
// that expires within ReminderDays, recorded in gateway_expiry_reminders in
// the same transaction as its jobs.

// AlertOptions tune Alerts; zero values take the defaults named.
type AlertOptions struct {
	// ReminderDays before a lot expires its reminder goes out (7).
	ReminderDays int
	// CurrentReminderDays, when set and positive, replaces ReminderDays at
	// each run (the settings screen, internal/settings).
	CurrentReminderDays func() int
	// GapTimeout after which a gap in event ids is skipped (2 minutes).
	GapTimeout time.Duration
	// Batch is the most events one scan reads (1,000).
	Batch int
	// Now is the clock for expiry reminders (time.Now).
	Now func() time.Time
	// I18n renders the mails (the embedded locales when nil).
	I18n *i18n.Bundle
}

// Alerts turns ledger events into low-balance and expiry alerts.
type Alerts struct {
	pool     db.Querier
	jobs     jobs.Inserter
	webhooks *webhook.Service
	opts     AlertOptions
}

// reminderDays is ReminderDays in force (CurrentReminderDays when set).
func (a *Alerts) reminderDays() int {
	if a.opts.CurrentReminderDays != nil {
		if d := a.opts.CurrentReminderDays(); d > 0 {
			return d
		}
	}
	return a.opts.ReminderDays
}

// NewAlerts returns the alert scanner; ins is the River client, webhooks
// the webhook service fanning events out to the account's endpoints.
func NewAlerts(pool db.Querier, ins jobs.Inserter, webhooks *webhook.Service, opts AlertOptions) (*Alerts, error) {
	if opts.ReminderDays <= 0 {
		opts.ReminderDays = 7
	}
	if opts.GapTimeout <= 0 {
		opts.GapTimeout = 2 * time.Minute
	}
	if opts.Batch <= 0 {
		opts.Batch = 1000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.I18n == nil {
		b, err := i18n.Default()
		if err != nil {
			return nil, err
		}
		opts.I18n = b
	}
	return &Alerts{pool: pool, jobs: ins, webhooks: webhooks, opts: opts}, nil
}

type poolState struct {
	baseline   decimal.Decimal
	baselineID int64
	level      int  // thresholds announced since the baseline, highest first
	known      bool // a row exists
	dirty      bool
	settings   AlertSettings
}

const selectState = `SELECT baseline, baseline_event_id, level FROM gateway_alert_state WHERE pool_id = $1`

const upsertState = `
INSERT INTO gateway_alert_state (pool_id, baseline, baseline_event_id, level, updated_at) VALUES ($1, $2, $3, $4, now())
ON CONFLICT (pool_id) DO UPDATE SET baseline = EXCLUDED.baseline, baseline_event_id = EXCLUDED.baseline_event_id,
  level = EXCLUDED.level, updated_at = now()`

// ScanEvents reads the ledger events after the cursor and enqueues the
// low-balance alerts they cause, advancing the cursor in the same
// transaction. Without a cursor (the first run) it starts at the newest
// event, so old history raises no alerts. It returns how many events it consumed (call it again while
// that equals the batch size).
func (a *Alerts) ScanEvents(ctx context.Context) (int, error) {
	consumed := 0
	err := db.InTx(ctx, a.pool, func(tx pgx.Tx) error {
		states := map[int64]*poolState{}
		var err error
		consumed, err = ledger.ConsumeFeed(ctx, tx, "gateway_alert_cursor", a.opts.Batch, a.opts.GapTimeout, func(e ledger.FeedEvent) error {
			st, ok := states[e.PoolID]
			if !ok {
				st = &poolState{}
				err := tx.QueryRow(ctx, selectState, e.PoolID).Scan(&st.baseline, &st.baselineID, &st.level)
				if err != nil && !errors.Is(err, pgx.ErrNoRows) {
					return err
				}
				st.known = err == nil
				if st.settings, err = alertSettings(ctx, tx, e.PoolID); err != nil {
					return err
				}
				states[e.PoolID] = st
			}
			return a.apply(ctx, tx, e, st)
		})
		if err != nil {
			return err
		}
		for pool, st := range states {
			if st.dirty {
				if _, err := tx.Exec(ctx, upsertState, pool, st.baseline, st.baselineID, st.level); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("gateway: scan alerts: %w", err)
	}
	return consumed, nil
}

// apply updates a pool's state with one event and enqueues the alert it causes.
func (a *Alerts) apply(ctx context.Context, tx pgx.Tx, e ledger.FeedEvent, st *poolState) error {
	if (e.Type == ledger.EventPurchase || e.Type == ledger.EventGrant) && e.Amount.IsPositive() {
		st.baseline, st.baselineID, st.level, st.dirty = e.OwnAfter, e.ID, 0, true
		return nil
	}
	if !st.baseline.IsPositive() {
		return nil
	}
	// The level is how many of the thresholds (highest first) the
	// available credit is below; only the deepest newly crossed one is
	// announced.
	ths := st.settings.thresholds(st.baseline)
	level := 0
	for _, t := range ths {
		if !e.OwnAfter.LessThan(t.amount(st.baseline)) {
			break
		}
		level++
	}
	if level <= st.level {
		return nil
	}
	st.level, st.dirty = level, true
	crossed := ths[level-1]
	acct, err := a.accountOf(ctx, tx, e.PoolID)
	if err != nil {
		return err
	}
	payload := LowBalancePayload{Account: acct.external, Mode: acct.mode, ThresholdPercent: crossed.percent,
		Available: e.OwnAfter, Baseline: st.baseline, LedgerEventID: e.ID}
	if crossed.percent == 0 {
		c := crossed.credits
		payload.ThresholdCredits = &c
	}
	ev := &webhook.Event{ID: fmt.Sprintf("evt_balance_low_%d_%d_%s", e.PoolID, st.baselineID, crossed.id()),
		AccountID: e.PoolID, Type: "balance.low", Payload: payload}
	if err := a.webhooks.EnqueueEventTx(ctx, tx, ev); err != nil {
		return err
	}
	data := map[string]any{"Account": acct.label(), "Percent": crossed.percent,
		"Available": e.OwnAfter.StringFixed(2), "Baseline": st.baseline.StringFixed(2)}
	key := "mail.balance_low"
	if crossed.percent == 0 {
		key, data["Threshold"] = "mail.balance_low_credits", crossed.credits.StringFixed(2)
	}
	return a.alertMailTx(ctx, tx, e.PoolID, st.settings, key, data)
}

// LowBalancePayload is the data of a balance.low webhook event.
type LowBalancePayload struct {
	Account string      `json:"account"`
	Mode    ledger.Mode `json:"mode"`
	// ThresholdPercent is the share of Baseline crossed, or 0 when the
	// crossed threshold is ThresholdCredits (set by the customer).
	ThresholdPercent int              `json:"threshold_percent"`
	ThresholdCredits *decimal.Decimal `json:"threshold_credits,omitempty"`
	Available        decimal.Decimal  `json:"available"`
	Baseline         decimal.Decimal  `json:"baseline"`
	LedgerEventID    int64            `json:"ledger_event_id"`
}

// LotExpiringPayload is the data of a lot.expiring webhook event.
type LotExpiringPayload struct {
	Account   string          `json:"account"`
	Mode      ledger.Mode     `json:"mode"`
	LotID     int64           `json:"lot_id"`
	Kind      ledger.LotKind  `json:"kind"`
	Remaining decimal.Decimal `json:"remaining"`
	ExpiresAt time.Time       `json:"expires_at"`
}

type acctRef struct {
	id       int64
	external string
	mode     ledger.Mode
	name     string
}

func (r acctRef) label() string {
	if r.external != "" {
		return r.external
	}
	if r.name != "" {
		return r.name
	}
	return fmt.Sprint(r.id)
}

func (a *Alerts) accountOf(ctx context.Context, tx pgx.Tx, id int64) (acctRef, error) {
	acc, err := ledger.AccountByID(ctx, tx, id)
	if err != nil {
		return acctRef{}, err
	}
	r := acctRef{id: id, mode: acc.Mode, name: acc.Name}
	if acc.ExternalID != nil {
		r.external = *acc.ExternalID
	}
	return r, nil
}

const selectRecipient = `
SELECT email, locale FROM users WHERE account_id = $1 AND email IS NOT NULL AND NOT disabled`

// alertMailTx enqueues a low-balance mail to whom the settings name: the
// account's own user (MailOwner, in the user's language) and the extra
// recipients (in the user's language, else Chinese).
func (a *Alerts) alertMailTx(ctx context.Context, tx pgx.Tx, accountID int64, s AlertSettings, key string, data map[string]any) error {
	var owner, locale string
	err := tx.QueryRow(ctx, selectRecipient, accountID).Scan(&owner, &locale)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	l := a.opts.I18n.Localizer(locale)
	var to []string
	if s.MailOwner && owner != "" {
		to = append(to, owner)
	}
	for _, r := range s.Recipients {
		if !strings.EqualFold(r, owner) || !s.MailOwner {
			to = append(to, r)
		}
	}
	for _, r := range to {
		if err := mail.EnqueueTx(ctx, a.jobs, tx, mail.Compose(l, key, data, r)); err != nil {
			return err
		}
	}
	return nil
}

// mailTx enqueues the alert mail <key>.subject / <key>.text to the account's
// portal user, in the user's language; an account without one gets the
// webhook only.
func (a *Alerts) mailTx(ctx context.Context, tx pgx.Tx, accountID int64, key string, data map[string]any) error {
	var email, locale string
	err := tx.QueryRow(ctx, selectRecipient, accountID).Scan(&email, &locale)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	l := a.opts.I18n.Localizer(locale)
	return mail.EnqueueTx(ctx, a.jobs, tx, mail.Compose(l, key, data, email))
}

const selectExpiring = `
SELECT l.id, l.pool_id, l.kind, l.remaining, l.expires_at FROM ledger_lot_view l
WHERE l.expires_at > $1 AND l.expires_at <= $2 AND l.remaining > 0
  AND NOT EXISTS (SELECT 1 FROM gateway_expiry_reminders r WHERE r.lot_id = l.id)
ORDER BY l.expires_at LIMIT 500`

const insertReminder = `
INSERT INTO gateway_expiry_reminders (lot_id, pool_id, expires_at) VALUES ($1, $2, $3)
ON CONFLICT (lot_id) DO NOTHING`

// RemindExpiring announces, once per lot, each lot with credit left that
// expires within ReminderDays, by mail and webhook, recording the reminder
// in the same transaction. It returns how many reminders it sent.
func (a *Alerts) RemindExpiring(ctx context.Context) (int, error) {
	sent := 0
	now := a.opts.Now().UTC()
	err := db.InTx(ctx, a.pool, func(tx pgx.Tx) error {
		sent = 0
		rows, _ := tx.Query(ctx, selectExpiring, now, now.AddDate(0, 0, a.reminderDays()))
		type lot struct {
			id, pool  int64
			kind      ledger.LotKind
			remaining decimal.Decimal
			expires   time.Time
		}
		lots, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (lot, error) {
			var l lot
			err := r.Scan(&l.id, &l.pool, &l.kind, &l.remaining, &l.expires)
			return l, err
		})
		if err != nil {
			return err
		}
		for _, l := range lots {
			tag, err := tx.Exec(ctx, insertReminder, l.id, l.pool, l.expires)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				continue // another scanner sent it
			}
			acct, err := a.accountOf(ctx, tx, l.pool)
			if err != nil {
				return err
			}
			ev := &webhook.Event{ID: fmt.Sprintf("evt_lot_expiring_%d", l.id), AccountID: l.pool, Type: "lot.expiring",
				Payload: LotExpiringPayload{Account: acct.external, Mode: acct.mode, LotID: l.id, Kind: l.kind,
					Remaining: l.remaining, ExpiresAt: l.expires}}
			if err := a.webhooks.EnqueueEventTx(ctx, tx, ev); err != nil {
				return err
			}
			data := map[string]any{"Account": acct.label(), "Remaining": l.remaining.StringFixed(2),
				"ExpiresAt": l.expires.In(format.Shanghai).Format("2006-01-02 15:04"), "Kind": string(l.kind)}
			if err := a.mailTx(ctx, tx, l.pool, "mail.lot_expiring", data); err != nil {
				return err
			}
			sent++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("gateway: expiry reminders: %w", err)
	}
	return sent, nil
}

// AlertScanArgs is the periodic job running ScanEvents and RemindExpiring.
type AlertScanArgs struct{}

// Kind names the job in River's tables.
func (AlertScanArgs) Kind() string { return "gateway_alert_scan" }

// AlertScanWorker works AlertScanArgs.
type AlertScanWorker struct {
	river.WorkerDefaults[AlertScanArgs]
	Alerts *Alerts
}

// Work scans until the outbox is drained, then sends due expiry reminders.
func (w *AlertScanWorker) Work(ctx context.Context, _ *river.Job[AlertScanArgs]) error {
	for {
		n, err := w.Alerts.ScanEvents(ctx)
		if err != nil {
			return err
		}
		if n < w.Alerts.opts.Batch {
			break
		}
	}
	_, err := w.Alerts.RemindExpiring(ctx)
	return err
}

// LedgerMaintenanceArgs is the periodic job expiring lots past their
// expiry and closing reservations past their TTL.
type LedgerMaintenanceArgs struct{}

// Kind names the job in River's tables.
func (LedgerMaintenanceArgs) Kind() string { return "gateway_ledger_maintenance" }

// LedgerMaintenanceWorker works LedgerMaintenanceArgs with the ledger's
// ExpireDue and SweepReservations (the ledger's ExpiredReservations option
// decides release or charge).
type LedgerMaintenanceWorker struct {
	river.WorkerDefaults[LedgerMaintenanceArgs]
	Ledger *ledger.Ledger
}

// Work runs both sweeps until they find nothing more.
func (w *LedgerMaintenanceWorker) Work(ctx context.Context, _ *river.Job[LedgerMaintenanceArgs]) error {
	for {
		n, err := w.Ledger.ExpireDue(ctx, 500)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
	}
	for {
		n, err := w.Ledger.SweepReservations(ctx, 500)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
	}
}

// AddWorkers registers the gateway's job workers.
func AddWorkers(w *river.Workers, alerts *Alerts, l *ledger.Ledger) {
	river.AddWorker(w, &AlertScanWorker{Alerts: alerts})
	river.AddWorker(w, &LedgerMaintenanceWorker{Ledger: l})
}

// PeriodicJobs are the gateway's schedules: the alert outbox every
// alertEvery (5 s in production) and the ledger sweeps every minute.
func PeriodicJobs(alertEvery time.Duration) []*river.PeriodicJob {
	if alertEvery <= 0 {
		alertEvery = 5 * time.Second
	}
	return []*river.PeriodicJob{
		jobs.Every(alertEvery, AlertScanArgs{}),
		jobs.Every(time.Minute, LedgerMaintenanceArgs{}),
	}
}

// Package forecast warns an account whose balance is about to run out: an
// hourly job finds accounts whose balance lasts fewer days than the business
// setting alerts.runway_days at the last 7 days' pace (the portal overview's
// forecast, usage.RunwayAt) and sends each the balance.runway_low webhook
// and a mail, at most once per account and Asia/Shanghai day.
//
// Once a day is kept by the database, not by the job: the runway_alerts row
// (primary key account and day) is inserted with ON CONFLICT DO NOTHING in
// the transaction that enqueues the webhook and the mail, so any number of
// runs, in any number of processes, alert once.
package forecast

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/platform/jobs"
	"github.com/seed75218f88/credits/internal/platform/mail"
	"github.com/seed75218f88/credits/internal/usage"
	"github.com/seed75218f88/credits/internal/webhook"
)

// WebhookRunwayLow is the webhook event type of the alert.
const WebhookRunwayLow = "balance.runway_low"

// RunwayPayload is the data of a balance.runway_low webhook.
type RunwayPayload struct {
	AccountID int64 `json:"account_id"`
	// Day is the Asia/Shanghai day of the alert (YYYY-MM-DD): one per day.
	Day string `json:"day"`
	// Days is the forecast: the balance lasts about this many whole days
	// (0: less than a day) at the pace of SpentLast7Days.
	Days           int64           `json:"days"`
	Threshold      int             `json:"threshold"`
	Available      decimal.Decimal `json:"available"`
	SpentLast7Days decimal.Decimal `json:"spent_last_7_days"`
	At             time.Time       `json:"at"`
}

// Options configures a Service.
type Options struct {
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Threshold is alerts.runway_days in force (0 or less: no alerts).
	Threshold func() int
	// PortalURL is the top-up page the mail links to.
	PortalURL string
}

// Service finds accounts about to run out and alerts them.
type Service struct {
	pool     db.Querier
	ledger   *ledger.Ledger
	usage    *usage.Store
	webhooks *webhook.Service
	jobs     jobs.Inserter
	i18n     *i18n.Bundle
	opts     Options
}

// New returns the service; webhooks, ins and bundle may be nil (no webhook,
// no mail).
func New(pool db.Querier, l *ledger.Ledger, u *usage.Store, wh *webhook.Service, ins jobs.Inserter, bundle *i18n.Bundle, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Threshold == nil {
		opts.Threshold = func() int { return 0 }
	}
	return &Service{pool: pool, ledger: l, usage: u, webhooks: wh, jobs: ins, i18n: bundle, opts: opts}
}

// scanBatch is how many accounts one query of Scan reads.
const scanBatch = 500

// sqlCandidates are the pool accounts, after a cursor, that spent in the
// forecast's days ($2 to $3) and were not alerted on day $4: only they can
// have a forecast. Each probe uses the usage index by occurrence.
const sqlCandidates = `
SELECT a.id FROM ledger_account_view a
WHERE a.id > $1 AND a.kind <> 'sub' AND a.status = 'active'
  AND EXISTS (SELECT 1 FROM ledger_event_view e WHERE e.pool_id = a.id
      AND e.type IN ('deduction', 'unpaid_usage', 'reservation_expired_charge')
      AND e.occurred_at >= $2 AND e.occurred_at < $3)
  AND NOT EXISTS (SELECT 1 FROM runway_alerts r WHERE r.account_id = a.id AND r.day = $4)
ORDER BY a.id LIMIT $5`

// Scan alerts every account under the threshold that was not alerted today
// and returns how many it alerted. Several Scans may run at once, in one
// process or many: each account is alerted once a day (Alert). Errors: the
// first failure (the other accounts are still checked), database errors.
func (s *Service) Scan(ctx context.Context) (int, error) {
	threshold := s.opts.Threshold()
	if threshold <= 0 {
		return 0, nil
	}
	now := s.opts.Now()
	today := usage.Day(now)
	from := today.AddDate(0, 0, -usage.RunwayDays)
	var sent int
	var firstErr error
	for cursor := int64(0); ; {
		rows, _ := s.pool.Query(ctx, sqlCandidates, cursor, from, today, today.Format(time.DateOnly), scanBatch)
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return sent, fmt.Errorf("forecast: scan: %w", err)
		}
		for _, id := range ids {
			ok, err := s.Alert(ctx, id, threshold, now)
			if err != nil && firstErr == nil {
				firstErr = err
			}
			if ok {
				sent++
			}
		}
		if len(ids) < scanBatch {
			return sent, firstErr
		}
		cursor = ids[len(ids)-1]
	}
}

const sqlInsertAlert = `INSERT INTO runway_alerts (account_id, day, days, threshold, available, spent_7d, sent_at)
VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`

// Alert sends the account (a pool) the balance.runway_low webhook and mail
// when its balance lasts fewer than threshold days at the last 7 days' pace
// and it was not alerted on now's Asia/Shanghai day; it reports whether it
// sent one. The day's runway_alerts row, the webhook and the mail job
// commit together, so concurrent calls send one. Errors: ledger, usage and
// database errors.
func (s *Service) Alert(ctx context.Context, accountID int64, threshold int, now time.Time) (bool, error) {
	bal, err := s.ledger.Balance(ctx, accountID)
	if err != nil {
		return false, fmt.Errorf("forecast: alert %d: %w", accountID, err)
	}
	today := usage.Day(now)
	sum, err := s.usage.Summarize(ctx, usage.Scope{PoolID: accountID},
		usage.Filter{From: today.AddDate(0, 0, -usage.RunwayDays), To: today})
	if err != nil {
		return false, fmt.Errorf("forecast: alert %d: %w", accountID, err)
	}
	// The owned balance, or the line left once it spends on its line
	// (ledger.Balance.RunwayCredit): warned before its own money runs out,
	// and before the line does — not every day while it lives on the line.
	own := bal.RunwayCredit()
	rw := usage.RunwayAt(own, sum.Totals.Charged)
	if !rw.OK || rw.Days >= int64(threshold) {
		return false, nil
	}
	p := RunwayPayload{AccountID: accountID, Day: today.Format(time.DateOnly), Days: rw.Days, Threshold: threshold,
		Available: own, SpentLast7Days: sum.Totals.Charged, At: now.UTC()}
	var sent bool
	err = db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, sqlInsertAlert, accountID, p.Day, p.Days, threshold, p.Available, p.SpentLast7Days, p.At)
		if err != nil {
			return err
		}
		if sent = tag.RowsAffected() == 1; !sent {
			return nil
		}
		if s.webhooks != nil {
			ev := &webhook.Event{ID: fmt.Sprintf("evt_runway_low_%d_%s", accountID, p.Day), AccountID: accountID,
				Type: WebhookRunwayLow, Payload: p}
			if err := s.webhooks.EnqueueEventTx(ctx, tx, ev); err != nil {
				return err
			}
		}
		return s.mailTx(ctx, tx, p)
	})
	if err != nil {
		return false, fmt.Errorf("forecast: alert %d: %w", accountID, err)
	}
	return sent, nil
}

const sqlRecipient = `
SELECT email, locale FROM users WHERE account_id = $1 AND email IS NOT NULL AND NOT disabled ORDER BY id LIMIT 1`

// mailTx queues the alert mail to the account's portal user in the user's
// language; an account without one gets the webhook only.
func (s *Service) mailTx(ctx context.Context, tx pgx.Tx, p RunwayPayload) error {
	if s.jobs == nil || s.i18n == nil {
		return nil
	}
	var email, locale string
	err := tx.QueryRow(ctx, sqlRecipient, p.AccountID).Scan(&email, &locale)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	l := s.i18n.Localizer(locale)
	data := map[string]any{"Account": strconv.FormatInt(p.AccountID, 10), "Days": strconv.FormatInt(p.Days, 10),
		"Available": format.Credits(p.Available), "Spent": format.Credits(p.SpentLast7Days), "URL": s.opts.PortalURL}
	key := "mail.runway_low"
	switch p.Days {
	case 0:
		key = "mail.runway_low_today"
	case 1:
		key = "mail.runway_low_one"
	}
	return mail.EnqueueTx(ctx, s.jobs, tx, mail.Compose(l, key, data, email))
}

// ScanArgs is the hourly job that sends the day's run-out alerts.
type ScanArgs struct{}

// Kind names the job in River's tables.
func (ScanArgs) Kind() string { return "forecast_runway_scan" }

// ScanWorker works ScanArgs.
type ScanWorker struct {
	river.WorkerDefaults[ScanArgs]
	Forecast *Service
}

// Work alerts every account due today.
func (w *ScanWorker) Work(ctx context.Context, _ *river.Job[ScanArgs]) error {
	_, err := w.Forecast.Scan(ctx)
	return err
}

// PeriodicJobs schedules the scan every every (an hour when 0).
func PeriodicJobs(every time.Duration) []*river.PeriodicJob {
	if every <= 0 {
		every = time.Hour
	}
	return []*river.PeriodicJob{jobs.Every(every, ScanArgs{})}
}

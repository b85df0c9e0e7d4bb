package costs

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/platform/jobs"
	"github.com/seed75218f88/credits/internal/platform/mail"
)

// Alerter records negative-margin days of models and mails finance about
// each, in one transaction.
type Alerter struct {
	Pool  db.Querier
	Costs *Service
	Jobs  jobs.Inserter // the mail is a River job inserted in the alert's transaction
	I18n  *i18n.Bundle
	// Recipients are the addresses of the finance staff to tell (none: the
	// alert is recorded and shown on the margin report only).
	Recipients func(ctx context.Context) ([]string, error)
	// CreditPrice is the yuan price of one credit (CREDIT_PRICE_RMB).
	CreditPrice func() decimal.Decimal
	// ReportURL is the margin report's address, for the mail.
	ReportURL string
	Now       func() time.Time
}

// Run records an alert for each model whose margin over the Shanghai day
// holding `day` is negative and was not recorded before, and enqueues one
// mail (Chinese, then English) about each to the finance staff, in the
// same transaction: concurrent runs record and mail each (model, day) once.
// It returns the alerts recorded now. Errors: database and mail errors.
func (a *Alerter) Run(ctx context.Context, day time.Time) ([]Alert, error) {
	var to []string
	if a.Recipients != nil {
		var err error
		if to, err = a.Recipients(ctx); err != nil {
			return nil, fmt.Errorf("costs: margin alerts: %w", err)
		}
	}
	var out []Alert
	err := db.InTx(ctx, a.Pool, func(tx pgx.Tx) error {
		var err error
		if out, err = a.Costs.RecordNegativeMarginsTx(ctx, tx, day, a.CreditPrice()); err != nil {
			return err
		}
		if len(to) == 0 {
			return nil
		}
		for _, al := range out {
			msg := mail.ComposeBilingual(a.I18n, "mail.margin_negative", func(*i18n.Localizer) any {
				return map[string]string{"Day": al.Day, "Model": al.Model, "Charges": fmt.Sprint(al.Charges),
					"Revenue": Fen(al.Revenue).StringFixed(2), "Cost": Fen(al.Cost).StringFixed(2),
					"Margin": Fen(al.Margin()).StringFixed(2), "URL": a.ReportURL}
			}, to...)
			if err := mail.EnqueueTx(ctx, a.Jobs, tx, msg); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MarginAlertArgs is the daily job that checks a Shanghai day's margins
// (Day, 2006-01-02; empty: the day before the run's).
type MarginAlertArgs struct {
	Day string `json:"day,omitempty"`
}

// Kind names the job in River's tables.
func (MarginAlertArgs) Kind() string { return "costs_margin_alerts" }

// MarginAlertWorker works MarginAlertArgs.
type MarginAlertWorker struct {
	river.WorkerDefaults[MarginAlertArgs]
	Alerter *Alerter
}

// Work checks the job's day (yesterday in Shanghai by default).
func (w *MarginAlertWorker) Work(ctx context.Context, job *river.Job[MarginAlertArgs]) error {
	day := w.Alerter.now().In(shanghai).AddDate(0, 0, -1)
	if job.Args.Day != "" {
		t, err := time.ParseInLocation("2006-01-02", job.Args.Day, shanghai)
		if err != nil {
			return river.JobCancel(fmt.Errorf("costs: margin alerts: day %q: %w", job.Args.Day, err))
		}
		day = t
	}
	_, err := w.Alerter.Run(ctx, day)
	return err
}

func (a *Alerter) now() time.Time {
	if a.Now == nil {
		return time.Now()
	}
	return a.Now()
}

// PeriodicJobs checks the day before at 00:30 Beijing time every day, when
// its charges (usage events may arrive late: the gateway's late-event
// window) have mostly arrived.
func PeriodicJobs() []*river.PeriodicJob {
	return []*river.PeriodicJob{jobs.DailyAt(0, 30, shanghai, MarginAlertArgs{})}
}

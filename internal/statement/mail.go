package statement

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/platform/jobs"
	"github.com/seed75218f88/credits/internal/platform/mail"
)

// Mailer sends each account its statement of the month just closed, PDF
// and XLSX attached, to its billing contacts.
type Mailer struct {
	Service *Service
	Pool    db.Querier
	Jobs    jobs.Inserter // the mail is a River job inserted with the mailing's row
	I18n    *i18n.Bundle
	// Recipients are an account's billing contacts (its own user, and an
	// enterprise's owners and finance members).
	Recipients func(ctx context.Context, accountID int64) ([]string, error)
	// PortalURL is the statements page, for the mail.
	PortalURL string
}

// sqlToMail lists live pool accounts with ledger activity in the month
// that have not been mailed its statement, a batch at a time.
const sqlToMail = `
SELECT a.id FROM ledger_account_view a
WHERE a.kind IN ('individual', 'enterprise') AND a.mode = 'live' AND a.id > $4
  AND EXISTS (SELECT 1 FROM ledger_event_view e WHERE e.pool_id = a.id AND e.at >= $1 AND e.at < $2)
  AND NOT EXISTS (SELECT 1 FROM statement_mailings m WHERE m.account_id = a.id AND m.month = $3::date)
ORDER BY a.id
LIMIT 200`

// MailMonth mails month m's statement to every live account with ledger
// activity in it that has not had it yet, and returns how many it mailed
// now. Errors: those of MailOne, and database errors.
func (ml *Mailer) MailMonth(ctx context.Context, m Month) (int, error) {
	sent := 0
	after := int64(0)
	for {
		rows, _ := ml.Pool.Query(ctx, sqlToMail, m.Start().UTC(), m.End().UTC(), m.Start().Format("2006-01-02"), after)
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return sent, fmt.Errorf("statement: mail month: %w", err)
		}
		for _, id := range ids {
			ok, err := ml.MailOne(ctx, id, m)
			if err != nil {
				return sent, err
			}
			if ok {
				sent++
			}
			after = id
		}
		if len(ids) < 200 {
			return sent, nil
		}
	}
}

// MailOne mails the account's statement of month m once: the mailing's row
// (primary key account and month) and the mail job are written in one
// transaction, so concurrent calls mail it once; it reports whether this
// call did. An account without billing contacts is recorded, not mailed.
// Errors: those of Compute and PDF, database errors.
func (ml *Mailer) MailOne(ctx context.Context, accountID int64, m Month) (bool, error) {
	st, err := ml.Service.Compute(ctx, accountID, m)
	if err != nil {
		return false, err
	}
	var to []string
	if ml.Recipients != nil {
		if to, err = ml.Recipients(ctx, accountID); err != nil {
			return false, fmt.Errorf("statement: mail: recipients: %w", err)
		}
	}
	var msg mail.Message
	if len(to) > 0 {
		pdfBytes, err := st.PDF()
		if err != nil {
			return false, err
		}
		xlsx, err := st.XLSX()
		if err != nil {
			return false, err
		}
		msg = mail.ComposeBilingual(ml.I18n, "mail.statement", func(*i18n.Localizer) any {
			return map[string]string{"Month": m.String(), "Account": st.AccountName,
				"Opening": format.Credits(st.Opening.Total), "Closing": format.Credits(st.Closing.Total), "URL": ml.PortalURL}
		}, to...)
		msg.Attachments = []mail.Attachment{
			{Name: st.Filename() + ".pdf", ContentType: "application/pdf", Data: pdfBytes},
			{Name: st.Filename() + ".xlsx", ContentType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", Data: xlsx},
		}
	}
	mailed := false
	err = db.InTx(ctx, ml.Pool, func(tx pgx.Tx) error {
		var n int
		err := tx.QueryRow(ctx, `INSERT INTO statement_mailings (account_id, month, recipients) VALUES ($1, $2::date, $3)
ON CONFLICT DO NOTHING RETURNING recipients`, accountID, m.Start().Format("2006-01-02"), len(to)).Scan(&n)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // mailed before
		}
		if err != nil {
			return err
		}
		mailed = true
		if len(to) == 0 {
			return nil
		}
		return mail.EnqueueTx(ctx, ml.Jobs, tx, msg)
	})
	if err != nil {
		return false, fmt.Errorf("statement: mail: %w", err)
	}
	return mailed, nil
}

// MailArgs is the daily job that mails the statements of the month before
// the run's (Month, 2006-01; empty: last month in Shanghai). Daily rather
// than monthly so a missed 1st is caught up; after the 1st it finds
// nothing left to mail.
type MailArgs struct {
	Month string `json:"month,omitempty"`
}

// Kind names the job in River's tables.
func (MailArgs) Kind() string { return "statement_mail" }

// MailWorker works MailArgs.
type MailWorker struct {
	river.WorkerDefaults[MailArgs]
	Mailer *Mailer
}

// Work mails the job's month.
func (w *MailWorker) Work(ctx context.Context, job *river.Job[MailArgs]) error {
	m := MonthOf(w.Mailer.Service.now()).Prev()
	if job.Args.Month != "" {
		var err error
		if m, err = ParseMonth(job.Args.Month); err != nil {
			return river.JobCancel(err)
		}
	}
	_, err := w.Mailer.MailMonth(ctx, m)
	return err
}

// PeriodicJobs runs the mailing every day at 06:00 Beijing time.
func PeriodicJobs() []*river.PeriodicJob {
	return []*river.PeriodicJob{jobs.DailyAt(6, 0, format.Shanghai, MailArgs{})}
}

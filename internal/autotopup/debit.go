package autotopup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/jobs"
)

// DebitArgs is the job debiting one run's order.
type DebitArgs struct {
	RunID int64 `json:"run_id"`
}

// Kind names the job in River's tables.
func (DebitArgs) Kind() string { return "autotopup_debit" }

// InsertOpts: one job per run; River's own retries are for crashes only,
// the run counts its attempts itself.
func (DebitArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: jobs.QueueDefault, MaxAttempts: 25, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// DebitWorker works DebitArgs.
type DebitWorker struct {
	river.WorkerDefaults[DebitArgs]
	Service *Service
}

// Work debits the run's order once and snoozes itself while a retry or the
// channel's notify is awaited.
func (w *DebitWorker) Work(ctx context.Context, job *river.Job[DebitArgs]) error {
	wait, err := w.Service.Debit(ctx, job.Args.RunID)
	if err != nil {
		return err
	}
	if wait > 0 {
		return river.JobSnooze(wait)
	}
	return nil
}

const runColumns = `id, account_id, agreement_id, purpose, crossing_event_id, subscription_id, period_start, not_before, order_no,
amount_fen, day, state, attempts, accepted_at, next_attempt_at, last_error, created_at, updated_at`

func queryRun(ctx context.Context, q db.DBTX, sql string, args ...any) (Run, error) {
	rows, _ := q.Query(ctx, sql, args...)
	r, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Run])
	if errors.Is(err, pgx.ErrNoRows) {
		return r, ErrNotFound
	}
	return r, err
}

// awaitNotify is how often an accepted debit's order is looked at again
// until its notify (or the payments sync job) settles it.
const awaitNotify = 3 * time.Second

// Debit moves a run on by one step and returns how long to wait before the
// next (0: the run is finished). A settled order finishes the run; an
// accepted debit waits for its notify; otherwise the order is debited, and
// a failure is retried after Backoff, or after MaxAttempts fails the run,
// pauses auto top-up and tells the customer. A revoked contract pauses at
// once. Errors: database errors (the job retries).
func (s *Service) Debit(ctx context.Context, runID int64) (time.Duration, error) {
	r, err := queryRun(ctx, s.pool, `SELECT `+runColumns+` FROM autotopup_runs WHERE id = $1`, runID)
	if err != nil {
		return 0, fmt.Errorf("autotopup: debit run %d: %w", runID, err)
	}
	if r.State != RunDebiting {
		return 0, nil
	}
	if r.NotBefore != nil && s.now().Before(*r.NotBefore) {
		return r.NotBefore.Sub(s.now()), nil // a renewal is debited on its renewal date
	}
	o, err := s.payments.OrderByNo(ctx, r.OrderNo)
	if err != nil {
		return 0, fmt.Errorf("autotopup: debit run %d: %w", runID, err)
	}
	switch {
	case o.State.Paid():
		return 0, s.finish(ctx, r, RunSucceeded, "", nil)
	case !o.State.Open():
		// The channel failed or closed it (a PAYERROR seen by the payments
		// sync job): the top-up did not happen, so pause and tell, as
		// after the last retry.
		pause := PauseDebitFailed
		return 0, s.finish(ctx, r, RunFailed, "order_"+string(o.State), &pause)
	case r.AcceptedAt != nil:
		return awaitNotify, nil
	}
	a, err := queryAgreement(ctx, s.pool, `SELECT `+agreementColumns+` FROM autotopup_agreements WHERE id = $1`, r.AgreementID)
	if err != nil {
		return 0, fmt.Errorf("autotopup: debit run %d: %w", runID, err)
	}
	if a.State != StateSigned {
		return 0, s.finish(ctx, r, RunFailed, "agreement_"+string(a.State), nil)
	}
	if r.Purpose == PurposePlanRenewal && s.opts.Renewals != nil {
		ok, err := s.opts.Renewals.RenewalPayable(ctx, *r.SubscriptionID, *r.PeriodStart)
		if err != nil {
			return 0, err
		}
		if !ok { // paid by hand meanwhile, canceled or expired: never debit it
			return 0, s.finish(ctx, r, RunFailed, "renewal_settled", nil)
		}
	}
	if _, err := s.pool.Exec(ctx, `UPDATE autotopup_runs SET attempts = attempts + 1, updated_at = now() WHERE id = $1`, r.ID); err != nil {
		return 0, fmt.Errorf("autotopup: debit run %d: %w", runID, err)
	}
	r.Attempts++
	o, derr := s.payments.DebitAgreementOrder(ctx, r.OrderNo, *a.ContractID)
	switch {
	case derr == nil && o.State.Paid():
		return 0, s.finish(ctx, r, RunSucceeded, "", nil)
	case derr == nil && o.State.Open():
		if _, err := s.pool.Exec(ctx, `UPDATE autotopup_runs SET accepted_at = $2, updated_at = now() WHERE id = $1`, r.ID, s.now()); err != nil {
			return 0, err
		}
		return awaitNotify, nil
	case derr == nil:
		return 0, s.finish(ctx, r, RunFailed, "order_"+string(o.State), nil)
	}
	reason := failureReason(derr)
	if reason == "contract_revoked" || r.Attempts >= s.opts.MaxAttempts {
		pause := PauseDebitFailed
		if reason == "contract_revoked" {
			pause = PauseContractRevoked
		}
		return 0, s.finish(ctx, r, RunFailed, reason, &pause)
	}
	wait := s.opts.Backoff(r.Attempts)
	err = db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE autotopup_runs SET last_error = $2, next_attempt_at = $3, updated_at = now() WHERE id = $1`,
			r.ID, reason, s.now().Add(wait)); err != nil {
			return err
		}
		return s.historyTx(ctx, tx, r.AccountID, HistoryDebitFailed, map[string]any{"order_no": r.OrderNo, "attempt": r.Attempts,
			"reason": reason, "retry_in_seconds": int(wait / time.Second)}, Actor{}, "autotopup_debit_failed")
	})
	if err != nil {
		return 0, err
	}
	return wait, nil
}

// failureReason names a debit error for the history.
func failureReason(err error) string {
	switch {
	case errors.Is(err, payments.ErrDebitInsufficientFunds):
		return "insufficient_funds"
	case errors.Is(err, payments.ErrDebitRevoked):
		return "contract_revoked"
	case errors.Is(err, payments.ErrDebitLimit):
		return "limit_exceeded"
	}
	return "channel_error"
}

// finish closes a run: succeeded, or failed (the order given up, and with
// pause set, the agreement paused and the customer told).
func (s *Service) finish(ctx context.Context, r Run, state, reason string, pause *string) error {
	if state == RunFailed {
		if _, err := s.payments.FailAgreementOrder(ctx, r.OrderNo, reason); err != nil {
			return err
		}
	}
	return db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE autotopup_runs SET state = $2, last_error = $3, updated_at = now() WHERE id = $1 AND state = 'debiting'`, r.ID, state, reason)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		detail := map[string]any{"order_no": r.OrderNo, "amount_fen": r.AmountFen, "attempts": r.Attempts}
		if state == RunSucceeded {
			return s.historyTx(ctx, tx, r.AccountID, HistoryDebitSucceeded, detail, Actor{}, "autotopup_debit_succeeded")
		}
		detail["reason"] = reason
		if err := s.historyTx(ctx, tx, r.AccountID, HistoryDebitFailed, detail, Actor{}, "autotopup_debit_failed"); err != nil {
			return err
		}
		if pause == nil {
			return nil
		}
		tag, err = tx.Exec(ctx, `UPDATE autotopup_agreements SET state = 'paused', pause_reason = $2, updated_at = now() WHERE id = $1 AND state = 'signed'`, r.AgreementID, *pause)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		if err := s.historyTx(ctx, tx, r.AccountID, HistoryPaused, map[string]any{"reason": *pause, "order_no": r.OrderNo}, Actor{}, "autotopup_paused"); err != nil {
			return err
		}
		return s.noticeTx(ctx, tx, r.AccountID, "autotopup.paused", fmt.Sprintf("evt_autotopup_paused_%d", r.ID),
			map[string]any{"order_no": r.OrderNo, "amount_fen": r.AmountFen, "reason": reason, "attempts": r.Attempts},
			"mail.autotopup_paused", map[string]any{"Amount": yuan(r.AmountFen), "Reason": reason, "Attempts": r.Attempts})
	})
}

// Runs returns the account's newest runs.
func (s *Service) Runs(ctx context.Context, accountID int64, limit int) ([]Run, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+runColumns+` FROM autotopup_runs WHERE account_id = $1 ORDER BY id DESC LIMIT $2`, accountID, limit)
	rs, err := pgx.CollectRows(rows, pgx.RowToStructByName[Run])
	if err != nil {
		return nil, fmt.Errorf("autotopup: runs: %w", err)
	}
	return rs, nil
}

// AddWorkers registers the package's job workers.
func AddWorkers(w *river.Workers, s *Service) {
	river.AddWorker(w, &ScanWorker{Service: s})
	river.AddWorker(w, &DebitWorker{Service: s})
}

// PeriodicJobs scans the outbox every `every` (5 s in production).
func PeriodicJobs(every time.Duration) []*river.PeriodicJob {
	if every <= 0 {
		every = 5 * time.Second
	}
	return []*river.PeriodicJob{jobs.Every(every, ScanArgs{})}
}

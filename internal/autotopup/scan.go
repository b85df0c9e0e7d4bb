package autotopup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
)

// poolState is what the scan keeps of a pool while it reads events.
type poolState struct {
	armed     bool
	lastTopUp decimal.Decimal
	dirty     bool
	// config: the pool's account has settings and an agreement in force.
	settings  *Settings
	agreement *Agreement
}

const (
	selectPool = `SELECT armed, last_topup_credits FROM autotopup_pool_state WHERE pool_id = $1`
	upsertPool = `INSERT INTO autotopup_pool_state (pool_id, armed, last_topup_credits, updated_at) VALUES ($1, $2, $3, now())
ON CONFLICT (pool_id) DO UPDATE SET armed = EXCLUDED.armed, last_topup_credits = EXCLUDED.last_topup_credits, updated_at = now()`
	selectInForce = `SELECT ` + agreementColumns + ` FROM autotopup_agreements WHERE account_id = $1 AND state = 'signed'`
)

// ScanEvents reads the ledger events after the cursor and starts the
// top-ups their crossings cause, advancing the cursor in the same
// transaction (see the package comment). The first run starts at the
// newest event. It returns how many events it consumed; call it again
// while that equals the batch size. Errors: database errors.
func (s *Service) ScanEvents(ctx context.Context) (int, error) {
	consumed := 0
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		states := map[int64]*poolState{}
		var err error
		consumed, err = ledger.ConsumeFeed(ctx, tx, "autotopup_cursor", s.opts.Batch, s.opts.GapTimeout, func(e ledger.FeedEvent) error {
			st, ok := states[e.PoolID]
			if !ok {
				var err error
				if st, err = s.loadPool(ctx, tx, e.PoolID); err != nil {
					return err
				}
				states[e.PoolID] = st
			}
			return s.applyEvent(ctx, tx, e, st)
		})
		if err != nil {
			return err
		}
		for pool, st := range states {
			if st.dirty {
				if _, err := tx.Exec(ctx, upsertPool, pool, st.armed, st.lastTopUp); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("autotopup: scan: %w", err)
	}
	return consumed, nil
}

// loadPool reads a pool's state and whether auto top-up is on for it (the
// pool's own account has settings and a signed agreement).
func (s *Service) loadPool(ctx context.Context, tx pgx.Tx, pool int64) (*poolState, error) {
	st := &poolState{armed: true}
	err := tx.QueryRow(ctx, selectPool, pool).Scan(&st.armed, &st.lastTopUp)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, err
	}
	a, err := queryAgreement(ctx, tx, selectInForce, pool)
	if errors.Is(err, ErrNotFound) {
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	set, err := getSettings(ctx, tx, pool)
	if errors.Is(err, ErrNotFound) {
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	st.settings, st.agreement = &set, &a
	return st, nil
}

// applyEvent updates a pool's state with one event and starts a top-up
// when it is a crossing.
func (s *Service) applyEvent(ctx context.Context, tx pgx.Tx, e ledger.FeedEvent, st *poolState) error {
	if e.Type == ledger.EventPurchase && e.Amount.IsPositive() {
		st.lastTopUp, st.dirty = e.Amount, true
	}
	if st.settings == nil {
		return nil
	}
	th := st.settings.Threshold(st.lastTopUp)
	if !th.IsPositive() {
		return nil
	}
	// The pool's owned credit: an unused credit line is not its money.
	if !e.OwnAfter.LessThan(th) {
		if !st.armed {
			st.armed, st.dirty = true, true
		}
		return nil
	}
	if !st.armed {
		return nil // this crossing already started its top-up (or was refused)
	}
	st.armed, st.dirty = false, true
	return s.startRunTx(ctx, tx, e, *st.settings, *st.agreement, th)
}

// startRunTx decides, in the scan's transaction, whether a crossing tops
// up, and if so creates the order and the run and enqueues the debit. The
// rules hold under the lock of the agreement row, so two crossings never
// pass them together: a second run the same Beijing day only after a
// succeeded one; the month's runs (debiting or succeeded) plus this one
// within the monthly cap; the day's within the channel's daily limit; the
// tier within its per-debit limit.
func (s *Service) startRunTx(ctx context.Context, tx pgx.Tx, e ledger.FeedEvent, set Settings, a Agreement, th decimal.Decimal) error {
	if _, err := tx.Exec(ctx, `SELECT 1 FROM autotopup_agreements WHERE id = $1 FOR UPDATE`, a.ID); err != nil {
		return err
	}
	now := s.now().In(chinaTime)
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	var unfinishedToday, dayFen, monthFen int64
	// The same-day rule and the monthly cap are auto top-up's (purpose
	// topup); the channel's daily limit counts every debit of the day.
	const sums = `
SELECT count(*) FILTER (WHERE day = $2 AND state <> 'succeeded' AND purpose = 'topup'),
       coalesce(sum(amount_fen) FILTER (WHERE day = $2 AND state <> 'failed'), 0),
       coalesce(sum(amount_fen) FILTER (WHERE day >= $3 AND state <> 'failed' AND purpose = 'topup'), 0)
FROM autotopup_runs WHERE account_id = $1 AND day >= $3`
	if err := tx.QueryRow(ctx, sums, a.AccountID, day, month).Scan(&unfinishedToday, &dayFen, &monthFen); err != nil {
		return err
	}
	lim := s.opts.Limits[a.Channel]
	reason := ""
	switch {
	case unfinishedToday > 0:
		reason = "previous_not_succeeded"
	case monthFen+set.TierFen > set.MonthlyCapFen:
		reason = "monthly_cap"
	case lim.PerDebitFen > 0 && set.TierFen > lim.PerDebitFen:
		reason = "per_debit_limit"
	case lim.DailyFen > 0 && dayFen+set.TierFen > lim.DailyFen:
		reason = "daily_limit"
	}
	detail := map[string]any{"ledger_event_id": e.ID, "available": e.OwnAfter.String(), "threshold": th.String(), "amount_fen": set.TierFen}
	if reason != "" {
		detail["reason"] = reason
		return s.historyTx(ctx, tx, a.AccountID, HistorySkipped, detail, Actor{}, "autotopup_skipped")
	}
	o, err := s.payments.CreateAgreementOrderTx(ctx, tx, a.AccountID, set.TierFen, a.Channel, s.opts.OrderTTL)
	if err != nil {
		return err
	}
	var runID int64
	err = tx.QueryRow(ctx, `INSERT INTO autotopup_runs (account_id, agreement_id, crossing_event_id, order_no, amount_fen, day)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, a.AccountID, a.ID, e.ID, o.OrderNo, set.TierFen, day).Scan(&runID)
	if err != nil {
		return err
	}
	detail["order_no"] = o.OrderNo
	if err := s.historyTx(ctx, tx, a.AccountID, HistoryDebitRequested, detail, Actor{}, "autotopup_debit_requested"); err != nil {
		return err
	}
	_, err = s.jobs.InsertTx(ctx, tx, DebitArgs{RunID: runID}, nil)
	return err
}

// ScanArgs is the periodic job reading the outbox.
type ScanArgs struct{}

// Kind names the job in River's tables.
func (ScanArgs) Kind() string { return "autotopup_scan" }

// ScanWorker works ScanArgs.
type ScanWorker struct {
	river.WorkerDefaults[ScanArgs]
	Service *Service
}

// Work scans until the outbox is drained, then orders the plan renewals
// due to be paid by agreement.
func (w *ScanWorker) Work(ctx context.Context, _ *river.Job[ScanArgs]) error {
	for {
		n, err := w.Service.ScanEvents(ctx)
		if err != nil {
			return err
		}
		if n < w.Service.opts.Batch {
			break
		}
	}
	_, err := w.Service.ScanRenewals(ctx)
	return err
}

package backoffice

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
)

// Paid positions: the revenue report values paid credit by replaying each
// paid lot's events through ledger.LotValue. Replaying from the first event
// makes every report (and the analytics roll-up that runs one every few
// minutes) as slow as the ledger is old, and impossible once old event
// partitions are archived. So at each Shanghai month start the position of
// every live paid lot is recorded once (revenue_paid_positions, migration
// 001650), and a report replays only the events since the last closed
// month at or before its start. Closing month M replays month M−1's
// positions with M−1's events: each closing costs one month of events.

// positionMargin is how long after a month starts its positions may be
// closed. The ledger writes an event at greatest(the writer's clock, the
// pool's last event), never earlier, so once a writer's clock is past the
// month start no event lands before it; the margin covers writers whose
// clocks run behind and transactions still open.
const positionMargin = 24 * time.Hour

// maxClosingsPerRun bounds one ClosePaidPositions call's work (a first
// run on an old ledger catches up over several runs).
const maxClosingsPerRun = 12

// paidLot is one paid lot's position in a replay: what was credited to it
// and how its price was allocated so far.
type paidLot struct {
	pool, lot   int64
	credited    decimal.Decimal
	creditedFen int64
	v           ledger.LotValue
}

// exhausted: every credit of the lot was spent, expired or refunded and
// its price fully allocated; no event can reach it again.
func (p *paidLot) exhausted() bool {
	return p.v.Used.Add(p.v.Refunded).GreaterThanOrEqual(p.v.Amount) && p.v.Left() == 0
}

// opening is the position as a report's opening figures: what it leaves
// deferred (credited − used − refunded, in credits and in fen) is exact.
func (p *paidLot) opening() paidFigures {
	var f paidFigures
	f.credits.PaidPurchased, f.credits.Recognised, f.credits.PaidRefunded = p.credited, p.v.Used, p.v.Refunded
	f.purchased, f.recognised, f.refunded = p.creditedFen, p.v.UsedFen, p.v.RefundedFen
	return f
}

// apply moves the lot's position by one event and returns what the event
// is worth: the one rule for valuing paid lots' events (reports and
// closings both go through it).
func (p *paidLot) apply(e paidEvent) paidFigures {
	var f paidFigures
	q := e.Amount.Neg()
	switch e.Type {
	case "purchase", "grant", "adjustment":
		f.credits.PaidPurchased = e.Amount
		f.purchased = p.v.PaidFen
		p.credited = p.credited.Add(e.Amount)
		p.creditedFen += p.v.PaidFen
	case "deduction", "reservation_expired_charge":
		f.credits.Recognised = q
		f.recognised = p.v.Use(q)
	case "expiry":
		f.credits.Breakage = q
		f.breakage = p.v.Use(q)
	case "refund":
		fen := p.v.UnstatedRefundFen(q)
		if e.Fen != nil {
			fen = *e.Fen
		}
		p.v.Refund(q, fen)
		f.credits.PaidRefunded = q
		f.credits.BonusDeducted = e.BonusCharged
		f.refunded = fen - e.BonusFen
		f.recognised = e.BonusFen
		f.bonusDeducted = e.BonusFen
	}
	return f
}

// add sums g into f.
func (f *paidFigures) add(g paidFigures) {
	c, d := &f.credits, g.credits
	c.PaidPurchased = c.PaidPurchased.Add(d.PaidPurchased)
	c.Recognised = c.Recognised.Add(d.Recognised)
	c.Breakage = c.Breakage.Add(d.Breakage)
	c.PaidRefunded = c.PaidRefunded.Add(d.PaidRefunded)
	c.BonusDeducted = c.BonusDeducted.Add(d.BonusDeducted)
	f.purchased += g.purchased
	f.recognised += g.recognised
	f.breakage += g.breakage
	f.refunded += g.refunded
	f.bonusDeducted += g.bonusDeducted
}

// paidPositions answers the last closed month at or before from (nil: none)
// and its positions (of poolID's lots, or every pool's when 0) by lot id.
func (s *Service) paidPositions(ctx context.Context, q db.DBTX, from time.Time, poolID int64) (*time.Time, map[int64]*paidLot, error) {
	var base *time.Time
	if err := q.QueryRow(ctx, `SELECT max(through) FROM revenue_paid_closings WHERE through <= $1`, from).Scan(&base); err != nil {
		return nil, nil, err
	}
	lots := map[int64]*paidLot{}
	if base == nil {
		return nil, lots, nil
	}
	rows, err := q.Query(ctx, `SELECT pool_id, lot_id, credited, credited_fen, paid_fen, amount, used, used_fen, refunded, refunded_fen
		FROM revenue_paid_positions WHERE through = $1 AND ($2::bigint = 0 OR pool_id = $2)`, *base, poolID)
	if err != nil {
		return nil, nil, err
	}
	var p paidLot
	_, err = pgx.ForEachRow(rows, []any{&p.pool, &p.lot, &p.credited, &p.creditedFen, &p.v.PaidFen, &p.v.Amount,
		&p.v.Used, &p.v.UsedFen, &p.v.Refunded, &p.v.RefundedFen}, func() error {
		c := p
		lots[p.lot] = &c
		return nil
	})
	return base, lots, err
}

// replayPaid replays the paid lots' events in [base, to) onto lots (adding
// the lots first seen), calling visit with each event's period (nil before
// from) and what it is worth.
func (s *Service) replayPaid(ctx context.Context, q db.DBTX, from, to time.Time, g Granularity, poolID int64,
	base *time.Time, lots map[int64]*paidLot, visit func(period *time.Time, f paidFigures)) error {
	rows, err := q.Query(ctx, reportPaidSQL, from, to, string(g), poolID, base)
	if err != nil {
		return err
	}
	var e paidEvent
	var cur *paidLot
	scan := []any{&e.Period, &e.PoolID, &e.LotID, &e.Type, &e.Amount, &e.LotAmount, &e.PaidFen, &e.Fen, &e.BonusFen, &e.BonusCharged}
	_, err = pgx.ForEachRow(rows, scan, func() error {
		if cur == nil || cur.lot != e.LotID {
			if cur = lots[e.LotID]; cur == nil {
				price := ledger.RMBForCredits(e.LotAmount, s.opt.CreditPriceRMB).Shift(2).IntPart()
				if e.PaidFen != nil {
					price = *e.PaidFen
				}
				cur = &paidLot{pool: e.PoolID, lot: e.LotID, v: ledger.LotValue{PaidFen: price, Amount: e.LotAmount}}
				lots[e.LotID] = cur
			}
		}
		visit(e.Period, cur.apply(e))
		return nil
	})
	return err
}

// ClosePaidPositions records the paid lots' positions at every Shanghai
// month start not yet closed that began at least positionMargin ago,
// oldest first (at most maxClosingsPerRun), and answers how many months it
// closed. The analytics roll-up runs it before each refresh. Concurrent
// calls close each month once (an advisory lock and the closing's key).
func (s *Service) ClosePaidPositions(ctx context.Context) (int, error) {
	n := 0
	for n < maxClosingsPerRun {
		closed, err := s.closeNextPaidMonth(ctx)
		if err != nil {
			return n, fmt.Errorf("backoffice: close paid positions: %w", err)
		}
		if !closed {
			break
		}
		n++
	}
	return n, nil
}

func (s *Service) closeNextPaidMonth(ctx context.Context) (bool, error) {
	latest := periodStart(s.now().Add(-positionMargin), Monthly)
	closed := false
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('revenue_paid_positions'))`); err != nil {
			return err
		}
		var prev *time.Time
		if err := tx.QueryRow(ctx, `SELECT max(through) FROM revenue_paid_closings`).Scan(&prev); err != nil {
			return err
		}
		var next time.Time
		if prev != nil {
			next = nextPeriod(prev.In(Shanghai), Monthly)
		} else {
			var first *time.Time
			err := tx.QueryRow(ctx, `SELECT min(e.at) FROM ledger_event_view e
				JOIN ledger_lot_view l ON l.pool_id = e.pool_id AND l.id = e.lot_id AND l.kind = 'paid'
				JOIN ledger_account_view p ON p.id = e.pool_id AND p.mode = 'live'`).Scan(&first)
			if err != nil || first == nil {
				return err
			}
			next = nextPeriod(periodStart(*first, Monthly), Monthly)
		}
		if next.After(latest) {
			return nil
		}
		_, lots, err := s.paidPositions(ctx, tx, next, 0)
		if err != nil {
			return err
		}
		var events int64
		err = s.replayPaid(ctx, tx, next, next, Monthly, 0, prev, lots, func(*time.Time, paidFigures) { events++ })
		if err != nil {
			return err
		}
		rows := make([][]any, 0, len(lots))
		for _, p := range lots {
			if !p.exhausted() {
				rows = append(rows, []any{next, p.pool, p.lot, p.credited, p.creditedFen, p.v.PaidFen, p.v.Amount,
					p.v.Used, p.v.UsedFen, p.v.Refunded, p.v.RefundedFen})
			}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"revenue_paid_positions"}, []string{"through", "pool_id", "lot_id",
			"credited", "credited_fen", "paid_fen", "amount", "used", "used_fen", "refunded", "refunded_fen"},
			pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		promo, err := promoLeftAt(ctx, tx, prev, next)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO revenue_paid_closings (through, lots, events, computed_at, promo_left) VALUES ($1, $2, $3, $4, $5)`,
			next, len(rows), events, s.now(), promo)
		closed = err == nil
		return err
	})
	return closed, err
}

// sqlPromoMoved is what promotional lots (promo, grace) of live accounts
// gained less what was spent and expired of them in [$1, $2) ($1 NULL:
// from the first event): the movement of the revenue report's promotional
// credit left (reportPromoSQL's credited − spent − expired).
const sqlPromoMoved = `
SELECT coalesce(sum(e.amount), 0)
FROM ledger_event_view e
JOIN ledger_lot_view l ON l.pool_id = e.pool_id AND l.id = e.lot_id AND l.kind NOT IN ('paid', 'plan', 'credit')
JOIN ledger_account_view p ON p.id = e.pool_id AND p.mode = 'live'
WHERE e.at >= coalesce($1::timestamptz, '-infinity') AND e.at < $2
  AND e.type IN ('purchase', 'grant', 'adjustment', 'deduction', 'reservation_expired_charge', 'expiry')`

// promoLeftAt is the promotional credit left at next, the closing after
// prev (nil: the first closing): prev's figure plus next's month. Only
// that month's events are read, so months archived since prev closed are
// never needed (a month leaves only once closed). NULL when prev has no
// figure (closed before migration 001810 with a month already archived).
func promoLeftAt(ctx context.Context, tx pgx.Tx, prev *time.Time, next time.Time) (decimal.NullDecimal, error) {
	var base decimal.NullDecimal
	if prev == nil {
		base = decimal.NewNullDecimal(decimal.Zero)
	} else if err := tx.QueryRow(ctx, `SELECT promo_left FROM revenue_paid_closings WHERE through = $1`, *prev).Scan(&base); err != nil {
		return base, err
	}
	if !base.Valid {
		return base, nil
	}
	var moved decimal.Decimal
	if err := tx.QueryRow(ctx, sqlPromoMoved, prev, next).Scan(&moved); err != nil {
		return base, err
	}
	return decimal.NewNullDecimal(base.Decimal.Add(moved)), nil
}

// promoOpening is the promotional credit left at from: the last closing at
// or before it that kept its figure, plus the events since. ok is false
// when no such closing exists at or after until (the archive's end; zero:
// nothing archived, and then the events since the first one serve).
func (s *Service) promoOpening(ctx context.Context, from, until time.Time) (left decimal.Decimal, ok bool, err error) {
	var base *time.Time
	var at decimal.NullDecimal
	err = s.pool.QueryRow(ctx, `SELECT through, promo_left FROM revenue_paid_closings
		WHERE through <= $1 AND promo_left IS NOT NULL ORDER BY through DESC LIMIT 1`, from).Scan(&base, &at)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return left, false, err
	}
	if base == nil && !until.IsZero() || base != nil && base.Before(until) {
		return left, false, nil
	}
	if err := s.pool.QueryRow(ctx, sqlPromoMoved, base, from).Scan(&left); err != nil {
		return left, false, err
	}
	return left.Add(at.Decimal), true, nil
}

// PaidPositionsClosedThrough is the end of the last month whose paid lots'
// month-end positions are recorded (zero when none is): the revenue report
// no longer reads the events before it, so ledger.Archive may let the
// months before it leave (`credits ledger archive` passes it on).
func PaidPositionsClosedThrough(ctx context.Context, q db.DBTX) (time.Time, error) {
	var through *time.Time
	if err := q.QueryRow(ctx, `SELECT max(through) FROM revenue_paid_closings`).Scan(&through); err != nil {
		return time.Time{}, fmt.Errorf("backoffice: paid positions closed through: %w", err)
	}
	if through == nil {
		return time.Time{}, nil
	}
	return through.UTC(), nil
}

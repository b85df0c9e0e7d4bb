// Package statement builds an account's monthly statement (对账单): for one
// past calendar month in Asia/Shanghai, the opening balance by bucket (lot
// kind), every movement of credit (top-ups, grants, plan credits, grace,
// adjustments, consumption by model / sub-account / project, holds,
// expiries, refunds), transfers of allocation and the closing balance.
//
// A statement is read from the ledger's published views (ledger_event_view,
// ledger_lot_view, ledger_account_view) on the ledger time "at", the same
// clock ledger.BalanceAt and the revenue report use, so a closed month never
// changes (ledger time is monotonic per pool). Compute reconciles it to the
// credit before returning it: closing = opening + movements in every
// bucket, and opening and closing equal ledger.BalanceAt just before the
// month's two boundaries; a statement that does not reconcile is an error,
// never a document.
package statement

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/creditline"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/format"
)

// Errors Compute returns.
var (
	// ErrNotFound: no such account, a sub-account (statements are of the
	// account that holds the credit: an individual or an enterprise), or a
	// month that is not a closed month of the account's life.
	ErrNotFound = errors.New("statement: not found")
	// ErrUnreconciled: the movements do not add up to the ledger's balance
	// at the boundaries (a ledger fault; nothing is rendered).
	ErrUnreconciled = errors.New("statement: does not reconcile with the ledger")
	// ErrArchived: the account has events in the month, or after it,
	// that were moved to the archive (ledger.Archive), so they are not at
	// hand; staff bring them back (`credits ledger restore`) to compute it.
	// A month before the archive's end in which the account had no event,
	// nor later in the archived months, is computed. It wraps
	// ledger.ErrArchived too.
	ErrArchived = errors.New("statement: month archived")
)

// Month is a calendar month in Asia/Shanghai.
type Month struct {
	Year  int
	Month time.Month
}

// ParseMonth reads "2026-11". Errors: ErrNotFound for anything else.
func ParseMonth(s string) (Month, error) {
	t, err := time.ParseInLocation("2006-01", s, format.Shanghai)
	if err != nil {
		return Month{}, fmt.Errorf("%w: month %q", ErrNotFound, s)
	}
	return Month{t.Year(), t.Month()}, nil
}

// MonthOf is the Shanghai month holding t.
func MonthOf(t time.Time) Month {
	s := t.In(format.Shanghai)
	return Month{s.Year(), s.Month()}
}

// String is "2026-11".
func (m Month) String() string { return fmt.Sprintf("%04d-%02d", m.Year, int(m.Month)) }

// Start is the month's first instant (00:00 Beijing time on the 1st).
func (m Month) Start() time.Time { return time.Date(m.Year, m.Month, 1, 0, 0, 0, 0, format.Shanghai) }

// End is the next month's first instant (exclusive).
func (m Month) End() time.Time { return m.Start().AddDate(0, 1, 0) }

// Prev is the month before.
func (m Month) Prev() Month { return MonthOf(m.Start().Add(-time.Hour)) }

// Buckets are the lot kinds a balance is split into, in display order.
var Buckets = []ledger.LotKind{ledger.LotPaid, ledger.LotPromo, ledger.LotPlan, ledger.LotGrace}

// Amounts is credit split by bucket, with its total.
type Amounts struct {
	ByBucket map[ledger.LotKind]decimal.Decimal
	Total    decimal.Decimal
}

func (a *Amounts) add(k ledger.LotKind, v decimal.Decimal) {
	if a.ByBucket == nil {
		a.ByBucket = map[ledger.LotKind]decimal.Decimal{}
	}
	a.ByBucket[k] = a.ByBucket[k].Add(v)
	a.Total = a.Total.Add(v)
}

// Of is the bucket's amount (zero when absent).
func (a Amounts) Of(k ledger.LotKind) decimal.Decimal { return a.ByBucket[k] }

// Category is a kind of movement on a statement.
type Category string

// Movement categories, in display order.
const (
	CatTopUp         Category = "topup"          // purchase events: paid top-ups
	CatGrant         Category = "grant"          // grants of promotional credit (sign-up, bonus, goodwill, codes)
	CatPlanCredit    Category = "plan_credit"    // a plan's allowance
	CatGrace         Category = "grace"          // grace credit
	CatAdjustment    Category = "adjustment"     // staff corrections
	CatConsumption   Category = "consumption"    // charges: deductions and expired holds charged
	CatHolds         Category = "holds"          // change of what open reservations hold
	CatExpiry        Category = "expiry"         // credit that expired unspent
	CatRefund        Category = "refund"         // paid credit refunded
	CatBonusRevoke   Category = "bonus_revoke"   // bonus revoked with a refund (same operation)
	CatCreditLine    Category = "credit_line"    // a credit line granted or changed (授信)
	CatCreditRestore Category = "credit_restore" // a credit line given back by a bill paid
	CatOther         Category = "other"          // any other event carrying an amount
)

// Categories is the display order.
var Categories = []Category{CatTopUp, CatGrant, CatPlanCredit, CatGrace, CatAdjustment, CatConsumption,
	CatHolds, CatExpiry, CatRefund, CatBonusRevoke, CatCreditLine, CatCreditRestore, CatOther}

// Movement is the month's total of one category: signed credit by bucket
// (negative takes credit out) and how many ledger operations made it.
type Movement struct {
	Category Category
	Amounts
	Operations int64
}

// UsageLine is consumption of one model by one account of the pool under
// one project label: credits charged (positive) and calls.
type UsageLine struct {
	Model       string
	AccountID   int64
	AccountName string
	Project     string
	Calls       int64
	Credits     decimal.Decimal
}

// UsageTotal is consumption rolled up by one key (a model, an account or a
// project).
type UsageTotal struct {
	Key     string
	Calls   int64
	Credits decimal.Decimal
}

// Statement is one account's month.
type Statement struct {
	AccountID   int64
	AccountName string
	AccountKind ledger.AccountKind
	Month       Month
	Opening     Amounts
	Closing     Amounts
	// Movements has one entry per category in Categories order, the empty
	// ones included.
	Movements []Movement
	// Usage is consumption by model, account and project, largest first;
	// ByModel, ByAccount and ByProject roll it up.
	Usage                         []UsageLine
	ByModel, ByAccount, ByProject []UsageTotal
	TopUpFen                      int64           // what the month's top-ups were paid, in fen
	RefundFen                     int64           // what the month's refunds paid back (as stated on them), in fen
	Unpaid                        decimal.Decimal // usage the ledger could not charge (memo: not in any balance)
	TransferOps                   int64           // allocation transfers between the enterprise's accounts
	TransferMoved                 decimal.Decimal // allocation they moved (memo: a pool's credit does not change)
	// Credit is the credit line section (nil: the account has no line).
	Credit      *CreditLine
	GeneratedAt time.Time
}

// Movement returns the category's movement.
func (s Statement) Movement(c Category) Movement {
	for _, m := range s.Movements {
		if m.Category == c {
			return m
		}
	}
	return Movement{Category: c}
}

// Service computes statements. A month is closed once the ledger's clock
// (ledger.Ledger.Now) has passed its end.
type Service struct {
	Pool   db.Querier
	Ledger *ledger.Ledger
	// CreditLines lists an enterprise's bills for its credit line
	// section; nil lists none (the section's credit figures remain).
	CreditLines *creditline.Service
}

func (s *Service) now() time.Time { return s.Ledger.Now() }

// Months lists the closed months of the account's life, newest first: from
// the month it was created to the month before now. Errors: ErrNotFound.
func (s *Service) Months(ctx context.Context, accountID int64) ([]Month, error) {
	acc, err := s.pool(ctx, accountID)
	if err != nil {
		return nil, err
	}
	first, err := s.firstMonth(ctx, acc)
	if err != nil {
		return nil, err
	}
	var out []Month
	for m := MonthOf(s.now()).Prev(); !m.Start().Before(first.Start()); m = m.Prev() {
		out = append(out, m)
	}
	return out, nil
}

// ArchivedThrough is when the account's last event in the archive was
// recorded (zero: none of its events is archived): a month that starts at
// or before it has events in the archive (Archived, ErrArchived); a later
// month is computed, from the checkpoint, even if it lies before the
// archive's end (an account with no events there). Errors: database errors.
func (s *Service) ArchivedThrough(ctx context.Context, accountID int64) (time.Time, error) {
	last, err := ledger.PoolArchivedThrough(ctx, s.Pool, accountID)
	if err != nil {
		return time.Time{}, fmt.Errorf("statement: %w", err)
	}
	return last, nil
}

// Archived reports whether month m of an account whose last archived event
// was recorded at last (ArchivedThrough) has events in the archive.
func Archived(m Month, last time.Time) bool {
	return !last.IsZero() && !last.Before(m.Start())
}

// firstMonth is the account's first month: the earlier of its creation and
// its first ledger event (an imported history may predate the account row).
func (s *Service) firstMonth(ctx context.Context, acc ledger.Account) (Month, error) {
	var first *time.Time
	if err := s.Pool.QueryRow(ctx, `SELECT min(at) FROM ledger_event_view WHERE pool_id = $1`, acc.ID).Scan(&first); err != nil {
		return Month{}, fmt.Errorf("statement: first month: %w", err)
	}
	if first == nil || acc.CreatedAt.Before(*first) {
		return MonthOf(acc.CreatedAt), nil
	}
	return MonthOf(*first), nil
}

func (s *Service) pool(ctx context.Context, accountID int64) (ledger.Account, error) {
	acc, err := s.Ledger.Account(ctx, accountID)
	if errors.Is(err, ledger.ErrNotFound) || (err == nil && acc.ID != acc.PoolID) {
		return ledger.Account{}, fmt.Errorf("%w: account %d", ErrNotFound, accountID)
	}
	if err != nil {
		return ledger.Account{}, fmt.Errorf("statement: %w", err)
	}
	return acc, nil
}

const (
	// sqlBuckets is the pool's credit by lot kind from every event before
	// $2 (transfers move allocation, not credit), with what the archived
	// months (all before $2: Compute refuses a month inside them) left in
	// their checkpoints: per lot its sum, and the pool's amounts on no lot.
	sqlBuckets = `
SELECT kind, sum(amount) AS amount
FROM (SELECT coalesce(l.kind::text, '') AS kind, e.amount
      FROM ledger_event_view e
      LEFT JOIN ledger_lot_view l ON l.pool_id = e.pool_id AND l.id = e.lot_id
      WHERE e.pool_id = $1 AND e.at < $2 AND e.type <> 'transfer'
      UNION ALL
      SELECT l.kind::text, x.total
      FROM ledger_archived_lots x JOIN ledger_lot_view l ON l.pool_id = x.pool_id AND l.id = x.lot_id
      WHERE x.pool_id = $1
      UNION ALL
      SELECT '', c.total - coalesce((SELECT sum(total) FROM ledger_archived_lots WHERE pool_id = $1), 0)
      FROM ledger_checkpoints c WHERE c.pool_id = $1) b
GROUP BY 1`

	// sqlMovements sums the month's events by type and lot kind; an
	// expiry in the operation of a refund is the bonus it revoked.
	sqlMovements = `
WITH month AS (
    SELECT e.*, l.kind AS lot_kind, l.paid_fen
    FROM ledger_event_view e
    LEFT JOIN ledger_lot_view l ON l.pool_id = e.pool_id AND l.id = e.lot_id
    WHERE e.pool_id = $1 AND e.at >= $2 AND e.at < $3
), refund_ops AS (
    SELECT DISTINCT op_id FROM month WHERE type = 'refund'
)
SELECT m.type::text AS type, coalesce(m.lot_kind::text, '') AS kind,
       (m.type = 'expiry' AND r.op_id IS NOT NULL) AS with_refund,
       count(DISTINCT m.op_id) AS ops,
       coalesce(sum(m.amount), 0) AS amount,
       coalesce(sum(m.unpaid), 0) AS unpaid,
       coalesce(sum(m.amount) FILTER (WHERE m.type = 'transfer' AND m.amount > 0), 0) AS moved,
       coalesce(sum(m.paid_fen) FILTER (WHERE m.type = 'purchase'), 0)::bigint AS paid_fen,
       coalesce(sum((m.detail->>'fen')::bigint) FILTER (WHERE m.type = 'refund'), 0)::bigint AS refund_fen
FROM month m
LEFT JOIN refund_ops r ON r.op_id = m.op_id
GROUP BY 1, 2, 3`

	// sqlLineBefore is the pool's credit line before $2: the sum of its
	// credit_line events, archived ones included.
	sqlLineBefore = `
SELECT coalesce((SELECT sum(amount) FROM ledger_event_view WHERE pool_id = $1 AND at < $2 AND type = 'credit_line'), 0)
     + coalesce((SELECT sum(credit_line) FROM ledger_archived_lots WHERE pool_id = $1), 0)`

	// sqlUsage is the month's consumption by model, account and project.
	sqlUsage = `
SELECT e.model, e.account_id, coalesce(a.name, '') AS account_name, e.project,
       count(DISTINCT e.op_id) AS calls, -sum(e.amount) AS credits
FROM ledger_event_view e
LEFT JOIN ledger_account_view a ON a.id = e.account_id
WHERE e.pool_id = $1 AND e.at >= $2 AND e.at < $3
  AND e.type IN ('deduction', 'reservation_expired_charge')
GROUP BY 1, 2, 3, 4
ORDER BY credits DESC, 1, 2, 4`
)

type bucketRow struct {
	Kind   string          `db:"kind"`
	Amount decimal.Decimal `db:"amount"`
}

type movementRow struct {
	Type       string          `db:"type"`
	Kind       string          `db:"kind"`
	WithRefund bool            `db:"with_refund"`
	Ops        int64           `db:"ops"`
	Amount     decimal.Decimal `db:"amount"`
	Unpaid     decimal.Decimal `db:"unpaid"`
	Moved      decimal.Decimal `db:"moved"`
	PaidFen    int64           `db:"paid_fen"`
	RefundFen  int64           `db:"refund_fen"`
}

type usageRow struct {
	Model       string          `db:"model"`
	AccountID   int64           `db:"account_id"`
	AccountName string          `db:"account_name"`
	Project     string          `db:"project"`
	Calls       int64           `db:"calls"`
	Credits     decimal.Decimal `db:"credits"`
}

// category maps an event (type, lot kind) to its statement line.
func category(typ, kind string, withRefund bool) Category {
	switch ledger.EventType(typ) {
	case ledger.EventPurchase:
		return CatTopUp
	case ledger.EventGrant:
		switch ledger.LotKind(kind) {
		case ledger.LotPlan:
			return CatPlanCredit
		case ledger.LotGrace:
			return CatGrace
		}
		return CatGrant
	case ledger.EventAdjustment:
		return CatAdjustment
	case ledger.EventDeduction, ledger.EventReservationExpiredCharge:
		return CatConsumption
	case ledger.EventReservation, ledger.EventReservationRelease:
		return CatHolds
	case ledger.EventExpiry:
		if withRefund {
			return CatBonusRevoke
		}
		return CatExpiry
	case ledger.EventRefund:
		return CatRefund
	case ledger.EventCreditLine:
		return CatCreditLine
	case ledger.EventCreditRestore:
		return CatCreditRestore
	}
	return CatOther
}

// Compute builds and reconciles the statement of a pool account (an
// individual or an enterprise) for a closed month. Errors: ErrNotFound
// (no such pool account, a month before the account or not yet over),
// ErrArchived (the account's events of the month or of a later archived
// month are in the archive: restore them to see it), ErrUnreconciled.
func (s *Service) Compute(ctx context.Context, accountID int64, m Month) (Statement, error) {
	acc, err := s.pool(ctx, accountID)
	if err != nil {
		return Statement{}, err
	}
	now := s.now()
	first, err := s.firstMonth(ctx, acc)
	if err != nil {
		return Statement{}, err
	}
	if m.End().After(now) || m.Start().Before(first.Start()) {
		return Statement{}, fmt.Errorf("%w: month %s of account %d", ErrNotFound, m, accountID)
	}
	st := Statement{AccountID: acc.ID, AccountName: acc.Name, AccountKind: acc.Kind, Month: m, GeneratedAt: now}
	start, end := m.Start().UTC(), m.End().UTC()
	var movements []movementRow
	var usage []usageRow
	var lineOpening decimal.Decimal
	// One snapshot for the three reads.
	err = pgx.BeginTxFunc(ctx, s.Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		last, err := ledger.PoolArchivedThrough(ctx, tx, acc.ID)
		if err != nil {
			return err
		}
		if Archived(m, last) {
			return fmt.Errorf("%w: %w: month %s of account %d: its events through %s are in the archive", ErrArchived, ledger.ErrArchived, m, accountID, last.Format(time.RFC3339))
		}
		rows, _ := tx.Query(ctx, sqlBuckets, acc.ID, start)
		opening, err := pgx.CollectRows(rows, pgx.RowToStructByName[bucketRow])
		if err != nil {
			return err
		}
		for _, b := range opening {
			st.Opening.add(ledger.LotKind(b.Kind), b.Amount)
		}
		rows, _ = tx.Query(ctx, sqlMovements, acc.ID, start, end)
		if movements, err = pgx.CollectRows(rows, pgx.RowToStructByName[movementRow]); err != nil {
			return err
		}
		rows, _ = tx.Query(ctx, sqlUsage, acc.ID, start, end)
		if usage, err = pgx.CollectRows(rows, pgx.RowToStructByName[usageRow]); err != nil {
			return err
		}
		return tx.QueryRow(ctx, sqlLineBefore, acc.ID, start).Scan(&lineOpening)
	})
	if err != nil {
		return Statement{}, fmt.Errorf("statement: compute: %w", err)
	}
	byCat := map[Category]*Movement{}
	for _, c := range Categories {
		st.Movements = append(st.Movements, Movement{Category: c})
	}
	for i := range st.Movements {
		byCat[st.Movements[i].Category] = &st.Movements[i]
	}
	for _, r := range movements {
		st.TopUpFen += r.PaidFen
		st.RefundFen += r.RefundFen
		st.Unpaid = st.Unpaid.Add(r.Unpaid)
		if r.Type == string(ledger.EventTransfer) {
			st.TransferOps += r.Ops
			st.TransferMoved = st.TransferMoved.Add(r.Moved)
			continue
		}
		c := category(r.Type, r.Kind, r.WithRefund)
		if c == CatOther && r.Amount.IsZero() {
			continue // status, allocation and unpaid-usage rows move no credit
		}
		mv := byCat[c]
		mv.add(ledger.LotKind(r.Kind), r.Amount)
		mv.Operations += r.Ops
	}
	st.Closing = Amounts{ByBucket: map[ledger.LotKind]decimal.Decimal{}}
	for k, v := range st.Opening.ByBucket {
		st.Closing.add(k, v)
	}
	for _, mv := range st.Movements {
		for k, v := range mv.ByBucket {
			st.Closing.add(k, v)
		}
	}
	st.setUsage(usage)
	if st.Credit, err = s.creditLine(ctx, st, lineOpening, start, end); err != nil {
		return Statement{}, err
	}
	if err := s.reconcile(ctx, st, start, end); err != nil {
		return Statement{}, err
	}
	return st, nil
}

// reconcile checks the statement against the ledger's own point-in-time
// balance just before each boundary (BalanceAt counts events at or before
// its instant; timestamps are microseconds).
func (s *Service) reconcile(ctx context.Context, st Statement, start, end time.Time) error {
	for _, b := range []struct {
		name string
		at   time.Time
		got  decimal.Decimal
	}{{"opening", start, st.Opening.Total}, {"closing", end, st.Closing.Total}} {
		want, err := s.Ledger.BalanceAt(ctx, st.AccountID, b.at.Add(-time.Microsecond))
		if err != nil {
			return fmt.Errorf("statement: reconcile: %w", err)
		}
		if !want.Equal(b.got) {
			return fmt.Errorf("%w: account %d %s %s: statement %s, ledger %s", ErrUnreconciled, st.AccountID, st.Month, b.name, b.got, want)
		}
	}
	if c := st.Credit; c != nil {
		// The line's own identities: what was used moved by the month's
		// consumption of it less what bills gave back (and holds of it),
		// and what is owned is the balance less the line at both ends.
		bal, err := s.Ledger.BalanceAt(ctx, st.AccountID, end.Add(-time.Microsecond))
		if err != nil {
			return fmt.Errorf("statement: reconcile: %w", err)
		}
		if !bal.Sub(c.LineClosing).Equal(c.OwnedClosing) || c.LineClosing.Sub(c.UsedClosing).Sub(st.Closing.Of(ledger.LotCredit)).Sign() != 0 {
			return fmt.Errorf("%w: account %d %s credit line: owned %s, line %s, used %s", ErrUnreconciled, st.AccountID, st.Month,
				c.OwnedClosing, c.LineClosing, c.UsedClosing)
		}
	}
	return nil
}

func (st *Statement) setUsage(rows []usageRow) {
	models, accounts, projects := map[string]*UsageTotal{}, map[string]*UsageTotal{}, map[string]*UsageTotal{}
	roll := func(m map[string]*UsageTotal, key string, r usageRow) {
		t := m[key]
		if t == nil {
			t = &UsageTotal{Key: key}
			m[key] = t
		}
		t.Calls += r.Calls
		t.Credits = t.Credits.Add(r.Credits)
	}
	for _, r := range rows {
		st.Usage = append(st.Usage, UsageLine(r))
		roll(models, r.Model, r)
		name := r.AccountName
		if name == "" {
			name = fmt.Sprintf("#%d", r.AccountID)
		}
		roll(accounts, name, r)
		roll(projects, r.Project, r)
	}
	st.ByModel, st.ByAccount, st.ByProject = sorted(models), sorted(accounts), sorted(projects)
}

func sorted(m map[string]*UsageTotal) []UsageTotal {
	out := make([]UsageTotal, 0, len(m))
	for _, t := range m {
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool {
		if c := out[i].Credits.Cmp(out[j].Credits); c != 0 {
			return c > 0
		}
		return out[i].Key < out[j].Key
	})
	return out
}

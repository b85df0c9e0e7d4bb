package ledger

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/platform/db"
)

// Enforcement is how the ledger treats a hold or charge its checks would
// refuse for credit, budget or the tier's concurrency cap (README
// "Enforcement switch").
type Enforcement string

// The modes.
const (
	// EnforceAll refuses (the default).
	EnforceAll Enforcement = "enforce"
	// EnforceShadow lets the call through and records the refusal it would
	// have been (ShadowRefusal, ledger_shadow_refusals): a call credit
	// would have refused holds nothing and its commit charges what is
	// available, recording the rest as unpaid usage — the balance never
	// goes below zero; a call a budget or the cap would have refused holds
	// and counts as usual (a budget past its cap shows it).
	EnforceShadow Enforcement = "shadow"
	// EnforceOff checks nothing and holds nothing: commits and charges
	// take what is available and record the rest as unpaid usage; budgets
	// and the cap do not count the call; nothing is recorded as refused.
	EnforceOff Enforcement = "off"
)

// Valid reports whether e is one of the modes.
func (e Enforcement) Valid() bool { return e == EnforceAll || e == EnforceShadow || e == EnforceOff }

// SetEnforcementTx sets the account's own mode (nil: follow its
// enterprise, else the global mode) in the caller's transaction, under the
// pool's lock so it applies between two holds. Errors: ErrNotFound,
// ErrInvalidArgument.
func (l *Ledger) SetEnforcementTx(ctx context.Context, tx pgx.Tx, accountID int64, mode *Enforcement) error {
	if mode != nil && !mode.Valid() {
		return fmt.Errorf("ledger: set enforcement: %w", ErrInvalidArgument)
	}
	var id *int64
	if err := tx.QueryRow(ctx, `SELECT (ledger_lock($1)).id`, accountID).Scan(&id); err != nil {
		return fmt.Errorf("ledger: set enforcement: %w", err)
	}
	if id == nil {
		return fmt.Errorf("ledger: set enforcement: %w", ErrNotFound)
	}
	if _, err := tx.Exec(ctx, `UPDATE ledger_accounts SET enforcement = $2 WHERE id = $1`, accountID, mode); err != nil {
		return fmt.Errorf("ledger: set enforcement: %w", err)
	}
	return nil
}

// ShadowRefusal is one call shadow mode let through that a check would
// have refused.
type ShadowRefusal struct {
	ID            int64               `db:"id"`
	AccountID     int64               `db:"account_id"`
	Op            string              `db:"op"`
	Code          string              `db:"code"`
	Amount        decimal.Decimal     `db:"amount"`
	Available     decimal.NullDecimal `db:"available"`
	ReservationID *int64              `db:"reservation_id"`
	Model         string              `db:"model"`
	At            time.Time           `db:"at"`
}

// ShadowRefusals returns how many calls of the account shadow mode let
// through, and the latest limit of them, newest first.
func (l *Ledger) ShadowRefusals(ctx context.Context, accountID int64, limit int) (int64, []ShadowRefusal, error) {
	return ShadowRefusalsTx(ctx, l.pool, accountID, limit)
}

// ShadowRefusalsTx is ShadowRefusals on q.
func ShadowRefusalsTx(ctx context.Context, q db.DBTX, accountID int64, limit int) (int64, []ShadowRefusal, error) {
	var n int64
	if err := q.QueryRow(ctx, `SELECT count(*) FROM ledger_shadow_refusals WHERE account_id = $1`, accountID).Scan(&n); err != nil {
		return 0, nil, fmt.Errorf("ledger: shadow refusals: %w", err)
	}
	rows, _ := q.Query(ctx, `SELECT id, account_id, op, code, amount, available, reservation_id, model, at
FROM ledger_shadow_refusals WHERE account_id = $1 ORDER BY id DESC LIMIT $2`, accountID, limit)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[ShadowRefusal])
	if err != nil {
		return 0, nil, fmt.Errorf("ledger: shadow refusals: %w", err)
	}
	return n, out, nil
}

// ShadowCodes are the refusals shadow mode lets through (the codes of
// ShadowRefusal).
var ShadowCodes = []string{"insufficient_credits", "allocation_exceeded", "concurrency_limit", "budget_exceeded",
	"plan_quota_exhausted"}

// countShadow counts one shadow refusal this process made (ShadowCount).
func (l *Ledger) countShadow(code string) {
	v, _ := l.shadow.LoadOrStore(code, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// ShadowCount is how many calls with refusal code shadow mode let through
// in this process since New (the /metrics counter).
func (l *Ledger) ShadowCount(code string) int64 {
	if v, ok := l.shadow.Load(code); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

// EnforcementOf is the mode in force for acct: its own, else its
// enterprise's, else the global mode — the rule ledger_reserve applies, for
// callers that decide a refusal of their own (the gateway's plan quota).
func (l *Ledger) EnforcementOf(ctx context.Context, acct Account) (Enforcement, error) {
	if acct.Enforcement != nil {
		return *acct.Enforcement, nil
	}
	if acct.PoolID != acct.ID {
		pool, err := l.Account(ctx, acct.PoolID)
		if err != nil {
			return "", fmt.Errorf("ledger: enforcement: %w", err)
		}
		if pool.Enforcement != nil {
			return *pool.Enforcement, nil
		}
	}
	if l.opts.CurrentEnforcement != nil {
		return l.opts.CurrentEnforcement(), nil
	}
	return EnforceAll, nil
}

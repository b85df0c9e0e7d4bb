package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/platform/db"
)

// AccountKind says whether an account is an individual, an enterprise, or a
// sub-account of an enterprise.
type AccountKind string

// Account kinds.
const (
	AccountIndividual AccountKind = "individual"
	AccountEnterprise AccountKind = "enterprise"
	AccountSub        AccountKind = "sub"
)

// Mode separates live accounts from test (sandbox) accounts.
type Mode string

// Modes.
const (
	ModeLive Mode = "live"
	ModeTest Mode = "test"
)

// AccountStatus is active or frozen; a frozen account cannot spend.
type AccountStatus string

// Account statuses.
const (
	StatusActive AccountStatus = "active"
	StatusFrozen AccountStatus = "frozen"
)

// Account is a ledger account. PoolID is the account whose lots it spends:
// itself, or its enterprise for a sub-account.
type Account struct {
	ID         int64               `db:"id"`
	PoolID     int64               `db:"pool_id"`
	Kind       AccountKind         `db:"kind"`
	ParentID   *int64              `db:"parent_id"`
	Mode       Mode                `db:"mode"`
	ExternalID *string             `db:"external_id"`
	Name       string              `db:"name"`
	Status     AccountStatus       `db:"status"`
	Allocation decimal.NullDecimal `db:"allocation"` // sub-accounts: what it may still spend; NULL = no limit
	// TrialCap is set while the account is in trial (not yet verified):
	// it may then spend granted credit only, and TrialUsed (charged in
	// trial plus held by its open reservations) may not pass TrialCap.
	TrialCap  decimal.NullDecimal `db:"trial_cap"`
	TrialUsed decimal.Decimal     `db:"trial_used"`
	CreatedAt time.Time           `db:"created_at"`
	// PaidFen is a pool's cumulative recharge: what its paid lots cost, in
	// fen, less what refunds gave back (0 on a sub-account). MaxOpen is the
	// open-reservation cap of the tier it reaches (nil: none).
	PaidFen int64 `db:"paid_fen"`
	MaxOpen *int  `db:"max_open"`
	// Enforcement is the account's own enforcement mode (nil: its
	// enterprise's, else the global one).
	Enforcement *Enforcement `db:"enforcement"`
}

// InTrial reports whether the account is in trial.
func (a Account) InTrial() bool { return a.TrialCap.Valid }

// AccountSpec describes an account to create.
type AccountSpec struct {
	Kind       AccountKind
	ParentID   int64 // the enterprise, for a sub-account
	Mode       Mode  // ModeLive when empty
	ExternalID string
	Name       string
	// Allocation caps what a sub-account may spend from the pool; nil = no limit.
	Allocation *decimal.Decimal
}

const accountColumns = `id, pool_id, kind, parent_id, mode, external_id, name, status, allocation, trial_cap, trial_used, created_at, paid_fen, max_open, enforcement`

const sqlInsertAccount = `
WITH n AS (SELECT nextval('ledger_accounts_id_seq') AS id)
INSERT INTO ledger_accounts (id, pool_id, kind, parent_id, mode, external_id, name, allocation, trial_cap)
SELECT n.id, coalesce($2, n.id), $1::ledger_account_kind, $2, $3::ledger_account_mode, $4, $5, $6, $7 FROM n
ON CONFLICT (mode, external_id) DO NOTHING
RETURNING ` + accountColumns

func (l *Ledger) checkSpec(ctx context.Context, q db.DBTX, spec *AccountSpec) (parent *int64, parentInTrial bool, err error) {
	if spec.Mode == "" {
		spec.Mode = ModeLive
	}
	switch spec.Kind {
	case AccountIndividual, AccountEnterprise:
		if spec.ParentID != 0 {
			return nil, false, fmt.Errorf("%w: only a sub-account has a parent", ErrInvalidArgument)
		}
		return nil, false, nil
	case AccountSub:
		var kind AccountKind
		err = q.QueryRow(ctx, `SELECT kind, trial_cap IS NOT NULL FROM ledger_accounts WHERE id = $1`, spec.ParentID).Scan(&kind, &parentInTrial)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, false, ErrNotFound
		}
		if err != nil {
			return nil, false, err
		}
		if kind != AccountEnterprise {
			return nil, false, fmt.Errorf("%w: a sub-account's parent must be an enterprise", ErrInvalidArgument)
		}
		p := spec.ParentID
		return &p, parentInTrial, nil
	}
	return nil, false, fmt.Errorf("%w: account kind %q", ErrInvalidArgument, spec.Kind)
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func allocationArg(a *decimal.Decimal) any {
	if a == nil {
		return nil
	}
	return Round(*a).String()
}

// CreateAccount creates an account, in trial when Options.TrialCap is set
// (a sub-account only while its enterprise is in trial).
// Errors: ErrInvalidArgument (bad kind or parent), ErrNotFound (no such
// parent), ErrIdempotencyConflict (the external id is already taken in
// that mode).
func (l *Ledger) CreateAccount(ctx context.Context, spec AccountSpec) (Account, error) {
	return l.createAccount(ctx, l.pool, spec)
}

// CreateAccountTx is CreateAccount inside the caller's transaction tx, so
// that a registration can create the account, its user and its sign-up
// credit atomically: if tx rolls back, no account is left behind. Errors:
// as CreateAccount.
func (l *Ledger) CreateAccountTx(ctx context.Context, tx pgx.Tx, spec AccountSpec) (Account, error) {
	return l.createAccount(ctx, tx, spec)
}

func (l *Ledger) createAccount(ctx context.Context, q db.DBTX, spec AccountSpec) (Account, error) {
	parent, parentInTrial, err := l.checkSpec(ctx, q, &spec)
	if err != nil {
		return Account{}, fmt.Errorf("ledger: create account: %w", err)
	}
	var trialCap any
	// A sub-account is in trial exactly while its enterprise is.
	if c := l.trialCap(); c.IsPositive() && (spec.Kind != AccountSub || parentInTrial) {
		trialCap = Round(c).String()
	}
	rows, _ := q.Query(ctx, sqlInsertAccount, spec.Kind, parent, spec.Mode, nullable(spec.ExternalID), spec.Name, allocationArg(spec.Allocation), trialCap)
	a, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Account])
	if errors.Is(err, pgx.ErrNoRows) {
		return Account{}, fmt.Errorf("ledger: create account: external id %q: %w", spec.ExternalID, ErrIdempotencyConflict)
	}
	if err != nil {
		return Account{}, fmt.Errorf("ledger: create account: %w", err)
	}
	return a, nil
}

// UpsertAccountByExternalID returns the account with externalID in mode,
// creating it from spec when missing (concurrent callers get the same
// account). An existing account is returned unchanged. Errors: as
// CreateAccount.
func (l *Ledger) UpsertAccountByExternalID(ctx context.Context, mode Mode, externalID string, spec AccountSpec) (Account, error) {
	if externalID == "" {
		return Account{}, fmt.Errorf("ledger: upsert account: %w: empty external id", ErrInvalidArgument)
	}
	spec.Mode, spec.ExternalID = mode, externalID
	for range 3 {
		if a, err := l.AccountByExternalID(ctx, mode, externalID); err == nil {
			return a, nil
		} else if !errors.Is(err, ErrNotFound) {
			return Account{}, err
		}
		a, err := l.CreateAccount(ctx, spec)
		if !errors.Is(err, ErrIdempotencyConflict) {
			return a, err
		}
	}
	return Account{}, fmt.Errorf("ledger: upsert account: %w", ErrIdempotencyConflict)
}

// Account returns an account. Errors: ErrNotFound.
func (l *Ledger) Account(ctx context.Context, id int64) (Account, error) {
	return AccountByID(ctx, l.latest(ctx), id)
}

// AccountByExternalID returns the account with externalID in mode. Errors: ErrNotFound.
func (l *Ledger) AccountByExternalID(ctx context.Context, mode Mode, externalID string) (Account, error) {
	rows, _ := l.pool.Query(ctx, `SELECT `+accountColumns+` FROM ledger_accounts WHERE mode = $1 AND external_id = $2`, mode, externalID)
	return collectAccount(rows)
}

func collectAccount(rows pgx.Rows) (Account, error) {
	a, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Account])
	if errors.Is(err, pgx.ErrNoRows) {
		return Account{}, fmt.Errorf("ledger: account: %w", ErrNotFound)
	}
	if err != nil {
		return Account{}, fmt.Errorf("ledger: account: %w", err)
	}
	return a, nil
}

// SetStatus freezes or unfreezes an account, recording actor and reason as
// a status event. Errors: ErrNotFound, ErrInvalidArgument.
func (l *Ledger) SetStatus(ctx context.Context, accountID int64, status AccountStatus, actor, reason string) error {
	p, err := l.statusPayload(accountID, status, actor, reason)
	if err != nil {
		return fmt.Errorf("ledger: set status: %w", err)
	}
	return l.setAccount(ctx, accountID, p, "set status")
}

// SetStatusTx is SetStatus inside the caller's transaction tx, so the back
// office can write the status change and its audit row atomically. It
// locks the account's pool row until tx ends. Errors: as SetStatus.
func (l *Ledger) SetStatusTx(ctx context.Context, tx pgx.Tx, accountID int64, status AccountStatus, actor, reason string) error {
	p, err := l.statusPayload(accountID, status, actor, reason)
	if err == nil {
		var raw []byte
		raw, err = l.execTx(ctx, tx, singleSQL[opSetAcct], p)
		if err == nil {
			err = decode(raw, nil)
		}
	}
	if err != nil {
		return fmt.Errorf("ledger: set status: %w", err)
	}
	return nil
}

func (l *Ledger) statusPayload(accountID int64, status AccountStatus, actor, reason string) (payload, error) {
	if status != StatusActive && status != StatusFrozen {
		return nil, fmt.Errorf("%w: %q", ErrInvalidArgument, status)
	}
	return payload{"account_id": accountID, "status": status, "actor": actor, "reason_code": reason, "now": l.now()}, nil
}

// SetAllocation sets what a sub-account may still spend from its
// enterprise's pool (nil = no limit), recorded as an allocation event.
// Errors: ErrNotFound, ErrInvalidArgument (not a sub-account), ErrInvalidAmount.
func (l *Ledger) SetAllocation(ctx context.Context, accountID int64, allocation *decimal.Decimal, actor, reason string) error {
	if allocation != nil && allocation.IsNegative() {
		return fmt.Errorf("ledger: set allocation: %w", ErrInvalidAmount)
	}
	p := payload{"account_id": accountID, "set_allocation": true, "allocation": allocationArg(allocation),
		"actor": actor, "reason_code": reason, "now": l.now()}
	return l.setAccount(ctx, accountID, p, "set allocation")
}

// EndTrial takes the account out of trial, once it has passed real-name
// verification: from then on it spends any credit, without the trial cap.
// The change is written as a status event ({"trial": "ended"}) with actor
// and reason; an account not in trial is left as it is. An enterprise's
// sub-accounts leave trial with it (EndTrialTx). Errors: ErrNotFound.
func (l *Ledger) EndTrial(ctx context.Context, accountID int64, actor, reason string) error {
	return pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error { return l.EndTrialTx(ctx, tx, accountID, actor, reason) })
}

// EndTrialTx is EndTrial inside the caller's transaction tx, so that
// verification can record a verified identity and end the trial
// atomically. It locks the account's pool row until tx ends. An
// enterprise's sub-accounts are verified with it: their trials end in the
// same transaction (a sub-account is in trial exactly while its enterprise
// is). Errors: as EndTrial.
func (l *Ledger) EndTrialTx(ctx context.Context, tx pgx.Tx, accountID int64, actor, reason string) error {
	ids := []int64{accountID}
	rows, _ := tx.Query(ctx, `SELECT id FROM ledger_accounts WHERE parent_id = $1 AND trial_cap IS NOT NULL ORDER BY id`, accountID)
	subs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return fmt.Errorf("ledger: end trial: %w", err)
	}
	for _, id := range append(ids, subs...) {
		raw, err := l.execTx(ctx, tx, singleSQL[opSetAcct], endTrialPayload(id, actor, reason, l.now()))
		if err == nil {
			err = decode(raw, nil)
		}
		if err != nil {
			return fmt.Errorf("ledger: end trial: %w", err)
		}
	}
	return nil
}

func endTrialPayload(accountID int64, actor, reason string, now time.Time) payload {
	return payload{"account_id": accountID, "end_trial": true, "actor": actor, "reason_code": reason, "now": now}
}

func (l *Ledger) setAccount(ctx context.Context, accountID int64, p payload, what string) error {
	pool, err := l.poolOf(ctx, accountID)
	if err != nil {
		return fmt.Errorf("ledger: %s: %w", what, err)
	}
	raw, err := l.exec(ctx, pool, opSetAcct, p)
	if err == nil {
		err = decode(raw, nil)
	}
	if err != nil {
		return fmt.Errorf("ledger: %s: %w", what, err)
	}
	return nil
}

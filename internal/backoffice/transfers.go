package backoffice

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
)

// MaxTransferCredits bounds one allocation transfer (10^12 credits, ¥10^9
// at the default price): far above any real allocation, far below what
// numeric(24,6) holds.
var MaxTransferCredits = decimal.New(1, 12)

// TransferRequest moves spending allocation from one account of an
// enterprise to another (ledger.Transfer), on behalf of the enterprise
// owner in the portal or of the platform through the gateway API.
type TransferRequest struct {
	From, To int64
	Amount   decimal.Decimal
	// Enterprise, when not 0, is the enterprise both accounts must belong
	// to (the signed-in owner's); otherwise From's enterprise.
	Enterprise int64
	// IdempotencyKey makes a retry return the first result; it is scoped
	// to From.
	IdempotencyKey string
	// ActorKind is ActorCustomer (the portal) or ActorSystem (an API key);
	// ActorEmail is the customer's login or the key's name, and LedgerActor
	// what the ledger's events record ("user:12", "api_key:3:prod").
	ActorKind   ActorKind
	ActorEmail  string
	LedgerActor string
	IP          string
	// Reason is the ledger reason code (portal_transfer, api_transfer).
	Reason string
}

// AllocationChange is one account's side of a transfer: its allocation
// (nil = no limit) and its balance — what it may spend, the pool's ledger
// balance capped by the allocation — before and after.
type AllocationChange struct {
	AccountID        int64            `json:"account_id"`
	AllocationBefore *decimal.Decimal `json:"allocation_before"`
	AllocationAfter  *decimal.Decimal `json:"allocation_after"`
	BalanceBefore    decimal.Decimal  `json:"balance_before"`
	BalanceAfter     decimal.Decimal  `json:"balance_after"`
}

// TransferResult is a transfer's outcome. A replay (same key and
// arguments) returns the first transfer's figures with Replayed set and
// writes no second audit row.
type TransferResult struct {
	OpID     int64
	PoolID   int64
	Amount   decimal.Decimal
	From, To AllocationChange
	Replayed bool
}

// Transfer moves r.Amount of allocation from r.From to r.To in one
// transaction on pool: it locks the enterprise's pool row, runs
// ledger.TransferTx and writes one audit row (action allocation_transfer,
// on the enterprise) with both accounts' allocations and balances before
// and after. The pool's credit does not change: a transfer moves the right
// to spend it. An account without a limit keeps none: moving from it only
// raises the other's allocation, moving to it only lowers the source's.
//
// It is a function rather than a method so that the gateway, built before
// the back office's Service, can call it too; Service.Transfer is the same.
//
// Errors: ErrInvalidAmount (not positive, more than 6 decimals, or above
// MaxTransferCredits), ErrTransferSameAccount, ErrMissingIdempotencyKey,
// ErrAccountNotFound (no such From), ledger.ErrCrossEnterpriseTransfer
// (the accounts are not of one enterprise, or not of r.Enterprise),
// ledger.ErrAllocationExceeded (a *ledger.ShortfallError with From's
// allocation), ledger.ErrNotFound (no such To), ledger.ErrIdempotencyConflict.
func Transfer(ctx context.Context, pool db.Querier, l *ledger.Ledger, r TransferRequest) (TransferResult, error) {
	out := TransferResult{Amount: r.Amount}
	errs := fielderr.New("backoffice")
	if checkCredits(r.Amount) != nil || r.Amount.GreaterThan(MaxTransferCredits) {
		errs.Merge(ErrInvalidAmount)
	}
	if r.From == r.To {
		errs.Merge(ErrTransferSameAccount)
	}
	if r.IdempotencyKey == "" {
		errs.Merge(ErrMissingIdempotencyKey)
	}
	if err := errs.Err(); err != nil {
		return out, err
	}
	if r.ActorKind == "" {
		r.ActorKind = ActorSystem
	}
	err := db.InTx(ctx, pool, func(tx pgx.Tx) error {
		poolID, balance, err := lockPool(ctx, tx, r.From)
		if err != nil {
			return err
		}
		if r.Enterprise != 0 && poolID != r.Enterprise {
			return fmt.Errorf("backoffice: transfer: %w", ledger.ErrCrossEnterpriseTransfer)
		}
		res, err := l.TransferTx(ctx, tx, ledger.TransferRequest{From: r.From, To: r.To, Amount: r.Amount,
			IdempotencyKey: r.IdempotencyKey, Actor: r.LedgerActor, Reason: r.Reason})
		if err != nil {
			return err
		}
		out = TransferResult{OpID: res.OpID, PoolID: poolID, Amount: r.Amount, Replayed: res.Replayed,
			From: change(r.From, res.FromAllocation, r.Amount, balance),
			To:   change(r.To, res.ToAllocation, r.Amount.Neg(), balance)}
		if res.Replayed {
			return nil
		}
		_, err = Audit(ctx, tx, Entry{ActorKind: r.ActorKind, ActorEmail: r.ActorEmail, IP: r.IP,
			Action: ActionAllocationTransfer, AccountID: poolID, BalanceBefore: &balance, BalanceAfter: &balance,
			Reason: r.Reason, Detail: map[string]any{"op_id": res.OpID, "amount": r.Amount, "actor": r.LedgerActor,
				"idempotency_key": r.IdempotencyKey, "from": out.From, "to": out.To}})
		return err
	})
	return out, err
}

// Transfer is the package's Transfer over the Service's pool and ledger.
func (s *Service) Transfer(ctx context.Context, r TransferRequest) (TransferResult, error) {
	return Transfer(ctx, s.pool, s.ledger, r)
}

// change is an account's side of a transfer from its allocation after
// (nil = no limit) and what the transfer took from it (negative: gave it).
func change(id int64, after *decimal.Decimal, took, poolBalance decimal.Decimal) AllocationChange {
	c := AllocationChange{AccountID: id, AllocationAfter: after, BalanceBefore: poolBalance, BalanceAfter: poolBalance}
	if after != nil {
		before := after.Add(took)
		c.AllocationBefore = &before
		c.BalanceBefore = decimal.Min(poolBalance, before)
		c.BalanceAfter = decimal.Min(poolBalance, *after)
	}
	return c
}

// lockPool locks the pool row of accountID until tx ends and returns the
// pool's id and ledger balance. Errors: ErrAccountNotFound.
func lockPool(ctx context.Context, tx pgx.Tx, accountID int64) (int64, decimal.Decimal, error) {
	id, b, err := ledger.LockPoolTx(ctx, tx, accountID)
	if errors.Is(err, ledger.ErrNotFound) {
		return 0, b, ErrAccountNotFound
	}
	if err != nil {
		return 0, b, fmt.Errorf("backoffice: pool of %d: %w", accountID, err)
	}
	return id, b, nil
}

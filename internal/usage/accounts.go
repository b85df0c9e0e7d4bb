package usage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// ErrNotFound is returned for an account that is not a sub-account of the
// given enterprise (or does not exist): callers answer 404 either way.
var ErrNotFound = errors.New("usage: not found")

// SubAccount is one department of an enterprise, with what it spent.
type SubAccount struct {
	ID     int64
	Name   string
	Status string
	// Allocation is what it may still spend from the pool (nil = no limit).
	Allocation *decimal.Decimal
	// Spent is what it was charged in total; SpentSince since the given day.
	Spent, SpentSince decimal.Decimal
	CreatedAt         time.Time
}

const sqlSubAccounts = `
SELECT a.id, a.name, a.status, a.allocation, a.created_at,
       coalesce((SELECT sum(charged) FROM usage_daily d WHERE d.pool_id = a.pool_id AND d.account_id = a.id), 0),
       coalesce((SELECT sum(charged) FROM usage_daily d WHERE d.pool_id = a.pool_id AND d.account_id = a.id AND d.day >= $2::date), 0)
FROM ledger_account_view a
WHERE a.parent_id = $1 AND ($3::bigint = 0 OR a.id = $3)
ORDER BY a.id`

// SubAccounts lists the enterprise's sub-accounts with their spend (in
// total and since the Asia/Shanghai day of since), folding pending usage
// into the rollup first.
func (s *Store) SubAccounts(ctx context.Context, enterpriseID int64, since time.Time) ([]SubAccount, error) {
	return s.subAccounts(ctx, enterpriseID, 0, since)
}

// SubAccount returns one sub-account of the enterprise.
// Errors: ErrNotFound (no such sub-account of this enterprise).
func (s *Store) SubAccount(ctx context.Context, enterpriseID, id int64, since time.Time) (SubAccount, error) {
	if id == 0 {
		return SubAccount{}, ErrNotFound
	}
	subs, err := s.subAccounts(ctx, enterpriseID, id, since)
	if err != nil {
		return SubAccount{}, err
	}
	if len(subs) == 0 {
		return SubAccount{}, ErrNotFound
	}
	return subs[0], nil
}

func (s *Store) subAccounts(ctx context.Context, enterpriseID, only int64, since time.Time) ([]SubAccount, error) {
	if err := s.Refresh(ctx, enterpriseID); err != nil {
		return nil, err
	}
	rows, _ := s.read(ctx).Query(ctx, sqlSubAccounts, enterpriseID, dayArg(since), only)
	subs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SubAccount, error) {
		var a SubAccount
		var alloc decimal.NullDecimal
		err := r.Scan(&a.ID, &a.Name, &a.Status, &alloc, &a.CreatedAt, &a.Spent, &a.SpentSince)
		if alloc.Valid {
			a.Allocation = &alloc.Decimal
		}
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("usage: sub-accounts: %w", err)
	}
	return subs, nil
}

package gateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/platform/db"
)

// Limits are an account's own requests and tokens per minute; nil means the
// default (Options.DefaultLimit). They live in one place, gateway_accounts:
// PUT /v1/accounts sets them for the platform, the customer portal for an
// enterprise owner's sub-accounts, and the reservation path enforces them.
type Limits struct {
	RPM *int64 `json:"rpm"`
	TPM *int64 `json:"tpm"`
}

// maxLimit is the largest limit the integer columns hold.
const maxLimit = 1<<31 - 1

func (l Limits) validate() error {
	for _, f := range []struct {
		name string
		v    *int64
	}{{"rpm", l.RPM}, {"tpm", l.TPM}} {
		if f.v != nil && (*f.v < 0 || *f.v > maxLimit) {
			return invalid(f.name, "a non-negative integer below 2,147,483,648")
		}
	}
	return nil
}

// LimitStore reads and writes accounts' own limits. The Service has one
// (Service.Limits) that also drops its cached copy of an account it
// changes; other servers see a change within Options.CacheTTL, because
// the reservation path reloads an account from the database after that.
type LimitStore struct {
	db       db.DBTX
	onChange func(accountID int64)
}

// NewLimitStore returns a store over q, for callers without a Service (the
// seed command, a portal built without the gateway).
func NewLimitStore(q db.DBTX) *LimitStore { return &LimitStore{db: q} }

const upsertLimits = `
INSERT INTO gateway_accounts (account_id, rpm, tpm, updated_at) VALUES ($1, $2, $3, now())
ON CONFLICT (account_id) DO UPDATE SET rpm = EXCLUDED.rpm, tpm = EXCLUDED.tpm, updated_at = now()`

// Set replaces the account's own limits (a nil field = the default).
// Errors: ErrInvalidRequest (a negative or too large limit).
func (s *LimitStore) Set(ctx context.Context, accountID int64, l Limits) error {
	if err := l.validate(); err != nil {
		return err
	}
	if _, err := s.db.Exec(ctx, upsertLimits, accountID, l.RPM, l.TPM); err != nil {
		return fmt.Errorf("gateway: set limits: %w", err)
	}
	if s.onChange != nil {
		s.onChange(accountID)
	}
	return nil
}

const selectLimits = `SELECT rpm, tpm FROM gateway_accounts WHERE account_id = $1`

// Get returns the account's own limits (both nil when it never set any).
func (s *LimitStore) Get(ctx context.Context, accountID int64) (Limits, error) {
	var rpm, tpm *int32
	err := s.db.QueryRow(ctx, selectLimits, accountID).Scan(&rpm, &tpm)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Limits{}, fmt.Errorf("gateway: limits: %w", err)
	}
	return Limits{RPM: widen(rpm), TPM: widen(tpm)}, nil
}

const selectLimitsOf = `SELECT account_id, rpm, tpm FROM gateway_accounts WHERE account_id = ANY ($1)`

// Of returns the own limits of several accounts (a list page); accounts
// without a row are absent from the map, which reads as the default.
func (s *LimitStore) Of(ctx context.Context, accountIDs []int64) (map[int64]Limits, error) {
	out := make(map[int64]Limits, len(accountIDs))
	if len(accountIDs) == 0 {
		return out, nil
	}
	rows, _ := s.db.Query(ctx, selectLimitsOf, accountIDs)
	var id int64
	var rpm, tpm *int32
	_, err := pgx.ForEachRow(rows, []any{&id, &rpm, &tpm}, func() error {
		out[id] = Limits{RPM: widen(rpm), TPM: widen(tpm)}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("gateway: limits: %w", err)
	}
	return out, nil
}

func widen(v *int32) *int64 {
	if v == nil {
		return nil
	}
	w := int64(*v)
	return &w
}

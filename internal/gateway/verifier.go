package gateway

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
)

// Verifier answers whether an account passed real-name verification and
// records verifications done by a platform in its own flow. The real
// implementation lives in the verification package (issue 9); PGVerifier is
// a small stand-in with the same two methods that the lead may swap for it
// in cmd/credits/serve.go without touching this package. Recording a
// verification must also end the account's trial in the ledger
// (ledger.EndTrialTx), which enforces the trial cap.
type Verifier interface {
	IsVerified(ctx context.Context, accountID int64) (bool, error)
	MarkVerifiedExternally(ctx context.Context, accountID int64, reference, actor string) error
}

// PGVerifier keeps verifications in gateway_verifications(account_id,
// reference, verified_at, actor): the row is the audit record of who said
// the person was verified, when, and under which platform reference.
type PGVerifier struct {
	Pool   db.Querier
	Ledger *ledger.Ledger // ends the account's trial
}

// IsVerified reports whether the account has a verification row.
func (v PGVerifier) IsVerified(ctx context.Context, accountID int64) (bool, error) {
	var ok bool
	err := v.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM gateway_verifications WHERE account_id = $1)`, accountID).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("gateway: is verified: %w", err)
	}
	return ok, nil
}

// MarkVerifiedExternally records that the platform verified the account's
// owner under reference and ends its trial in the ledger, in one
// transaction; the first record stands (a repeat is a no-op). Errors:
// ErrInvalidRequest (empty reference or actor), ledger.ErrNotFound.
func (v PGVerifier) MarkVerifiedExternally(ctx context.Context, accountID int64, reference, actor string) error {
	if strings.TrimSpace(reference) == "" {
		return invalid("verification.reference", "required")
	}
	if actor == "" {
		return invalid("actor", "required")
	}
	const q = `INSERT INTO gateway_verifications (account_id, reference, actor) VALUES ($1, $2, $3) ON CONFLICT (account_id) DO NOTHING`
	err := db.InTx(ctx, v.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, q, accountID, strings.TrimSpace(reference), actor); err != nil {
			return err
		}
		return v.Ledger.EndTrialTx(ctx, tx, accountID, actor, "verified")
	})
	if err != nil {
		return fmt.Errorf("gateway: mark verified: %w", err)
	}
	return nil
}

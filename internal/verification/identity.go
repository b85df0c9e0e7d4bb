package verification

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

const sqlVerifiedIdentity = `SELECT coalesce(number_index, '') FROM verifications
WHERE account_id = $1 AND state = 'verified' ORDER BY id DESC LIMIT 1`

const sqlIdentities = `SELECT DISTINCT number_index FROM verifications WHERE account_id = $1 AND number_index IS NOT NULL`

// VerifiedIdentityTx is the identity hash (the blind index of the ID number
// or credit code) of the account's verified verification, read inside tx:
// "" when the account is not verified, or was verified externally (a
// platform vouched for it and gave no identity). Referrals use it so that
// one identity is rewarded once. Errors: database errors.
func VerifiedIdentityTx(ctx context.Context, tx pgx.Tx, accountID int64) (string, error) {
	var h string
	err := tx.QueryRow(ctx, sqlVerifiedIdentity, accountID).Scan(&h)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("verification: verified identity: %w", err)
	}
	return h, nil
}

// IdentitiesTx lists every identity hash the account ever submitted,
// whatever became of it, read inside tx (referrals refuse an inviter
// rewarded for an invitee of its own identity). Errors: database errors.
func IdentitiesTx(ctx context.Context, tx pgx.Tx, accountID int64) ([]string, error) {
	rows, _ := tx.Query(ctx, sqlIdentities, accountID)
	hs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("verification: identities: %w", err)
	}
	return hs, nil
}

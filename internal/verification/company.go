package verification

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

const sqlVerifiedCompany = `SELECT name_display FROM verifications
WHERE account_id = $1 AND state = 'verified' AND subject = 'enterprise'
ORDER BY id DESC LIMIT 1`

// VerifiedCompanyName returns the company name of the account's verified
// enterprise verification (stored in full: a company name is public); ok is
// false when the account is not verified as an enterprise (an individual,
// an external verification, pending or rejected). Bank statement matching
// uses it to require that a transfer comes from that company.
func (s *Service) VerifiedCompanyName(ctx context.Context, accountID int64) (name string, ok bool, err error) {
	err = s.pool.QueryRow(ctx, sqlVerifiedCompany, accountID).Scan(&name)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("verification: verified company: %w", err)
	}
	return name, name != "", nil
}

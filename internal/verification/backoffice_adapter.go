package verification

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/backoffice"
)

// BackOffice is the verification side of the back office: it satisfies
// backoffice.Identities with masked values only.
type BackOffice struct{ s *Service }

// BackOffice returns the adapter the back office is built with.
func (s *Service) BackOffice() *BackOffice { return &BackOffice{s: s} }

var _ backoffice.Identities = (*BackOffice)(nil)

// IdentityOf returns the account's current verification (Status), masked.
func (b *BackOffice) IdentityOf(ctx context.Context, accountID int64) (backoffice.Identity, error) {
	st, err := b.s.Status(ctx, accountID)
	if err != nil {
		return backoffice.Identity{}, err
	}
	return backoffice.Identity{State: string(st.State), Subject: string(st.Subject), Name: st.Name, MaskedNumber: st.MaskedNumber}, nil
}

// sqlAccountsByCompany matches verified companies by part of their name
// (stored in full: a company name is public; a person's is masked, so
// never searched).
const sqlAccountsByCompany = `SELECT account_id FROM verifications
WHERE state = 'verified' AND subject = 'enterprise' AND name_display ILIKE $1 ESCAPE '\'
ORDER BY name_display = $2 DESC, id
LIMIT $3`

// AccountsByCompanyName returns the accounts verified as a company whose
// name contains part (case-insensitive), the exact name first, at most
// limit. A bank statement names the paying company, so this is how finance
// finds who a transfer without a reference code came from.
func (b *BackOffice) AccountsByCompanyName(ctx context.Context, part string, limit int) ([]int64, error) {
	part = strings.TrimSpace(part)
	if part == "" || limit <= 0 {
		return []int64{}, nil
	}
	rows, err := b.s.pool.Query(ctx, sqlAccountsByCompany, "%"+escapeLike(part)+"%", part, limit)
	if err != nil {
		return nil, fmt.Errorf("verification: accounts by company name: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("verification: accounts by company name: %w", err)
	}
	return ids, nil
}

// escapeLike escapes LIKE wildcards so the name matches literally.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

package auth

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// FindLimit is the most users FindUsers returns.
const FindLimit = 50

// findUsers matches, by priority: the exact email, the exact phone, the
// ledger account id; then an email prefix, a run of phone digits, a part of
// the display name. Exact matches sort first.
const findUsers = `
SELECT ` + userColumns + ` FROM users
WHERE email = $1
   OR phone = $2
   OR account_id = $3
   OR ($4::text IS NOT NULL AND email LIKE $4 ESCAPE '\')
   OR ($5::text IS NOT NULL AND phone LIKE $5)
   OR ($6::text IS NOT NULL AND display_name ILIKE $6 ESCAPE '\')
ORDER BY (email IS NOT DISTINCT FROM $1 OR phone IS NOT DISTINCT FROM $2 OR account_id IS NOT DISTINCT FROM $3) DESC, id
LIMIT $7`

// FindUsers is the support lookup: query may be an email (or its
// beginning), a mobile number in any accepted spelling (or 4+ of its digits),
// a ledger account id, or part of a display name. At most FindLimit users
// are returned, exact matches first; none is an empty slice, not an error.
func (s *Service) FindUsers(ctx context.Context, query string) ([]User, error) {
	q := strings.ToLower(foldWidth(strings.TrimSpace(query)))
	if q == "" {
		return []User{}, nil
	}
	var email, phone, emailPrefix, phoneDigits, name *string
	var accountID *int64
	if e, err := NormalizeEmail(q); err == nil {
		email = &e
	}
	if p, err := NormalizePhone(q); err == nil {
		phone = &p
	}
	digits := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, strings.TrimPrefix(q, "+"))
	if n, err := strconv.ParseInt(digits, 10, 64); err == nil {
		accountID = &n
		if len(digits) >= 4 {
			p := "%" + digits + "%"
			phoneDigits = &p
		}
	}
	if len(q) >= 2 && strings.Contains(q, "@") || len(q) >= 3 && accountID == nil {
		p := escapeLike(q) + "%"
		emailPrefix = &p
	}
	if accountID == nil && email == nil {
		p := "%" + escapeLike(q) + "%"
		name = &p
	}
	rows, err := s.pool.Query(ctx, findUsers, email, phone, accountID, emailPrefix, phoneDigits, name, FindLimit)
	if err != nil {
		return nil, fmt.Errorf("auth: find users: %w", err)
	}
	users, err := scanUsers(rows)
	if err != nil {
		return nil, fmt.Errorf("auth: find users: %w", err)
	}
	if users == nil {
		users = []User{}
	}
	return users, nil
}

// escapeLike escapes LIKE wildcards so user input matches literally.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

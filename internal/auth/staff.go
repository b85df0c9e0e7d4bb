package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
)

// Role is a back-office permission held by a staff user; a user may hold
// several. No role implies another: admin does not pass a check for finance.
type Role string

// The back-office roles.
const (
	RoleSupport Role = "support" // customer lookup, promo grants up to the support limit, freezes
	RoleFinance Role = "finance" // bank statements, manual recharges, approvals, reports
	RoleAdmin   Role = "admin"   // staff management and settings
)

// AllRoles lists every role, in display order.
var AllRoles = []Role{RoleSupport, RoleFinance, RoleAdmin}

// ParseRoles reads a comma-separated list such as "support,finance"
// (spaces and case ignored, duplicates dropped) into roles in AllRoles order.
//
// Errors: ErrUnknownRole.
func ParseRoles(list string) ([]Role, error) {
	var names []string
	for _, n := range strings.Split(list, ",") {
		if n = strings.ToLower(strings.TrimSpace(n)); n != "" {
			names = append(names, n)
		}
	}
	return checkRoles(names)
}

// checkRoles validates role names and returns them deduplicated in AllRoles order.
func checkRoles[S ~string](names []S) ([]Role, error) {
	for _, n := range names {
		if !slices.Contains(AllRoles, Role(n)) {
			return nil, fmt.Errorf("%w: %q", fielderr.One("auth", "roles", ErrUnknownRole.Fields[0].Code, "role", string(n)), string(n))
		}
	}
	var out []Role
	for _, r := range AllRoles {
		if slices.ContainsFunc(names, func(n S) bool { return Role(n) == r }) {
			out = append(out, r)
		}
	}
	return out, nil
}

// HasRole reports whether u is an enabled staff user holding role.
func HasRole(u User, role Role) bool {
	return u.IsStaff() && slices.Contains(u.Roles, role)
}

// HasAnyRole reports whether u is an enabled staff user holding one of roles.
func HasAnyRole(u User, roles ...Role) bool {
	return slices.ContainsFunc(roles, func(r Role) bool { return HasRole(u, r) })
}

func roleStrings(roles []Role) []string {
	out := make([]string, len(roles))
	for i, r := range roles {
		out[i] = string(r)
	}
	return out
}

const insertStaff = `
INSERT INTO users (email, password_hash, display_name, kind, roles, locale, created_at)
VALUES ($1, $2, $3, 'staff', $4, $5, $6)
ON CONFLICT DO NOTHING
RETURNING ` + userColumns

// StaffRequest describes a new staff user.
type StaffRequest struct {
	Email    string
	Password string
	Name     string
	Roles    []Role
	Locale   string // Options.DefaultLocale when empty
}

// CreateStaff creates a staff user who signs in with an email and password
// and holds roles (at least one), for `credits staff create` and the admin UI.
//
// Errors: ErrInvalidEmail, ErrWeakPassword (refined), ErrInvalidName,
// ErrNoRoles, ErrUnknownRole, ErrLoginTaken.
func (s *Service) CreateStaff(ctx context.Context, req StaffRequest) (User, error) {
	// Every failed field at once: email, password, name and roles.
	errs := fielderr.New("auth")
	email, err := NormalizeEmail(req.Email)
	if err != nil {
		errs.Merge(onField(ErrInvalidEmail, "email"))
		email = req.Email
	}
	errs.Merge(CheckPassword(req.Password, email))
	name, err := checkName(req.Name)
	errs.Merge(err)
	roles, err := checkRoles(req.Roles)
	errs.Merge(err)
	if err == nil && len(roles) == 0 {
		errs.Merge(ErrNoRoles)
	}
	if err := errs.Err(); err != nil {
		return User{}, err
	}
	hash, err := hashPassword(req.Password, s.opt.Argon2)
	if err != nil {
		return User{}, err
	}
	u, err := scanUser(s.pool.QueryRow(ctx, insertStaff, email, hash, name, roleStrings(roles), s.locale(req.Locale), s.now()))
	if errors.Is(err, ErrNotFound) {
		return User{}, onField(ErrLoginTaken, "email")
	}
	if err != nil {
		return User{}, fmt.Errorf("auth: create staff: %w", err)
	}
	return u, nil
}

const selectKindForUpdate = `SELECT kind FROM users WHERE id = $1 FOR UPDATE`

// setRoles moves the session epoch on when a role is taken away.
const setRoles = `UPDATE users SET roles = $2,
    session_epoch = session_epoch + CASE WHEN roles <@ $2::text[] THEN 0 ELSE 1 END
WHERE id = $1`

// SetRoles replaces a staff user's roles; an empty list leaves the user
// unable to reach any back-office page. Taking a role away ends every
// session of the user (see User.SessionEpoch); only adding roles does not.
// The admin role cannot be taken from the last enabled admin.
//
// Errors: ErrNotFound, ErrNotStaff, ErrUnknownRole, ErrLastAdmin.
func (s *Service) SetRoles(ctx context.Context, userID int64, roles []Role) (User, error) {
	var u User
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		u, err = s.SetRolesTx(ctx, tx, userID, roles)
		return err
	})
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return User{}, err
		}
		return User{}, fmt.Errorf("auth: set roles: %w", err)
	}
	return u, nil
}

const listStaff = `SELECT ` + userColumns + ` FROM users WHERE kind = 'staff' ORDER BY email`

// ListStaff returns every staff user, by email.
func (s *Service) ListStaff(ctx context.Context) ([]User, error) {
	rows, err := s.pool.Query(ctx, listStaff)
	if err != nil {
		return nil, fmt.Errorf("auth: list staff: %w", err)
	}
	users, err := scanUsers(rows)
	if err != nil {
		return nil, fmt.Errorf("auth: list staff: %w", err)
	}
	return users, nil
}

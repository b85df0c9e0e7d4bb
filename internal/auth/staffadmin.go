package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
)

// CheckStaffRequest validates a new staff user's email, name and roles
// (not the password) and reports every problem at once (one
// *fielderr.Errors), so a form can show each next to its field.
//
// Errors: ErrInvalidEmail (on "email"), ErrInvalidName, ErrNoRoles, ErrUnknownRole.
func CheckStaffRequest(req StaffRequest) error {
	errs := fielderr.New("auth")
	if _, err := NormalizeEmail(req.Email); err != nil {
		errs.Merge(onField(ErrInvalidEmail, "email"))
	}
	if _, err := checkName(req.Name); err != nil {
		errs.Merge(err)
	}
	if roles, err := checkRoles(req.Roles); err != nil {
		errs.Merge(err)
	} else if len(roles) == 0 {
		errs.Merge(ErrNoRoles)
	}
	return errs.Err()
}

// StaffInvite is a new staff user and the one-time link token with which
// they choose their first password.
type StaffInvite struct {
	User    User
	Token   string // shown once to the creating admin; only its hash is stored
	Expires time.Time
}

// InviteStaffTx creates a staff user without a password inside tx, the
// caller's transaction (the back office audits the creation in it), and
// issues a single-use set-password token valid for Options.StaffInviteTTL.
// Until the token is used the user cannot sign in: a user without a
// password never passes Authenticate. The token is a password-reset token,
// used with ResetPasswordTx.
//
// Errors: those of CheckStaffRequest, ErrLoginTaken (on "email").
func (s *Service) InviteStaffTx(ctx context.Context, tx pgx.Tx, req StaffRequest) (StaffInvite, error) {
	if err := CheckStaffRequest(req); err != nil {
		return StaffInvite{}, err
	}
	email, _ := NormalizeEmail(req.Email)
	name, _ := checkName(req.Name)
	roles, _ := checkRoles(req.Roles)
	now := s.now()
	u, err := scanUser(tx.QueryRow(ctx, insertStaff, email, nil, name, roleStrings(roles), s.locale(req.Locale), now))
	if errors.Is(err, ErrNotFound) {
		return StaffInvite{}, onField(ErrLoginTaken, "email")
	}
	if err != nil {
		return StaffInvite{}, fmt.Errorf("auth: invite staff: %w", err)
	}
	token, hash := newToken()
	expires := now.Add(s.opt.StaffInviteTTL)
	if _, err := tx.Exec(ctx, insertResetToken, hash, u.ID, now, expires); err != nil {
		return StaffInvite{}, fmt.Errorf("auth: invite staff: %w", err)
	}
	return StaffInvite{User: u, Token: token, Expires: expires}, nil
}

// lockAdmins serialises every change that may take the admin role away
// from someone, so two admins demoting each other at once cannot leave none.
const lockAdmins = `SELECT pg_advisory_xact_lock(hashtextextended('auth.admins', 0))`

const countOtherAdmins = `SELECT count(*) FROM users
WHERE kind = 'staff' AND NOT disabled AND 'admin' = ANY (roles) AND id <> $1`

// lockStaff locks the admins and the user's row and returns the user.
func lockStaff(ctx context.Context, tx pgx.Tx, userID int64) (User, error) {
	if _, err := tx.Exec(ctx, lockAdmins); err != nil {
		return User{}, err
	}
	var kind Kind
	err := tx.QueryRow(ctx, selectKindForUpdate, userID).Scan(&kind)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, err
	}
	if kind != KindStaff {
		return User{}, ErrNotStaff
	}
	return userByID(ctx, tx, userID)
}

// LockStaffTx locks staff user userID inside tx, as every change to staff
// does (and the admins with it), and returns the user as they are before
// the change: the back office audits the roles before and after.
//
// Errors: ErrNotFound, ErrNotStaff.
func (s *Service) LockStaffTx(ctx context.Context, tx pgx.Tx, userID int64) (User, error) {
	return lockStaff(ctx, tx, userID)
}

// guardLastAdmin refuses to take the admin role away from u when u is the
// only enabled admin. Call it after lockStaff.
func guardLastAdmin(ctx context.Context, tx pgx.Tx, u User) error {
	if !HasRole(u, RoleAdmin) {
		return nil
	}
	var others int
	if err := tx.QueryRow(ctx, countOtherAdmins, u.ID).Scan(&others); err != nil {
		return err
	}
	if others == 0 {
		return ErrLastAdmin
	}
	return nil
}

// SetStaffDisabledTx disables or re-enables staff user userID on behalf of
// staff user actorID, inside tx. Disabling ends every session of the user at
// once (the session epoch moves on) and they can no longer sign in; nobody
// can disable themself, and the last enabled admin cannot be disabled.
//
// Errors: ErrNotFound, ErrNotStaff, ErrSelfDisable, ErrLastAdmin.
func (s *Service) SetStaffDisabledTx(ctx context.Context, tx pgx.Tx, actorID, userID int64, disabled bool) (User, error) {
	if disabled && actorID == userID {
		return User{}, ErrSelfDisable
	}
	u, err := lockStaff(ctx, tx, userID)
	if err != nil {
		return User{}, err
	}
	if disabled {
		if err := guardLastAdmin(ctx, tx, u); err != nil {
			return User{}, err
		}
	}
	if _, err := tx.Exec(ctx, setDisabled, userID, disabled); err != nil {
		return User{}, fmt.Errorf("auth: set staff disabled: %w", err)
	}
	return userByID(ctx, tx, userID)
}

// SetRolesTx is SetRoles inside tx, the caller's transaction.
//
// Errors: as SetRoles.
func (s *Service) SetRolesTx(ctx context.Context, tx pgx.Tx, userID int64, roles []Role) (User, error) {
	roles, err := checkRoles(roles)
	if err != nil {
		return User{}, err
	}
	u, err := lockStaff(ctx, tx, userID)
	if err != nil {
		return User{}, err
	}
	if !slices.Contains(roles, RoleAdmin) {
		if err := guardLastAdmin(ctx, tx, u); err != nil {
			return User{}, err
		}
	}
	if _, err := tx.Exec(ctx, setRoles, userID, roleStrings(roles)); err != nil {
		return User{}, err
	}
	return userByID(ctx, tx, userID)
}

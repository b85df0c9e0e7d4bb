package backoffice

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/auth"
)

// Audited staff actions: every change to a staff user, with the user in
// the row's detail (staff_id, staff_email).
const (
	ActionStaffCreated      Action = "staff_created"       // an admin created (invited) a staff user
	ActionStaffDisabled     Action = "staff_disabled"      // an admin disabled a staff user
	ActionStaffEnabled      Action = "staff_enabled"       // an admin re-enabled a staff user
	ActionStaffRolesChanged Action = "staff_roles_changed" // an admin changed a staff user's roles
	ActionStaffTOTPEnrolled Action = "staff_totp_enrolled" // a staff user confirmed an authenticator
	ActionStaffTOTPReset    Action = "staff_totp_reset"    // an admin removed a staff user's authenticator
	ActionStaffPasswordSet  Action = "staff_password_set"  // a staff user set a password with a one-time link
)

// StaffActions lists the staff actions, for the audit page's filter.
var StaffActions = []Action{ActionStaffCreated, ActionStaffDisabled, ActionStaffEnabled, ActionStaffRolesChanged,
	ActionStaffTOTPEnrolled, ActionStaffTOTPReset, ActionStaffPasswordSet}

// staffDetail is the audit detail of a staff change.
type staffDetail struct {
	StaffID     int64       `json:"staff_id"`
	StaffEmail  string      `json:"staff_email"`
	RolesBefore []auth.Role `json:"roles_before,omitempty"`
	Roles       []auth.Role `json:"roles,omitempty"`
}

func (s *Service) auditStaff(ctx context.Context, tx pgx.Tx, a Actor, action Action, d staffDetail) error {
	e := staffEntry(a, action, 0)
	e.Detail = d
	_, err := Audit(ctx, tx, e)
	return err
}

// staffTx runs fn, an admin's change to a staff user, in one transaction
// with its audit row. auth's errors pass through as they are.
func (s *Service) staffTx(ctx context.Context, a Actor, op string, fn func(tx pgx.Tx) error) error {
	if err := a.require(auth.RoleAdmin); err != nil {
		return err
	}
	err := s.inTx(ctx, fn)
	var ae *auth.Error
	if err != nil && !errors.As(err, &ae) {
		return fmt.Errorf("backoffice: %s: %w", op, err)
	}
	return err
}

// InviteStaff creates a staff user without a password and returns the
// one-time set-password link token (shown once to the admin), audited.
//
// Errors: ErrForbidden (not an admin), and auth's CheckStaffRequest errors
// (joined) and ErrLoginTaken.
func (s *Service) InviteStaff(ctx context.Context, a Actor, req auth.StaffRequest) (auth.StaffInvite, error) {
	var inv auth.StaffInvite
	err := s.staffTx(ctx, a, "invite staff", func(tx pgx.Tx) error {
		var err error
		if inv, err = s.users.InviteStaffTx(ctx, tx, req); err != nil {
			return err
		}
		return s.auditStaff(ctx, tx, a, ActionStaffCreated, staffDetail{StaffID: inv.User.ID, StaffEmail: inv.User.Email, Roles: inv.User.Roles})
	})
	return inv, err
}

// SetStaffDisabled disables (ending their sessions at once) or re-enables
// a staff user, audited.
//
// Errors: ErrForbidden, auth.ErrNotFound, auth.ErrNotStaff,
// auth.ErrSelfDisable, auth.ErrLastAdmin.
func (s *Service) SetStaffDisabled(ctx context.Context, a Actor, userID int64, disabled bool) (auth.User, error) {
	action := ActionStaffEnabled
	if disabled {
		action = ActionStaffDisabled
	}
	var u auth.User
	err := s.staffTx(ctx, a, "set staff disabled", func(tx pgx.Tx) error {
		var err error
		if u, err = s.users.SetStaffDisabledTx(ctx, tx, a.User.ID, userID, disabled); err != nil {
			return err
		}
		return s.auditStaff(ctx, tx, a, action, staffDetail{StaffID: u.ID, StaffEmail: u.Email})
	})
	return u, err
}

// SetStaffRoles replaces a staff user's roles, audited with the roles
// before and after.
//
// Errors: ErrForbidden, auth.ErrNotFound, auth.ErrNotStaff,
// auth.ErrUnknownRole, auth.ErrLastAdmin.
func (s *Service) SetStaffRoles(ctx context.Context, a Actor, userID int64, roles []auth.Role) (auth.User, error) {
	var u auth.User
	err := s.staffTx(ctx, a, "set staff roles", func(tx pgx.Tx) error {
		before, err := s.users.LockStaffTx(ctx, tx, userID)
		if err != nil {
			return err
		}
		if u, err = s.users.SetRolesTx(ctx, tx, userID, roles); err != nil {
			return err
		}
		return s.auditStaff(ctx, tx, a, ActionStaffRolesChanged, staffDetail{StaffID: u.ID, StaffEmail: u.Email, RolesBefore: before.Roles, Roles: u.Roles})
	})
	return u, err
}

// ResetStaffTOTP removes a staff user's authenticator (a lost phone),
// ending their sessions; their next sign-in enrols a new one. Audited.
//
// Errors: ErrForbidden, auth.ErrNotFound, auth.ErrNotStaff.
func (s *Service) ResetStaffTOTP(ctx context.Context, a Actor, userID int64) (auth.User, error) {
	var u auth.User
	err := s.staffTx(ctx, a, "reset staff totp", func(tx pgx.Tx) error {
		var err error
		if u, err = s.users.ResetTOTPTx(ctx, tx, userID); err != nil {
			return err
		}
		return s.auditStaff(ctx, tx, a, ActionStaffTOTPReset, staffDetail{StaffID: u.ID, StaffEmail: u.Email})
	})
	return u, err
}

// ConfirmTOTP completes the acting staff user's own authenticator
// enrolment with its current code, audited.
//
// Errors: ErrForbidden (not enabled staff), auth.ErrInvalidTOTP,
// auth.ErrTOTPEnrolled, auth.ErrTOTPNotEnrolled.
func (s *Service) ConfirmTOTP(ctx context.Context, a Actor, code string) (auth.User, error) {
	if !a.User.IsStaff() {
		return auth.User{}, ErrForbidden
	}
	var u auth.User
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if u, err = s.users.ConfirmTOTPTx(ctx, tx, a.User.ID, code); err != nil {
			return err
		}
		return s.auditStaff(ctx, tx, a, ActionStaffTOTPEnrolled, staffDetail{StaffID: u.ID, StaffEmail: u.Email})
	})
	var ae *auth.Error
	if err != nil && !errors.As(err, &ae) {
		return auth.User{}, fmt.Errorf("backoffice: confirm totp: %w", err)
	}
	return u, err
}

// SetPasswordWithToken sets a password with a one-time link token (the
// invitation of a new staff user, or a reset) from address ip and, for a
// staff user, writes the audit row in the same transaction, the user being
// the actor. Customers' tokens work too and are not audited.
//
// Errors: auth.ErrInvalidToken, auth.ErrWeakPassword (refined),
// auth.ErrUserDisabled.
func (s *Service) SetPasswordWithToken(ctx context.Context, token, password, ip string) (auth.User, error) {
	var u auth.User
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if u, err = s.users.ResetPasswordTx(ctx, tx, token, password); err != nil {
			return err
		}
		if u.Kind != auth.KindStaff {
			return nil
		}
		return s.auditStaff(ctx, tx, Actor{User: u, IP: ip}, ActionStaffPasswordSet, staffDetail{StaffID: u.ID, StaffEmail: u.Email})
	})
	var ae *auth.Error
	if err != nil && !errors.As(err, &ae) {
		return auth.User{}, fmt.Errorf("backoffice: set staff password: %w", err)
	}
	return u, err
}

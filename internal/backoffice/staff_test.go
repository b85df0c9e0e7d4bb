package backoffice_test

import (
	"encoding/json"
	"testing"

	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
)

// Every staff change writes one audit row naming the actor, their address
// and the staff user changed.
func TestStaffChangesAreAudited(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	admin := b.staff(t, auth.RoleAdmin)
	support := b.staff(t, auth.RoleSupport)

	lastRow := func(action backoffice.Action) (backoffice.AuditRow, map[string]any) {
		t.Helper()
		rows, _, err := b.svc.AuditLog(b.ctx, backoffice.AuditFilter{Action: action}, 0, 1)
		require.NoError(t, err)
		require.Len(t, rows, 1, action)
		var d map[string]any
		require.NoError(t, json.Unmarshal(rows[0].Detail, &d))
		return rows[0], d
	}

	_, err := b.svc.InviteStaff(b.ctx, support, auth.StaffRequest{Email: uniq("x") + "@example.com", Roles: []auth.Role{auth.RoleSupport}})
	require.ErrorIs(t, err, backoffice.ErrForbidden, "only admins manage staff")

	email := uniq("new") + "@example.com"
	inv, err := b.svc.InviteStaff(b.ctx, admin, auth.StaffRequest{Email: email, Name: "新人", Roles: []auth.Role{auth.RoleFinance}})
	require.NoError(t, err)
	row, d := lastRow(backoffice.ActionStaffCreated)
	require.Equal(t, admin.User.Email, row.ActorEmail)
	require.Equal(t, "192.0.2.10", row.IP)
	require.Equal(t, email, d["staff_email"])

	u, err := b.svc.SetPasswordWithToken(b.ctx, inv.Token, "first password 1", "198.51.100.7")
	require.NoError(t, err)
	row, _ = lastRow(backoffice.ActionStaffPasswordSet)
	require.Equal(t, email, row.ActorEmail, "the new staff member set it")
	require.Equal(t, "198.51.100.7", row.IP)

	_, err = b.svc.SetStaffRoles(b.ctx, admin, u.ID, []auth.Role{auth.RoleFinance, auth.RoleSupport})
	require.NoError(t, err)
	_, d = lastRow(backoffice.ActionStaffRolesChanged)
	require.Equal(t, []any{"finance"}, d["roles_before"])
	require.Equal(t, []any{"support", "finance"}, d["roles"])

	_, err = b.svc.SetStaffDisabled(b.ctx, admin, u.ID, true)
	require.NoError(t, err)
	lastRow(backoffice.ActionStaffDisabled)
	_, err = b.svc.SetStaffDisabled(b.ctx, admin, u.ID, false)
	require.NoError(t, err)
	lastRow(backoffice.ActionStaffEnabled)
	_, err = b.svc.SetStaffDisabled(b.ctx, admin, admin.User.ID, true)
	require.ErrorIs(t, err, auth.ErrSelfDisable)

	e, err := b.users.TOTPEnrolment(b.ctx, u.ID)
	require.NoError(t, err)
	code, err := totp.GenerateCode(e.Secret, b.clock.Now())
	require.NoError(t, err)
	u, err = b.users.UserByID(b.ctx, u.ID)
	require.NoError(t, err)
	_, err = b.svc.ConfirmTOTP(b.ctx, backoffice.Actor{User: u, IP: "198.51.100.7"}, code)
	require.NoError(t, err)
	row, _ = lastRow(backoffice.ActionStaffTOTPEnrolled)
	require.Equal(t, email, row.ActorEmail)

	u, err = b.svc.ResetStaffTOTP(b.ctx, admin, u.ID)
	require.NoError(t, err)
	require.False(t, u.TOTPEnrolled)
	row, d = lastRow(backoffice.ActionStaffTOTPReset)
	require.Equal(t, admin.User.Email, row.ActorEmail)
	require.Equal(t, float64(u.ID), d["staff_id"])
}

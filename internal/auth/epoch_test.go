package auth_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
)

// The session epoch moves on exactly when the user's sessions must end: a
// password change, set or reset, disabling, and taking a staff role away;
// not when roles are only added, a user is re-enabled, or a sign-in
// rehashes an old-parameter password.
func TestSessionEpoch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	epoch := func(id int64) int64 {
		t.Helper()
		u, err := b.svc.UserByID(ctx, id)
		require.NoError(t, err)
		return u.SessionEpoch
	}

	cu, err := b.svc.Register(ctx, auth.RegisterRequest{Login: uniqueEmail("epoch"), Password: goodPassword})
	require.NoError(t, err)
	require.Zero(t, cu.SessionEpoch)
	changed, err := b.svc.ChangePassword(ctx, cu.ID, goodPassword, "second password 2")
	require.NoError(t, err)
	require.Equal(t, int64(1), changed.SessionEpoch)
	require.Equal(t, int64(1), epoch(cu.ID))
	require.NoError(t, b.svc.SetPassword(ctx, cu.ID, "third password 3"))
	require.Equal(t, int64(2), epoch(cu.ID))
	token, _, err := b.svc.StartPasswordReset(ctx, cu.Email)
	require.NoError(t, err)
	reset, err := b.svc.ResetPassword(ctx, token, "fourth password 4")
	require.NoError(t, err)
	require.Equal(t, int64(3), reset.SessionEpoch)
	require.NoError(t, b.svc.SetDisabled(ctx, cu.ID, true))
	require.Equal(t, int64(4), epoch(cu.ID))
	require.NoError(t, b.svc.SetDisabled(ctx, cu.ID, true))
	require.NoError(t, b.svc.SetDisabled(ctx, cu.ID, false))
	require.Equal(t, int64(4), epoch(cu.ID), "disabling twice or re-enabling ends nothing more")

	// A hash with older parameters is replaced at sign-in: not a change.
	weak := auth.New(b.pool, auth.Options{Now: b.clock.Now, Argon2: cheapArgon2})
	wu, err := weak.Register(ctx, auth.RegisterRequest{Login: uniqueEmail("rehash"), Password: goodPassword})
	require.NoError(t, err)
	got, err := b.svc.Authenticate(ctx, wu.Email, goodPassword, uniqueIP())
	require.NoError(t, err)
	require.Zero(t, got.SessionEpoch)
	var hash string
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT password_hash FROM users WHERE id = $1`, wu.ID).Scan(&hash))
	require.Contains(t, hash, "m=19456,t=2", "rehashed")
	require.Zero(t, epoch(wu.ID))

	su, err := b.svc.CreateStaff(ctx, auth.StaffRequest{Email: uniqueEmail("epoch-staff"), Password: goodPassword, Roles: []auth.Role{auth.RoleSupport}})
	require.NoError(t, err)
	_, err = b.svc.SetRoles(ctx, su.ID, []auth.Role{auth.RoleSupport, auth.RoleFinance})
	require.NoError(t, err)
	require.Zero(t, epoch(su.ID), "adding a role ends nothing")
	u, err := b.svc.SetRoles(ctx, su.ID, []auth.Role{auth.RoleFinance})
	require.NoError(t, err)
	require.Equal(t, int64(1), u.SessionEpoch, "taking support away ends the sessions")
	_, err = b.svc.SetRoles(ctx, su.ID, nil)
	require.NoError(t, err)
	require.Equal(t, int64(2), epoch(su.ID))
}

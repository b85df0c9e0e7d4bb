package auth_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
)

func TestStaff(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("CreateAndSignIn", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		email := uniqueEmail("Finance.Wang")
		u, err := b.svc.CreateStaff(ctx, auth.StaffRequest{Email: email, Password: goodPassword, Name: "王会计",
			Roles: []auth.Role{auth.RoleFinance, auth.RoleSupport, auth.RoleFinance}})
		require.NoError(t, err)
		require.Equal(t, auth.KindStaff, u.Kind)
		require.Equal(t, []auth.Role{auth.RoleSupport, auth.RoleFinance}, u.Roles)
		require.Zero(t, u.AccountID)

		got, err := b.svc.Authenticate(ctx, email, goodPassword, uniqueIP())
		require.NoError(t, err)
		require.True(t, got.IsStaff())
		require.True(t, auth.HasRole(got, auth.RoleFinance))
		require.True(t, auth.HasRole(got, auth.RoleSupport))
		require.False(t, auth.HasRole(got, auth.RoleAdmin))
		require.True(t, auth.HasAnyRole(got, auth.RoleAdmin, auth.RoleSupport))
	})

	t.Run("AdminIsNotFinance", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		u, err := b.svc.CreateStaff(ctx, auth.StaffRequest{Email: uniqueEmail("admin"), Password: goodPassword, Roles: []auth.Role{auth.RoleAdmin}})
		require.NoError(t, err)
		require.True(t, auth.HasRole(u, auth.RoleAdmin))
		require.False(t, auth.HasRole(u, auth.RoleFinance))
		require.False(t, auth.HasRole(u, auth.RoleSupport))
	})

	t.Run("SetRoles", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		u, err := b.svc.CreateStaff(ctx, auth.StaffRequest{Email: uniqueEmail("s"), Password: goodPassword, Roles: []auth.Role{auth.RoleSupport}})
		require.NoError(t, err)
		u, err = b.svc.SetRoles(ctx, u.ID, []auth.Role{auth.RoleAdmin, auth.RoleFinance})
		require.NoError(t, err)
		require.Equal(t, []auth.Role{auth.RoleFinance, auth.RoleAdmin}, u.Roles)
		got, err := b.svc.Authenticate(ctx, u.Email, goodPassword, uniqueIP())
		require.NoError(t, err)
		require.False(t, auth.HasRole(got, auth.RoleSupport), "support was taken away")
		require.True(t, auth.HasRole(got, auth.RoleFinance))

		u, err = b.svc.SetRoles(ctx, u.ID, nil)
		require.NoError(t, err)
		require.False(t, auth.HasAnyRole(u, auth.AllRoles...))

		_, err = b.svc.SetRoles(ctx, u.ID, []auth.Role{"root"})
		require.ErrorIs(t, err, auth.ErrUnknownRole)
		_, err = b.svc.SetRoles(ctx, -1, []auth.Role{auth.RoleAdmin})
		require.ErrorIs(t, err, auth.ErrNotFound)
	})

	t.Run("CustomersNeverHoldRoles", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		c, err := b.svc.Register(ctx, auth.RegisterRequest{Login: uniqueEmail("cust"), Password: goodPassword})
		require.NoError(t, err)
		_, err = b.svc.SetRoles(ctx, c.ID, []auth.Role{auth.RoleAdmin})
		require.ErrorIs(t, err, auth.ErrNotStaff)
		require.False(t, c.IsStaff())
		// Even a hand-built value cannot pass as staff.
		c.Roles = []auth.Role{auth.RoleAdmin}
		require.False(t, auth.HasRole(c, auth.RoleAdmin))
	})

	t.Run("DisabledStaffHasNoRoles", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		u, err := b.svc.CreateStaff(ctx, auth.StaffRequest{Email: uniqueEmail("gone"), Password: goodPassword, Roles: []auth.Role{auth.RoleAdmin}})
		require.NoError(t, err)
		require.NoError(t, b.svc.SetDisabled(ctx, u.ID, true))
		u, err = b.svc.UserByID(ctx, u.ID)
		require.NoError(t, err)
		require.False(t, auth.HasRole(u, auth.RoleAdmin))
	})

	t.Run("Invalid", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		email := uniqueEmail("dup")
		_, err := b.svc.CreateStaff(ctx, auth.StaffRequest{Email: email, Password: goodPassword, Roles: []auth.Role{auth.RoleSupport}})
		require.NoError(t, err)
		_, err = b.svc.CreateStaff(ctx, auth.StaffRequest{Email: email, Password: goodPassword, Roles: []auth.Role{auth.RoleSupport}})
		require.ErrorIs(t, err, auth.ErrLoginTaken)
		_, err = b.svc.Register(ctx, auth.RegisterRequest{Login: email, Password: goodPassword})
		require.ErrorIs(t, err, auth.ErrLoginTaken, "a customer cannot take a staff email")
		_, err = b.svc.CreateStaff(ctx, auth.StaffRequest{Email: uniqueEmail("n"), Password: goodPassword})
		require.ErrorIs(t, err, auth.ErrNoRoles)
		_, err = b.svc.CreateStaff(ctx, auth.StaffRequest{Email: uniqueEmail("n"), Password: goodPassword, Roles: []auth.Role{"owner"}})
		require.ErrorIs(t, err, auth.ErrUnknownRole)
		_, err = b.svc.CreateStaff(ctx, auth.StaffRequest{Email: "13800138000", Password: goodPassword, Roles: []auth.Role{auth.RoleAdmin}})
		require.ErrorIs(t, err, auth.ErrInvalidEmail, "staff sign in by email")
		_, err = b.svc.CreateStaff(ctx, auth.StaffRequest{Email: uniqueEmail("n"), Password: "password", Roles: []auth.Role{auth.RoleAdmin}})
		require.NoError(t, err)
		_, err = b.svc.CreateStaff(ctx, auth.StaffRequest{Email: uniqueEmail("n"), Password: "pass", Roles: []auth.Role{auth.RoleAdmin}})
		require.ErrorIs(t, err, auth.ErrWeakPassword)
	})

	t.Run("ListStaff", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		u, err := b.svc.CreateStaff(ctx, auth.StaffRequest{Email: uniqueEmail("list"), Password: goodPassword, Roles: []auth.Role{auth.RoleSupport}})
		require.NoError(t, err)
		staff, err := b.svc.ListStaff(ctx)
		require.NoError(t, err)
		var found bool
		for _, s := range staff {
			require.Equal(t, auth.KindStaff, s.Kind)
			found = found || s.ID == u.ID
		}
		require.True(t, found)
	})
}

func TestFindUsers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	acct := uniqueAccountID()
	email := uniqueEmail("zhao.support")
	d := uniquePhone()
	byEmail, err := b.svc.Register(ctx, auth.RegisterRequest{Login: email, Password: goodPassword, Name: "赵六", AccountID: acct})
	require.NoError(t, err)
	byPhone, err := b.svc.Register(ctx, auth.RegisterRequest{Login: d, Password: goodPassword})
	require.NoError(t, err)

	ids := func(q string) []int64 {
		users, err := b.svc.FindUsers(ctx, q)
		require.NoError(t, err, q)
		out := []int64{}
		for _, u := range users {
			out = append(out, u.ID)
		}
		return out
	}
	require.Equal(t, []int64{byEmail.ID}, ids(email))
	require.Contains(t, ids(email[:12]), byEmail.ID, "email prefix")
	require.Equal(t, []int64{byEmail.ID}, ids(" "+email+" "))
	require.Contains(t, ids("+86 "+d[:3]+" "+d[3:7]+" "+d[7:]), byPhone.ID)
	require.Equal(t, byPhone.ID, ids(d)[0], "exact phone first")
	require.Contains(t, ids(d[3:]), byPhone.ID, "tail digits")
	require.Equal(t, byEmail.ID, ids(itoa(acct))[0], "ledger account id")
	require.Contains(t, ids("赵六"), byEmail.ID, "display name")
	require.Empty(t, ids(""))
	require.Empty(t, ids(uniqueEmail("nobody")))
	require.NotContains(t, ids("%"), byPhone.ID, "wildcards match literally")
}

func itoa(n int64) string {
	return strconv.FormatInt(n, 10)
}

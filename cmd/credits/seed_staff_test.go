package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/platform/config"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

// The demo staff are created once, printed with their password, and can
// sign in with the roles they are listed with.
func TestSeedStaffIsIdempotentAndPrintsSignIns(t *testing.T) {
	pool := dbtest.AppPool(t) // `credits seed` connects as the application role
	ctx := context.Background()
	steps := []seedStep{{"staff", seedStaff}}
	var out bytes.Buffer
	require.NoError(t, seed(ctx, devConfig(t), pool, steps, &out))
	require.NoError(t, seed(ctx, devConfig(t), pool, steps, &out))
	for _, s := range demoStaff {
		require.Contains(t, out.String(), s.email+" / "+demoStaffPassword)
	}
	a := auth.New(pool, auth.Options{})
	u, err := a.Authenticate(ctx, "finance2@example.com", demoStaffPassword, "127.0.0.1")
	require.NoError(t, err)
	require.Equal(t, []auth.Role{auth.RoleFinance}, u.Roles)
	staff, err := a.ListStaff(ctx)
	require.NoError(t, err)
	require.Len(t, staff, len(demoStaff))
}

// devConfig is the development configuration, as `make run` has it.
func devConfig(t *testing.T) config.Config {
	t.Helper()
	c, err := config.LoadFrom(map[string]string{})
	require.NoError(t, err)
	return c
}

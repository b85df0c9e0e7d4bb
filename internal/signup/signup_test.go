package signup_test

import (
	"context"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/internal/signup"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func TestRegister(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.Pool(t)
	l := ledger.New(pool, ledger.Options{})
	t.Cleanup(l.Close)
	a := auth.New(pool, auth.Options{Argon2: auth.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}})
	accountsNamed := func(name string) int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM ledger_accounts WHERE name = $1`, name).Scan(&n))
		return n
	}

	t.Run("FailureAfterTheAccountLeavesNothing", func(t *testing.T) {
		// A sign-up credit too large for numeric(24,6) fails after the
		// account and the user were created in the transaction.
		s := &signup.Service{Pool: pool, Auth: a, Ledger: l, Settings: signup.Settings{Credit: decimal.New(1, 20)}}
		_, err := s.Register(ctx, auth.RegisterRequest{Login: "orphan@example.com", Password: "correct horse battery", Name: "Orphan Test"})
		require.Error(t, err)
		require.Zero(t, accountsNamed("Orphan Test"), "no ledger account without its user")
		_, err = a.UserByLogin(ctx, "orphan@example.com")
		require.Error(t, err, "no user either")

		// The customer tries again and gets one account with the credit.
		s.Settings = signup.Settings{Credit: decimal.NewFromInt(5000), ExpiryDays: 30}
		u, err := s.Register(ctx, auth.RegisterRequest{Login: "orphan@example.com", Password: "correct horse battery", Name: "Orphan Test"})
		require.NoError(t, err)
		require.Equal(t, 1, accountsNamed("Orphan Test"))
		bal, err := l.Balance(ctx, u.AccountID)
		require.NoError(t, err)
		require.True(t, bal.Available.Equal(decimal.NewFromInt(5000)), "sign-up credit: %s", bal.Available)
	})

	t.Run("LoginTakenCreatesNoAccount", func(t *testing.T) {
		s := &signup.Service{Pool: pool, Auth: a, Ledger: l, Settings: signup.Default}
		_, err := s.Register(ctx, auth.RegisterRequest{Login: "twice@example.com", Password: "correct horse battery", Name: "Twice A"})
		require.NoError(t, err)
		_, err = s.Register(ctx, auth.RegisterRequest{Login: "twice@example.com", Password: "correct horse battery", Name: "Twice B"})
		require.ErrorIs(t, err, auth.ErrLoginTaken)
		require.Zero(t, accountsNamed("Twice B"))
	})
}

package auth_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

// Parallel guesses (as from several server instances) cannot slip under
// the sign-in limits: 64 wrong attempts at once produce exactly what 64 in
// a row would.
func TestThrottleHoldsUnderConcurrency(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const n = 64
	newService := func(t *testing.T) *auth.Service {
		c := &clock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}
		return auth.New(setup(t).pool, auth.Options{Now: c.Now, Sleep: (&sleepLog{}).Sleep, Argon2: cheapArgon2})
	}
	// attempt runs n attempts at once and counts the answers.
	attempt := func(t *testing.T, fn func(i int) error) (bad, throttled int) {
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { errs[i] = fn(i) })
		}
		wg.Wait()
		for _, err := range errs {
			switch {
			case errors.Is(err, auth.ErrBadCredentials):
				bad++
			case errors.Is(err, auth.ErrSignInThrottled):
				throttled++
			default:
				t.Fatalf("unexpected error %v", err)
			}
		}
		return bad, throttled
	}

	t.Run("OneLoginOneAddress", func(t *testing.T) {
		t.Parallel()
		svc := newService(t)
		email, ip := uniqueEmail("burst"), uniqueIP()
		_, err := svc.Register(ctx, auth.RegisterRequest{Login: email, Password: goodPassword})
		require.NoError(t, err)
		bad, throttled := attempt(t, func(int) error {
			_, err := svc.Authenticate(ctx, email, "wrong password", ip)
			return err
		})
		require.Equal(t, 5, bad, "exactly MaxFailuresPerLoginIP passwords were checked")
		require.Equal(t, n-5, throttled)
		_, err = svc.Authenticate(ctx, email, goodPassword, ip)
		require.ErrorIs(t, err, auth.ErrSignInThrottled)
	})

	t.Run("ManyLoginsOneAddress", func(t *testing.T) {
		t.Parallel()
		svc := newService(t)
		ip := uniqueIP()
		bad, throttled := attempt(t, func(int) error {
			_, err := svc.Authenticate(ctx, uniqueEmail("spray"), "wrong password", ip)
			return err
		})
		require.Equal(t, 20, bad, "exactly MaxFailuresPerIP passwords were checked")
		require.Equal(t, n-20, throttled)
	})

	t.Run("OneLoginManyAddresses", func(t *testing.T) {
		t.Parallel()
		svc := newService(t)
		email := uniqueEmail("target")
		_, err := svc.Register(ctx, auth.RegisterRequest{Login: email, Password: goodPassword})
		require.NoError(t, err)
		bad, throttled := attempt(t, func(int) error {
			_, err := svc.Authenticate(ctx, email, "wrong password", uniqueIP())
			return err
		})
		require.Equal(t, n, bad, "only slowed down, never refused")
		require.Zero(t, throttled)
		_, err = svc.Authenticate(ctx, email, goodPassword, uniqueIP())
		require.NoError(t, err, "the owner still signs in")
	})
}

// The sign-in slow-down waits without holding a database connection: on a
// pool of one connection, the connection is free while an attempt waits.
func TestSlowDownHoldsNoConnection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(dbtest.URL(t))
	require.NoError(t, err)
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	waited := 0
	c := &clock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}
	svc := auth.New(pool, auth.Options{Now: c.Now, Argon2: cheapArgon2, Sleep: func(ctx context.Context, _ time.Duration) error {
		waited++
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := pool.Exec(qctx, `SELECT 1`)
		return err
	}})
	email := uniqueEmail("patient")
	_, err = svc.Register(ctx, auth.RegisterRequest{Login: email, Password: goodPassword})
	require.NoError(t, err)
	for range 5 {
		_, err := svc.Authenticate(ctx, email, "wrong password", uniqueIP())
		require.ErrorIs(t, err, auth.ErrBadCredentials)
	}
	_, err = svc.Authenticate(ctx, email, goodPassword, uniqueIP())
	require.NoError(t, err)
	require.Equal(t, 1, waited)
}

func TestPortalLinkConcurrency(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("SameLinkTwiceAtOnce", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		token, _, err := b.svc.CreatePortalLink(ctx, uniqueAccountID(), time.Minute)
		require.NoError(t, err)
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() { _, errs[i] = b.svc.ConsumePortalLink(ctx, token) })
		}
		wg.Wait()
		var ok int
		for _, err := range errs {
			if err == nil {
				ok++
			} else {
				require.ErrorIs(t, err, auth.ErrInvalidToken)
			}
		}
		require.Equal(t, 1, ok, "a link signs in once")
	})

	t.Run("TwoLinksOneUser", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		acct := uniqueAccountID()
		tokens := make([]string, 4)
		for i := range tokens {
			var err error
			tokens[i], _, err = b.svc.CreatePortalLink(ctx, acct, time.Minute)
			require.NoError(t, err)
		}
		users := make([]auth.User, len(tokens))
		errs := make([]error, len(tokens))
		var wg sync.WaitGroup
		for i := range tokens {
			wg.Go(func() { users[i], errs[i] = b.svc.ConsumePortalLink(ctx, tokens[i]) })
		}
		wg.Wait()
		for i := range tokens {
			require.NoError(t, errs[i])
			require.Equal(t, users[0].ID, users[i].ID, "one customer user per ledger account")
		}
	})
}

func TestErrorCodesAreUnique(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, e := range auth.AllErrors {
		require.NotEmpty(t, e.Code)
		require.False(t, seen[e.Code], e.Code)
		seen[e.Code] = true
	}
	for _, c := range auth.FieldCodes {
		require.False(t, seen[c], c)
		seen[c] = true
	}
	require.True(t, seen["password_all_digits"])
}

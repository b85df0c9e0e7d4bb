package auth_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
)

// Parallel guesses (as from several server instances) cannot slip under
// the per-login limit.
func TestThrottleHoldsUnderConcurrency(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	email := uniqueEmail("burst")
	_, err := b.svc.Register(ctx, auth.RegisterRequest{Login: email, Password: goodPassword})
	require.NoError(t, err)

	const n = 10
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = b.svc.Authenticate(ctx, email, "wrong password", uniqueIP())
		})
	}
	wg.Wait()
	var bad, throttled int
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
	require.Equal(t, 5, bad, "exactly MaxFailuresPerLogin passwords were checked")
	require.Equal(t, 5, throttled)
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
	require.True(t, seen["password_all_digits"])
}

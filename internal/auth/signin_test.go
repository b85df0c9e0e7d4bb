package auth_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
)

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("UnknownAndWrongLookAlike", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		email := uniqueEmail("who")
		_, err := b.svc.Register(ctx, auth.RegisterRequest{Login: email, Password: goodPassword})
		require.NoError(t, err)

		_, errWrong := b.svc.Authenticate(ctx, email, "wrong password", uniqueIP())
		_, errUnknown := b.svc.Authenticate(ctx, uniqueEmail("nobody"), goodPassword, uniqueIP())
		_, errGarbage := b.svc.Authenticate(ctx, "not a login", goodPassword, uniqueIP())
		require.Equal(t, auth.ErrBadCredentials, errWrong)
		require.Equal(t, errWrong, errUnknown)
		require.Equal(t, errWrong, errGarbage)
	})

	t.Run("UnknownCostsAHashToo", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		email := uniqueEmail("timing")
		_, err := b.svc.Register(ctx, auth.RegisterRequest{Login: email, Password: goodPassword})
		require.NoError(t, err)
		fastest := func(login string) time.Duration {
			best := time.Hour
			for range 3 {
				start := time.Now()
				_, err := b.svc.Authenticate(ctx, login, "wrong password", uniqueIP())
				require.ErrorIs(t, err, auth.ErrBadCredentials)
				best = min(best, time.Since(start))
			}
			return best
		}
		known, unknown := fastest(email), fastest(uniqueEmail("ghost"))
		// An argon2id verification dominates both; without the dummy hash the
		// unknown login would answer in well under a tenth of the time.
		require.Greater(t, unknown, known/3, "known %v, unknown %v", known, unknown)
	})

	t.Run("SuccessRecordsSignIn", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		u, err := b.svc.Register(ctx, auth.RegisterRequest{Login: uniquePhone(), Password: goodPassword})
		require.NoError(t, err)
		b.clock.Advance(time.Hour)
		got, err := b.svc.Authenticate(ctx, u.Phone, goodPassword, "2408:8207:1234:5678::1")
		require.NoError(t, err)
		require.Equal(t, b.clock.Now(), got.LastSignInAt)
		again, err := b.svc.UserByID(ctx, u.ID)
		require.NoError(t, err)
		require.Equal(t, b.clock.Now(), again.LastSignInAt)

		var ip string
		require.NoError(t, b.pool.QueryRow(ctx,
			`SELECT host(ip) FROM sign_in_attempts WHERE user_id = $1 AND succeeded`, u.ID).Scan(&ip))
		require.Equal(t, "2408:8207:1234:5678::1", ip)
	})

	t.Run("Disabled", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		u, err := b.svc.Register(ctx, auth.RegisterRequest{Login: uniqueEmail("off"), Password: goodPassword})
		require.NoError(t, err)
		require.NoError(t, b.svc.SetDisabled(ctx, u.ID, true))
		_, err = b.svc.Authenticate(ctx, u.Email, "wrong password", uniqueIP())
		require.ErrorIs(t, err, auth.ErrBadCredentials, "no hint about the account to a guesser")
		_, err = b.svc.Authenticate(ctx, u.Email, goodPassword, uniqueIP())
		require.ErrorIs(t, err, auth.ErrUserDisabled)
		require.NoError(t, b.svc.SetDisabled(ctx, u.ID, false))
		_, err = b.svc.Authenticate(ctx, u.Email, goodPassword, uniqueIP())
		require.NoError(t, err)
	})
}

func TestSignInThrottling(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("SixthAttemptPerLoginRefused", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		d := uniquePhone()
		_, err := b.svc.Register(ctx, auth.RegisterRequest{Login: d, Password: goodPassword})
		require.NoError(t, err)
		for i := range 5 {
			// Different spellings and addresses still count for one login.
			_, err := b.svc.Authenticate(ctx, "+86 "+d, fmt.Sprintf("guess %d pw", i), uniqueIP())
			require.ErrorIs(t, err, auth.ErrBadCredentials, "attempt %d", i+1)
			b.clock.Advance(time.Minute)
		}
		_, err = b.svc.Authenticate(ctx, d, goodPassword, uniqueIP())
		require.ErrorIs(t, err, auth.ErrSignInThrottled, "6th attempt, even with the right password")

		// The first failure was at minute 0: 15 minutes after it, it no longer counts.
		b.clock.Advance(10*time.Minute + time.Second)
		_, err = b.svc.Authenticate(ctx, d, goodPassword, uniqueIP())
		require.NoError(t, err)
	})

	t.Run("AllClearAfterWindow", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		email := uniqueEmail("locked")
		_, err := b.svc.Register(ctx, auth.RegisterRequest{Login: email, Password: goodPassword})
		require.NoError(t, err)
		for range 5 {
			_, err := b.svc.Authenticate(ctx, email, "wrong password", uniqueIP())
			require.ErrorIs(t, err, auth.ErrBadCredentials)
		}
		for range 3 { // refused attempts do not extend the lock
			_, err := b.svc.Authenticate(ctx, email, goodPassword, uniqueIP())
			require.ErrorIs(t, err, auth.ErrSignInThrottled)
			b.clock.Advance(time.Minute)
		}
		b.clock.Advance(12*time.Minute + time.Second)
		_, err = b.svc.Authenticate(ctx, email, goodPassword, uniqueIP())
		require.NoError(t, err)
	})

	t.Run("UnknownLoginThrottledToo", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ghost := uniqueEmail("ghost")
		for range 5 {
			_, err := b.svc.Authenticate(ctx, ghost, "wrong password", uniqueIP())
			require.ErrorIs(t, err, auth.ErrBadCredentials)
		}
		_, err := b.svc.Authenticate(ctx, ghost, "wrong password", uniqueIP())
		require.ErrorIs(t, err, auth.ErrSignInThrottled, "same answer as for a real user: no enumeration")
	})

	t.Run("SuccessResetsLoginCount", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		email := uniqueEmail("typo")
		_, err := b.svc.Register(ctx, auth.RegisterRequest{Login: email, Password: goodPassword})
		require.NoError(t, err)
		for round := range 2 {
			for range 4 {
				_, err := b.svc.Authenticate(ctx, email, "wrong password", uniqueIP())
				require.ErrorIs(t, err, auth.ErrBadCredentials)
				b.clock.Advance(time.Second)
			}
			_, err := b.svc.Authenticate(ctx, email, goodPassword, uniqueIP())
			require.NoError(t, err, "round %d", round)
			b.clock.Advance(time.Second)
		}
	})

	t.Run("PerIP", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ip := uniqueIP()
		victim := uniqueEmail("victim")
		_, err := b.svc.Register(ctx, auth.RegisterRequest{Login: victim, Password: goodPassword})
		require.NoError(t, err)
		for i := range 20 { // a spray over many logins from one address
			_, err := b.svc.Authenticate(ctx, uniqueEmail(fmt.Sprint("spray", i)), "wrong password", ip)
			require.ErrorIs(t, err, auth.ErrBadCredentials, "attempt %d", i+1)
		}
		_, err = b.svc.Authenticate(ctx, victim, goodPassword, ip)
		require.ErrorIs(t, err, auth.ErrSignInThrottled)
		_, err = b.svc.Authenticate(ctx, victim, goodPassword, uniqueIP())
		require.NoError(t, err, "another address is not affected")
		b.clock.Advance(15*time.Minute + time.Second)
		_, err = b.svc.Authenticate(ctx, victim, goodPassword, ip)
		require.NoError(t, err)
	})

	t.Run("PerIPv6Block", func(t *testing.T) {
		t.Parallel()
		pool := setup(t).pool
		c := &clock{t: time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)}
		svc := auth.New(pool, auth.Options{Now: c.Now, MaxFailuresPerIP: 3})
		prefix := fmt.Sprintf("2409:8a00:%x:%x", seq.Add(1)&0xffff, time.Now().UnixNano()&0xffff)
		for i := range 3 { // each guess from a new address in the same /64
			_, err := svc.Authenticate(context.Background(), uniqueEmail("v6"), "wrong password", fmt.Sprintf("%s::%x", prefix, i+1))
			require.ErrorIs(t, err, auth.ErrBadCredentials)
		}
		_, err := svc.Authenticate(context.Background(), uniqueEmail("v6"), "wrong password", prefix+"::ffff")
		require.ErrorIs(t, err, auth.ErrSignInThrottled)
	})

	t.Run("PruneOldAttempts", func(t *testing.T) {
		t.Parallel()
		pool := setup(t).pool
		c := &clock{t: time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)} // older than every other test's rows
		svc := auth.New(pool, auth.Options{Now: c.Now})
		login := uniqueEmail("old")
		for range 2 {
			_, err := svc.Authenticate(ctx, login, "wrong password", uniqueIP())
			require.ErrorIs(t, err, auth.ErrBadCredentials)
		}
		n, err := svc.PruneSignInAttempts(ctx, time.Date(1999, 1, 2, 0, 0, 0, 0, time.UTC))
		require.NoError(t, err)
		require.GreaterOrEqual(t, n, int64(2))
		var left int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM sign_in_attempts WHERE login = $1`, login).Scan(&left))
		require.Zero(t, left)
	})
}

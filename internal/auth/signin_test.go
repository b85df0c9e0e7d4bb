package auth_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
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
		// The fastest of five tries each, taken in turns so both see the same
		// machine load (a busy CI machine slows single tries by several times).
		ghost := uniqueEmail("ghost")
		known, unknown := time.Hour, time.Hour
		for range 5 {
			for _, login := range []string{email, ghost} {
				start := time.Now()
				_, err := b.svc.Authenticate(ctx, login, "wrong password", uniqueIP())
				require.ErrorIs(t, err, auth.ErrBadCredentials)
				if login == email {
					known = min(known, time.Since(start))
				} else {
					unknown = min(unknown, time.Since(start))
				}
			}
		}
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

	// The lock-out attack: wrong passwords for someone else's login from
	// many addresses used to refuse the right password for 15 minutes, to
	// customers and staff alike, and repeating it kept them out for good.
	// Now they only slow the login down; its owner gets in from an address
	// that has not failed.
	t.Run("OthersCannotLockYouOut", func(t *testing.T) {
		t.Parallel()
		for _, kind := range []auth.Kind{auth.KindCustomer, auth.KindStaff} {
			t.Run(string(kind), func(t *testing.T) {
				t.Parallel()
				b := setup(t)
				login := uniqueEmail("victim")
				if kind == auth.KindStaff {
					_, err := b.svc.CreateStaff(ctx, auth.StaffRequest{Email: login, Password: goodPassword, Roles: []auth.Role{auth.RoleAdmin}})
					require.NoError(t, err)
				} else {
					_, err := b.svc.Register(ctx, auth.RegisterRequest{Login: login, Password: goodPassword})
					require.NoError(t, err)
				}
				for round := range 3 { // the attacker keeps at it
					for i := range 10 {
						_, err := b.svc.Authenticate(ctx, " "+strings.ToUpper(login), fmt.Sprintf("guess %d-%d", round, i), uniqueIP())
						require.ErrorIs(t, err, auth.ErrBadCredentials, "a new address is never refused: round %d, guess %d", round, i+1)
						b.clock.Advance(time.Second)
					}
					b.sleeps.take()
					u, err := b.svc.Authenticate(ctx, login, goodPassword, uniqueIP())
					require.NoError(t, err, "the owner signs in from their own address, round %d", round)
					require.Equal(t, kind, u.Kind)
					waits := b.sleeps.take()
					require.Len(t, waits, 1, "the owner was slowed down, not refused")
					require.Equal(t, 4*time.Second, waits[0], "the slow-down is bounded")
					b.clock.Advance(time.Minute)
				}
			})
		}
	})

	t.Run("SlowDownGrowsAndIsBounded", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		email := uniqueEmail("slow")
		_, err := b.svc.Register(ctx, auth.RegisterRequest{Login: email, Password: goodPassword})
		require.NoError(t, err)
		want := []time.Duration{0, 0, 0, 0, 0, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second,
			4 * time.Second, 4 * time.Second, 4 * time.Second}
		for i, w := range want {
			_, err := b.svc.Authenticate(ctx, email, "wrong password", uniqueIP())
			require.ErrorIs(t, err, auth.ErrBadCredentials)
			waits := b.sleeps.take()
			if w == 0 {
				require.Empty(t, waits, "attempt %d", i+1)
			} else {
				require.Equal(t, []time.Duration{w}, waits, "attempt %d", i+1)
			}
		}
		_, err = b.svc.Authenticate(ctx, email, goodPassword, uniqueIP())
		require.NoError(t, err)
		require.Equal(t, []time.Duration{4 * time.Second}, b.sleeps.take())
		_, err = b.svc.Authenticate(ctx, email, "wrong password", uniqueIP())
		require.ErrorIs(t, err, auth.ErrBadCredentials)
		require.Empty(t, b.sleeps.take(), "a success ends the slow-down")

		// The failures older than the window no longer count either.
		for range 6 {
			_, err := b.svc.Authenticate(ctx, email, "wrong password", uniqueIP())
			require.ErrorIs(t, err, auth.ErrBadCredentials)
		}
		b.sleeps.take()
		b.clock.Advance(15*time.Minute + time.Second)
		_, err = b.svc.Authenticate(ctx, email, goodPassword, uniqueIP())
		require.NoError(t, err)
		require.Empty(t, b.sleeps.take())
	})

	// Brute force of one login from one address is still stopped: the
	// sixth attempt from there is refused even with the right password,
	// while the owner elsewhere is not.
	t.Run("SixthAttemptPerLoginAndAddressRefused", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		d := uniquePhone()
		_, err := b.svc.Register(ctx, auth.RegisterRequest{Login: d, Password: goodPassword})
		require.NoError(t, err)
		ip := uniqueIP()
		for i := range 5 {
			// Different spellings still count for one login.
			_, err := b.svc.Authenticate(ctx, "+86 "+d, fmt.Sprintf("guess %d pw", i), ip)
			require.ErrorIs(t, err, auth.ErrBadCredentials, "attempt %d", i+1)
			b.clock.Advance(time.Minute)
		}
		_, err = b.svc.Authenticate(ctx, d, goodPassword, ip)
		require.ErrorIs(t, err, auth.ErrSignInThrottled, "6th attempt from there, even with the right password")
		_, err = b.svc.Authenticate(ctx, d, goodPassword, uniqueIP())
		require.NoError(t, err, "another address is not refused")

		// The first failure was at minute 0: 15 minutes after it, it no longer counts.
		b.clock.Advance(10*time.Minute + time.Second)
		_, err = b.svc.Authenticate(ctx, d, goodPassword, ip)
		require.NoError(t, err)
	})

	t.Run("AllClearAfterWindow", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		email := uniqueEmail("locked")
		_, err := b.svc.Register(ctx, auth.RegisterRequest{Login: email, Password: goodPassword})
		require.NoError(t, err)
		ip := uniqueIP()
		for range 5 {
			_, err := b.svc.Authenticate(ctx, email, "wrong password", ip)
			require.ErrorIs(t, err, auth.ErrBadCredentials)
		}
		for range 3 { // refused attempts do not extend the lock
			_, err := b.svc.Authenticate(ctx, email, goodPassword, ip)
			require.ErrorIs(t, err, auth.ErrSignInThrottled)
			b.clock.Advance(time.Minute)
		}
		b.clock.Advance(12*time.Minute + time.Second)
		_, err = b.svc.Authenticate(ctx, email, goodPassword, ip)
		require.NoError(t, err)
	})

	t.Run("UnknownLoginThrottledToo", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ghost := uniqueEmail("ghost")
		ip := uniqueIP()
		for range 5 {
			_, err := b.svc.Authenticate(ctx, ghost, "wrong password", ip)
			require.ErrorIs(t, err, auth.ErrBadCredentials)
		}
		_, err := b.svc.Authenticate(ctx, ghost, "wrong password", ip)
		require.ErrorIs(t, err, auth.ErrSignInThrottled, "same answer as for a real user: no enumeration")
	})

	t.Run("SuccessResetsLoginCount", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		email := uniqueEmail("typo")
		_, err := b.svc.Register(ctx, auth.RegisterRequest{Login: email, Password: goodPassword})
		require.NoError(t, err)
		ip := uniqueIP()
		for round := range 2 {
			for range 4 {
				_, err := b.svc.Authenticate(ctx, email, "wrong password", ip)
				require.ErrorIs(t, err, auth.ErrBadCredentials)
				b.clock.Advance(time.Second)
			}
			_, err := b.svc.Authenticate(ctx, email, goodPassword, ip)
			require.NoError(t, err, "round %d", round)
			b.clock.Advance(time.Second)
		}
	})

	// Password spraying (one guess at many logins) from one address is
	// still stopped.
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

	// An address that does not parse (what a forged X-Forwarded-For: x used
	// to hand over) shares one block with every other such attempt instead
	// of escaping the per-address limit.
	t.Run("UnparsableAddressIsLimitedToo", func(t *testing.T) {
		t.Parallel()
		pool := setup(t).pool
		// A clock of its own, far from every other test's, as all such
		// attempts share one block.
		c := &clock{t: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rand.Int64N(1e6)) * time.Hour)}
		svc := auth.New(pool, auth.Options{Now: c.Now, Sleep: (&sleepLog{}).Sleep, Argon2: cheapArgon2})
		for i := range 20 {
			ip := []string{"x", "", "999.1.1.1", "unknown"}[i%4]
			_, err := svc.Authenticate(ctx, uniqueEmail("spray"), "wrong password", ip)
			require.ErrorIs(t, err, auth.ErrBadCredentials, "attempt %d", i+1)
		}
		_, err := svc.Authenticate(ctx, uniqueEmail("spray"), "wrong password", "x")
		require.ErrorIs(t, err, auth.ErrSignInThrottled)
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

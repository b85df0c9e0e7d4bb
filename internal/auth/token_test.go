package auth_test

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
)

func TestPasswordReset(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("TokenWorksOnce", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		email := uniqueEmail("forgot")
		u, err := b.svc.Register(ctx, auth.RegisterRequest{Login: email, Password: goodPassword})
		require.NoError(t, err)

		token, who, err := b.svc.StartPasswordReset(ctx, " "+email+" ")
		require.NoError(t, err)
		require.Equal(t, u.ID, who.ID)
		require.Len(t, token, 43, "256 bits, URL-safe base64")

		// Only the SHA-256 is stored.
		var n int
		sum := sha256.Sum256([]byte(token))
		require.NoError(t, b.pool.QueryRow(ctx,
			`SELECT count(*) FROM password_reset_tokens WHERE token_hash = $1 AND user_id = $2`, sum[:], u.ID).Scan(&n))
		require.Equal(t, 1, n)
		require.NoError(t, b.pool.QueryRow(ctx,
			`SELECT count(*) FROM password_reset_tokens WHERE encode(token_hash, 'escape') LIKE '%' || $1 || '%'`, token).Scan(&n))
		require.Zero(t, n)

		// A weak password is refused and leaves the token usable.
		_, err = b.svc.ResetPassword(ctx, token, "12345678")
		require.ErrorIs(t, err, auth.ErrWeakPassword)

		b.clock.Advance(29 * time.Minute)
		got, err := b.svc.ResetPassword(ctx, token, "brand new secret")
		require.NoError(t, err)
		require.Equal(t, u.ID, got.ID)

		_, err = b.svc.Authenticate(ctx, email, goodPassword, uniqueIP())
		require.ErrorIs(t, err, auth.ErrBadCredentials, "old password no longer works")
		_, err = b.svc.Authenticate(ctx, email, "brand new secret", uniqueIP())
		require.NoError(t, err)

		_, err = b.svc.ResetPassword(ctx, token, "another new secret")
		require.ErrorIs(t, err, auth.ErrInvalidToken, "second use")
		_, err = b.svc.Authenticate(ctx, email, "brand new secret", uniqueIP())
		require.NoError(t, err)
	})

	t.Run("Expires", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		d := uniquePhone()
		_, err := b.svc.Register(ctx, auth.RegisterRequest{Login: d, Password: goodPassword})
		require.NoError(t, err)
		token, _, err := b.svc.StartPasswordReset(ctx, "+86"+d)
		require.NoError(t, err)
		b.clock.Advance(30*time.Minute + time.Second)
		_, err = b.svc.ResetPassword(ctx, token, "brand new secret")
		require.ErrorIs(t, err, auth.ErrInvalidToken)
		_, err = b.svc.Authenticate(ctx, d, goodPassword, uniqueIP())
		require.NoError(t, err, "password unchanged")
	})

	t.Run("UsingOneVoidsTheOthers", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		email := uniqueEmail("twice")
		_, err := b.svc.Register(ctx, auth.RegisterRequest{Login: email, Password: goodPassword})
		require.NoError(t, err)
		first, _, err := b.svc.StartPasswordReset(ctx, email)
		require.NoError(t, err)
		second, _, err := b.svc.StartPasswordReset(ctx, email)
		require.NoError(t, err)
		require.NotEqual(t, first, second)
		_, err = b.svc.ResetPassword(ctx, second, "brand new secret")
		require.NoError(t, err)
		_, err = b.svc.ResetPassword(ctx, first, "attacker secret")
		require.ErrorIs(t, err, auth.ErrInvalidToken)
	})

	t.Run("LiftsSignInSlowDown", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		d := uniquePhone()
		_, err := b.svc.Register(ctx, auth.RegisterRequest{Login: d, Password: goodPassword})
		require.NoError(t, err)
		for range 8 {
			_, err := b.svc.Authenticate(ctx, d, "forgotten one", uniqueIP())
			require.ErrorIs(t, err, auth.ErrBadCredentials)
		}
		b.sleeps.take()
		token, _, err := b.svc.StartPasswordReset(ctx, d)
		require.NoError(t, err)
		_, err = b.svc.ResetPassword(ctx, token, "brand new secret")
		require.NoError(t, err)
		_, err = b.svc.Authenticate(ctx, "+86 "+d, "brand new secret", uniqueIP())
		require.NoError(t, err, "signs in right after the reset")
		require.Empty(t, b.sleeps.take(), "without waiting")
	})

	t.Run("UnknownTokenAndLogin", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.svc.ResetPassword(ctx, "not-a-token", "brand new secret")
		require.ErrorIs(t, err, auth.ErrInvalidToken)
		_, _, err = b.svc.StartPasswordReset(ctx, uniqueEmail("nobody"))
		require.ErrorIs(t, err, auth.ErrNotFound)
		_, _, err = b.svc.StartPasswordReset(ctx, "li@")
		require.ErrorIs(t, err, auth.ErrInvalidEmail)
	})

	t.Run("ThrottledAfterThree", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		email := uniqueEmail("spam")
		_, err := b.svc.Register(ctx, auth.RegisterRequest{Login: email, Password: goodPassword})
		require.NoError(t, err)
		for range 3 {
			_, _, err := b.svc.StartPasswordReset(ctx, email)
			require.NoError(t, err)
		}
		_, _, err = b.svc.StartPasswordReset(ctx, email)
		require.ErrorIs(t, err, auth.ErrResetThrottled)
		b.clock.Advance(15*time.Minute + time.Second)
		_, _, err = b.svc.StartPasswordReset(ctx, email)
		require.NoError(t, err)
	})

	t.Run("DisabledUser", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		u, err := b.svc.Register(ctx, auth.RegisterRequest{Login: uniqueEmail("off"), Password: goodPassword})
		require.NoError(t, err)
		token, _, err := b.svc.StartPasswordReset(ctx, u.Email)
		require.NoError(t, err)
		require.NoError(t, b.svc.SetDisabled(ctx, u.ID, true))
		_, _, err = b.svc.StartPasswordReset(ctx, u.Email)
		require.ErrorIs(t, err, auth.ErrUserDisabled)
		_, err = b.svc.ResetPassword(ctx, token, "brand new secret")
		require.ErrorIs(t, err, auth.ErrUserDisabled)
	})
}

func TestPortalLink(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("FirstVisitCreatesUser", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		acct := uniqueAccountID()
		token, expires, err := b.svc.CreatePortalLink(ctx, acct, 10*time.Minute)
		require.NoError(t, err)
		require.Equal(t, b.clock.Now().Add(10*time.Minute), expires)

		u, err := b.svc.ConsumePortalLink(ctx, token)
		require.NoError(t, err)
		require.Equal(t, acct, u.AccountID)
		require.Equal(t, auth.KindCustomer, u.Kind)
		require.False(t, u.HasPassword)
		require.Empty(t, u.Email)
		require.Empty(t, u.Phone)
		require.Equal(t, "zh-CN", u.Locale)
		require.Equal(t, b.clock.Now(), u.LastSignInAt)

		_, err = b.svc.ConsumePortalLink(ctx, token)
		require.ErrorIs(t, err, auth.ErrInvalidToken, "a link works once")

		// A second link for the account signs in the same user.
		token2, _, err := b.svc.CreatePortalLink(ctx, acct, 0)
		require.NoError(t, err)
		again, err := b.svc.ConsumePortalLink(ctx, token2)
		require.NoError(t, err)
		require.Equal(t, u.ID, again.ID)

		// The user then chooses a password and an email and signs in normally.
		email := uniqueEmail("portal")
		require.NoError(t, b.svc.SetPassword(ctx, u.ID, goodPassword))
		u, err = b.svc.SetEmail(ctx, u.ID, email)
		require.NoError(t, err)
		require.True(t, u.HasPassword)
		got, err := b.svc.Authenticate(ctx, email, goodPassword, uniqueIP())
		require.NoError(t, err)
		require.Equal(t, acct, got.AccountID)
	})

	t.Run("NoPasswordMeansNoSignIn", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		token, _, err := b.svc.CreatePortalLink(ctx, uniqueAccountID(), 0)
		require.NoError(t, err)
		u, err := b.svc.ConsumePortalLink(ctx, token)
		require.NoError(t, err)
		d := uniquePhone()
		_, err = b.svc.SetPhone(ctx, u.ID, d)
		require.NoError(t, err)
		_, err = b.svc.Authenticate(ctx, d, "", uniqueIP())
		require.ErrorIs(t, err, auth.ErrBadCredentials)
		_, err = b.svc.Authenticate(ctx, d, "anything at all", uniqueIP())
		require.ErrorIs(t, err, auth.ErrBadCredentials)
	})

	t.Run("Expires", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		acct := uniqueAccountID()
		token, _, err := b.svc.CreatePortalLink(ctx, acct, 0)
		require.NoError(t, err)
		b.clock.Advance(auth.DefaultPortalLinkTTL + time.Second)
		_, err = b.svc.ConsumePortalLink(ctx, token)
		require.ErrorIs(t, err, auth.ErrInvalidToken)
		_, err = b.svc.UserByAccountID(ctx, acct)
		require.ErrorIs(t, err, auth.ErrNotFound, "no user created by an expired link")
	})

	t.Run("ExistingRegisteredUser", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		acct := uniqueAccountID()
		u, err := b.svc.Register(ctx, auth.RegisterRequest{Login: uniqueEmail("reg"), Password: goodPassword, AccountID: acct})
		require.NoError(t, err)
		token, _, err := b.svc.CreatePortalLink(ctx, acct, time.Minute)
		require.NoError(t, err)
		got, err := b.svc.ConsumePortalLink(ctx, token)
		require.NoError(t, err)
		require.Equal(t, u.ID, got.ID)
		require.True(t, got.HasPassword)
	})

	t.Run("DisabledUser", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		acct := uniqueAccountID()
		u, err := b.svc.Register(ctx, auth.RegisterRequest{Login: uniqueEmail("off"), Password: goodPassword, AccountID: acct})
		require.NoError(t, err)
		require.NoError(t, b.svc.SetDisabled(ctx, u.ID, true))
		token, _, err := b.svc.CreatePortalLink(ctx, acct, time.Minute)
		require.NoError(t, err)
		_, err = b.svc.ConsumePortalLink(ctx, token)
		require.ErrorIs(t, err, auth.ErrUserDisabled)
	})

	t.Run("BadTTL", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, _, err := b.svc.CreatePortalLink(ctx, uniqueAccountID(), -time.Minute)
		require.ErrorIs(t, err, auth.ErrInvalidTTL)
		_, _, err = b.svc.CreatePortalLink(ctx, uniqueAccountID(), 25*time.Hour)
		require.ErrorIs(t, err, auth.ErrInvalidTTL)
		_, err = b.svc.ConsumePortalLink(ctx, "")
		require.ErrorIs(t, err, auth.ErrInvalidToken)
	})
}

package auth_test

import (
	"context"
	"encoding/base64"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/argon2"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
)

func storedHash(t *testing.T, b *testBundle, userID int64) string {
	t.Helper()
	var h string
	require.NoError(t, b.pool.QueryRow(context.Background(),
		`SELECT password_hash FROM users WHERE id = $1`, userID).Scan(&h))
	return h
}

func TestRegister(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("ByEmail", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		email := uniqueEmail("Li.Lei")
		u, err := b.svc.Register(ctx, auth.RegisterRequest{Login: "  " + strings.ToUpper(email) + " ", Password: goodPassword, Name: " 李雷 "})
		require.NoError(t, err)
		require.Equal(t, strings.ToLower(email), u.Email)
		require.Empty(t, u.Phone)
		require.Equal(t, "李雷", u.Name)
		require.Equal(t, auth.KindCustomer, u.Kind)
		require.Equal(t, "zh-CN", u.Locale)
		require.True(t, u.HasPassword)
		require.Equal(t, b.clock.Now(), u.CreatedAt)
		require.True(t, u.LastSignInAt.IsZero())

		// Signs in with the address in any case.
		got, err := b.svc.Authenticate(ctx, strings.ToUpper(email), goodPassword, uniqueIP())
		require.NoError(t, err)
		require.Equal(t, u.ID, got.ID)
	})

	t.Run("ByPhoneAnySpelling", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		d := uniquePhone()
		spellings := []string{
			"+86 " + d[:3] + " " + d[3:7] + " " + d[7:],
			d,
			"+86" + d,
			"0086-" + d,
			"86" + d,
		}
		u, err := b.svc.Register(ctx, auth.RegisterRequest{Login: spellings[0], Password: goodPassword, Locale: "en"})
		require.NoError(t, err)
		require.Equal(t, "+86"+d, u.Phone)
		require.Empty(t, u.Email)
		require.Equal(t, "en", u.Locale)
		for _, s := range spellings {
			got, err := b.svc.Authenticate(ctx, s, goodPassword, uniqueIP())
			require.NoError(t, err, s)
			require.Equal(t, u.ID, got.ID, s)
			// Registering again under another spelling is the same login.
			_, err = b.svc.Register(ctx, auth.RegisterRequest{Login: s, Password: goodPassword})
			require.ErrorIs(t, err, auth.ErrLoginTaken, s)
		}
	})

	t.Run("DuplicateEmail", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		email := uniqueEmail("dup")
		_, err := b.svc.Register(ctx, auth.RegisterRequest{Login: email, Password: goodPassword})
		require.NoError(t, err)
		_, err = b.svc.Register(ctx, auth.RegisterRequest{Login: strings.ToUpper(email), Password: "another pass 1"})
		require.ErrorIs(t, err, auth.ErrLoginTaken)
		e, ok := fielderr.As(err)
		require.True(t, ok)
		require.Equal(t, "login_taken", e.Code("login"))
	})

	t.Run("InvalidLogin", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.svc.Register(ctx, auth.RegisterRequest{Login: "li@example", Password: goodPassword})
		require.ErrorIs(t, err, auth.ErrInvalidEmail)
		_, err = b.svc.Register(ctx, auth.RegisterRequest{Login: "12800138000", Password: goodPassword})
		require.ErrorIs(t, err, auth.ErrInvalidPhone)
		require.Equal(t, "invalid_phone", auth.Code(err))
		_, err = b.svc.Register(ctx, auth.RegisterRequest{Login: uniqueEmail("n"), Password: goodPassword, Name: strings.Repeat("名", 101)})
		require.ErrorIs(t, err, auth.ErrInvalidName)
	})

	t.Run("EveryFieldAtOnce", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.svc.Register(ctx, auth.RegisterRequest{Login: "li@example", Password: "1234567", Name: strings.Repeat("名", 101)})
		e, ok := fielderr.As(err)
		require.True(t, ok)
		require.Equal(t, "invalid_email", e.Code("login"))
		require.Equal(t, "password_too_short", e.Code("password"))
		require.Equal(t, "invalid_name", e.Code("name"))
	})

	t.Run("WeakPasswords", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		email := uniqueEmail("weak")
		for pw, code := range map[string]string{
			"abc123":   "password_too_short",
			"20250301": "password_all_digits",
			email:      "password_is_login",
		} {
			_, err := b.svc.Register(ctx, auth.RegisterRequest{Login: email, Password: pw})
			require.ErrorIs(t, err, auth.ErrWeakPassword, pw)
			require.Equal(t, code, auth.Code(err))
		}
		// Nothing was created: the login is still free.
		_, err := b.svc.Register(ctx, auth.RegisterRequest{Login: email, Password: goodPassword})
		require.NoError(t, err)
	})
}

func TestArgon2idHash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	u, err := b.svc.Register(ctx, auth.RegisterRequest{Login: uniqueEmail("hash"), Password: goodPassword})
	require.NoError(t, err)
	h := storedHash(t, b, u.ID)

	// PHC string format with the documented default parameters, unpadded base64.
	re := regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$([A-Za-z0-9+/]{22})\$([A-Za-z0-9+/]{43})$`)
	m := re.FindStringSubmatch(h)
	require.NotNil(t, m, h)
	require.NotContains(t, h, goodPassword)

	// Independently recompute: the stored key is argon2id(password, salt).
	salt, err := base64.RawStdEncoding.DecodeString(m[1])
	require.NoError(t, err)
	key, err := base64.RawStdEncoding.DecodeString(m[2])
	require.NoError(t, err)
	require.Equal(t, key, argon2.IDKey([]byte(goodPassword), salt, 2, 19456, 1, 32))

	// The same password gets a different salt for another user.
	u2, err := b.svc.Register(ctx, auth.RegisterRequest{Login: uniqueEmail("hash"), Password: goodPassword})
	require.NoError(t, err)
	require.NotEqual(t, h, storedHash(t, b, u2.ID))

	// Verify: right password passes, a one-letter change fails.
	_, err = b.svc.Authenticate(ctx, u.Email, goodPassword, uniqueIP())
	require.NoError(t, err)
	_, err = b.svc.Authenticate(ctx, u.Email, goodPassword+"!", uniqueIP())
	require.ErrorIs(t, err, auth.ErrBadCredentials)
}

func TestArgon2idRehashOnSignIn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	cheap := auth.New(b.pool, auth.Options{Now: b.clock.Now, Argon2: auth.Argon2Params{Memory: 8 * 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}})
	u, err := cheap.Register(ctx, auth.RegisterRequest{Login: uniqueEmail("old"), Password: goodPassword})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(storedHash(t, b, u.ID), "$argon2id$v=19$m=8192,t=1,p=1$"))

	_, err = b.svc.Authenticate(ctx, u.Email, goodPassword, uniqueIP())
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(storedHash(t, b, u.ID), "$argon2id$v=19$m=19456,t=2,p=1$"))
	_, err = b.svc.Authenticate(ctx, u.Email, goodPassword, uniqueIP())
	require.NoError(t, err)
}

func TestRegisterTx(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("RollbackLeavesNothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		email, acct := uniqueEmail("tx"), uniqueAccountID()
		tx, err := b.pool.Begin(ctx)
		require.NoError(t, err)
		u, err := b.svc.RegisterTx(ctx, tx, auth.RegisterRequest{Login: email, Password: goodPassword, AccountID: acct})
		require.NoError(t, err)
		require.Equal(t, acct, u.AccountID)
		require.NoError(t, tx.Rollback(ctx))

		_, err = b.svc.UserByAccountID(ctx, acct)
		require.ErrorIs(t, err, auth.ErrNotFound)
		_, err = b.svc.Authenticate(ctx, email, goodPassword, uniqueIP())
		require.ErrorIs(t, err, auth.ErrBadCredentials)
	})

	t.Run("CommitWithAccount", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		email, acct := uniqueEmail("tx"), uniqueAccountID()
		var u auth.User
		err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
			var err error
			u, err = b.svc.RegisterTx(ctx, tx, auth.RegisterRequest{Login: email, Password: goodPassword, AccountID: acct})
			return err
		})
		require.NoError(t, err)
		got, err := b.svc.UserByAccountID(ctx, acct)
		require.NoError(t, err)
		require.Equal(t, u.ID, got.ID)
		require.Equal(t, acct, got.AccountID)
	})

	t.Run("TakenLoginKeepsTxUsable", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		email := uniqueEmail("tx")
		_, err := b.svc.Register(ctx, auth.RegisterRequest{Login: email, Password: goodPassword})
		require.NoError(t, err)
		tx, err := b.pool.Begin(ctx)
		require.NoError(t, err)
		defer tx.Rollback(ctx) //nolint:errcheck
		_, err = b.svc.RegisterTx(ctx, tx, auth.RegisterRequest{Login: email, Password: goodPassword})
		require.ErrorIs(t, err, auth.ErrLoginTaken)
		var one int
		require.NoError(t, tx.QueryRow(ctx, "SELECT 1").Scan(&one), "transaction must not be aborted")
	})

	t.Run("AccountAlreadyLinked", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		acct := uniqueAccountID()
		_, err := b.svc.Register(ctx, auth.RegisterRequest{Login: uniqueEmail("a"), Password: goodPassword, AccountID: acct})
		require.NoError(t, err)
		_, err = b.svc.Register(ctx, auth.RegisterRequest{Login: uniqueEmail("b"), Password: goodPassword, AccountID: acct})
		require.ErrorIs(t, err, auth.ErrAccountHasUser)
	})

	t.Run("LinkAccountLater", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		acct := uniqueAccountID()
		u, err := b.svc.Register(ctx, auth.RegisterRequest{Login: uniquePhone(), Password: goodPassword})
		require.NoError(t, err)
		require.Zero(t, u.AccountID)
		other, err := b.svc.Register(ctx, auth.RegisterRequest{Login: uniquePhone(), Password: goodPassword, AccountID: acct})
		require.NoError(t, err)

		tx, err := b.pool.Begin(ctx)
		require.NoError(t, err)
		require.ErrorIs(t, b.svc.LinkAccountTx(ctx, tx, u.ID, acct), auth.ErrAccountHasUser)
		fresh := uniqueAccountID()
		require.NoError(t, b.svc.LinkAccountTx(ctx, tx, u.ID, fresh), "tx still usable after the conflict")
		require.NoError(t, tx.Commit(ctx))

		got, err := b.svc.UserByAccountID(ctx, fresh)
		require.NoError(t, err)
		require.Equal(t, u.ID, got.ID)
		got, err = b.svc.UserByAccountID(ctx, acct)
		require.NoError(t, err)
		require.Equal(t, other.ID, got.ID)
	})
}

func TestProfileAndContacts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	u, err := b.svc.Register(ctx, auth.RegisterRequest{Login: uniqueEmail("p"), Password: goodPassword})
	require.NoError(t, err)

	d := uniquePhone()
	u, err = b.svc.SetPhone(ctx, u.ID, d[:3]+" "+d[3:])
	require.NoError(t, err)
	require.Equal(t, "+86"+d, u.Phone)
	_, err = b.svc.Authenticate(ctx, d, goodPassword, uniqueIP())
	require.NoError(t, err, "signs in with the added phone too")

	other, err := b.svc.Register(ctx, auth.RegisterRequest{Login: uniqueEmail("p"), Password: goodPassword})
	require.NoError(t, err)
	_, err = b.svc.SetEmail(ctx, other.ID, strings.ToUpper(u.Email))
	require.ErrorIs(t, err, auth.ErrLoginTaken)
	e, ok := fielderr.As(err)
	require.True(t, ok)
	require.Equal(t, "login_taken", e.Code("email"))
	_, err = b.svc.SetPhone(ctx, other.ID, "+86"+d)
	require.ErrorIs(t, err, auth.ErrLoginTaken)
	_, err = b.svc.SetPhone(ctx, other.ID, "555-1234")
	require.ErrorIs(t, err, auth.ErrInvalidPhone)
	e, ok = fielderr.As(err)
	require.True(t, ok)
	require.Equal(t, "invalid_phone", e.Code("phone"))

	u, err = b.svc.SetProfile(ctx, u.ID, "韩梅梅", "en")
	require.NoError(t, err)
	require.Equal(t, "韩梅梅", u.Name)
	require.Equal(t, "en", u.Locale)

	_, err = b.svc.ChangePassword(ctx, u.ID, "wrong password", "new password 1")
	require.ErrorIs(t, err, auth.ErrBadCredentials)
	_, err = b.svc.ChangePassword(ctx, u.ID, goodPassword, "1234567890")
	require.ErrorIs(t, err, auth.ErrWeakPassword)
	changed, err := b.svc.ChangePassword(ctx, u.ID, goodPassword, "new password 1")
	require.NoError(t, err)
	require.Equal(t, u.SessionEpoch+1, changed.SessionEpoch, "every earlier session is over")
	_, err = b.svc.Authenticate(ctx, u.Email, "new password 1", uniqueIP())
	require.NoError(t, err)

	_, err = b.svc.UserByID(ctx, -1)
	require.ErrorIs(t, err, auth.ErrNotFound)
}

package auth_test

import (
	"context"
	"encoding/base32"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
)

// inTx runs f in a transaction on pool and returns its user.
func inTx(t *testing.T, pool *pgxpool.Pool, f func(tx pgx.Tx) (auth.User, error)) (auth.User, error) {
	t.Helper()
	var u auth.User
	err := db.InTx(context.Background(), pool, func(tx pgx.Tx) error {
		var err error
		u, err = f(tx)
		return err
	})
	return u, err
}

func newStaff(t *testing.T, b *testBundle, roles ...auth.Role) auth.User {
	t.Helper()
	u, err := b.svc.CreateStaff(context.Background(), auth.StaffRequest{Email: uniqueEmail("staff"), Password: goodPassword, Roles: roles})
	require.NoError(t, err)
	return u
}

func TestStaffAdministration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("DisableRefusesSignInAndEndsSessions", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		admin := newStaff(t, b, auth.RoleAdmin)
		u := newStaff(t, b, auth.RoleSupport)
		got, err := inTx(t, b.pool, func(tx pgx.Tx) (auth.User, error) { return b.svc.SetStaffDisabledTx(ctx, tx, admin.ID, u.ID, true) })
		require.NoError(t, err)
		require.True(t, got.Disabled)
		require.Greater(t, got.SessionEpoch, u.SessionEpoch, "disabling ends every session at once")
		_, err = b.svc.Authenticate(ctx, u.Email, goodPassword, uniqueIP())
		require.ErrorIs(t, err, auth.ErrUserDisabled)

		got, err = inTx(t, b.pool, func(tx pgx.Tx) (auth.User, error) { return b.svc.SetStaffDisabledTx(ctx, tx, admin.ID, u.ID, false) })
		require.NoError(t, err)
		require.False(t, got.Disabled)
		_, err = b.svc.Authenticate(ctx, u.Email, goodPassword, uniqueIP())
		require.NoError(t, err)
	})

	t.Run("NobodyDisablesThemself", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		admin := newStaff(t, b, auth.RoleAdmin)
		newStaff(t, b, auth.RoleAdmin)
		_, err := inTx(t, b.pool, func(tx pgx.Tx) (auth.User, error) { return b.svc.SetStaffDisabledTx(ctx, tx, admin.ID, admin.ID, true) })
		require.ErrorIs(t, err, auth.ErrSelfDisable)
		got, err := b.svc.UserByID(ctx, admin.ID)
		require.NoError(t, err)
		require.False(t, got.Disabled)
	})

	t.Run("CustomersAreNotStaff", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		admin := newStaff(t, b, auth.RoleAdmin)
		c, err := b.svc.Register(ctx, auth.RegisterRequest{Login: uniqueEmail("cust"), Password: goodPassword})
		require.NoError(t, err)
		_, err = inTx(t, b.pool, func(tx pgx.Tx) (auth.User, error) { return b.svc.SetStaffDisabledTx(ctx, tx, admin.ID, c.ID, true) })
		require.ErrorIs(t, err, auth.ErrNotStaff)
	})

	t.Run("RolesChange", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		u := newStaff(t, b, auth.RoleSupport)
		got, err := inTx(t, b.pool, func(tx pgx.Tx) (auth.User, error) {
			return b.svc.SetRolesTx(ctx, tx, u.ID, []auth.Role{auth.RoleFinance, auth.RoleSupport})
		})
		require.NoError(t, err)
		require.Equal(t, []auth.Role{auth.RoleSupport, auth.RoleFinance}, got.Roles)
		require.Equal(t, u.SessionEpoch, got.SessionEpoch, "adding a role keeps sessions")
		got, err = inTx(t, b.pool, func(tx pgx.Tx) (auth.User, error) {
			return b.svc.SetRolesTx(ctx, tx, u.ID, []auth.Role{auth.RoleFinance})
		})
		require.NoError(t, err)
		require.Equal(t, []auth.Role{auth.RoleFinance}, got.Roles)
		require.Greater(t, got.SessionEpoch, u.SessionEpoch, "taking a role away ends sessions")
	})

	t.Run("CheckStaffRequestReportsEveryField", func(t *testing.T) {
		t.Parallel()
		err := auth.CheckStaffRequest(auth.StaffRequest{Email: "not-an-email", Name: "bad\x01name"})
		fe, ok := fielderr.As(err)
		require.True(t, ok, "one field-errors value: %v", err)
		fields := map[string]string{}
		for _, f := range fe.Fields {
			fields[f.Name] = f.Code
		}
		require.Equal(t, map[string]string{"email": "invalid_email", "name": "invalid_name", "roles": "no_roles"}, fields)
		require.NoError(t, auth.CheckStaffRequest(auth.StaffRequest{Email: "a@example.com", Roles: []auth.Role{auth.RoleSupport}}))
	})

	t.Run("InviteSetsTheFirstPasswordOnce", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		email := uniqueEmail("invite")
		var inv auth.StaffInvite
		err := db.InTx(ctx, b.pool, func(tx pgx.Tx) error {
			var err error
			inv, err = b.svc.InviteStaffTx(ctx, tx, auth.StaffRequest{Email: email, Name: "新同事", Roles: []auth.Role{auth.RoleSupport}})
			return err
		})
		require.NoError(t, err)
		require.False(t, inv.User.HasPassword)
		require.Equal(t, b.clock.Now().Add(72*time.Hour), inv.Expires)
		_, err = b.svc.Authenticate(ctx, email, "", uniqueIP())
		require.ErrorIs(t, err, auth.ErrBadCredentials, "no password, no sign-in")

		who, err := b.svc.PasswordTokenUser(ctx, inv.Token)
		require.NoError(t, err)
		require.Equal(t, inv.User.ID, who.ID)
		u, err := inTx(t, b.pool, func(tx pgx.Tx) (auth.User, error) { return b.svc.ResetPasswordTx(ctx, tx, inv.Token, goodPassword) })
		require.NoError(t, err)
		require.True(t, u.HasPassword)
		_, err = b.svc.Authenticate(ctx, email, goodPassword, uniqueIP())
		require.NoError(t, err)
		_, err = b.svc.ResetPassword(ctx, inv.Token, "another password 9")
		require.ErrorIs(t, err, auth.ErrInvalidToken, "the link works once")

		err = db.InTx(ctx, b.pool, func(tx pgx.Tx) error {
			_, err := b.svc.InviteStaffTx(ctx, tx, auth.StaffRequest{Email: email, Roles: []auth.Role{auth.RoleSupport}})
			return err
		})
		require.ErrorIs(t, err, auth.ErrLoginTaken)
	})

	t.Run("InviteExpires", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		var inv auth.StaffInvite
		require.NoError(t, db.InTx(ctx, b.pool, func(tx pgx.Tx) error {
			var err error
			inv, err = b.svc.InviteStaffTx(ctx, tx, auth.StaffRequest{Email: uniqueEmail("late"), Roles: []auth.Role{auth.RoleFinance}})
			return err
		}))
		b.clock.Advance(72*time.Hour + time.Second)
		_, err := b.svc.ResetPassword(ctx, inv.Token, goodPassword)
		require.ErrorIs(t, err, auth.ErrInvalidToken)
	})
}

// TestLastAdmin runs on a database of its own: "the last admin" counts
// every staff user in it.
func TestLastAdmin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := dbtest.Own(t)
	svc := auth.New(pool, auth.Options{Argon2: cheapArgon2})
	b := &testBundle{svc: svc, pool: pool}
	only := newStaff(t, b, auth.RoleAdmin, auth.RoleFinance)
	support := newStaff(t, b, auth.RoleSupport)

	_, err := svc.SetRoles(ctx, only.ID, []auth.Role{auth.RoleFinance})
	require.ErrorIs(t, err, auth.ErrLastAdmin)
	_, err = inTx(t, pool, func(tx pgx.Tx) (auth.User, error) { return svc.SetStaffDisabledTx(ctx, tx, support.ID, only.ID, true) })
	require.ErrorIs(t, err, auth.ErrLastAdmin)
	got, err := svc.UserByID(ctx, only.ID)
	require.NoError(t, err)
	require.True(t, auth.HasRole(got, auth.RoleAdmin))

	// Other roles of the last admin may change.
	_, err = svc.SetRoles(ctx, only.ID, []auth.Role{auth.RoleAdmin})
	require.NoError(t, err)

	// Two admins demoting each other at once leave exactly one.
	second, err := svc.SetRoles(ctx, support.ID, []auth.Role{auth.RoleAdmin})
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, id := range []int64{only.ID, second.ID} {
		wg.Go(func() { _, errs[i] = svc.SetRoles(ctx, id, []auth.Role{auth.RoleSupport}) })
	}
	wg.Wait()
	var refused int
	for _, err := range errs {
		if errors.Is(err, auth.ErrLastAdmin) {
			refused++
		} else {
			require.NoError(t, err)
		}
	}
	require.Equal(t, 1, refused)
	var admins int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM users WHERE 'admin' = ANY (roles) AND NOT disabled`).Scan(&admins))
	require.Equal(t, 1, admins)
}

// enrol enrols u's authenticator at the bundle's clock and returns its secret.
func enrol(t *testing.T, b *testBundle, u auth.User) string {
	t.Helper()
	ctx := context.Background()
	e, err := b.svc.TOTPEnrolment(ctx, u.ID)
	require.NoError(t, err)
	again, err := b.svc.TOTPEnrolment(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, e, again, "the pending secret stays until confirmed")
	key, err := otp.NewKeyFromURL(e.URL)
	require.NoError(t, err)
	require.Equal(t, e.Secret, key.Secret())
	require.Equal(t, u.Email, key.AccountName())
	code, err := totp.GenerateCode(e.Secret, b.clock.Now())
	require.NoError(t, err)
	_, err = inTx(t, b.pool, func(tx pgx.Tx) (auth.User, error) { return b.svc.ConfirmTOTPTx(ctx, tx, u.ID, "000000x") })
	require.ErrorIs(t, err, auth.ErrInvalidTOTP)
	got, err := inTx(t, b.pool, func(tx pgx.Tx) (auth.User, error) { return b.svc.ConfirmTOTPTx(ctx, tx, u.ID, code) })
	require.NoError(t, err)
	require.True(t, got.TOTPEnrolled)
	return e.Secret
}

func TestTOTP(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("VerifyWithAFixedClockAndRefuseReplay", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		u := newStaff(t, b, auth.RoleAdmin)
		require.True(t, b.svc.TwoFactorRequired(u))
		require.False(t, b.svc.TwoFactorRequired(newStaff(t, b, auth.RoleSupport)))
		secret := enrol(t, b, u)
		ip := uniqueIP()

		// The enrolment's code is spent: it cannot sign in within its window.
		code, err := totp.GenerateCode(secret, b.clock.Now())
		require.NoError(t, err)
		_, err = b.svc.VerifyTOTP(ctx, u.ID, code, ip)
		require.ErrorIs(t, err, auth.ErrInvalidTOTP)

		b.clock.Advance(30 * time.Second)
		code, err = totp.GenerateCode(secret, b.clock.Now())
		require.NoError(t, err)
		got, err := b.svc.VerifyTOTP(ctx, u.ID, " "+code[:3]+" "+code[3:], ip)
		require.NoError(t, err, "spaces inside the code are fine")
		require.Equal(t, u.ID, got.ID)
		_, err = b.svc.VerifyTOTP(ctx, u.ID, code, ip)
		require.ErrorIs(t, err, auth.ErrInvalidTOTP, "a code works once")

		// One step of drift is accepted, an older code is not.
		b.clock.Advance(60 * time.Second)
		late, err := totp.GenerateCode(secret, b.clock.Now().Add(-30*time.Second))
		require.NoError(t, err)
		_, err = b.svc.VerifyTOTP(ctx, u.ID, late, ip)
		require.NoError(t, err)
		old, err := totp.GenerateCode(secret, b.clock.Now().Add(-90*time.Second))
		require.NoError(t, err)
		_, err = b.svc.VerifyTOTP(ctx, u.ID, old, ip)
		require.ErrorIs(t, err, auth.ErrInvalidTOTP)

		_, err = b.svc.TOTPEnrolment(ctx, u.ID)
		require.ErrorIs(t, err, auth.ErrTOTPEnrolled)
	})

	t.Run("SecretIsSealedAtRest", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		u := newStaff(t, b, auth.RoleFinance)
		secret := enrol(t, b, u)
		raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
		require.NoError(t, err)
		var stored []byte
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT totp_secret FROM users WHERE id = $1`, u.ID).Scan(&stored))
		require.NotContains(t, string(stored), secret)
		require.NotContains(t, string(stored), string(raw))
		require.Greater(t, len(stored), len(raw)+16, "nonce and tag around the ciphertext")
	})

	t.Run("NotEnrolled", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		u := newStaff(t, b, auth.RoleAdmin)
		_, err := b.svc.VerifyTOTP(ctx, u.ID, "123456", uniqueIP())
		require.ErrorIs(t, err, auth.ErrTOTPNotEnrolled)
	})

	t.Run("ResetEndsSessionsAndAllowsANewEnrolment", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		u := newStaff(t, b, auth.RoleAdmin)
		first := enrol(t, b, u)
		got, err := inTx(t, b.pool, func(tx pgx.Tx) (auth.User, error) { return b.svc.ResetTOTPTx(ctx, tx, u.ID) })
		require.NoError(t, err)
		require.False(t, got.TOTPEnrolled)
		require.Greater(t, got.SessionEpoch, u.SessionEpoch)
		b.clock.Advance(30 * time.Second)
		second := enrol(t, b, got)
		require.NotEqual(t, first, second)
	})

	t.Run("ConcurrentWrongCodesHoldTheThrottleExactly", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		u := newStaff(t, b, auth.RoleAdmin)
		secret := enrol(t, b, u)
		b.clock.Advance(30 * time.Second)
		right, err := totp.GenerateCode(secret, b.clock.Now())
		require.NoError(t, err)
		wrong := "000000"
		if right == wrong {
			wrong = "111111"
		}
		const n = 64
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { _, errs[i] = b.svc.VerifyTOTP(ctx, u.ID, wrong, uniqueIP()) })
		}
		wg.Wait()
		var invalid, throttled int
		for _, err := range errs {
			switch {
			case errors.Is(err, auth.ErrInvalidTOTP):
				invalid++
			case errors.Is(err, auth.ErrSignInThrottled):
				throttled++
			default:
				t.Fatalf("unexpected %v", err)
			}
		}
		require.Equal(t, 5, invalid, "MaxTOTPFailures codes were checked")
		require.Equal(t, n-5, throttled)
		var recorded int
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM sign_in_attempts WHERE user_id = $1 AND login LIKE 'totp:%'`, u.ID).Scan(&recorded))
		require.Equal(t, 5, recorded)

		_, err = b.svc.VerifyTOTP(ctx, u.ID, right, uniqueIP())
		require.ErrorIs(t, err, auth.ErrSignInThrottled, "even the right code waits")
		b.clock.Advance(15*time.Minute + time.Second)
		right, err = totp.GenerateCode(secret, b.clock.Now())
		require.NoError(t, err)
		_, err = b.svc.VerifyTOTP(ctx, u.ID, right, uniqueIP())
		require.NoError(t, err, "the window rolls on")
	})
}

package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

// An admin who lost their phone gets back in from the shell: the
// authenticator is removed, their sessions end, and the audit log says so.
func TestStaffResetTOTPFromTheShell(t *testing.T) {
	pool := dbtest.AppPool(t)
	ctx := context.Background()
	a := auth.New(pool, auth.Options{})
	u, err := a.CreateStaff(ctx, auth.StaffRequest{Email: "lost-phone@example.com", Password: "staff password 1", Roles: []auth.Role{auth.RoleAdmin}})
	require.NoError(t, err)
	e, err := a.TOTPEnrolment(ctx, u.ID)
	require.NoError(t, err)
	code, err := totp.GenerateCode(e.Secret, time.Now())
	require.NoError(t, err)
	require.NoError(t, db.InTx(ctx, pool, func(tx pgx.Tx) error { _, err := a.ConfirmTOTPTx(ctx, tx, u.ID, code); return err }))

	var out bytes.Buffer
	require.NoError(t, staffResetTOTP(ctx, pool, a, []string{"--email", "lost-phone@example.com"}, &out))
	require.Contains(t, out.String(), "authenticator removed")
	got, err := a.UserByID(ctx, u.ID)
	require.NoError(t, err)
	require.False(t, got.TOTPEnrolled)
	require.Greater(t, got.SessionEpoch, u.SessionEpoch)
	rows, _, err := backoffice.New(pool, nil, a, backoffice.Options{}).AuditLog(ctx, backoffice.AuditFilter{Action: backoffice.ActionStaffTOTPReset}, 0, 10)
	require.NoError(t, err)
	require.NotEmpty(t, rows)
	require.Equal(t, backoffice.ActorSystem, rows[0].ActorKind)
	require.Contains(t, string(rows[0].Detail), "lost-phone@example.com")

	require.Error(t, staffResetTOTP(ctx, pool, a, []string{"--email", "nobody@example.com"}, &out))
}

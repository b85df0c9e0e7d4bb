package backoffice_test

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/ledger"
)

// keysBundle is the back office wired to a real gateway key store, the one
// an API server would authenticate with.
type keysBundle struct {
	*testBundle
	store *gateway.KeyStore
	svc   *backoffice.Service
}

func setupKeys(t *testing.T, wrap func(backoffice.ServiceKeys) backoffice.ServiceKeys) *keysBundle {
	t.Helper()
	b := setup(t, setupOpts{})
	store := gateway.NewKeyStore(b.pool, time.Minute)
	var keys backoffice.ServiceKeys = store.BackOffice()
	if wrap != nil {
		keys = wrap(keys)
	}
	svc := backoffice.New(b.pool, b.l, b.users, backoffice.Options{Now: b.clock.Now, Keys: keys})
	return &keysBundle{testBundle: b, store: store, svc: svc}
}

// keyAudit returns the audit rows about key id, newest first.
func (b *keysBundle) keyAudit(t *testing.T, id int64) []backoffice.AuditRow {
	t.Helper()
	var out []backoffice.AuditRow
	for _, r := range b.auditFor(t, backoffice.AuditFilter{}) {
		var d struct {
			KeyID int64 `json:"key_id"`
		}
		require.NoError(t, json.Unmarshal(r.Detail, &d))
		if d.KeyID == id && (r.Action == backoffice.ActionAPIKeyCreated || r.Action == backoffice.ActionAPIKeyRevoked) {
			out = append(out, r)
		}
	}
	return out
}

func TestServiceKeysAreCreatedAndRevokedByAdminsWithAnAuditRow(t *testing.T) {
	t.Parallel()
	b := setupKeys(t, nil)
	admin := b.staff(t, auth.RoleAdmin)

	for _, r := range []auth.Role{auth.RoleSupport, auth.RoleFinance} {
		_, _, err := b.svc.CreateServiceKey(b.ctx, b.staff(t, r), ledger.ModeLive, "not mine")
		require.ErrorIs(t, err, backoffice.ErrForbidden, r)
	}
	_, _, err := b.svc.CreateServiceKey(b.ctx, admin, "staging", "gateway")
	require.ErrorIs(t, err, backoffice.ErrInvalidKeyMode)
	_, _, err = b.svc.CreateServiceKey(b.ctx, admin, ledger.ModeLive, "   ")
	require.ErrorIs(t, err, backoffice.ErrInvalidKeyName)
	var refused int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM api_keys WHERE name IN ('not mine', 'gateway')`).Scan(&refused))
	require.Zero(t, refused, "refused requests create nothing")

	k, secret, err := b.svc.CreateServiceKey(b.ctx, admin, ledger.ModeLive, "  gateway-prod ")
	require.NoError(t, err)
	require.Equal(t, "gateway-prod", k.Name)
	require.Equal(t, ledger.ModeLive, k.Mode)
	require.Equal(t, secret[:len(k.Prefix)], k.Prefix)
	got, err := b.store.Authenticate(b.ctx, secret)
	require.NoError(t, err)
	require.Equal(t, k.ID, got.ID)

	rows := b.keyAudit(t, k.ID)
	require.Len(t, rows, 1)
	require.Equal(t, backoffice.ActionAPIKeyCreated, rows[0].Action)
	require.Equal(t, admin.User.Email, rows[0].ActorEmail)
	require.Equal(t, admin.User.ID, *rows[0].ActorID)
	require.Equal(t, "192.0.2.10", rows[0].IP)
	require.Nil(t, rows[0].AccountID)
	require.JSONEq(t, `{"key_id":`+strconv.FormatInt(k.ID, 10)+`,"prefix":"`+k.Prefix+`","mode":"live","name":"gateway-prod"}`, string(rows[0].Detail))
	require.NotContains(t, string(rows[0].Detail), secret)

	_, err = b.svc.RevokeServiceKey(b.ctx, b.staff(t, auth.RoleFinance), k.ID)
	require.ErrorIs(t, err, backoffice.ErrForbidden)
	revoked, err := b.svc.RevokeServiceKey(b.ctx, admin, k.ID)
	require.NoError(t, err)
	require.NotNil(t, revoked.RevokedAt)
	_, err = b.store.Authenticate(b.ctx, secret)
	require.ErrorIs(t, err, gateway.ErrUnauthorized, "the store the back office revoked through refuses the key at once, cache or not")

	_, err = b.svc.RevokeServiceKey(b.ctx, admin, k.ID)
	require.ErrorIs(t, err, backoffice.ErrKeyRevoked)
	_, err = b.svc.RevokeServiceKey(b.ctx, admin, 1<<40)
	require.ErrorIs(t, err, backoffice.ErrKeyNotFound)

	rows = b.keyAudit(t, k.ID)
	require.Len(t, rows, 2, "one row per change; a refused second revocation writes none")
	require.Equal(t, backoffice.ActionAPIKeyRevoked, rows[0].Action)
	require.Equal(t, admin.User.Email, rows[0].ActorEmail)
	require.JSONEq(t, `{"key_id":`+strconv.FormatInt(k.ID, 10)+`,"prefix":"`+k.Prefix+`","mode":"live","name":"gateway-prod"}`, string(rows[0].Detail))

	keys, err := b.svc.ServiceKeys(b.ctx)
	require.NoError(t, err)
	i := slices.IndexFunc(keys, func(x backoffice.ServiceKey) bool { return x.ID == k.ID })
	require.GreaterOrEqual(t, i, 0, "revoked keys stay listed")
	require.NotNil(t, keys[i].RevokedAt)
	require.NotNil(t, keys[i].LastUsedAt, "Authenticate recorded the use")
}

// abortAfterCreate breaks the caller's transaction right after the key row
// is written, so the audit row that follows cannot be written.
type abortAfterCreate struct{ backoffice.ServiceKeys }

func (a abortAfterCreate) CreateTx(ctx context.Context, tx pgx.Tx, mode ledger.Mode, name string) (backoffice.ServiceKey, string, error) {
	k, secret, err := a.ServiceKeys.CreateTx(ctx, tx, mode, name)
	_, _ = tx.Exec(ctx, `SELECT 1/0`)
	return k, secret, err
}

// The key row and its audit row commit together: when the audit row
// cannot be written, no key exists.
func TestServiceKeyIsNotCreatedWithoutItsAuditRow(t *testing.T) {
	t.Parallel()
	b := setupKeys(t, func(k backoffice.ServiceKeys) backoffice.ServiceKeys { return abortAfterCreate{k} })
	_, _, err := b.svc.CreateServiceKey(b.ctx, b.staff(t, auth.RoleAdmin), ledger.ModeTest, "doomed")
	require.Error(t, err)
	var n int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM api_keys WHERE name = 'doomed'`).Scan(&n))
	require.Zero(t, n)
}

func TestServiceKeysNeedTheirCollaborator(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	_, err := b.svc.ServiceKeys(b.ctx)
	require.ErrorIs(t, err, backoffice.ErrNoServiceKeys)
	_, _, err = b.svc.CreateServiceKey(b.ctx, b.staff(t, auth.RoleAdmin), ledger.ModeTest, "x")
	require.ErrorIs(t, err, backoffice.ErrNoServiceKeys)
}

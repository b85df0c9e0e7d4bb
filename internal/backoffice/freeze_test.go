package backoffice_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
)

// TestFreezeIsAtomicWithItsAudit: when the audit row cannot be written, the
// freeze does not happen either — an account is never frozen by nobody.
func TestFreezeIsAtomicWithItsAudit(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	support := b.staff(t, auth.RoleSupport)
	c := b.customer(t)
	b.credit(t, c.account.ID, ledger.LotPaid, "42", nil)

	broken := support
	broken.User.Email = "support\x00@example.com" // PostgreSQL refuses a NUL in text: the audit insert fails
	require.Error(t, b.svc.Freeze(b.ctx, c.account.ID, "suspected card fraud", broken))

	acc, err := b.l.Account(b.ctx, c.account.ID)
	require.NoError(t, err)
	require.Equal(t, ledger.StatusActive, acc.Status, "the freeze rolled back with its audit row")
	_, err = b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: c.account.ID, Amount: d("1"), IdempotencyKey: uniq("c")})
	require.NoError(t, err, "the customer can still spend")
	evs, _, err := b.l.Events(b.ctx, c.account.ID, ledger.EventFilter{Types: []ledger.EventType{ledger.EventStatus}}, 0, 10)
	require.NoError(t, err)
	require.Empty(t, evs, "no status event in the ledger")
	require.Empty(t, b.auditFor(t, backoffice.AuditFilter{AccountID: c.account.ID}))

	require.NoError(t, b.svc.Freeze(b.ctx, c.account.ID, "suspected card fraud", support))
	acc, err = b.l.Account(b.ctx, c.account.ID)
	require.NoError(t, err)
	require.Equal(t, ledger.StatusFrozen, acc.Status)
	rows := b.auditFor(t, backoffice.AuditFilter{AccountID: c.account.ID})
	require.Len(t, rows, 1)
	requireNullDec(t, "41", rows[0].BalanceBefore)
}

package backoffice_test

import (
	"bytes"
	"encoding/csv"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
)

func TestAuditLog(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	support := b.staff(t, auth.RoleSupport)
	c := b.customer(t)
	b.credit(t, c.account.ID, ledger.LotPaid, "42", nil)

	t.Run("FreezeAndUnfreezeNeedReasonAndAreAudited", func(t *testing.T) {
		require.ErrorIs(t, b.svc.Freeze(b.ctx, c.account.ID, "  ", support), backoffice.ErrReasonRequired)
		require.ErrorIs(t, b.svc.Freeze(b.ctx, 1<<40, "fraud", support), backoffice.ErrAccountNotFound)
		require.NoError(t, b.svc.Freeze(b.ctx, c.account.ID, "suspected card fraud", support))
		acc, err := b.l.Account(b.ctx, c.account.ID)
		require.NoError(t, err)
		require.Equal(t, ledger.StatusFrozen, acc.Status)
		_, err = b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: c.account.ID, Amount: d("1"), IdempotencyKey: uniq("c")})
		require.ErrorIs(t, err, ledger.ErrAccountFrozen, "a frozen account cannot spend")
		require.NoError(t, b.svc.Unfreeze(b.ctx, c.account.ID, "customer verified by phone", support))
		acc, err = b.l.Account(b.ctx, c.account.ID)
		require.NoError(t, err)
		require.Equal(t, ledger.StatusActive, acc.Status)

		rows := b.auditFor(t, backoffice.AuditFilter{AccountID: c.account.ID})
		require.Len(t, rows, 2)
		require.Equal(t, backoffice.ActionUnfreeze, rows[0].Action)
		require.Equal(t, backoffice.ActionFreeze, rows[1].Action)
		require.Equal(t, "suspected card fraud", rows[1].Reason)
		requireNullDec(t, "42", rows[1].BalanceBefore)
		requireNullDec(t, "42", rows[1].BalanceAfter)
		require.Equal(t, support.User.Email, rows[1].ActorEmail)
	})

	t.Run("AppendOnly", func(t *testing.T) {
		for _, sql := range []string{
			`UPDATE admin_audit_log SET reason = 'rewritten'`,
			`DELETE FROM admin_audit_log`,
			`TRUNCATE admin_audit_log`,
		} {
			_, err := b.pool.Exec(b.ctx, sql)
			require.ErrorContains(t, err, "append-only", sql)
		}
	})

	t.Run("FilterPageAndCSV", func(t *testing.T) {
		actor := b.staff(t, auth.RoleSupport)
		for i := range 5 {
			_, err := backoffice.Audit(b.ctx, b.pool, backoffice.Entry{ActorID: actor.User.ID, ActorEmail: actor.User.Email,
				IP: "2001:db8::1", Action: backoffice.ActionFreeze, AccountID: c.account.ID, Reason: "r" + string(rune('0'+i)),
				Detail: map[string]any{"n": i}})
			require.NoError(t, err)
		}
		page1, next, err := b.svc.AuditLog(b.ctx, backoffice.AuditFilter{ActorID: actor.User.ID}, 0, 3)
		require.NoError(t, err)
		require.Len(t, page1, 3)
		require.NotZero(t, next)
		require.Equal(t, "r4", page1[0].Reason, "newest first")
		page2, next, err := b.svc.AuditLog(b.ctx, backoffice.AuditFilter{ActorID: actor.User.ID}, next, 3)
		require.NoError(t, err)
		require.Len(t, page2, 2)
		require.Zero(t, next)

		none, _, err := b.svc.AuditLog(b.ctx, backoffice.AuditFilter{ActorID: actor.User.ID, From: time.Now().Add(time.Hour)}, 0, 10)
		require.NoError(t, err)
		require.Empty(t, none)

		var buf bytes.Buffer
		require.NoError(t, b.svc.AuditCSV(b.ctx, backoffice.AuditFilter{ActorID: actor.User.ID}, &buf))
		require.True(t, strings.HasPrefix(buf.String(), "\uFEFF"), "UTF-8 BOM for Excel")
		recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(buf.String(), "\uFEFF"))).ReadAll()
		require.NoError(t, err)
		require.Len(t, recs, 6)
		require.Equal(t, "2001:db8::1", recs[1][5])
		require.Equal(t, actor.User.Email, recs[1][4])
	})
}

func TestFindCustomers(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	support := b.staff(t, auth.RoleSupport)
	c := b.customer(t)
	b.credit(t, c.account.ID, ledger.LotPaid, "5", nil)

	byEmail, err := b.svc.FindCustomers(b.ctx, strings.ToUpper(c.user.Email), support)
	require.NoError(t, err)
	require.Len(t, byEmail, 1)
	require.Equal(t, c.account.ID, byEmail[0].Account.ID)
	requireDec(t, "5", byEmail[0].Balance)

	byID, err := b.svc.FindCustomers(b.ctx, " "+strconv.FormatInt(c.account.ID, 10)+" ", support)
	require.NoError(t, err)
	require.NotEmpty(t, byID)
	require.Equal(t, c.account.ID, byID[0].Account.ID)
	require.Equal(t, c.user.ID, byID[0].User.ID, "the account's user is attached")
	require.Equal(t, "account", byID[0].MatchedBy)

	for _, u := range byEmail {
		require.Equal(t, auth.KindCustomer, u.User.Kind)
	}
	staffHits, err := b.svc.FindCustomers(b.ctx, support.User.Email, support)
	require.NoError(t, err)
	require.Empty(t, staffHits, "staff are not customers")

	_, err = b.svc.FindCustomers(b.ctx, c.user.Email, backoffice.Actor{User: c.user})
	require.ErrorIs(t, err, backoffice.ErrForbidden)
}

package backoffice_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
)

// grantAs grants amount credits to acc as actor, with a fresh form key.
func (b *testBundle) grantAs(t *testing.T, actor backoffice.Actor, acc int64, amount string) backoffice.GrantResult {
	t.Helper()
	res, err := b.svc.Grant(b.ctx, backoffice.GrantRequest{AccountID: acc, Amount: d(amount), ExpiresAt: b.clock.Now().Add(30 * 24 * time.Hour),
		ReasonCode: "outage_compensation", Note: "day limit", Actor: actor, IdempotencyKey: uniq("g")})
	require.NoError(t, err)
	return res
}

// promo is the account's promo credit: what grants applied.
func (b *testBundle) promo(t *testing.T, acc int64) decimal.Decimal {
	t.Helper()
	return b.balance(t, acc).ByKind[ledger.LotPromo]
}

// The case: three grants of 50,000 in a row by one support user,
// each within the per-action limit. The first applies; the day's 50,000 is
// then spent, so the other two wait for finance as a whole. A grant that
// crosses the day's limit is split: the part within applies at once, the
// part over waits, both audited and both shown, and a repeat of the form
// returns the same two parts.
func TestGrantDayLimitPerStaff(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	finance := b.staff(t, auth.RoleFinance)

	t.Run("ThreeFullGrantsFirstAppliesRestWait", func(t *testing.T) {
		support := b.staff(t, auth.RoleSupport)
		var accs []int64
		var results []backoffice.GrantResult
		for range 3 {
			c := b.customer(t)
			accs = append(accs, c.account.ID)
			results = append(results, b.grantAs(t, support, c.account.ID, "50000"))
		}
		require.True(t, results[0].Applied)
		require.False(t, results[0].Waiting())
		requireDec(t, "50000", b.promo(t, accs[0]))
		for i, r := range results[1:] {
			require.False(t, r.Applied, "grant %d", i+2)
			require.True(t, r.Waiting(), "grant %d", i+2)
			requireDec(t, "50000", r.Approval.Amount)
			p, err := r.Approval.Grant()
			require.NoError(t, err)
			require.Equal(t, backoffice.OverStaffDay, p.Over)
			requireDec(t, "0", b.promo(t, accs[i+1]), "nothing granted before approval")
		}
		al, err := b.svc.GrantAllowance(b.ctx, support, accs[2])
		require.NoError(t, err)
		requireDec(t, "0", al.Remaining)
		requireDec(t, "50000", al.StaffUsed)
		require.Equal(t, backoffice.OverStaffDay, al.Over)

		// The approval applies the second grant and counts toward the day
		// (of the requester and of the account).
		_, err = b.svc.Approve(b.ctx, results[1].Approval.ID, finance)
		require.NoError(t, err)
		requireDec(t, "50000", b.promo(t, accs[1]))
		al, err = b.svc.GrantAllowance(b.ctx, support, accs[1])
		require.NoError(t, err)
		requireDec(t, "100000", al.StaffUsed)
		requireDec(t, "50000", al.AccountUsed)
	})

	t.Run("CrossingGrantIsSplitVisiblyAndIdempotently", func(t *testing.T) {
		support := b.staff(t, auth.RoleSupport)
		first, c := b.customer(t), b.customer(t)
		b.grantAs(t, support, first.account.ID, "30000")
		req := backoffice.GrantRequest{AccountID: c.account.ID, Amount: d("45000.5"), ExpiresAt: b.clock.Now().Add(24 * time.Hour),
			ReasonCode: "goodwill", Note: "split me", Actor: support, IdempotencyKey: uniq("form")}
		res, err := b.svc.Grant(b.ctx, req)
		require.NoError(t, err)
		require.True(t, res.Applied)
		require.True(t, res.Waiting())
		requireDec(t, "20000", res.Lot.Amount, "the part within the day's 50,000")
		requireDec(t, "25000.5", res.Approval.Amount, "the part over it")
		requireDec(t, "20000", b.promo(t, c.account.ID))
		requireDec(t, "0", res.BalanceBefore)
		requireDec(t, "20000", res.BalanceAfter)
		p, err := res.Approval.Grant()
		require.NoError(t, err)
		require.Equal(t, backoffice.OverStaffDay, p.Over)
		requireDec(t, "45000.5", p.RequestedAmount)
		require.Equal(t, res.Lot.ID, p.AppliedLotID)
		require.WithinDuration(t, req.ExpiresAt, p.ExpiresAt, time.Second, "the waiting part keeps the grant's expiry")

		// Staff see both parts: the pending request in the queue, and both
		// in the audit log pointing at each other.
		pending, err := b.svc.Approvals(b.ctx, backoffice.ApprovalFilter{AccountID: c.account.ID, State: backoffice.ApprovalPending})
		require.NoError(t, err)
		require.Len(t, pending, 1)
		require.Equal(t, res.Approval.ID, pending[0].ID)
		rows := b.auditFor(t, backoffice.AuditFilter{AccountID: c.account.ID}) // newest first
		require.Len(t, rows, 2)
		granted, requested := rows[0], rows[1]
		require.Equal(t, backoffice.ActionGrant, granted.Action)
		requireNullDec(t, "0", granted.BalanceBefore)
		requireNullDec(t, "20000", granted.BalanceAfter)
		require.Contains(t, string(granted.Detail), fmt.Sprintf(`"approval_id": %d`, res.Approval.ID))
		require.Contains(t, string(granted.Detail), `"requested_amount": "45000.5"`)
		require.Equal(t, backoffice.ActionGrantRequested, requested.Action)
		requireNullDec(t, "20000", requested.BalanceBefore)
		require.Contains(t, string(requested.Detail), fmt.Sprintf(`"applied_lot_id": %d`, res.Lot.ID))
		require.Contains(t, string(requested.Detail), `"over": "staff_day"`)

		// A double-submitted form returns the same two parts and adds nothing.
		again, err := b.svc.Grant(b.ctx, req)
		require.NoError(t, err)
		require.True(t, again.Applied)
		require.Equal(t, res.Lot.ID, again.Lot.ID)
		require.Equal(t, res.Approval.ID, again.Approval.ID)
		requireDec(t, "20000", b.promo(t, c.account.ID))
		require.Len(t, b.auditFor(t, backoffice.AuditFilter{AccountID: c.account.ID}), 2)
		// The same form key for another amount is a conflict, not a grant.
		other := req
		other.Amount = d("45000")
		_, err = b.svc.Grant(b.ctx, other)
		require.ErrorIs(t, err, ledger.ErrIdempotencyConflict)

		// A finance user approves the part over; the customer has it all.
		_, err = b.svc.Approve(b.ctx, res.Approval.ID, finance)
		require.NoError(t, err)
		requireDec(t, "45000.5", b.promo(t, c.account.ID))
		again, err = b.svc.Grant(b.ctx, req)
		require.NoError(t, err)
		require.Equal(t, backoffice.ApprovalApplied, again.Approval.State, "a repeat after the approval shows it applied")
		requireDec(t, "45000.5", b.promo(t, c.account.ID))
	})

	t.Run("OverThePerActionLimitWaitsWhole", func(t *testing.T) {
		support := b.staff(t, auth.RoleSupport)
		c := b.customer(t)
		res := b.grantAs(t, support, c.account.ID, "60000")
		require.False(t, res.Applied)
		requireDec(t, "60000", res.Approval.Amount)
		p, err := res.Approval.Grant()
		require.NoError(t, err)
		require.Equal(t, backoffice.OverAction, p.Over)
		al, err := b.svc.GrantAllowance(b.ctx, support, c.account.ID)
		require.NoError(t, err)
		requireDec(t, "50000", al.Remaining, "a request that waits spends none of the day")
	})
}

// The per-account limit holds across staff members: two support users
// granting 30,000 each to one account apply 50,000 between them; the
// second's last 10,000 waits, named as the account's limit.
func TestGrantDayLimitPerAccountAcrossStaff(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	one, two := b.staff(t, auth.RoleSupport), b.staff(t, auth.RoleSupport)
	c := b.customer(t)

	r1 := b.grantAs(t, one, c.account.ID, "30000")
	require.True(t, r1.Applied)
	require.False(t, r1.Waiting())
	r2 := b.grantAs(t, two, c.account.ID, "30000")
	require.True(t, r2.Applied)
	requireDec(t, "20000", r2.Lot.Amount)
	requireDec(t, "10000", r2.Approval.Amount)
	p, err := r2.Approval.Grant()
	require.NoError(t, err)
	require.Equal(t, backoffice.OverAccountDay, p.Over)
	requireDec(t, "50000", b.promo(t, c.account.ID))

	// Anyone else today: nothing more at once for this account, while the
	// same staff member may still grant to another account.
	third := b.staff(t, auth.RoleFinance)
	al, err := b.svc.GrantAllowance(b.ctx, third, c.account.ID)
	require.NoError(t, err)
	requireDec(t, "0", al.Remaining)
	requireDec(t, "50000", al.AccountUsed)
	requireDec(t, "0", al.StaffUsed)
	require.Equal(t, backoffice.OverAccountDay, al.Over)
	r3 := b.grantAs(t, third, c.account.ID, "1")
	require.False(t, r3.Applied)
	other := b.customer(t)
	al, err = b.svc.GrantAllowance(b.ctx, two, other.account.ID)
	require.NoError(t, err)
	requireDec(t, "30000", al.Remaining, "two granted 20,000 of its own 50,000")
	require.True(t, b.grantAs(t, two, other.account.ID, "30000").Applied)
}

// The day is the Asia/Shanghai calendar day: it turns at 16:00 UTC, not at
// UTC midnight. An approval counts toward the day it is approved on.
func TestGrantDayLimitShanghaiDayBoundary(t *testing.T) {
	t.Parallel()
	// 23:59:59 on 1 March in Shanghai.
	b := setup(t, setupOpts{start: time.Date(2025, 3, 1, 15, 59, 59, 0, time.UTC)})
	support, finance := b.staff(t, auth.RoleSupport), b.staff(t, auth.RoleFinance)
	c := b.customer(t)

	require.True(t, b.grantAs(t, support, c.account.ID, "50000").Applied)
	waits := b.grantAs(t, support, b.customer(t).account.ID, "20000")
	require.False(t, waits.Applied, "the day's 50,000 is spent")
	al, err := b.svc.GrantAllowance(b.ctx, support, c.account.ID)
	require.NoError(t, err)
	require.Equal(t, "2025-03-01", al.Day)

	b.clock.Add(time.Second) // 00:00:00 on 2 March in Shanghai, 16:00 UTC on 1 March
	al, err = b.svc.GrantAllowance(b.ctx, support, c.account.ID)
	require.NoError(t, err)
	require.Equal(t, "2025-03-02", al.Day)
	requireDec(t, "50000", al.Remaining, "a new day")

	// The request of 1 March approved on 2 March counts toward 2 March.
	_, err = b.svc.Approve(b.ctx, waits.Approval.ID, finance)
	require.NoError(t, err)
	al, err = b.svc.GrantAllowance(b.ctx, support, c.account.ID)
	require.NoError(t, err)
	requireDec(t, "20000", al.StaffUsed)
	requireDec(t, "30000", al.Remaining)

	b.clock.Add(9 * time.Hour) // 01:00 UTC on 2 March: UTC's day turned, Shanghai's did not
	res := b.grantAs(t, support, c.account.ID, "40000")
	require.True(t, res.Applied)
	requireDec(t, "30000", res.Lot.Amount)
	requireDec(t, "10000", res.Approval.Amount)
	requireDec(t, "80000", b.promo(t, c.account.ID), "50,000 on 1 March, 30,000 on 2 March")
}

// 64 concurrent grants never apply more than the day's limit, exactly: in
// total what applied at once is the limit to the millionth of a credit, and
// every grant's applied and waiting parts add up to what it asked for.
func TestGrantDayLimitUnderConcurrency(t *testing.T) {
	t.Parallel()
	const n = 64
	b := setup(t, setupOpts{})
	run := func(t *testing.T, actors []backoffice.Actor, accounts []int64) (applied, waiting decimal.Decimal) {
		t.Helper()
		results := make([]backoffice.GrantResult, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i], errs[i] = b.svc.Grant(b.ctx, backoffice.GrantRequest{AccountID: accounts[i%len(accounts)], Amount: d("1000.000007"),
					ExpiresAt: b.clock.Now().Add(time.Hour), ReasonCode: "goodwill", Actor: actors[i%len(actors)], IdempotencyKey: uniq("c")})
			}()
		}
		close(start)
		wg.Wait()
		applied, waiting = decimal.Zero, decimal.Zero
		for i, r := range results {
			require.NoError(t, errs[i])
			part := decimal.Zero
			if r.Applied {
				part = part.Add(r.Lot.Amount)
				applied = applied.Add(r.Lot.Amount)
			}
			if r.Waiting() {
				part = part.Add(r.Approval.Amount)
				waiting = waiting.Add(r.Approval.Amount)
			}
			requireDec(t, "1000.000007", part, "grant %d", i)
		}
		var granted decimal.Decimal
		for _, acc := range accounts {
			granted = granted.Add(b.promo(t, acc))
		}
		requireDec(t, applied.String(), granted, "the ledger holds what the results say applied")
		return applied, waiting
	}

	t.Run("OneStaffMemberManyAccounts", func(t *testing.T) {
		support := b.staff(t, auth.RoleSupport)
		var accounts []int64
		for range 8 {
			accounts = append(accounts, b.customer(t).account.ID)
		}
		applied, waiting := run(t, []backoffice.Actor{support}, accounts)
		requireDec(t, "50000", applied, "the staff member's day limit, exactly")
		requireDec(t, "14000.000448", waiting)
	})
	t.Run("ManyStaffMembersOneAccount", func(t *testing.T) {
		var actors []backoffice.Actor
		for range 8 {
			actors = append(actors, b.staff(t, auth.RoleSupport))
		}
		c := b.customer(t)
		applied, _ := run(t, actors, []int64{c.account.ID})
		requireDec(t, "50000", applied, "the account's day limit, exactly")
		al, err := b.svc.GrantAllowance(b.ctx, actors[0], c.account.ID)
		require.NoError(t, err)
		requireDec(t, "50000", al.AccountUsed)
	})
	// The counters agree with the uses they add up.
	var mismatches int
	require.NoError(t, b.pool.QueryRow(b.ctx, `
SELECT count(*) FROM admin_limit_days d
WHERE used <> coalesce((SELECT sum(amount) FROM admin_limit_uses u WHERE u.action = d.action AND u.day = d.day
    AND (CASE d.scope WHEN 'staff' THEN u.staff_id ELSE u.account_id END) = d.subject_id), 0)`).Scan(&mismatches))
	require.Zero(t, mismatches)
}

// Manual recharges have the same day limits, in fen. A statement line is
// one payment: one that would cross a limit waits whole, never split.
func TestRechargeDayLimits(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	importLines := func(t *testing.T, finance backoffice.Actor, amounts ...string) []int64 {
		t.Helper()
		var rows [][]string
		var serials []string
		for _, a := range amounts {
			s := uniq("DL")
			serials = append(serials, s)
			rows = append(rows, []string{s, "2025/03/01 09:00:00", "某公司", a, "贷", "no code"})
		}
		_, err := b.svc.ImportStatement(b.ctx, strings.NewReader(statementCSV(rows...)), "day.csv", uniq("110-"), finance)
		require.NoError(t, err)
		var ids []int64
		for _, s := range serials {
			q, err := b.svc.UnmatchedLines(b.ctx, s, 10, finance)
			require.NoError(t, err)
			require.Len(t, q, 1)
			ids = append(ids, q[0].ID)
		}
		return ids
	}

	t.Run("PerStaffAndPerAccount", func(t *testing.T) {
		f1, f2 := b.staff(t, auth.RoleFinance), b.staff(t, auth.RoleFinance)
		lines := importLines(t, f1, "600.00", "500.00", "400.00", "600.00")
		a, other := b.customer(t), b.customer(t)

		r, err := b.svc.ResolveToAccount(b.ctx, lines[0], a.account.ID, "payer phoned", f1)
		require.NoError(t, err)
		require.True(t, r.Applied)
		// f1's ¥600 + ¥500 would pass its ¥1,000 a day: the whole line waits.
		r, err = b.svc.ResolveToAccount(b.ctx, lines[1], other.account.ID, "payer phoned", f1)
		require.NoError(t, err)
		require.False(t, r.Applied)
		requireDec(t, "500", r.Approval.Amount)
		p, err := r.Approval.Recharge()
		require.NoError(t, err)
		require.Equal(t, backoffice.OverStaffDay, p.Over)
		requireDec(t, "0", b.balance(t, other.account.ID).Available)
		waiting := r.Approval.ID

		// f2 may still recharge, but account a has ¥400 left today.
		r, err = b.svc.ResolveToAccount(b.ctx, lines[3], a.account.ID, "payer phoned", f2)
		require.NoError(t, err)
		require.False(t, r.Applied)
		p, err = r.Approval.Recharge()
		require.NoError(t, err)
		require.Equal(t, backoffice.OverAccountDay, p.Over)
		r, err = b.svc.ResolveToAccount(b.ctx, lines[2], a.account.ID, "payer phoned", f2)
		require.NoError(t, err)
		require.True(t, r.Applied, "exactly the account's room applies")
		requireDec(t, "1000000", b.balance(t, a.account.ID).ByKind[ledger.LotPaid], "¥1,000 at ¥0.001 per credit")

		// The waiting line stays in the queue until a second finance user approves it.
		_, err = b.svc.ResolveToAccount(b.ctx, lines[1], other.account.ID, "again", f2)
		require.ErrorIs(t, err, backoffice.ErrApprovalPending)
		_, err = b.svc.Approve(b.ctx, waiting, f2)
		require.NoError(t, err)
		requireDec(t, "500000", b.balance(t, other.account.ID).ByKind[ledger.LotPaid])
		var used decimal.Decimal
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT used FROM admin_limit_days WHERE action = 'manual_recharge' AND scope = 'staff'
AND subject_id = $1 AND day = '2025-03-01'`, f1.User.ID).Scan(&used))
		requireDec(t, "1100", used, "the approved ¥500 counts toward f1's day")
	})

	t.Run("64ConcurrentRecharges", func(t *testing.T) {
		finance := b.staff(t, auth.RoleFinance)
		amounts := make([]string, 64)
		for i := range amounts {
			amounts[i] = "30.01"
		}
		lines := importLines(t, finance, amounts...)
		var accounts []int64
		for range 4 {
			accounts = append(accounts, b.customer(t).account.ID)
		}
		results := make([]backoffice.RechargeResult, len(lines))
		errs := make([]error, len(lines))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, id := range lines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i], errs[i] = b.svc.ResolveToAccount(b.ctx, id, accounts[i%len(accounts)], "payer phoned", finance)
			}()
		}
		close(start)
		wg.Wait()
		applied := 0
		for i, r := range results {
			require.NoError(t, errs[i])
			if r.Applied {
				applied++
			}
		}
		require.Equal(t, 33, applied, "33 × ¥30.01 = ¥990.33 fits ¥1,000; a 34th would not")
		var paid decimal.Decimal
		for _, acc := range accounts {
			paid = paid.Add(b.balance(t, acc).ByKind[ledger.LotPaid])
		}
		requireDec(t, "990330", paid)
	})
}

package payments_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
)

// staffSeq keeps the review tests' staff e-mails apart.
var staffSeq atomic.Int64

// reviewStaff creates an enabled staff user holding roles, as the back
// office's actor.
func (b *testBundle) reviewStaff(t *testing.T, roles ...auth.Role) backoffice.Actor {
	t.Helper()
	users := auth.New(b.pool, auth.Options{Argon2: auth.Argon2Params{Memory: 8 * 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}})
	u, err := users.CreateStaff(b.ctx, auth.StaffRequest{Email: fmt.Sprintf("review-%d-%d@example.com", staffSeq.Add(1), b.clock.Now().UnixNano()),
		Password: "staff password 1", Name: "Reviewer", Roles: roles})
	require.NoError(t, err)
	return backoffice.Actor{User: u, IP: "127.0.0.1"}
}

// paidAfterClose is a WeChat Pay order of fen that our side closed and the
// payer then paid at the sandbox, so it waits in needs_review with the
// channel's amount equal to the order's (either outcome is possible).
func (b *testBundle) paidAfterClose(t *testing.T, acc, fen int64) payments.Order {
	t.Helper()
	o, err := b.svc.CreateQROrder(b.ctx, acc, fen, payments.ChannelWeChat)
	require.NoError(t, err)
	_, err = b.svc.ApplyChannelPayment(b.ctx, payments.ChannelPayment{Channel: payments.ChannelWeChat, OutTradeNo: o.OrderNo,
		State: payments.ChannelClosed, RawState: "CLOSED"}, payments.CauseSync)
	require.NoError(t, err)
	require.True(t, b.confirm(t, o).Acked)
	o = b.order(t, o)
	require.Equal(t, payments.StateNeedsReview, o.State)
	require.Equal(t, payments.CausePaidAfterClosed, o.ReviewReason)
	return o
}

// reviewAudit is what the audit log holds of an order's review outcomes.
type reviewAudit struct {
	ActorID    int64
	ActorEmail string
	AccountID  int64
	Reason     string
	Outcome    string
	// Xmin is the transaction that wrote the row.
	Xmin string
}

func (b *testBundle) reviewAudits(t *testing.T, o payments.Order) []reviewAudit {
	t.Helper()
	rows, err := b.pool.Query(b.ctx, `SELECT actor_id, actor_email, account_id, reason, detail->>'outcome', xmin::text
FROM admin_audit_log WHERE action = $1 AND detail->>'order_no' = $2 ORDER BY id`, string(payments.ActionReviewResolved), o.OrderNo)
	require.NoError(t, err)
	defer rows.Close()
	var out []reviewAudit
	for rows.Next() {
		var a reviewAudit
		require.NoError(t, rows.Scan(&a.ActorID, &a.ActorEmail, &a.AccountID, &a.Reason, &a.Outcome, &a.Xmin))
		out = append(out, a)
	}
	require.NoError(t, rows.Err())
	return out
}

// orderXmin is the transaction that last wrote the order's row.
func (b *testBundle) orderXmin(t *testing.T, o payments.Order) string {
	t.Helper()
	var x string
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT xmin::text FROM payment_orders WHERE order_no = $1`, o.OrderNo).Scan(&x))
	return x
}

// TestResolveReviewAudited: finance settles an order under review from the
// back office — credited as quoted or refunded through its channel — only
// with a reason, and the audit row is written by the very transaction that
// settles it. 64 concurrent resolves of one order (the double click, many
// times over) settle it once and audit it once; an outcome the queue does
// not offer (crediting a payment of another amount, or the other outcome
// once settled) and a user without the finance role are refused, moving
// nothing.
func TestResolveReviewAudited(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	finance := b.reviewStaff(t, auth.RoleFinance)

	t.Run("Credit", func(t *testing.T) {
		t.Parallel()
		acc := b.account(t)
		o := b.paidAfterClose(t, acc, 1234)

		for _, blank := range []string{"", "  \t"} {
			_, _, err := b.svc.ResolveReviewAudited(b.ctx, o.OrderNo, true, finance, blank)
			require.ErrorIs(t, err, backoffice.ErrReasonRequired)
		}
		support := b.reviewStaff(t, auth.RoleSupport)
		_, _, err := b.svc.ResolveReviewAudited(b.ctx, o.OrderNo, true, support, "support may not")
		require.ErrorIs(t, err, backoffice.ErrForbidden)
		require.Equal(t, payments.StateNeedsReview, b.order(t, o).State)
		require.Empty(t, b.lots(t, acc))
		require.Empty(t, b.reviewAudits(t, o))

		got, resolved, err := b.svc.ResolveReviewAudited(b.ctx, o.OrderNo, true, finance, " customer paid late ")
		require.NoError(t, err)
		require.True(t, resolved)
		require.Equal(t, payments.StatePaid, got.State)
		requireDec(t, "12340", b.byKind(t, acc, ledger.LotPaid))
		audits := b.reviewAudits(t, o)
		require.Equal(t, []reviewAudit{{ActorID: finance.User.ID, ActorEmail: finance.User.Email, AccountID: acc,
			Reason: "customer paid late", Outcome: "credited", Xmin: b.orderXmin(t, o)}}, audits,
			"one audit row, written by the transaction that credited the order")
		b.verifyClean(t)
	})

	t.Run("Refund", func(t *testing.T) {
		t.Parallel()
		acc := b.account(t)
		o := b.paidAfterClose(t, acc, 2345)
		got, resolved, err := b.svc.ResolveReviewAudited(b.ctx, o.OrderNo, false, finance, "customer asked for the money back")
		require.NoError(t, err)
		require.True(t, resolved)
		require.Equal(t, payments.StateClosed, got.State)
		tx, err := b.wx.QueryByOutTradeNo(b.ctx, o.OrderNo)
		require.NoError(t, err)
		require.Equal(t, "REFUND", tx.TradeState, "refunded through the channel")
		require.Empty(t, b.lots(t, acc), "a refunded order credits nothing")
		require.Equal(t, []reviewAudit{{ActorID: finance.User.ID, ActorEmail: finance.User.Email, AccountID: acc,
			Reason: "customer asked for the money back", Outcome: "refunded", Xmin: b.orderXmin(t, o)}}, b.reviewAudits(t, o),
			"one audit row, written by the transaction that closed the order")

		// The other outcome, once settled, is refused and writes nothing.
		_, _, err = b.svc.ResolveReviewAudited(b.ctx, o.OrderNo, true, finance, "credit it after all")
		require.ErrorIs(t, err, payments.ErrInvalidTransition)
		require.Empty(t, b.lots(t, acc))
		require.Len(t, b.reviewAudits(t, o), 1)
	})

	// 64 resolves of one order at once, for each outcome: one settles it
	// (resolved), every other finds it settled and writes nothing.
	for _, accept := range []bool{true, false} {
		name := map[bool]string{true: "ConcurrentCredits", false: "ConcurrentRefunds"}[accept]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			acc := b.account(t)
			o := b.paidAfterClose(t, acc, 3456)
			var wg sync.WaitGroup
			var settled atomic.Int64
			errs := make([]error, 64)
			start := make(chan struct{})
			for i := range errs {
				wg.Go(func() {
					<-start
					_, resolved, err := b.svc.ResolveReviewAudited(b.ctx, o.OrderNo, accept, finance, fmt.Sprintf("click %d", i))
					errs[i] = err
					if resolved {
						settled.Add(1)
					}
				})
			}
			close(start)
			wg.Wait()
			for _, err := range errs {
				require.NoError(t, err)
			}
			require.EqualValues(t, 1, settled.Load(), "resolved exactly once")
			require.Len(t, b.reviewAudits(t, o), 1, "audited exactly once")
			if accept {
				require.Equal(t, payments.StatePaid, b.order(t, o).State)
				requireDec(t, "34560", b.byKind(t, acc, ledger.LotPaid), "credited once")
			} else {
				require.Equal(t, payments.StateClosed, b.order(t, o).State)
				require.Empty(t, b.lots(t, acc))
			}
			b.verifyClean(t)
		})
	}

	// The queue offers credit only when the channel's amount is the
	// order's; a credit asked for anyway (a forged form) is refused.
	t.Run("ForgedCredit", func(t *testing.T) {
		t.Parallel()
		shifted, acc, o := shortPaid(t, 10000)
		_, resolved, err := shifted.svc.ResolveReviewAudited(shifted.ctx, o.OrderNo, true, finance, "credit it anyway")
		require.ErrorIs(t, err, payments.ErrInvalidArgument)
		require.False(t, resolved)
		require.Equal(t, payments.StateNeedsReview, shifted.order(t, o).State)
		require.Empty(t, shifted.lots(t, acc))
		require.Empty(t, shifted.reviewAudits(t, o))
	})
}

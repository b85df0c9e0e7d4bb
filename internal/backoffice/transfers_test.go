package backoffice_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
)

// enterprise is an enterprise with paid credit and sub-accounts holding
// the given allocations.
type enterprise struct {
	id   int64
	subs []int64
}

func (b *testBundle) enterprise(t *testing.T, credit string, allocations ...string) enterprise {
	t.Helper()
	ent, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountEnterprise, Name: uniq("ent")})
	require.NoError(t, err)
	b.credit(t, ent.ID, ledger.LotPaid, credit, nil)
	e := enterprise{id: ent.ID}
	for _, a := range allocations {
		alloc := d(a)
		sub, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: ent.ID, Name: uniq("dept"), Allocation: &alloc})
		require.NoError(t, err)
		e.subs = append(e.subs, sub.ID)
	}
	return e
}

func (b *testBundle) allocation(t *testing.T, id int64) decimal.Decimal {
	t.Helper()
	a, err := b.l.Account(b.ctx, id)
	require.NoError(t, err)
	require.True(t, a.Allocation.Valid, "account %d has a limit", id)
	return a.Allocation.Decimal
}

func transfer(from, to int64, amount, key string) backoffice.TransferRequest {
	return backoffice.TransferRequest{From: from, To: to, Amount: d(amount), IdempotencyKey: key,
		ActorKind: backoffice.ActorCustomer, ActorEmail: "owner@example.com", LedgerActor: "user:1", IP: "192.0.2.7", Reason: "portal_transfer"}
}

// transferDetail is the audit row's detail of a transfer.
type transferDetail struct {
	OpID   int64                       `json:"op_id"`
	Amount decimal.Decimal             `json:"amount"`
	From   backoffice.AllocationChange `json:"from"`
	To     backoffice.AllocationChange `json:"to"`
}

func TestTransfer(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})

	t.Run("MovesAllocationAndAuditsBothSides", func(t *testing.T) {
		e := b.enterprise(t, "1000", "300", "100")
		res, err := b.svc.Transfer(b.ctx, transfer(e.subs[0], e.subs[1], "250", uniq("t")))
		require.NoError(t, err)
		require.False(t, res.Replayed)
		requireDec(t, "50", b.allocation(t, e.subs[0]))
		requireDec(t, "350", b.allocation(t, e.subs[1]))
		requireDec(t, "50", b.balance(t, e.subs[0]).Available, "the source may now spend 50")
		requireDec(t, "350", b.balance(t, e.subs[1]).Available)
		requireDec(t, "1000", b.balance(t, e.id).Available, "the pool's credit does not move")

		rows := b.auditFor(t, backoffice.AuditFilter{AccountID: e.id, Action: backoffice.ActionAllocationTransfer})
		require.Len(t, rows, 1)
		r := rows[0]
		require.Equal(t, backoffice.ActorCustomer, r.ActorKind)
		require.Equal(t, "owner@example.com", r.ActorEmail)
		require.Equal(t, "192.0.2.7", r.IP)
		requireNullDec(t, "1000", r.BalanceBefore)
		requireNullDec(t, "1000", r.BalanceAfter)
		var det transferDetail
		require.NoError(t, json.Unmarshal(r.Detail, &det))
		require.Equal(t, res.OpID, det.OpID)
		requireDec(t, "250", det.Amount)
		require.Equal(t, e.subs[0], det.From.AccountID)
		requireDec(t, "300", *det.From.AllocationBefore)
		requireDec(t, "50", *det.From.AllocationAfter)
		requireDec(t, "300", det.From.BalanceBefore)
		requireDec(t, "50", det.From.BalanceAfter)
		require.Equal(t, e.subs[1], det.To.AccountID)
		requireDec(t, "100", *det.To.AllocationBefore)
		requireDec(t, "350", *det.To.AllocationAfter)
		requireDec(t, "100", det.To.BalanceBefore)
		requireDec(t, "350", det.To.BalanceAfter)

		// The ledger shows the pair of transfer events with the actor.
		evs, _, err := b.l.Events(b.ctx, e.subs[0], ledger.EventFilter{Types: []ledger.EventType{ledger.EventTransfer}}, 0, 10)
		require.NoError(t, err)
		require.Len(t, evs, 1)
		requireDec(t, "-250", evs[0].Amount)
		require.Equal(t, "user:1", evs[0].Actor)
	})

	t.Run("BalanceIsCappedByThePool", func(t *testing.T) {
		e := b.enterprise(t, "200", "300", "100")
		_, err := b.svc.Transfer(b.ctx, transfer(e.subs[1], e.subs[0], "50", uniq("t")))
		require.NoError(t, err)
		rows := b.auditFor(t, backoffice.AuditFilter{AccountID: e.id, Action: backoffice.ActionAllocationTransfer})
		require.Len(t, rows, 1)
		var det transferDetail
		require.NoError(t, json.Unmarshal(rows[0].Detail, &det))
		requireDec(t, "200", det.To.BalanceBefore, "300 allocated, but the pool holds 200")
		requireDec(t, "200", det.To.BalanceAfter)
		requireDec(t, "100", det.From.BalanceBefore)
		requireDec(t, "50", det.From.BalanceAfter)
	})

	t.Run("RepeatWithTheSameKeyReplays", func(t *testing.T) {
		e := b.enterprise(t, "1000", "300", "100")
		k := uniq("t")
		first, err := b.svc.Transfer(b.ctx, transfer(e.subs[0], e.subs[1], "40", k))
		require.NoError(t, err)
		again, err := b.svc.Transfer(b.ctx, transfer(e.subs[0], e.subs[1], "40", k))
		require.NoError(t, err)
		require.True(t, again.Replayed)
		require.Equal(t, first.OpID, again.OpID)
		requireDec(t, "260", *again.From.AllocationAfter)
		requireDec(t, "300", *again.From.AllocationBefore)
		requireDec(t, "260", b.allocation(t, e.subs[0]), "moved once")
		requireDec(t, "140", b.allocation(t, e.subs[1]))
		require.Len(t, b.auditFor(t, backoffice.AuditFilter{AccountID: e.id, Action: backoffice.ActionAllocationTransfer}), 1, "audited once")

		_, err = b.svc.Transfer(b.ctx, transfer(e.subs[0], e.subs[1], "41", k))
		require.ErrorIs(t, err, ledger.ErrIdempotencyConflict)
		requireDec(t, "260", b.allocation(t, e.subs[0]))
	})

	t.Run("AcrossEnterprisesIsRefused", func(t *testing.T) {
		e1 := b.enterprise(t, "1000", "300")
		e2 := b.enterprise(t, "1000", "300")
		_, err := b.svc.Transfer(b.ctx, transfer(e1.subs[0], e2.subs[0], "10", uniq("t")))
		require.ErrorIs(t, err, ledger.ErrCrossEnterpriseTransfer)

		// Two sub-accounts of e2, asked for on behalf of e1's owner.
		e2b := b.enterprise(t, "1000", "300", "300")
		r := transfer(e2b.subs[0], e2b.subs[1], "10", uniq("t"))
		r.Enterprise = e1.id
		_, err = b.svc.Transfer(b.ctx, r)
		require.ErrorIs(t, err, ledger.ErrCrossEnterpriseTransfer)

		// Individuals have no enterprise.
		i1, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual, Name: "i1"})
		require.NoError(t, err)
		i2, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual, Name: "i2"})
		require.NoError(t, err)
		_, err = b.svc.Transfer(b.ctx, transfer(i1.ID, i2.ID, "10", uniq("t")))
		require.ErrorIs(t, err, ledger.ErrCrossEnterpriseTransfer)

		for _, e := range []enterprise{e1, e2, e2b} {
			for _, s := range e.subs {
				requireDec(t, "300", b.allocation(t, s), "nothing moved")
			}
			require.Empty(t, b.auditFor(t, backoffice.AuditFilter{AccountID: e.id, Action: backoffice.ActionAllocationTransfer}))
		}
	})

	t.Run("MoreThanTheAllocationIsRefused", func(t *testing.T) {
		e := b.enterprise(t, "1000", "300", "100")
		_, err := b.svc.Transfer(b.ctx, transfer(e.subs[0], e.subs[1], "300.000001", uniq("t")))
		require.ErrorIs(t, err, ledger.ErrAllocationExceeded)
		var sf *ledger.ShortfallError
		require.True(t, errors.As(err, &sf))
		requireDec(t, "300", sf.Available, "the error says what may be moved")
		requireDec(t, "300", b.allocation(t, e.subs[0]))
		requireDec(t, "100", b.allocation(t, e.subs[1]))
		require.Empty(t, b.auditFor(t, backoffice.AuditFilter{AccountID: e.id, Action: backoffice.ActionAllocationTransfer}))

		_, err = b.svc.Transfer(b.ctx, transfer(e.subs[0], e.subs[1], "300", uniq("t")))
		require.NoError(t, err, "all of it may be moved")
		requireDec(t, "0", b.allocation(t, e.subs[0]))
	})

	t.Run("BadRequestsAreRefusedBeforeTheLedger", func(t *testing.T) {
		e := b.enterprise(t, "1000", "300", "100")
		for _, amount := range []string{"0", "-1", "1.0000001", "1000000000000.000001"} {
			_, err := b.svc.Transfer(b.ctx, transfer(e.subs[0], e.subs[1], amount, uniq("t")))
			require.ErrorIs(t, err, backoffice.ErrInvalidAmount, amount)
		}
		_, err := b.svc.Transfer(b.ctx, transfer(e.subs[0], e.subs[0], "1", uniq("t")))
		require.ErrorIs(t, err, backoffice.ErrTransferSameAccount)
		_, err = b.svc.Transfer(b.ctx, transfer(e.subs[0], e.subs[1], "1", ""))
		require.ErrorIs(t, err, backoffice.ErrMissingIdempotencyKey)
		_, err = b.svc.Transfer(b.ctx, transfer(999_999_999, e.subs[1], "1", uniq("t")))
		require.ErrorIs(t, err, backoffice.ErrAccountNotFound)
		_, err = b.svc.Transfer(b.ctx, transfer(e.subs[0], 999_999_999, "1", uniq("t")))
		require.ErrorIs(t, err, ledger.ErrNotFound)
		requireDec(t, "300", b.allocation(t, e.subs[0]))
	})
}

// TestConcurrentTransfersConserveAllocation: 64 transfers at once between
// four sub-accounts, many asking for more than their source has by the time
// they run. No allocation goes negative, the sum stays 400, each account
// ends at its start plus what it received minus what it gave in the
// transfers that succeeded, and each success has exactly one audit row.
func TestConcurrentTransfersConserveAllocation(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	e := b.enterprise(t, "1000", "100", "100", "100", "100")
	const n = 64
	type outcome struct {
		from, to int
		amount   decimal.Decimal
		err      error
	}
	results := make([]outcome, n)
	var wg sync.WaitGroup
	for i := range n {
		from := i % 4
		to := (from + 1 + (i/4)%3) % 4
		amount := decimal.NewFromInt(int64(15 + (i*37)%60))
		results[i] = outcome{from: from, to: to, amount: amount}
		wg.Go(func() {
			_, err := b.svc.Transfer(b.ctx, transfer(e.subs[from], e.subs[to], amount.String(), fmt.Sprintf("race-%d", i)))
			results[i].err = err
		})
	}
	wg.Wait()

	want := []decimal.Decimal{d("100"), d("100"), d("100"), d("100")}
	ok, refused := 0, 0
	for _, r := range results {
		if r.err != nil {
			require.ErrorIs(t, r.err, ledger.ErrAllocationExceeded)
			refused++
			continue
		}
		ok++
		want[r.from] = want[r.from].Sub(r.amount)
		want[r.to] = want[r.to].Add(r.amount)
	}
	require.Positive(t, ok)
	t.Logf("%d transfers applied, %d refused for lack of allocation", ok, refused)
	sum := decimal.Zero
	for i, s := range e.subs {
		got := b.allocation(t, s)
		require.False(t, got.IsNegative(), "allocation of %d went negative: %s", s, got)
		requireDec(t, want[i].String(), got, "account", i)
		sum = sum.Add(got)
	}
	requireDec(t, "400", sum, "allocation is conserved")
	require.Len(t, b.auditFor(t, backoffice.AuditFilter{AccountID: e.id, Action: backoffice.ActionAllocationTransfer}), ok)
	mismatches, err := b.l.Verify(b.ctx)
	require.NoError(t, err)
	require.Empty(t, mismatches)
}

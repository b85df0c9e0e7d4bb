package ledger_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
)

func TestEnterprisePools(t *testing.T) {
	alloc := func(s string) *decimal.Decimal { x := d(s); return &x }
	tests := []struct {
		name       string
		pool       string
		allocation *decimal.Decimal
		reserve    string
		wantErr    error
		subAvail   string
	}{
		{"allocation is stricter than the pool", "100", alloc("30"), "31", ledger.ErrAllocationExceeded, "30"},
		{"pool is stricter than the allocation", "20", alloc("30"), "21", ledger.ErrInsufficientCredits, "20"},
		{"within both", "100", alloc("30"), "30", nil, "0"},
		{"no allocation spends the whole pool", "100", nil, "100", nil, "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := setup(t, ledger.Options{})
			ent := b.account(t, ledger.AccountEnterprise)
			sub, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: ent.ID, Allocation: tt.allocation})
			require.NoError(t, err)
			require.Equal(t, ent.ID, sub.PoolID)
			b.credit(t, ent.ID, tt.pool, lotOpts{})
			_, err = b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: sub.ID, Amount: d(tt.reserve), IdempotencyKey: key()})
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
			}
			requireDec(t, tt.subAvail, b.available(t, sub.ID))
			b.verifyClean(t)
		})
	}
}

func TestSubAccountSpendsTheParentsLotsAndTransfersMoveAllocation(t *testing.T) {
	b := setup(t, ledger.Options{})
	ent := b.account(t, ledger.AccountEnterprise)
	thirty := d("30")
	a, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: ent.ID, Allocation: &thirty, Name: "team A"})
	require.NoError(t, err)
	ten := d("10")
	bsub, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: ent.ID, Allocation: &ten, Name: "team B"})
	require.NoError(t, err)
	b.credit(t, ent.ID, "100", lotOpts{})

	res, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: a.ID, Amount: d("20"), IdempotencyKey: key()})
	require.NoError(t, err)
	cr, err := b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: res.ID, Actual: d("25")})
	require.NoError(t, err)
	requireDec(t, "25", cr.Charged)
	requireDec(t, "5", cr.Available, "team A has 5 of its 30 left")
	requireDec(t, "75", b.available(t, ent.ID), "the enterprise pool paid")

	_, err = b.l.Transfer(b.ctx, ledger.TransferRequest{From: bsub.ID, To: a.ID, Amount: d("10.000001"), IdempotencyKey: key(), Actor: "admin"})
	require.ErrorIs(t, err, ledger.ErrAllocationExceeded)
	k := key()
	tr, err := b.l.Transfer(b.ctx, ledger.TransferRequest{From: bsub.ID, To: a.ID, Amount: d("4"), IdempotencyKey: k, Actor: "admin", Reason: "rebalance"})
	require.NoError(t, err)
	requireDec(t, "6", *tr.FromAllocation)
	requireDec(t, "9", *tr.ToAllocation)
	_, err = b.l.Transfer(b.ctx, ledger.TransferRequest{From: bsub.ID, To: a.ID, Amount: d("4"), IdempotencyKey: k, Actor: "admin", Reason: "rebalance"})
	require.NoError(t, err)
	requireDec(t, "9", b.available(t, a.ID), "a retried transfer moves once")
	requireDec(t, "6", b.available(t, bsub.ID))

	evs, _, err := b.l.Events(b.ctx, ent.ID, ledger.EventFilter{Types: []ledger.EventType{ledger.EventTransfer}}, 0, 10)
	require.NoError(t, err)
	require.Len(t, evs, 2, "a transfer is a pair of events")
	require.Equal(t, evs[0].OpID, evs[1].OpID)
	require.Equal(t, "admin", evs[0].Actor)
	requireDec(t, "0", evs[0].Amount.Add(evs[1].Amount))

	other := b.account(t, ledger.AccountEnterprise)
	_, err = b.l.Transfer(b.ctx, ledger.TransferRequest{From: a.ID, To: other.ID, Amount: d("1"), IdempotencyKey: key()})
	require.ErrorIs(t, err, ledger.ErrCrossEnterpriseTransfer)
	ind1, ind2 := b.account(t, ledger.AccountIndividual), b.account(t, ledger.AccountIndividual)
	_, err = b.l.Transfer(b.ctx, ledger.TransferRequest{From: ind1.ID, To: ind2.ID, Amount: d("1"), IdempotencyKey: key()})
	require.ErrorIs(t, err, ledger.ErrCrossEnterpriseTransfer)

	subEvents, _, err := b.l.Events(b.ctx, a.ID, ledger.EventFilter{}, 0, 100)
	require.NoError(t, err)
	require.NotEmpty(t, subEvents, "team A's reservation, deduction and transfer rows")
	for _, e := range subEvents {
		require.Equal(t, a.ID, e.AccountID, "a sub-account sees only its own rows")
	}
	require.NoError(t, b.l.SetAllocation(b.ctx, a.ID, nil, "admin", "unlimited"))
	requireDec(t, "75", b.available(t, a.ID))
	b.verifyClean(t)
}

func TestAccountsByExternalID(t *testing.T) {
	b := setup(t, ledger.Options{})
	ext := fmt.Sprintf("user-%s", key())
	var wg sync.WaitGroup
	ids := make([]int64, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := b.l.UpsertAccountByExternalID(b.ctx, ledger.ModeLive, ext, ledger.AccountSpec{Kind: ledger.AccountIndividual, Name: "Li Lei"})
			require.NoError(t, err)
			ids[i] = a.ID
		}()
	}
	wg.Wait()
	for _, id := range ids {
		require.Equal(t, ids[0], id, "concurrent upserts give one account")
	}
	test, err := b.l.UpsertAccountByExternalID(b.ctx, ledger.ModeTest, ext, ledger.AccountSpec{Kind: ledger.AccountIndividual})
	require.NoError(t, err)
	require.NotEqual(t, ids[0], test.ID, "test mode is a separate account")
	got, err := b.l.AccountByExternalID(b.ctx, ledger.ModeLive, ext)
	require.NoError(t, err)
	require.Equal(t, "Li Lei", got.Name)
	_, err = b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: ids[0]})
	require.ErrorIs(t, err, ledger.ErrInvalidArgument, "an individual cannot have sub-accounts")
}

func TestConcurrentReservesExactlyK(t *testing.T) {
	const workers, k = 64, 10
	for _, dup := range []bool{false, true} {
		t.Run(fmt.Sprintf("DuplicateKeys=%v", dup), func(t *testing.T) {
			b := setup(t, ledger.Options{})
			acc := b.account(t, ledger.AccountIndividual)
			b.credit(t, acc.ID, "30", lotOpts{}) // exactly k holds of 3.5 fit in 35; split over two lots
			b.credit(t, acc.ID, "5", lotOpts{kind: ledger.LotPromo})
			var ok, short atomic.Int64
			ids := sync.Map{}
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					kk := fmt.Sprintf("race-%d-%d", acc.ID, i)
					if dup {
						kk = fmt.Sprintf("race-%d-%d", acc.ID, i%(k*2))
					}
					r, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc.ID, Amount: d("3.5"), IdempotencyKey: kk})
					switch {
					case err == nil:
						ok.Add(1)
						ids.Store(r.ID, true)
					case errorsIs(err, ledger.ErrInsufficientCredits):
						short.Add(1)
					default:
						t.Error(err)
					}
				}()
			}
			close(start)
			wg.Wait()
			var distinct int
			ids.Range(func(any, any) bool { distinct++; return true })
			require.Equal(t, k, distinct, "exactly K reservations exist")
			if !dup {
				require.EqualValues(t, k, ok.Load())
				require.EqualValues(t, workers-k, short.Load())
			}
			bal, err := b.l.Balance(b.ctx, acc.ID)
			require.NoError(t, err)
			requireDec(t, "0", bal.Available)
			requireDec(t, "35", bal.Reserved)
			b.verifyClean(t)
		})
	}
}

package ledger_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
)

// A balance is one snapshot: while holds are placed and released as fast as
// they can be, every read shows available + reserved equal to the credit,
// never a hold already closed with its credit not yet back.
func TestBalanceReadsLotsAndHoldsInOneSnapshot(t *testing.T) {
	t.Parallel()
	b := setup(t, ledger.Options{})
	acc := b.account(t, ledger.AccountIndividual)
	b.credit(t, acc.ID, "100", lotOpts{})

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc.ID, Amount: d("7"), IdempotencyKey: key()})
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := b.l.Release(b.ctx, r.ID); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	defer wg.Wait()
	defer close(stop)
	for i := 0; i < 400; i++ {
		bal, err := b.l.Balance(b.ctx, acc.ID)
		require.NoError(t, err)
		requireDec(t, "100", bal.Available.Add(bal.Reserved), "read", i)
	}
}

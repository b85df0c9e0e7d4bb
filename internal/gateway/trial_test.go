package gateway

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/ratelimit"
)

// 64 clients of one unverified account race reservations, usage batches
// and commits beyond their holds. The trial cap is checked and counted in
// the ledger's transaction of each hold or charge, so the account never
// holds plus has been charged more than the cap, never touches its paid
// credit, and the ledger verifies clean. (The gateway used to check its
// trial total, then reserve, then add the charge after the commit: 32
// reservations of 10 against a cap of 10 succeeded 29 times.)
func TestTrialCapHoldsUnderConcurrentCalls(t *testing.T) {
	t.Parallel()
	const workers = 64
	cap := d("100")
	many := ratelimit.Limit{RPM: 1_000_000, TPM: 1_000_000_000}
	b := setup(t, Options{TrialLimit: many, DefaultLimit: many}, ledger.Options{TrialCap: cap})
	ctx := context.Background()
	ext := uniq(t, "trial")
	v := b.account(t, b.live, ext, acctOpts{unverified: true, promo: "1000"})
	_, err := b.ledger.Credit(ctx, ledger.CreditRequest{AccountID: v.ID, Kind: ledger.LotPaid, Amount: d("1000"),
		SourceRef: "order", Actor: "test", ReasonCode: "topup", IdempotencyKey: "paid-" + ext})
	require.NoError(t, err)

	// deepseek-chat input: 2 credits per 1,000 tokens.
	var (
		mu                sync.Mutex
		refused, unpaidCt int
		wg                sync.WaitGroup
		start             = make(chan struct{})
	)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for r := range 3 {
				k := fmt.Sprintf("%d-%d", i, r)
				if i%3 == 0 { // a usage batch of two events of 7 credits
					res, err := b.gw.IngestUsage(ctx, b.live, UsageBatch{Events: []UsageEvent{
						{IdempotencyKey: "u1-" + k, Account: ext, Model: "deepseek-chat", InputTokens: 3500, OccurredAt: b.clock.Now()},
						{IdempotencyKey: "u2-" + k, Account: ext, Model: "deepseek-chat", InputTokens: 3500, OccurredAt: b.clock.Now()},
					}})
					require.NoError(t, err)
					mu.Lock()
					for _, rj := range res.Rejected {
						require.Equal(t, RejectVerificationRequired, rj.Code)
						refused++
					}
					mu.Unlock()
					continue
				}
				rv, err := b.gw.Reserve(ctx, b.live, ReserveInput{Account: ext, Model: "deepseek-chat", MaxInputTokens: 5000, IdempotencyKey: "r-" + k})
				if err != nil {
					require.ErrorIs(t, err, ErrVerificationRequired)
					mu.Lock()
					refused++
					mu.Unlock()
					continue
				}
				tokens := int64(15000) // 30 credits: beyond the hold of 10
				if i%3 == 2 {
					tokens = 2000 // 4 credits: within it
				}
				cv, err := b.gw.Commit(ctx, b.live, rv.ID, CommitInput{InputTokens: tokens})
				require.NoError(t, err, "a commit is never refused")
				if cv.Unpaid.IsPositive() {
					mu.Lock()
					unpaidCt++
					mu.Unlock()
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	require.Positive(t, refused, "the demand was well beyond the cap")
	t.Logf("%d calls refused at the cap, %d commits partly unpaid", refused, unpaidCt)

	// Replay the account's holds and charges in the order the ledger applied
	// them: charged plus held never passed the cap, and no paid lot moved.
	rows, err := b.pool.Query(ctx, `
SELECT sum(-e.amount), bool_or(l.kind = 'paid')
FROM ledger_events e JOIN ledger_lots l ON l.pool_id = e.pool_id AND l.id = e.lot_id
WHERE e.pool_id = $1 AND e.type IN ('reservation', 'reservation_release', 'deduction', 'reservation_expired_charge')
GROUP BY e.op_id ORDER BY min(e.id)`, v.ID)
	require.NoError(t, err)
	var used, peak decimal.Decimal
	for rows.Next() {
		var delta decimal.Decimal
		var paid bool
		require.NoError(t, rows.Scan(&delta, &paid))
		require.False(t, paid, "an unverified account spent paid credit")
		used = used.Add(delta)
		peak = decimal.Max(peak, used)
	}
	require.NoError(t, rows.Err())
	require.True(t, peak.LessThanOrEqual(cap), "held plus charged peaked at %s, past the cap of %s", peak, cap)
	require.True(t, used.LessThanOrEqual(cap))

	bal, err := b.ledger.Balance(ctx, v.ID)
	require.NoError(t, err)
	requireDec(t, "1000", bal.ByKind[ledger.LotPaid])
	requireDec(t, d("1000").Sub(used).String(), bal.ByKind[ledger.LotPromo], "what was charged came from the promo lot")
	mismatches, err := b.ledger.Verify(ctx)
	require.NoError(t, err)
	require.Empty(t, mismatches)

	// Verified, the account spends its paid credit, past the former cap.
	_, _, err = b.gw.PutAccount(ctx, b.live, ext, AccountInput{Verification: &VerificationInput{Status: "verified", Reference: "r-" + ext}})
	require.NoError(t, err)
	_, err = b.gw.Reserve(ctx, b.live, ReserveInput{Account: ext, Model: "deepseek-chat", MaxInputTokens: 900_000, IdempotencyKey: "after"})
	require.NoError(t, err, "1,800 credits: all the promo and most of the paid credit")
}

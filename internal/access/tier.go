package access

import "github.com/seed75218f88/credits/internal/ledger"

// TierStatus is where a pool stands in the tier table (Kimi's model:
// tiers by cumulative recharge): the tier its recharge reaches (Level 0:
// none yet) and the next one with what is still to pay for it.
type TierStatus struct {
	PaidFen int64
	Level   int          // 1-based; 0 below the first tier
	Current *ledger.Tier // nil below the first tier
	Next    *ledger.Tier // nil at the top
	NeedFen int64        // what is still to pay to reach Next
}

// StatusOf places paidFen (a pool's cumulative recharge) in tiers
// (ascending, as ledger.Tiers returns them); ok is false when there are no
// tiers.
func StatusOf(tiers []ledger.Tier, paidFen int64) (st TierStatus, ok bool) {
	if len(tiers) == 0 {
		return TierStatus{}, false
	}
	st.PaidFen = paidFen
	i := ledger.TierFor(tiers, paidFen)
	if i >= 0 {
		st.Level, st.Current = i+1, &tiers[i]
	}
	if i+1 < len(tiers) {
		st.Next = &tiers[i+1]
		st.NeedFen = st.Next.MinPaidFen - paidFen
	}
	return st, true
}

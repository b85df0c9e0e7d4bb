package ledger_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
)

// The cost a charge records beside its price (cost_version, cost) stays out
// of its idempotency identity: a retry costed on another cost card, or sent
// by a release from before costing, replays the first charge; any other
// difference in the detail is still a conflict.
func TestChargeIdentityLeavesTheCostOut(t *testing.T) {
	t.Parallel()
	b := setup(t, ledger.Options{})
	acc := b.account(t, ledger.AccountIndividual)
	b.credit(t, acc.ID, "100", lotOpts{})
	k := key()
	charge := func(detail string) (ledger.ChargeResult, error) {
		return b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: d("2"), IdempotencyKey: k, Model: "m",
			Detail: json.RawMessage(detail)})
	}
	first, err := charge(`{"input_tokens":1000,"rate_card_version":1}`)
	require.NoError(t, err)
	require.False(t, first.Replayed)
	again, err := charge(`{"input_tokens":1000,"rate_card_version":1,"cost_version":3,"cost":"0.001200"}`)
	require.NoError(t, err)
	require.True(t, again.Replayed, "the cost is not part of the identity")
	require.Equal(t, first.OpID, again.OpID)
	_, err = charge(`{"input_tokens":1001,"rate_card_version":1,"cost_version":3,"cost":"0.001200"}`)
	require.ErrorIs(t, err, ledger.ErrIdempotencyConflict)
}

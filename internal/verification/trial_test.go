package verification_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/verification"
)

// Every way an account becomes verified ends its trial in the ledger (the
// trial cap and the promo-only rule lift) in the same transaction; a
// submission still pending or rejected leaves it in trial.
func TestVerificationEndsTheTrial(t *testing.T) {
	t.Parallel()
	b := setup(t, verification.Options{Bonus: bonus()})
	inTrial := func(acct int64) bool {
		a, err := b.ledger.Account(b.ctx, acct)
		require.NoError(t, err)
		return a.InTrial()
	}

	t.Run("ByTheProvider", func(t *testing.T) {
		acct := b.account(t)
		require.True(t, inTrial(acct))
		st, err := b.svc.SubmitPerson(b.ctx, acct, "张三", personNumber(t))
		require.NoError(t, err)
		require.Equal(t, verification.StateVerified, st.State)
		require.False(t, inTrial(acct))
	})
	t.Run("ByAReviewer", func(t *testing.T) {
		acct := b.account(t)
		st, err := b.svc.SubmitPerson(b.ctx, acct, "钱七", personNumberSeq(t, 998))
		require.NoError(t, err)
		require.True(t, inTrial(acct), "pending")
		_, err = b.svc.Decide(b.ctx, st.VerificationID, true, "", "staff:7")
		require.NoError(t, err)
		require.False(t, inTrial(acct))
	})
	t.Run("RejectedStaysInTrial", func(t *testing.T) {
		acct := b.account(t)
		st, err := b.svc.SubmitPerson(b.ctx, acct, "钱七", personNumberSeq(t, 998))
		require.NoError(t, err)
		_, err = b.svc.Decide(b.ctx, st.VerificationID, false, "blurred", "staff:7")
		require.NoError(t, err)
		require.True(t, inTrial(acct))
	})
	t.Run("ByAGatewayClient", func(t *testing.T) {
		acct := b.account(t)
		_, err := b.svc.MarkVerifiedExternally(b.ctx, acct, "KYC-1", "api:c1")
		require.NoError(t, err)
		require.False(t, inTrial(acct))
		evs, _, err := b.ledger.Events(b.ctx, acct, ledger.EventFilter{Types: []ledger.EventType{ledger.EventStatus}}, 0, 10)
		require.NoError(t, err)
		require.Len(t, evs, 1)
		require.Equal(t, "api:c1", evs[0].Actor, "the ledger records who ended the trial")
	})
}

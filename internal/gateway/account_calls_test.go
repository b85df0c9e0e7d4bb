package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
)

// The gateway's customer keys act in their account's mode, which never
// changes: a call whose cached copy of the account has expired gets its key
// from that copy, and only its reserve reads the account again.
func TestAccountKeyTakesTheModeFromAnyCachedCopy(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{CacheTTL: 5 * time.Second})
	ctx := context.Background()
	acct := b.account(t, b.live, uniq(t, "a"), acctOpts{promo: "10"})
	readAt := func() time.Time {
		v, ok := b.gw.byID.Load(acct.ID)
		require.True(t, ok, "cached")
		return v.(*accountInfo).at
	}
	k, err := b.gw.AccountKey(ctx, acct.ID, 7, "k")
	require.NoError(t, err)
	require.Equal(t, ledger.ModeLive, k.Mode)
	first := readAt()

	b.clock.Advance(6 * time.Second) // the cached copy has expired
	k, err = b.gw.AccountKey(ctx, acct.ID, 7, "k")
	require.NoError(t, err)
	require.Equal(t, ledger.ModeLive, k.Mode)
	require.Equal(t, first, readAt(), "not read again for the key")

	_, err = b.gw.ReserveAccount(ctx, k, acct.ID, ReserveInput{Model: "deepseek-chat", MaxInputTokens: 10, IdempotencyKey: uniq(t, "r")})
	require.NoError(t, err)
	require.True(t, readAt().After(first), "the reserve reads the expired copy again")

	_, err = b.gw.AccountKey(ctx, 1<<40, 7, "k")
	require.ErrorIs(t, err, ErrNotFound, "an account never seen is read, and must exist")
}

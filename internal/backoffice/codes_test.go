package backoffice_test

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/refcode"
)

func TestRedemptionCodes(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{settings: backoffice.Settings{
		SupportGrantLimit: d("50000"), ManualRechargeLimitFen: 100000,
		RedeemMaxFailuresPerAccount: 3, RedeemMaxFailuresPerIP: 5, RedeemWindow: 15 * time.Minute,
	}})
	finance := b.staff(t, auth.RoleFinance)

	batch := func(t *testing.T, r backoffice.BatchRequest) backoffice.GeneratedBatch {
		t.Helper()
		if r.Campaign == "" {
			r.Campaign = "春节活动"
		}
		if r.Amount.IsZero() {
			r.Amount = d("500")
		}
		if r.Count == 0 {
			r.Count = 3
		}
		r.Actor = finance
		g, err := b.svc.GenerateBatch(b.ctx, r)
		require.NoError(t, err)
		return g
	}

	t.Run("GenerateShowsCodesOnceAndStoresHashes", func(t *testing.T) {
		g := batch(t, backoffice.BatchRequest{Count: 20})
		require.Len(t, g.Codes, 20)
		seen := map[string]bool{}
		for _, c := range g.Codes {
			require.Regexp(t, `^[`+refcode.Alphabet+`]{4}(-[`+refcode.Alphabet+`]{4}){3}$`, c)
			require.False(t, seen[c])
			seen[c] = true
		}
		require.True(t, strings.HasPrefix(string(g.CSV), "\uFEFFcode,campaign"), "CSV has a BOM and a header")
		require.Contains(t, string(g.CSV), g.Codes[7]+",春节活动,500")

		var plain int
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM redemption_codes WHERE batch_id = $1 AND position($2 IN encode(code_hash, 'escape')) > 0`,
			g.Batch.ID, strings.ReplaceAll(g.Codes[0], "-", "")).Scan(&plain))
		require.Zero(t, plain, "codes are not stored in plain text")
		sum := sha256.Sum256([]byte(strings.ReplaceAll(g.Codes[0], "-", "")))
		var n int
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM redemption_codes WHERE code_hash = $1`, sum[:]).Scan(&n))
		require.Equal(t, 1, n, "stored as SHA-256")

		_, err := b.svc.GenerateBatch(b.ctx, backoffice.BatchRequest{Campaign: "x", Amount: d("1"), Count: 1, Actor: b.staff(t, auth.RoleSupport)})
		require.ErrorIs(t, err, backoffice.ErrForbidden)
		lot := b.clock.Now().Add(time.Hour)
		_, err = b.svc.GenerateBatch(b.ctx, backoffice.BatchRequest{Campaign: "x", Amount: d("1"), Count: 1, LotExpiresAt: &lot, LotExpiresDays: 3, Actor: finance})
		require.ErrorIs(t, err, backoffice.ErrInvalidBatch)
		require.Len(t, b.auditFor(t, backoffice.AuditFilter{ActorID: finance.User.ID, Action: backoffice.ActionCodeBatchCreated}), 1)
	})

	t.Run("RedeemAddsPromoLotOnceAndIsAudited", func(t *testing.T) {
		g := batch(t, backoffice.BatchRequest{LotExpiresDays: 30})
		c := b.customer(t)
		// typed the way people do: lower case, spaces, full-width characters
		typed := strings.ToLower(strings.ReplaceAll(g.Codes[0], "-", " "))
		typed = strings.Replace(typed, string(typed[0]), string(rune(0xFF00+int(typed[0])-0x20)), 1)
		r, err := b.svc.Redeem(b.ctx, c.account.ID, typed, "198.51.100.7")
		require.NoError(t, err)
		require.Equal(t, "春节活动", r.Campaign)
		require.Equal(t, ledger.LotPromo, r.Lot.Kind)
		require.WithinDuration(t, b.clock.Now().AddDate(0, 0, 30), *r.Lot.ExpiresAt, time.Second)
		requireDec(t, "500", b.balance(t, c.account.ID).ByKind[ledger.LotPromo])

		other := b.customer(t)
		_, err = b.svc.Redeem(b.ctx, other.account.ID, g.Codes[0], "198.51.100.8")
		require.ErrorIs(t, err, backoffice.ErrCodeUsed)

		rows := b.auditFor(t, backoffice.AuditFilter{AccountID: c.account.ID})
		require.Len(t, rows, 1)
		require.Equal(t, backoffice.ActionCodeRedeemed, rows[0].Action)
		require.Equal(t, backoffice.ActorCustomer, rows[0].ActorKind)
		require.Equal(t, "198.51.100.7", rows[0].IP)
		requireNullDec(t, "0", rows[0].BalanceBefore)
		requireNullDec(t, "500", rows[0].BalanceAfter)
		require.NotContains(t, string(rows[0].Detail), strings.ReplaceAll(g.Codes[0], "-", ""), "the audit keeps a hint, not the code")
	})

	t.Run("ConcurrentRedemptionsOneWins", func(t *testing.T) {
		g := batch(t, backoffice.BatchRequest{Count: 1})
		var wg sync.WaitGroup
		accounts := make([]int64, 6)
		errs := make([]error, len(accounts))
		for i := range accounts {
			accounts[i] = b.customer(t).account.ID
		}
		for i := range accounts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = b.svc.Redeem(b.ctx, accounts[i], g.Codes[0], "")
			}()
		}
		wg.Wait()
		won := 0
		total := d("0")
		for i, err := range errs {
			if err == nil {
				won++
			} else {
				require.ErrorIs(t, err, backoffice.ErrCodeUsed)
			}
			total = total.Add(b.balance(t, accounts[i]).Available)
		}
		require.Equal(t, 1, won)
		requireDec(t, "500", total, "the code's credit was granted once")
	})

	t.Run("OnePerCustomer", func(t *testing.T) {
		g := batch(t, backoffice.BatchRequest{OnePerCustomer: true})
		c := b.customer(t)
		_, err := b.svc.Redeem(b.ctx, c.account.ID, g.Codes[0], "")
		require.NoError(t, err)
		_, err = b.svc.Redeem(b.ctx, c.account.ID, g.Codes[1], "")
		require.ErrorIs(t, err, backoffice.ErrAlreadyRedeemed)
		_, err = b.svc.Redeem(b.ctx, b.customer(t).account.ID, g.Codes[1], "")
		require.NoError(t, err, "the refused code still works for someone else")

		many := batch(t, backoffice.BatchRequest{OnePerCustomer: false})
		_, err = b.svc.Redeem(b.ctx, c.account.ID, many.Codes[0], "")
		require.NoError(t, err)
		_, err = b.svc.Redeem(b.ctx, c.account.ID, many.Codes[1], "")
		require.NoError(t, err)
		requireDec(t, "1500", b.balance(t, c.account.ID).Available)
	})

	t.Run("FixedLotExpiry", func(t *testing.T) {
		codeExp := b.clock.Now().Add(time.Hour)
		lotExp := b.clock.Now().Add(10 * 24 * time.Hour)
		g := batch(t, backoffice.BatchRequest{CodeExpiresAt: &codeExp, LotExpiresAt: &lotExp})
		c := b.customer(t)
		r, err := b.svc.Redeem(b.ctx, c.account.ID, g.Codes[0], "")
		require.NoError(t, err)
		require.WithinDuration(t, lotExp, *r.Lot.ExpiresAt, time.Second)
	})

	t.Run("ThrottledPerCustomer", func(t *testing.T) {
		g := batch(t, backoffice.BatchRequest{Count: 1})
		c := b.customer(t)
		for i := range 3 {
			_, err := b.svc.Redeem(b.ctx, c.account.ID, "AAAA-BBBB-CCCC-DDD"+string(refcode.Alphabet[i]), "")
			require.ErrorIs(t, err, backoffice.ErrInvalidCode)
		}
		_, err := b.svc.Redeem(b.ctx, c.account.ID, g.Codes[0], "")
		require.ErrorIs(t, err, backoffice.ErrRedeemThrottled, "even a good code is refused while throttled")
		_, err = b.svc.Redeem(b.ctx, b.customer(t).account.ID, g.Codes[0], "")
		require.NoError(t, err, "another customer is not throttled")
	})

	t.Run("ThrottledPerIP", func(t *testing.T) {
		g := batch(t, backoffice.BatchRequest{Count: 1})
		ip := fmt.Sprintf("203.0.113.%d", seq.Add(1)%250)
		for range 5 {
			_, err := b.svc.Redeem(b.ctx, b.customer(t).account.ID, "nope", ip)
			require.ErrorIs(t, err, backoffice.ErrInvalidCode)
		}
		c := b.customer(t)
		_, err := b.svc.Redeem(b.ctx, c.account.ID, g.Codes[0], ip)
		require.ErrorIs(t, err, backoffice.ErrRedeemThrottled)
		_, err = b.svc.Redeem(b.ctx, c.account.ID, g.Codes[0], "2001:db8::100")
		require.NoError(t, err, "the same customer from another address")
	})
}

func TestRedemptionWindowAndCodeExpiry(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{settings: backoffice.Settings{
		SupportGrantLimit: d("50000"), ManualRechargeLimitFen: 100000,
		RedeemMaxFailuresPerAccount: 2, RedeemMaxFailuresPerIP: 100, RedeemWindow: 15 * time.Minute,
	}})
	finance := b.staff(t, auth.RoleFinance)
	codeExp := b.clock.Now().Add(time.Hour)
	g, err := b.svc.GenerateBatch(b.ctx, backoffice.BatchRequest{Campaign: "限时", Amount: d("10"), Count: 2, CodeExpiresAt: &codeExp, Actor: finance})
	require.NoError(t, err)
	c := b.customer(t)
	for range 2 {
		_, err := b.svc.Redeem(b.ctx, c.account.ID, "wrong", "")
		require.ErrorIs(t, err, backoffice.ErrInvalidCode)
	}
	_, err = b.svc.Redeem(b.ctx, c.account.ID, g.Codes[0], "")
	require.ErrorIs(t, err, backoffice.ErrRedeemThrottled)
	b.clock.Add(16 * time.Minute)
	_, err = b.svc.Redeem(b.ctx, c.account.ID, g.Codes[0], "")
	require.NoError(t, err, "failures older than the window no longer count")

	b.clock.Add(time.Hour)
	_, err = b.svc.Redeem(b.ctx, c.account.ID, g.Codes[1], "")
	require.ErrorIs(t, err, backoffice.ErrCodeExpired)
}

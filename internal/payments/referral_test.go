package payments_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/identity"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/piicrypto"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/referral"
	"github.com/seed75218f88/credits/internal/verification"
)

var idSeq atomic.Int64

// TestTopUpRewardsInviter: the payment-success path of every channel runs
// TopUpPaid in the payment's transaction, so the inviter's reward for an
// invitee's first top-up is granted once however many callbacks race.
func TestTopUpRewardsInviter(t *testing.T) {
	t.Parallel()
	var refs *referral.Service
	var hooks atomic.Int64
	b := setup(t, setupOpts{opts: payments.Options{TopUpPaid: func(ctx context.Context, tx pgx.Tx, o payments.Order) error {
		hooks.Add(1)
		_, err := refs.RewardTx(ctx, tx, referral.TopUp{AccountID: o.AccountID, OrderNo: o.OrderNo, Credits: o.Credits, PaidFen: *o.PaidFen})
		return err
	}}})
	refs = referral.New(b.pool, b.l, referral.Identities{Verified: verification.VerifiedIdentityTx, All: verification.IdentitiesTx},
		referral.Options{Current: func() referral.Reward {
			return referral.Reward{Percent: decimal.NewFromInt(5), Cap: decimal.NewFromInt(1000000)}
		}})
	verify := verification.New(b.pool, identity.Sandbox{}, piicrypto.Dev(), piicrypto.DevBlindIndex(), b.l, verification.Options{})

	invited := func(t *testing.T) (inviter, invitee int64) {
		inviter, invitee = b.account(t), b.account(t)
		code, err := refs.Code(b.ctx, inviter)
		require.NoError(t, err)
		require.NoError(t, db.InTx(b.ctx, b.pool, func(tx pgx.Tx) error {
			ok, err := refs.RecordTx(b.ctx, tx, invitee, code)
			require.True(t, ok)
			return err
		}))
		n := idSeq.Add(1)
		id, err := identity.BuildResidentID("310104", time.Date(1975, 3, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(n)+int(time.Now().UnixNano()%9000)), int(n%900)+1)
		require.NoError(t, err)
		st, err := verify.SubmitPerson(b.ctx, invitee, "李四", id)
		require.NoError(t, err)
		require.Equal(t, verification.StateVerified, st.State)
		return inviter, invitee
	}
	rewards := func(t *testing.T, acc int64) []ledger.Lot {
		var out []ledger.Lot
		for _, l := range b.lots(t, acc) {
			if l.ReasonCode == "referral_reward" {
				out = append(out, l)
			}
		}
		return out
	}

	t.Run("SixtyFourCallbacks", func(t *testing.T) {
		inviter, invitee := invited(t)
		o, err := b.svc.CreateQROrder(b.ctx, invitee, 10000, payments.ChannelWeChat) // ¥100: 100,000 credits
		require.NoError(t, err)
		p := payments.ChannelPayment{Channel: o.Channel, OutTradeNo: o.OrderNo, ChannelTradeNo: "42" + o.OrderNo,
			State: payments.ChannelPaid, RawState: "SUCCESS", AmountFen: o.AmountFen, MerchantID: b.wx.MchID, AppID: b.wx.AppID}
		before := hooks.Load()
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 64 {
			wg.Go(func() {
				<-start
				_, err := b.svc.ApplyChannelPayment(b.ctx, p, payments.CauseNotify)
				require.NoError(t, err)
			})
		}
		close(start)
		wg.Wait()
		require.EqualValues(t, 1, hooks.Load()-before, "the hook runs once, with the payment")
		lots := rewards(t, inviter)
		require.Len(t, lots, 1)
		requireDec(t, "5000", lots[0].Amount, "5 % of the paid 100,000 credits (the bonus is not counted)")
		require.Equal(t, ledger.LotPromo, lots[0].Kind)

		// A second top-up (another channel) is not the first.
		o2, err := b.svc.CreateQROrder(b.ctx, invitee, 10000, payments.ChannelAlipay)
		require.NoError(t, err)
		b.confirm(t, o2)
		require.Eventually(t, func() bool { return b.order(t, o2).State == payments.StatePaid }, 10*time.Second, 20*time.Millisecond)
		require.Len(t, rewards(t, inviter), 1)
		b.verifyClean(t)
	})

	t.Run("BankTransfer", func(t *testing.T) {
		inviter, invitee := invited(t)
		o, err := b.svc.CreateTransferOrder(b.ctx, invitee, 20000)
		require.NoError(t, err)
		require.NoError(t, db.InTx(b.ctx, b.pool, func(tx pgx.Tx) error {
			_, err := b.svc.CompleteTransferOrder(b.ctx, tx, o.ID, "ICBC-ref-"+o.OrderNo, "staff:7")
			return err
		}))
		lots := rewards(t, inviter)
		require.Len(t, lots, 1)
		requireDec(t, o.Credits.Mul(decimal.NewFromInt(5)).Div(decimal.NewFromInt(100)).String(), lots[0].Amount)
	})
}

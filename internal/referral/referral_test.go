package referral_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/identity"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/piicrypto"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/internal/referral"
	"github.com/seed75218f88/credits/internal/verification"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

type testBundle struct {
	ctx    context.Context
	pool   *pgxpool.Pool
	ledger *ledger.Ledger
	verify *verification.Service
	svc    *referral.Service
	reward atomic.Pointer[referral.Reward]
}

type setupOpts struct {
	// ids replaces the verification's identities (for identities two
	// verified accounts cannot share in a real database).
	ids *referral.Identities
}

func setup(t *testing.T, o setupOpts) *testBundle {
	t.Helper()
	pool := dbtest.AppPool(t)
	l := ledger.New(pool, ledger.Options{TrialCap: ledger.DefaultTrialCap})
	t.Cleanup(l.Close)
	b := &testBundle{ctx: context.Background(), pool: pool, ledger: l}
	b.verify = verification.New(pool, identity.Sandbox{}, piicrypto.Dev(), piicrypto.DevBlindIndex(), l, verification.Options{})
	r := referral.Reward{Percent: decimal.NewFromInt(10), Cap: decimal.NewFromInt(5000)}
	b.reward.Store(&r)
	ids := referral.Identities{Verified: verification.VerifiedIdentityTx, All: verification.IdentitiesTx}
	if o.ids != nil {
		ids = *o.ids
	}
	b.svc = referral.New(pool, l, ids, referral.Options{Current: func() referral.Reward { return *b.reward.Load() }})
	return b
}

func (b *testBundle) account(t *testing.T) int64 {
	t.Helper()
	a, err := b.ledger.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual, Name: "t"})
	require.NoError(t, err)
	return a.ID
}

var seq atomic.Int64

// verifyPerson verifies the account with a fresh resident ID number (the
// sandbox verifies sequences below 997) and returns the number.
func (b *testBundle) verifyPerson(t *testing.T, acc int64) string {
	t.Helper()
	n := seq.Add(1)
	birth := time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(n/900)+int(time.Now().UnixNano()%5000))
	id, err := identity.BuildResidentID("110101", birth, int(n%900)+1)
	require.NoError(t, err)
	st, err := b.verify.SubmitPerson(b.ctx, acc, "张三", id)
	require.NoError(t, err)
	require.Equal(t, verification.StateVerified, st.State)
	return id
}

// invite signs invitee up with inviter's code, as the sign-up does.
func (b *testBundle) invite(t *testing.T, inviter, invitee int64) bool {
	t.Helper()
	code, err := b.svc.Code(b.ctx, inviter)
	require.NoError(t, err)
	var ok bool
	require.NoError(t, db.InTx(b.ctx, b.pool, func(tx pgx.Tx) error {
		ok, err = b.svc.RecordTx(b.ctx, tx, invitee, code)
		return err
	}))
	return ok
}

var orders atomic.Int64

// topUp pays a top-up of credits for acc: a paid lot and the reward, in
// one transaction, as payments' TopUpPaid does.
func (b *testBundle) topUp(t *testing.T, acc int64, credits string) referral.Outcome {
	t.Helper()
	no := fmt.Sprintf("T%d", orders.Add(1))
	var out referral.Outcome
	err := db.InTx(b.ctx, b.pool, func(tx pgx.Tx) error {
		_, err := b.ledger.CreditTx(b.ctx, tx, ledger.CreditRequest{AccountID: acc, Kind: ledger.LotPaid,
			Amount: decimal.RequireFromString(credits), EventType: ledger.EventPurchase, SourceRef: "payment_order:" + no,
			Actor: "test", ReasonCode: "topup", IdempotencyKey: "topup:" + no, PaidFen: 100})
		if err != nil {
			return err
		}
		out, err = b.svc.RewardTx(b.ctx, tx, referral.TopUp{AccountID: acc, OrderNo: no,
			Credits: decimal.RequireFromString(credits), PaidFen: 100})
		return err
	})
	require.NoError(t, err)
	return out
}

// referralLots are the account's promo lots from referral rewards.
func (b *testBundle) referralLots(t *testing.T, acc int64) []ledger.Lot {
	t.Helper()
	lots, err := b.ledger.Lots(b.ctx, acc)
	require.NoError(t, err)
	var out []ledger.Lot
	for _, l := range lots {
		if l.Kind == ledger.LotPromo && l.ReasonCode == "referral_reward" {
			out = append(out, l)
		}
	}
	return out
}

func requireDec(t *testing.T, want string, got decimal.Decimal, msg ...any) {
	t.Helper()
	require.True(t, decimal.RequireFromString(want).Equal(got), "want %s, got %s %v", want, got, msg)
}

func TestReward(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})

	t.Run("PercentOfTheFirstTopUpOnceVerified", func(t *testing.T) {
		inviter, invitee := b.account(t), b.account(t)
		require.True(t, b.invite(t, inviter, invitee))
		// Not verified yet: nothing.
		require.Equal(t, referral.NotVerified, b.topUp(t, invitee, "10000"))
		b.verifyPerson(t, invitee)
		require.Equal(t, referral.Granted, b.topUp(t, invitee, "20000"))
		lots := b.referralLots(t, inviter)
		require.Len(t, lots, 1)
		requireDec(t, "2000", lots[0].Amount, "10 % of 20,000")
		// A later top-up grants nothing more.
		require.Equal(t, referral.AlreadyDone, b.topUp(t, invitee, "30000"))
		require.Len(t, b.referralLots(t, inviter), 1)
		require.Empty(t, b.referralLots(t, invitee), "the invitee gets nothing")

		sum, err := b.svc.Summary(b.ctx, inviter)
		require.NoError(t, err)
		require.Equal(t, 1, sum.Invited)
		requireDec(t, "2000", sum.Granted)
		require.Len(t, sum.Grants, 1)
		require.Equal(t, invitee, sum.Grants[0].InviteeID)
	})

	t.Run("Capped", func(t *testing.T) {
		inviter, invitee := b.account(t), b.account(t)
		require.True(t, b.invite(t, inviter, invitee))
		b.verifyPerson(t, invitee)
		require.Equal(t, referral.Granted, b.topUp(t, invitee, "1000000"))
		lots := b.referralLots(t, inviter)
		require.Len(t, lots, 1)
		requireDec(t, "5000", lots[0].Amount, "10 % of 1,000,000 capped at 5,000")
	})

	t.Run("NotInvited", func(t *testing.T) {
		acc := b.account(t)
		b.verifyPerson(t, acc)
		require.Equal(t, referral.NotInvited, b.topUp(t, acc, "1000"))
	})
}

func TestInvite(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})

	t.Run("UnknownCodeIsIgnored", func(t *testing.T) {
		invitee := b.account(t)
		var ok bool
		require.NoError(t, db.InTx(b.ctx, b.pool, func(tx pgx.Tx) (err error) {
			ok, err = b.svc.RecordTx(b.ctx, tx, invitee, "ZZZZZZZZ")
			return err
		}))
		require.False(t, ok)
		require.NoError(t, db.InTx(b.ctx, b.pool, func(tx pgx.Tx) (err error) {
			ok, err = b.svc.RecordTx(b.ctx, tx, invitee, "not a code")
			return err
		}))
		require.False(t, ok)
		b.verifyPerson(t, invitee)
		require.Equal(t, referral.NotInvited, b.topUp(t, invitee, "1000"))
	})

	t.Run("OwnCodeIsRefused", func(t *testing.T) {
		acc := b.account(t)
		require.False(t, b.invite(t, acc, acc))
	})

	t.Run("OneInviterPerAccount", func(t *testing.T) {
		a, c, invitee := b.account(t), b.account(t), b.account(t)
		require.True(t, b.invite(t, a, invitee))
		require.False(t, b.invite(t, c, invitee), "invited once")
	})

	t.Run("CodeIsStableAndNormalised", func(t *testing.T) {
		acc := b.account(t)
		codes := make([]string, 16)
		var wg sync.WaitGroup
		for i := range codes {
			wg.Go(func() {
				c, err := b.svc.Code(b.ctx, acc)
				require.NoError(t, err)
				codes[i] = c
			})
		}
		wg.Wait()
		for _, c := range codes {
			require.Equal(t, codes[0], c, "concurrent first calls agree on one code")
		}
		require.Len(t, codes[0], referral.CodeLength)
		got, err := b.svc.Inviter(b.ctx, " "+string([]rune(codes[0]))+" ")
		require.NoError(t, err)
		require.Equal(t, acc, got)
		_, err = b.svc.Inviter(b.ctx, "22222222")
		require.ErrorIs(t, err, referral.ErrUnknownCode)
	})
}

// TestRewardOnceUnderConcurrency: 64 first top-ups of one invitee racing,
// each in its own transaction, grant one reward.
func TestRewardOnceUnderConcurrency(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	inviter, invitee := b.account(t), b.account(t)
	require.True(t, b.invite(t, inviter, invitee))
	b.verifyPerson(t, invitee)

	const n = 64
	var granted atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			if b.topUp(t, invitee, "10000") == referral.Granted {
				granted.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	require.EqualValues(t, 1, granted.Load())
	lots := b.referralLots(t, inviter)
	require.Len(t, lots, 1)
	requireDec(t, "1000", lots[0].Amount)
	var rows int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM referral_grants WHERE invitee_account_id = $1`, invitee).Scan(&rows))
	require.Equal(t, 1, rows)
	m, err := b.ledger.Verify(b.ctx)
	require.NoError(t, err)
	require.Empty(t, m)
}

// TestOneIdentityOnce: two invitees of one identity (which two verified
// accounts cannot be in a real database at once: an identity stands in)
// reward once; an invitee of the inviter's identity not at all.
func TestOneIdentityOnce(t *testing.T) {
	t.Parallel()
	var hashes sync.Map // account → identity hash
	ids := referral.Identities{
		Verified: func(_ context.Context, _ pgx.Tx, acc int64) (string, error) {
			h, _ := hashes.Load(acc)
			s, _ := h.(string)
			return s, nil
		},
		All: func(_ context.Context, _ pgx.Tx, acc int64) ([]string, error) {
			if h, ok := hashes.Load(acc); ok {
				return []string{h.(string)}, nil
			}
			return nil, nil
		},
	}
	b := setup(t, setupOpts{ids: &ids})

	t.Run("TwoInviteesOneIdentity", func(t *testing.T) {
		inviter, first, second := b.account(t), b.account(t), b.account(t)
		require.True(t, b.invite(t, inviter, first))
		require.True(t, b.invite(t, inviter, second))
		h := fmt.Sprintf("identity-%d", first)
		hashes.Store(first, h)
		hashes.Store(second, h)
		var granted atomic.Int64
		var wg sync.WaitGroup
		for i := range 64 {
			wg.Go(func() {
				acc := first
				if i%2 == 1 {
					acc = second
				}
				if b.topUp(t, acc, "1000") == referral.Granted {
					granted.Add(1)
				}
			})
		}
		wg.Wait()
		require.EqualValues(t, 1, granted.Load())
		require.Len(t, b.referralLots(t, inviter), 1)
	})

	t.Run("SelfReferralByIdentity", func(t *testing.T) {
		inviter, invitee := b.account(t), b.account(t)
		require.True(t, b.invite(t, inviter, invitee))
		h := fmt.Sprintf("identity-%d", inviter)
		hashes.Store(inviter, h)
		hashes.Store(invitee, h)
		require.Equal(t, referral.SelfReferral, b.topUp(t, invitee, "1000"))
		require.Empty(t, b.referralLots(t, inviter))
	})
}

func TestRewardAmount(t *testing.T) {
	t.Parallel()
	r := referral.Reward{Percent: decimal.RequireFromString("12.5"), Cap: decimal.NewFromInt(100)}
	for _, c := range []struct{ credits, want string }{
		{"0", "0"}, {"1", "0.125"}, {"0.000004", "0"}, {"0.000005", "0.000001"}, {"800", "100"}, {"10000", "100"},
	} {
		requireDec(t, c.want, r.Amount(decimal.RequireFromString(c.credits)), c.credits)
	}
	requireDec(t, "0", referral.Reward{Cap: decimal.NewFromInt(100)}.Amount(decimal.NewFromInt(1000)), "off")
}

func TestNormalizeCode(t *testing.T) {
	t.Parallel()
	require.Equal(t, "ABCD2345", referral.NormalizeCode(" abcd2345 "))
	require.Equal(t, "ABCD2345", referral.NormalizeCode("ABCD２３４５"))
	require.Empty(t, referral.NormalizeCode("ABCD0345"), "0 is not in the alphabet")
	require.Empty(t, referral.NormalizeCode("ABC"))
}

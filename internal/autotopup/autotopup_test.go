package autotopup_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/autotopup"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/payments/paysim"
	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/platform/jobs"
	"github.com/seed75218f88/credits/internal/webhook"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

var devKeys = sync.OnceValues(func() (paysim.DevKeys, error) {
	dir, err := os.MkdirTemp("", "autotopup-test-*")
	if err != nil {
		return paysim.DevKeys{}, err
	}
	return paysim.LoadOrCreateDevKeys(dir)
})

type testBundle struct {
	ctx   context.Context
	pool  *pgxpool.Pool
	l     *ledger.Ledger
	sim   *paysim.Server
	pay   *payments.Service
	svc   *autotopup.Service
	subs  *plans.Subscriptions
	hooks *webhook.Service
	cat   *plans.Service
	clock *clock

	mu         sync.Mutex
	notifyErrs []error
}

// ServeHTTP is our notify endpoint: payments' and auto top-up's.
func (b *testBundle) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var err error
	switch r.URL.Path {
	case payments.NotifyPathWeChat:
		_, err = b.pay.HandleWeChatNotify(r.Context(), r.Header, body)
	case payments.NotifyPathAlipay:
		form, _ := url.ParseQuery(string(body))
		_, err = b.pay.HandleAlipayNotify(r.Context(), form)
	case payments.NotifyPathWeChatContract:
		err = b.svc.HandleAgreementNotify(r.Context(), payments.ChannelWeChat, r.Header, body)
	case payments.NotifyPathAlipayAgreement:
		err = b.svc.HandleAgreementNotify(r.Context(), payments.ChannelAlipay, r.Header, body)
	}
	if err != nil {
		b.mu.Lock()
		b.notifyErrs = append(b.notifyErrs, err)
		b.mu.Unlock()
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if r.URL.Path == payments.NotifyPathAlipay || r.URL.Path == payments.NotifyPathAlipayAgreement {
		_, _ = io.WriteString(w, "success")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// clock is real time shifted by a movable offset.
type clock struct{ off atomic.Int64 }

func (c *clock) Now() time.Time      { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) Add(d time.Duration) { c.off.Add(int64(d)) }

func setup(t *testing.T) *testBundle {
	t.Helper()
	keys, err := devKeys()
	require.NoError(t, err)
	b := &testBundle{ctx: context.Background(), pool: dbtest.Pool(t)}
	cfg := keys.Config()
	cfg.RetryDelays = []time.Duration{0}
	b.sim = paysim.New(cfg)
	simSrv := httptest.NewServer(b.sim)
	t.Cleanup(simSrv.Close)
	t.Cleanup(b.sim.Wait)
	ours := httptest.NewServer(b)
	t.Cleanup(ours.Close)

	ch, err := payments.BuildChannels(keys.WeChatSettings(simSrv.URL), keys.AlipaySettings(simSrv.URL), ours.URL, nil)
	require.NoError(t, err)
	b.clock = &clock{}
	b.l = ledger.New(b.pool, ledger.Options{})
	t.Cleanup(b.l.Close)
	b.cat = plans.New(b.pool, plans.Options{})
	b.subs = plans.NewSubscriptions(b.pool, b.l, plans.Options{Now: b.clock.Now})
	// A renewal paid by agreement renews the subscription as the checkout's does (internal/app).
	b.pay = payments.New(b.pool, b.l, ch, payments.Options{PlanPaid: func(ctx context.Context, tx pgx.Tx, o payments.Order) error {
		_, err := b.subs.RenewPaidTx(ctx, tx, plans.RenewPaid{SubscriptionID: o.SubscriptionID, PeriodStart: *o.PeriodStart,
			PlanCode: o.PlanCode, PlanVersion: o.PlanVersion, Cycle: plans.Cycle(o.PlanCycle), OrderNo: o.OrderNo, Actor: "test"})
		return err
	}})
	ins, err := jobs.New(b.pool, nil, jobs.Options{InsertOnly: true})
	require.NoError(t, err)
	b.hooks = webhook.NewService(b.pool, ins, webhook.Options{})
	b.svc, err = autotopup.New(b.pool, b.pay, ins, b.hooks, autotopup.Options{
		Backoff: func(int) time.Duration { return time.Millisecond }, MaxAttempts: 3, PortalURL: "https://console.example/portal/auto-topup",
		Renewals: b.subs, Now: b.clock.Now,
	})
	require.NoError(t, err)
	// Start the outbox cursor at the newest event: earlier tests' history
	// is not this test's.
	b.drain(t)
	return b
}

// drain scans until the outbox is empty.
func (b *testBundle) drain(t *testing.T) {
	t.Helper()
	for {
		n, err := b.svc.ScanEvents(b.ctx)
		require.NoError(t, err)
		if n == 0 {
			return
		}
	}
}

// account makes an account with a portal user and credits of a paid top-up.
func (b *testBundle) account(t *testing.T, credits int64) int64 {
	t.Helper()
	a, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual, Name: t.Name()})
	require.NoError(t, err)
	_, err = b.pool.Exec(b.ctx, `INSERT INTO users (email, kind, account_id, locale) VALUES ($1, 'customer', $2, 'zh-CN')`,
		fmt.Sprintf("autotopup-%d@example.com", a.ID), a.ID)
	require.NoError(t, err)
	_, err = b.l.Credit(b.ctx, ledger.CreditRequest{AccountID: a.ID, Kind: ledger.LotPaid, Amount: decimal.NewFromInt(credits),
		EventType: ledger.EventPurchase, IdempotencyKey: fmt.Sprintf("seed-%d", a.ID)})
	require.NoError(t, err)
	return a.ID
}

// sign signs an agreement at channel as the customer would in paysim.
func (b *testBundle) sign(t *testing.T, acc int64, ch payments.Channel) autotopup.Agreement {
	t.Helper()
	s, err := b.svc.StartSigning(b.ctx, acc, ch, "账户", autotopup.Actor{UserID: 1, Email: "c@example.com", IP: "203.0.113.7"}, "https://console.example/portal/auto-topup")
	require.NoError(t, err)
	require.NotEmpty(t, s.URL)
	resp, err := http.Get(s.URL) // the customer opens the signing page (Alipay's gateway records the request)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	d, err := b.sim.SignAgreement(b.ctx, string(ch), s.Agreement.AgreementNo)
	require.NoError(t, err)
	require.True(t, d.Acked, "our endpoint took the signing notify: %+v", d)
	a, err := b.svc.Current(b.ctx, acc)
	require.NoError(t, err)
	require.Equal(t, autotopup.StateSigned, a.State)
	return a
}

func (b *testBundle) settings(t *testing.T, acc int64, threshold, tier, capYuan string) {
	t.Helper()
	_, err := b.svc.SaveSettings(b.ctx, acc, autotopup.SettingsInput{Mode: autotopup.ModeCredits, Threshold: threshold, TierYuan: tier, MonthlyCap: capYuan}, autotopup.Actor{UserID: 1})
	require.NoError(t, err)
}

func (b *testBundle) spend(t *testing.T, acc int64, credits int64, key string) {
	t.Helper()
	_, err := b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc, Amount: decimal.NewFromInt(credits), IdempotencyKey: key, Model: "m"})
	require.NoError(t, err)
}

func (b *testBundle) runs(t *testing.T, acc int64) []autotopup.Run {
	t.Helper()
	rs, err := b.svc.Runs(b.ctx, acc, 100)
	require.NoError(t, err)
	return rs
}

// settle drives a run's debit until it is finished.
func (b *testBundle) settle(t *testing.T, runID int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		wait, err := b.svc.Debit(b.ctx, runID)
		require.NoError(t, err)
		if wait == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("run %d did not settle", runID)
}

func (b *testBundle) available(t *testing.T, acc int64) decimal.Decimal {
	t.Helper()
	bal, err := b.l.Balance(b.ctx, acc)
	require.NoError(t, err)
	return bal.Available
}

func (b *testBundle) mails(t *testing.T, to string) int {
	t.Helper()
	var n int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM river_job WHERE kind = 'mail_send' AND args::text LIKE '%' || $1 || '%'`, to).Scan(&n))
	return n
}

// hooks counts the webhook deliveries of event type for the account's
// endpoint (made by endpoint).
func (b *testBundle) hookCount(t *testing.T, acc int64, typ string) int {
	t.Helper()
	var n int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM river_job j JOIN webhook_endpoints e ON e.id = (j.args->>'endpoint_id')::bigint
		WHERE j.kind = 'webhook_deliver' AND j.args->>'event_type' = $1 AND e.account_id = $2`, typ, acc).Scan(&n))
	return n
}

func (b *testBundle) endpoint(t *testing.T, acc int64) {
	t.Helper()
	_, _, err := b.hooks.CreateEndpoint(b.ctx, acc, "https://hooks.example.com/credits")
	require.NoError(t, err)
}

func (b *testBundle) historyKinds(t *testing.T, acc int64) []string {
	t.Helper()
	h, err := b.svc.History(b.ctx, acc, 100)
	require.NoError(t, err)
	var out []string
	for i := len(h) - 1; i >= 0; i-- {
		out = append(out, h[i].Kind)
	}
	return out
}

// TestOneTopUpPerCrossing: 64 calls spending at once take the balance below
// the threshold while eight scanners read the outbox; one order is made and
// debited, and it credits the paid lot and the bonus as a QR top-up does.
func TestOneTopUpPerCrossing(t *testing.T) {
	b := setup(t)
	acc := b.account(t, 100)
	b.sign(t, acc, payments.ChannelWeChat)
	b.settings(t, acc, "50", "100", "300")

	var wg sync.WaitGroup
	errs := make(chan error, 64+8)
	for i := range 64 {
		wg.Go(func() {
			_, err := b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc, Amount: decimal.NewFromInt(1), IdempotencyKey: fmt.Sprintf("c%d-%d", acc, i), Model: "m"})
			errs <- err
		})
	}
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if _, err := b.svc.ScanEvents(b.ctx); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	b.drain(t)
	require.True(t, b.available(t, acc).Equal(decimal.NewFromInt(36)))

	rs := b.runs(t, acc)
	require.Len(t, rs, 1, "one crossing makes one top-up")
	var orders int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM payment_orders WHERE account_id = $1 AND pay_mode = 'agreement'`, acc).Scan(&orders))
	require.Equal(t, 1, orders)

	b.settle(t, rs[0].ID)
	b.sim.Wait()
	o, err := b.pay.OrderByNo(b.ctx, rs[0].OrderNo)
	require.NoError(t, err)
	require.Equal(t, payments.StatePaid, o.State)
	require.Equal(t, payments.PurposeTopUp, o.Purpose)
	require.True(t, o.BonusCredits.IsPositive(), "the ¥100 tier's bonus is credited too")
	require.True(t, b.available(t, acc).Equal(decimal.NewFromInt(36).Add(o.Credits).Add(o.BonusCredits)))
	require.Equal(t, autotopup.RunSucceeded, b.runs(t, acc)[0].State)
	require.Positive(t, o.RefundableFen(), "an auto top-up is refundable like any top-up")

	t.Run("DebitingAgainDoesNotDebitTwice", func(t *testing.T) {
		wait, err := b.svc.Debit(b.ctx, rs[0].ID)
		require.NoError(t, err)
		require.Zero(t, wait)
		_, err = b.pay.DebitAgreementOrder(b.ctx, rs[0].OrderNo, "ignored")
		require.NoError(t, err, "a paid order is not sent to the channel again")
	})

	t.Run("SecondCrossingSameDayAfterSuccess", func(t *testing.T) {
		b.drain(t) // the top-up's purchase event re-arms
		now := b.available(t, acc)
		b.spend(t, acc, now.Sub(decimal.NewFromInt(10)).IntPart(), fmt.Sprintf("big-%d", acc))
		b.drain(t)
		rs := b.runs(t, acc)
		require.Len(t, rs, 2)
		b.settle(t, rs[0].ID)
		require.Equal(t, autotopup.RunSucceeded, b.runs(t, acc)[0].State)
	})
	t.Run("MonthlyCapStopsTheThird", func(t *testing.T) {
		b.drain(t)
		now := b.available(t, acc)
		b.spend(t, acc, now.Sub(decimal.NewFromInt(10)).IntPart(), fmt.Sprintf("big2-%d", acc))
		b.drain(t)
		b.settle(t, b.runs(t, acc)[0].ID)
		b.drain(t)
		// 3 × ¥100 = the ¥300 cap: the fourth crossing is refused.
		now = b.available(t, acc)
		b.spend(t, acc, now.Sub(decimal.NewFromInt(10)).IntPart(), fmt.Sprintf("big3-%d", acc))
		b.drain(t)
		require.Len(t, b.runs(t, acc), 3)
		kinds := b.historyKinds(t, acc)
		require.Equal(t, autotopup.HistorySkipped, kinds[len(kinds)-1])
	})
	require.Empty(t, b.notifyErrs)
}

// TestFailingDebitPausesAndMails: insufficient funds are retried, then the
// run fails, auto top-up pauses, and the customer gets a mail and the
// history says why; a second crossing that day makes no order.
func TestFailingDebitPausesAndMails(t *testing.T) {
	b := setup(t)
	acc := b.account(t, 100)
	a := b.sign(t, acc, payments.ChannelWeChat)
	b.endpoint(t, acc)
	b.settings(t, acc, "50", "100", "1000")
	require.NoError(t, b.sim.SetAgreementFailure(paysim.ChannelWeChat, a.AgreementNo, paysim.FailInsufficientFunds))

	b.spend(t, acc, 60, fmt.Sprintf("s-%d", acc))
	b.drain(t)
	rs := b.runs(t, acc)
	require.Len(t, rs, 1)
	b.settle(t, rs[0].ID)

	r := b.runs(t, acc)[0]
	require.Equal(t, autotopup.RunFailed, r.State)
	require.Equal(t, 3, r.Attempts)
	require.Equal(t, "insufficient_funds", r.LastError)
	cur, err := b.svc.Current(b.ctx, acc)
	require.NoError(t, err)
	require.Equal(t, autotopup.StatePaused, cur.State)
	require.Equal(t, autotopup.PauseDebitFailed, cur.PauseReason)
	o, err := b.pay.OrderByNo(b.ctx, r.OrderNo)
	require.NoError(t, err)
	require.Equal(t, payments.StateFailed, o.State)
	require.Equal(t, 1, b.mails(t, fmt.Sprintf("autotopup-%d@example.com", acc)))
	require.Equal(t, 1, b.hookCount(t, acc, "autotopup.paused"), "and by webhook")
	require.Contains(t, b.historyKinds(t, acc), autotopup.HistoryPaused)
	var audited int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM admin_audit_log WHERE account_id = $1 AND action LIKE 'autotopup_%'`, acc).Scan(&audited))
	require.GreaterOrEqual(t, audited, 6)

	t.Run("ResumeThenRevokedPausesAtOnce", func(t *testing.T) {
		_, err := b.svc.Resume(b.ctx, acc, autotopup.Actor{UserID: 1})
		require.NoError(t, err)
		b.spend(t, acc, 1, fmt.Sprintf("s2-%d", acc))
		b.drain(t)
		require.Len(t, b.runs(t, acc), 1, "the day's first run failed: no second top-up today")

		_, err = b.pool.Exec(b.ctx, `UPDATE autotopup_runs SET day = day - 1 WHERE account_id = $1`, acc) // as if it were yesterday's
		require.NoError(t, err)
		_, err = b.svc.Pause(b.ctx, acc, autotopup.Actor{UserID: 1})
		require.NoError(t, err)
		_, err = b.svc.Resume(b.ctx, acc, autotopup.Actor{UserID: 1}) // re-arms
		require.NoError(t, err)
		require.NoError(t, b.sim.SetAgreementFailure(paysim.ChannelWeChat, a.AgreementNo, paysim.FailRevoked))
		b.spend(t, acc, 1, fmt.Sprintf("s3-%d", acc))
		b.drain(t)
		rs := b.runs(t, acc)
		require.Len(t, rs, 2)
		b.settle(t, rs[0].ID)
		r := b.runs(t, acc)[0]
		require.Equal(t, 1, r.Attempts, "a revoked contract is not retried")
		cur, err := b.svc.Current(b.ctx, acc)
		require.NoError(t, err)
		require.Equal(t, autotopup.PauseContractRevoked, cur.PauseReason)
		b.requireListedAuditActions(t, acc, "autotopup_debit_requested", "autotopup_debit_failed", "autotopup_paused", "autotopup_resumed")
	})
}

func TestUnsignAtTheChannel(t *testing.T) {
	b := setup(t)
	acc := b.account(t, 100)
	a := b.sign(t, acc, payments.ChannelWeChat)
	b.endpoint(t, acc)
	_, err := b.svc.StartSigning(b.ctx, acc, payments.ChannelAlipay, "x", autotopup.Actor{}, "")
	require.ErrorIs(t, err, autotopup.ErrAgreementInForce)

	d, err := b.sim.UnsignAgreement(b.ctx, paysim.ChannelWeChat, a.AgreementNo)
	require.NoError(t, err)
	require.True(t, d.Acked)
	cur, err := b.svc.Current(b.ctx, acc)
	require.NoError(t, err)
	require.Equal(t, autotopup.StateTerminated, cur.State)
	require.Equal(t, 1, b.mails(t, fmt.Sprintf("autotopup-%d@example.com", acc)))
	require.Equal(t, 1, b.hookCount(t, acc, "autotopup.agreement_terminated"))
	_, err = b.sim.Replay(b.ctx, paysim.ChannelWeChat, "none", false)
	require.Error(t, err)
}

func TestAlipayDebitCreditsAtOnceAndUnsignFromPortal(t *testing.T) {
	b := setup(t)
	acc := b.account(t, 100)
	b.sign(t, acc, payments.ChannelAlipay)
	b.settings(t, acc, "50", "30", "100")
	b.spend(t, acc, 60, fmt.Sprintf("s-%d", acc))
	b.drain(t)
	rs := b.runs(t, acc)
	require.Len(t, rs, 1)
	wait, err := b.svc.Debit(b.ctx, rs[0].ID)
	require.NoError(t, err)
	require.Zero(t, wait, "Alipay answers the debit synchronously")
	o, err := b.pay.OrderByNo(b.ctx, rs[0].OrderNo)
	require.NoError(t, err)
	require.Equal(t, payments.StatePaid, o.State)

	require.NoError(t, b.svc.Unsign(b.ctx, acc, autotopup.Actor{UserID: 1}))
	b.sim.Wait()
	cur, err := b.svc.Current(b.ctx, acc)
	require.NoError(t, err)
	require.Equal(t, autotopup.StateTerminated, cur.State)
	b.requireListedAuditActions(t, acc, "autotopup_signed", "autotopup_settings_changed", "autotopup_debit_succeeded", "autotopup_unsigned")
	require.Zero(t, b.mails(t, fmt.Sprintf("autotopup-%d@example.com", acc)), "unsigning in the portal is not mailed")
	require.Empty(t, b.notifyErrs)
}

// requireListedAuditActions: the audit rows of acc include want, and every
// action among them is in AuditActions, which the back office's audit page
// names and filters (a row whose action is missing there shows its key).
func (b *testBundle) requireListedAuditActions(t *testing.T, acc int64, want ...string) {
	t.Helper()
	rows, err := b.pool.Query(b.ctx, `SELECT DISTINCT action FROM admin_audit_log WHERE account_id = $1`, acc)
	require.NoError(t, err)
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	for _, w := range want {
		require.Contains(t, got, w)
	}
	for _, a := range got {
		require.Contains(t, autotopup.AuditActions, backoffice.Action(a), "audit action %s is not in autotopup.AuditActions", a)
	}
}

func TestSettingsValidation(t *testing.T) {
	b := setup(t)
	acc := b.account(t, 10)
	b.sign(t, acc, payments.ChannelWeChat)
	_, err := b.svc.SaveSettings(b.ctx, acc, autotopup.SettingsInput{Mode: autotopup.ModePercent, Threshold: "150", TierYuan: "1000", MonthlyCap: "5"}, autotopup.Actor{})
	var fe *fielderr.Errors
	require.True(t, errors.As(err, &fe))
	require.Equal(t, "autotopup_threshold_percent", fe.Code("threshold"))
	require.Equal(t, "autotopup_tier_over_limit", fe.Code("tier"), "¥1000 is above WeChat's ¥500 per debit")
	require.Equal(t, "autotopup_cap_below_tier", fe.Code("monthly_cap"))

	st, err := b.svc.SaveSettings(b.ctx, acc, autotopup.SettingsInput{Mode: autotopup.ModePercent, Threshold: "20", TierYuan: "100", MonthlyCap: "500"}, autotopup.Actor{})
	require.NoError(t, err)
	require.True(t, st.Threshold(decimal.NewFromInt(1000)).Equal(decimal.NewFromInt(200)))

	// Typed as people do: thousands separators and full-width digits.
	st, err = b.svc.SaveSettings(b.ctx, acc, autotopup.SettingsInput{Mode: autotopup.ModeCredits, Threshold: "1,000", TierYuan: "１００", MonthlyCap: "1,000.00"}, autotopup.Actor{})
	require.NoError(t, err)
	require.Equal(t, "1000", st.ThresholdCredits.String())
	require.EqualValues(t, 10000, st.TierFen)
	require.EqualValues(t, 100000, st.MonthlyCapFen)
}

// subscribe puts the account on a ¥29 monthly plan whose term ends in two
// hours, and has the plans job make its renewal order.
func (b *testBundle) subscribe(t *testing.T, acc int64) plans.Subscription {
	t.Helper()
	spec := plans.DemoSpecs()[1]
	spec.Code = fmt.Sprintf("at%d", acc)
	d, err := b.cat.CreateDraft(b.ctx, spec, "ops@example.com")
	require.NoError(t, err)
	p, err := b.cat.Publish(b.ctx, d.ID, "ops@example.com")
	require.NoError(t, err)
	now := b.clock.Now()
	sub, _, err := b.subs.Subscribe(b.ctx, plans.SubscribeRequest{AccountID: acc, PlanCode: p.Code, Cycle: plans.Monthly,
		Anchor: now.AddDate(0, -1, 0).Add(2 * time.Hour), Actor: "test"})
	require.NoError(t, err)
	require.WithinDuration(t, now.Add(2*time.Hour), sub.TermEnd, time.Minute)
	_, err = b.subs.RenewDue(b.ctx, now)
	require.NoError(t, err)
	return sub
}

func (b *testBundle) subscription(t *testing.T, acc int64) plans.Subscription {
	t.Helper()
	cur, err := b.subs.Current(b.ctx, acc)
	require.NoError(t, err)
	return cur.Subscription
}

// TestPlanRenewalByAgreement: a renewing subscription of an account with a
// signed agreement is debited on its renewal date (not before), after the
// pre-debit notice, and renewed by the payment; with the payer short of
// funds the debit fails after its retries, auto top-up pauses, and the
// subscription falls into its grace period.
func TestPlanRenewalByAgreement(t *testing.T) {
	b := setup(t)

	t.Run("PaidOnTheRenewalDate", func(t *testing.T) {
		acc := b.account(t, 10)
		b.sign(t, acc, payments.ChannelWeChat)
		sub := b.subscribe(t, acc)

		n, err := b.svc.ScanRenewals(b.ctx)
		require.NoError(t, err)
		require.GreaterOrEqual(t, n, 1)
		again, err := b.svc.ScanRenewals(b.ctx)
		require.NoError(t, err)
		require.Zero(t, again, "one debit per renewal period")
		rs := b.runs(t, acc)
		require.Len(t, rs, 1)
		require.Equal(t, autotopup.PurposePlanRenewal, rs[0].Purpose)
		require.EqualValues(t, 2900, rs[0].AmountFen)
		require.Contains(t, b.historyKinds(t, acc), autotopup.HistoryPreDebitNotice)

		wait, err := b.svc.Debit(b.ctx, rs[0].ID)
		require.NoError(t, err)
		require.Greater(t, wait, time.Hour, "not debited before the renewal date")
		require.Zero(t, b.runs(t, acc)[0].Attempts)

		b.clock.Add(3 * time.Hour)
		defer b.clock.Add(-3 * time.Hour)
		b.settle(t, rs[0].ID)
		require.Equal(t, autotopup.RunSucceeded, b.runs(t, acc)[0].State)
		o, err := b.pay.OrderByNo(b.ctx, rs[0].OrderNo)
		require.NoError(t, err)
		require.Equal(t, payments.StatePaid, o.State)
		require.Equal(t, payments.PurposePlanRenewal, o.Purpose)
		renewed := b.subscription(t, acc)
		require.Equal(t, plans.Active, renewed.State)
		require.True(t, renewed.TermEnd.After(sub.TermEnd.AddDate(0, 0, 27)), "renewed for a month from the old term end")
		b.requireListedAuditActions(t, acc, "autotopup_renewal_requested", "autotopup_pre_debit_notice", "autotopup_debit_succeeded")
	})

	t.Run("FailedRenewalFallsIntoGrace", func(t *testing.T) {
		acc := b.account(t, 10)
		a := b.sign(t, acc, payments.ChannelWeChat)
		b.subscribe(t, acc)
		require.NoError(t, b.sim.SetAgreementFailure(paysim.ChannelWeChat, a.AgreementNo, paysim.FailInsufficientFunds))
		_, err := b.svc.ScanRenewals(b.ctx)
		require.NoError(t, err)
		rs := b.runs(t, acc)
		require.Len(t, rs, 1)

		b.clock.Add(3 * time.Hour)
		defer b.clock.Add(-3 * time.Hour)
		_, err = b.subs.RenewDue(b.ctx, b.clock.Now()) // the term ended unpaid
		require.NoError(t, err)
		b.settle(t, rs[0].ID)
		r := b.runs(t, acc)[0]
		require.Equal(t, autotopup.RunFailed, r.State)
		require.Equal(t, 3, r.Attempts)
		cur, err := b.svc.Current(b.ctx, acc)
		require.NoError(t, err)
		require.Equal(t, autotopup.StatePaused, cur.State)
		require.Equal(t, 1, b.mails(t, fmt.Sprintf("autotopup-%d@example.com", acc)))
		sub := b.subscription(t, acc)
		require.Equal(t, plans.PastDue, sub.State, "the failed renewal falls into the grace period")
		require.True(t, sub.InForce(b.clock.Now()))
	})

	t.Run("PaidByHandIsNotDebited", func(t *testing.T) {
		acc := b.account(t, 10)
		b.sign(t, acc, payments.ChannelWeChat)
		sub := b.subscribe(t, acc)
		_, err := b.svc.ScanRenewals(b.ctx)
		require.NoError(t, err)
		rs := b.runs(t, acc)
		require.Len(t, rs, 1)
		// The customer pays the renewal at the checkout meanwhile.
		r, err := b.subs.DueRenewal(b.ctx, sub)
		require.NoError(t, err)
		err = pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
			_, err := b.subs.RenewPaidTx(b.ctx, tx, plans.RenewPaid{SubscriptionID: sub.ID, PeriodStart: r.PeriodStart, PlanCode: r.PlanCode,
				PlanVersion: r.PlanVersion, Cycle: r.Cycle, OrderNo: "T-by-hand", Actor: "test"})
			return err
		})
		require.NoError(t, err)
		b.clock.Add(3 * time.Hour)
		defer b.clock.Add(-3 * time.Hour)
		b.settle(t, rs[0].ID)
		run := b.runs(t, acc)[0]
		require.Equal(t, autotopup.RunFailed, run.State)
		require.Equal(t, "renewal_settled", run.LastError)
		require.Zero(t, run.Attempts, "never sent to the channel")
		cur, err := b.svc.Current(b.ctx, acc)
		require.NoError(t, err)
		require.Equal(t, autotopup.StateSigned, cur.State, "not a failure of the customer's: no pause")
	})
}

// TestOrderFailedAtTheChannelPauses: an order the payments sync job found
// failed at the channel (PAYERROR) ends its run and pauses auto top-up, as
// a last failed retry does.
func TestOrderFailedAtTheChannelPauses(t *testing.T) {
	b := setup(t)
	acc := b.account(t, 100)
	b.sign(t, acc, payments.ChannelWeChat)
	b.settings(t, acc, "50", "30", "100")
	b.spend(t, acc, 60, fmt.Sprintf("s-%d", acc))
	b.drain(t)
	rs := b.runs(t, acc)
	require.Len(t, rs, 1)
	_, err := b.pay.FailAgreementOrder(b.ctx, rs[0].OrderNo, "PAYERROR seen by sync")
	require.NoError(t, err)
	b.settle(t, rs[0].ID)
	r := b.runs(t, acc)[0]
	require.Equal(t, autotopup.RunFailed, r.State)
	require.Zero(t, r.Attempts, "never sent again")
	cur, err := b.svc.Current(b.ctx, acc)
	require.NoError(t, err)
	require.Equal(t, autotopup.StatePaused, cur.State)
	require.Equal(t, 1, b.mails(t, fmt.Sprintf("autotopup-%d@example.com", acc)))
}

// TestThresholdReadsTheOwnedBalanceOfALinePool: with a credit line of
// 10,000 credits beside 100 it owns, the pool tops up when what it owns
// crosses the threshold of 50, not once the line is nearly spent too.
func TestThresholdReadsTheOwnedBalanceOfALinePool(t *testing.T) {
	b := setup(t)
	acc := b.account(t, 100)
	b.sign(t, acc, payments.ChannelWeChat)
	b.settings(t, acc, "50", "100", "300")
	require.NoError(t, pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
		_, err := b.l.SetCreditLineTx(b.ctx, tx, ledger.CreditLineRequest{AccountID: acc, Line: decimal.NewFromInt(10000),
			SourceRef: "test", Actor: "finance", ReasonCode: "credit_line", IdempotencyKey: fmt.Sprintf("line-%d", acc)})
		return err
	}))
	b.spend(t, acc, 40, fmt.Sprintf("own-%d-1", acc)) // owns 60
	b.drain(t)
	require.Empty(t, b.runs(t, acc), "60 owned is above the threshold")
	b.spend(t, acc, 20, fmt.Sprintf("own-%d-2", acc)) // owns 40, with 10,040 spendable
	b.drain(t)
	require.Len(t, b.runs(t, acc), 1, "the owned balance crossed 50")
}

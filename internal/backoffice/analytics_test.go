package backoffice_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/costs"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/plans"
)

// TestAnalyticsRollupMatchesReports seeds a month (June 2024, Shanghai) of
// top-ups, charges on two models with costs, an expiry and a refund for two
// customers, refreshes the roll-ups twice (mid-month and after the month,
// the second run recomputing only the days not yet final), and checks that
// every dashboard figure equals what the revenue and margin reports compute
// from the ledger, by day and for the month.
func TestAnalyticsRollupMatchesReports(t *testing.T) {
	t.Parallel()
	// 1 June 00:30 in Shanghai.
	b := setup(t, setupOpts{start: time.Date(2024, 5, 31, 16, 30, 0, 0, time.UTC), own: true, costs: true})
	finance := b.staff(t, auth.RoleFinance)
	support := b.staff(t, auth.RoleSupport)
	day := 24 * time.Hour
	a, c := b.customer(t).account.ID, b.customer(t).account.ID
	b.credit(t, a, ledger.LotPaid, "100000", nil)
	b.credit(t, c, ledger.LotPaid, "30000", nil)
	b.credit(t, c, ledger.LotPromo, "50", nil)
	exp := b.clock.Now().Add(60 * time.Hour)
	b.credit(t, c, ledger.LotPaid, "200", &exp) // partly spent, the rest expires on 3 June: breakage
	charge := func(acc int64, model, amount, cost string) {
		t.Helper()
		_, err := b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc, Amount: d(amount), IdempotencyKey: uniq("c"), Model: model,
			Detail: json.RawMessage(`{"cost":"` + cost + `"}`)})
		require.NoError(t, err)
	}
	for i := range 30 {
		charge(a, "deepseek-chat", "123.456789", "0.08")
		if i%3 == 0 {
			charge(c, "qwen-max", "77.7", "0.5") // costs more than it brings in
		}
		if i == 4 {
			_, err := b.l.ExpireDue(b.ctx, 100)
			require.NoError(t, err)
			lots, err := b.l.Lots(b.ctx, c)
			require.NoError(t, err)
			for _, l := range lots {
				if l.Kind == ledger.LotPaid && l.ExpiresAt == nil {
					_, err = b.l.Refund(b.ctx, ledger.RefundRequest{LotID: l.ID, Amount: d("1000"), IdempotencyKey: uniq("r"), Actor: "test"})
					require.NoError(t, err)
				}
			}
		}
		if i == 14 {
			_, err := b.svc.RefreshAnalytics(b.ctx)
			require.NoError(t, err)
		}
		b.clock.Add(day)
	}
	// 1 July: a charge outside the month.
	charge(a, "deepseek-chat", "1", "0.01")
	b.clock.Add(2 * day)
	r, err := b.svc.RefreshAnalytics(b.ctx)
	require.NoError(t, err)
	require.Equal(t, "2024-06-13", r.From.In(backoffice.Shanghai).Format("2006-01-02"), "the days final at the first refresh are kept")

	from := time.Date(2024, 6, 1, 0, 0, 0, 0, backoffice.Shanghai)
	to := from.AddDate(0, 1, 0)
	series := func(ch backoffice.Chart, key string) []decimal.Decimal {
		for _, s := range ch.Series {
			if s.Key == key {
				return s.Values
			}
		}
		t.Fatalf("chart %s has no series %s", ch.Name, key)
		return nil
	}
	eq := func(want, got decimal.Decimal, what string) {
		t.Helper()
		require.True(t, want.Equal(got), "%s: report %s, dashboard %s", what, want, got)
	}
	for _, g := range []backoffice.Granularity{backoffice.Daily, backoffice.Monthly} {
		rep, err := b.svc.Revenue(b.ctx, from, to, g, finance)
		require.NoError(t, err)
		dash, err := b.svc.Analytics(b.ctx, backoffice.AnalyticsQuery{From: from, To: to, Granularity: g}, finance)
		require.NoError(t, err)
		rev, brk := dash.Charts[backoffice.ChartRevenue], dash.Charts[backoffice.ChartBreakage]
		require.Len(t, rev.Labels, len(rep.Rows))
		for i, row := range rep.Rows {
			require.Equal(t, row.Period, rev.Labels[i])
			m := row.RMB
			eq(m.Recognised.Add(m.PlanFeesRecognised).Add(m.PostpaidRecognised), series(rev, "recognised")[i], row.Period+" recognised")
			eq(m.DeferredClosing.Add(m.PlanDeferredClosing), series(rev, "deferred")[i], row.Period+" deferred")
			eq(m.PaidPurchased.Add(m.PlanFeesReceived).Add(m.BillsPaid), series(rev, "cash_in")[i], row.Period+" cash in")
			eq(m.Breakage, series(brk, "breakage")[i], row.Period+" breakage")
			eq(m.PaidRefunded.Add(m.PlanFeesRefunded), series(brk, "refunded")[i], row.Period+" refunded")
		}
		if g == backoffice.Monthly {
			require.True(t, rep.Total.RMB.Breakage.IsPositive(), "the month has breakage")
			require.True(t, rep.Total.RMB.PaidRefunded.IsPositive(), "the month has a refund")
			cust := dash.Charts[backoffice.ChartCustomers]
			eq(decimal.NewFromInt(2), series(cust, "paying_customers")[0], "paying customers")
			eq(rep.Total.RMB.Recognised.Div(decimal.NewFromInt(2)).RoundBank(2), series(cust, "arpu")[0], "ARPU")
		}
	}

	margins, err := costs.New(b.pool).Margins(b.ctx, from, to, ledger.DefaultCreditPriceRMB)
	require.NoError(t, err)
	dash, err := b.svc.Analytics(b.ctx, backoffice.AnalyticsQuery{From: from, To: to, Granularity: backoffice.Monthly}, finance)
	require.NoError(t, err)
	models := dash.Charts[backoffice.ChartModels]
	require.Equal(t, []string{"deepseek-chat", "qwen-max"}, models.Labels)
	for i, m := range margins.ByModel {
		eq(costs.Fen(m.Revenue), models.Series[0].Values[i], m.Key+" revenue")
	}
	byMargin := dash.Charts[backoffice.ChartMargins]
	require.Equal(t, []string{"deepseek-chat", "qwen-max"}, byMargin.Labels)
	eq(costs.Fen(margins.ByModel[1].Margin()), byMargin.Series[0].Values[1], "qwen-max margin")
	require.True(t, byMargin.Series[0].Values[1].IsNegative())
	top := dash.Charts[backoffice.ChartTop]
	require.Len(t, top.Labels, 2)
	for i, m := range margins.ByCustomer {
		require.True(t, strings.HasPrefix(top.Labels[i], m.Key+" "), top.Labels[i])
		eq(costs.Fen(m.Revenue), top.Series[0].Values[i], m.Key+" revenue")
	}

	t.Run("CSV", func(t *testing.T) {
		for _, name := range backoffice.Charts {
			var buf bytes.Buffer
			require.NoError(t, backoffice.ChartCSV(&buf, dash.Charts[name]))
			lines := strings.Split(strings.TrimSpace(strings.TrimPrefix(buf.String(), "\ufeff")), "\n")
			require.Len(t, lines, 1+len(dash.Charts[name].Labels), name)
		}
		var buf bytes.Buffer
		require.NoError(t, backoffice.ChartCSV(&buf, dash.Charts[backoffice.ChartRevenue]))
		require.Contains(t, buf.String(), "period (Asia/Shanghai),recognised_rmb,deferred_rmb,cash_in_rmb\n2024-06,")
	})
	t.Run("SupportIsRefused", func(t *testing.T) {
		_, err := b.svc.Analytics(b.ctx, backoffice.AnalyticsQuery{From: from, To: to, Granularity: backoffice.Monthly}, support)
		require.ErrorIs(t, err, backoffice.ErrForbidden)
	})
}

// TestAnalyticsSignupsAndPlans: three sign-ups, one verified and topped up
// within a week, one verified after ten days; two plan subscribers, one of
// whom canceled and expires after its month. The conversion chart counts
// per window, the plan chart shows the subscribers of each snapshot and the
// churned subscription on the day it ended.
func TestAnalyticsSignupsAndPlans(t *testing.T) {
	t.Parallel()
	// Account sign-up times are the database's clock: start there.
	b := setup(t, setupOpts{start: time.Now().UTC().Truncate(time.Second), own: true, plans: true})
	finance := b.staff(t, auth.RoleFinance)
	day := 24 * time.Hour
	t0 := b.clock.Now()
	c1, c2, c3 := b.customer(t).account.ID, b.customer(t).account.ID, b.customer(t).account.ID
	_ = c3
	verify := func(acc int64, at time.Time) {
		_, err := b.pool.Exec(b.ctx, `INSERT INTO verifications (account_id, source, state, submitted_at, decided_at, provider_reference)
			VALUES ($1, 'external', 'verified', $2, $2, $3)`, acc, at, uniq("kyc"))
		require.NoError(t, err)
	}
	verify(c1, t0.Add(3*day))
	verify(c2, t0.Add(10*day))
	_, err := b.pool.Exec(b.ctx, `INSERT INTO payment_orders (order_no, account_id, amount_fen, credits, channel, state, expires_at,
		paid_at, created_at, updated_at) VALUES ($1, $2, 10000, 100000, 'wechat', 'paid', $3, $3, $3, $3)`, uniq("order"), c1, t0.Add(3*day))
	require.NoError(t, err)

	catalogue := plans.New(b.pool, plans.Options{Now: b.clock.Now})
	spec := plans.DemoSpecs()[1]
	spec.Code = uniq("analytics-plan")
	draft, err := catalogue.CreateDraft(b.ctx, spec, "ops@example.com")
	require.NoError(t, err)
	_, err = catalogue.Publish(b.ctx, draft.ID, "ops@example.com")
	require.NoError(t, err)
	subs := plans.NewSubscriptions(b.pool, b.l, plans.Options{Now: b.clock.Now})
	for _, acc := range []int64{c1, c2} {
		_, _, err := subs.Subscribe(b.ctx, plans.SubscribeRequest{AccountID: acc, PlanCode: spec.Code, Cycle: plans.Monthly, Anchor: t0, Actor: "test"})
		require.NoError(t, err)
	}
	_, err = subs.Cancel(b.ctx, c2, "test")
	require.NoError(t, err)
	_, err = b.svc.RefreshAnalytics(b.ctx)
	require.NoError(t, err)

	b.clock.Add(32 * day) // past the month: the canceled one expires, the other is in its grace
	_, err = subs.RenewDue(b.ctx, b.clock.Now())
	require.NoError(t, err)
	_, err = b.svc.RefreshAnalytics(b.ctx)
	require.NoError(t, err)
	inForce, err := subs.InForceByPlan(b.ctx, b.clock.Now())
	require.NoError(t, err)

	q := backoffice.AnalyticsQuery{From: t0, To: b.clock.Now(), Granularity: backoffice.Daily}
	for _, w := range []struct {
		within               int
		verified, firstTopUp int64
	}{{7, 1, 1}, {30, 2, 1}, {1, 0, 0}} {
		q.Within = w.within
		dash, err := b.svc.Analytics(b.ctx, q, finance)
		require.NoError(t, err)
		ch := dash.Charts[backoffice.ChartSignups]
		first := t0.In(backoffice.Shanghai).Format("2006-01-02")
		require.Equal(t, first, ch.Labels[0])
		require.Equal(t, []string{"3", fmt.Sprint(w.verified), fmt.Sprint(w.firstTopUp)},
			[]string{ch.Series[0].Values[0].String(), ch.Series[1].Values[0].String(), ch.Series[2].Values[0].String()}, "within %d days", w.within)
	}
	dash, err := b.svc.Analytics(b.ctx, q, finance)
	require.NoError(t, err)
	ch := dash.Charts[backoffice.ChartPlans]
	require.Len(t, ch.Series, 2, "one plan and the ended line")
	require.Equal(t, spec.Code, ch.Series[0].Name)
	last := len(ch.Labels) - 1
	require.Equal(t, "2", ch.Series[0].Values[0].String(), "both subscribed on the first day")
	require.Equal(t, fmt.Sprint(inForce[spec.Code]), ch.Series[0].Values[last].String(), "today's snapshot is the plans' own count")
	require.Equal(t, "1", ch.Series[0].Values[last].String(), "the canceled one expired")
	require.Equal(t, "1", ch.Series[1].Values[last].String(), "one subscription ended today")
	var csv bytes.Buffer
	require.NoError(t, backoffice.ChartCSV(&csv, ch))
	require.Contains(t, csv.String(), "period (Asia/Shanghai),subscribers:"+spec.Code+",ended\n")
}

// TestAnalyticsRefreshConcurrent: 64 refreshes at once (the periodic job on
// several nodes, a manual run) all succeed and leave one row per day with
// the figures a single refresh computes.
func TestAnalyticsRefreshConcurrent(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{start: time.Date(2024, 5, 31, 16, 30, 0, 0, time.UTC), own: true, costs: true})
	acc := b.customer(t).account.ID
	b.credit(t, acc, ledger.LotPaid, "5000", nil)
	for range 3 {
		_, err := b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc, Amount: d("12.5"), IdempotencyKey: uniq("c"), Model: "deepseek-chat",
			Detail: json.RawMessage(`{"cost":"0.01"}`)})
		require.NoError(t, err)
		b.clock.Add(24 * time.Hour)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := b.svc.RefreshAnalytics(b.ctx)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	var days, models int
	var recognised decimal.Decimal
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*), count(DISTINCT day), sum(recognised) FROM analytics_daily`).Scan(&days, new(int), &recognised))
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM analytics_daily_model`).Scan(&models))
	require.Equal(t, 4, days, "1 to 4 June, once each")
	require.Equal(t, 3, models, "one model on each of three days")
	rep, err := b.svc.Revenue(b.ctx, time.Date(2024, 6, 1, 0, 0, 0, 0, backoffice.Shanghai), time.Date(2024, 6, 5, 0, 0, 0, 0, backoffice.Shanghai),
		backoffice.Daily, b.staff(t, auth.RoleFinance))
	require.NoError(t, err)
	require.True(t, rep.Total.RMB.Recognised.Equal(recognised), "report %s, roll-up %s", rep.Total.RMB.Recognised, recognised)
}

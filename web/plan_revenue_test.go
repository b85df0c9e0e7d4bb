package web_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/app"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/web/webtest"
)

// buyPlan buys a demo plan through /portal/plans and WeChat Pay's sandbox.
func (r *refundBundle) buyPlan(t *testing.T, c *webtest.Client, code, cycle string) payments.Order {
	t.Helper()
	p := c.PostForm("/portal/plans/buy", url.Values{"plan": {code}, "cycle": {cycle}, "channel": {"wechat"}, "mode": {"qr"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	no := path.Base(p.URL.Path)
	_, err := r.sim.Confirm(context.Background(), string(payments.ChannelWeChat), no)
	require.NoError(t, err)
	o := r.order(t, no)
	require.Equal(t, payments.StatePaid, o.State)
	return o
}

// reportCSV reads the revenue report's CSV: the line of period label,
// figure by column name.
func reportCSV(t *testing.T, c *webtest.Client, q url.Values) map[string]map[string]string {
	t.Helper()
	p := c.Get("/admin/reports.csv?" + q.Encode())
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(p.Body, "\ufeff"))).ReadAll()
	require.NoError(t, err)
	out := map[string]map[string]string{}
	for _, rec := range recs[1:] {
		line := map[string]string{}
		for i, name := range recs[0] {
			line[name] = rec[i]
		}
		out[rec[0]] = line
	}
	return out
}

func yuan(t *testing.T, s string) int64 {
	t.Helper()
	d, err := decimal.NewFromString(s)
	require.NoError(t, err, s)
	return d.Shift(2).IntPart()
}

// TestRevenueReportPlanFees: a monthly Basic (¥29) and a yearly Basic
// (¥290, then refunded by the yearly rule) in the revenue report: the fees
// are received the day they are paid and recognised day by day over their
// periods; the refund's kept part is earned on its day; the report
// reconciles to the fen (received = recognised + refunded + deferred) on
// the day and over the whole year, when nothing is left deferred; the
// plans' credits are not promotional credit.
func TestRevenueReportPlanFees(t *testing.T) {
	t.Parallel()
	r := &refundBundle{}
	r.payBundle = setupPayOn(t, []webtest.Option{webtest.WithOwnDatabase()}, func(b *payBundle, a *app.App) {
		r.inv, r.bo = a.Invoicing, a.Backoffice
	})
	demoPlans(t, r.app)

	cm, _ := r.customer(t, uniqEmail("rev-monthly"), true)
	r.buyPlan(t, cm, "basic", "monthly")
	cy, accY := r.customer(t, uniqEmail("rev-yearly"), true)
	yearly := r.buyPlan(t, cy, "basic", "yearly")
	r.spend(t, accY, "1000")
	p := cy.PostForm("/portal/plans/refund", url.Values{"reason": {"试用后不需要"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	fin := r.finance(t)
	q := fin.Get("/admin/refunds")
	approve := q.Doc.Find(`[data-testid^="refund-"] form`).First().AttrOr("action", "")
	require.Equal(t, http.StatusOK, fin.PostForm(approve, nil).Status)
	yearly = r.order(t, yearly.OrderNo)
	refunded := yearly.RefundedFen
	require.Positive(t, refunded)

	today := time.Now().In(format.Shanghai)
	day := today.Format("2006-01-02")
	daily := reportCSV(t, fin, url.Values{"from": {day}, "to": {day}, "granularity": {"day"}})
	row := daily[day]
	require.NotNil(t, row, "%v", daily)
	received := yuan(t, row["plan_fees_received_rmb"])
	recognised := yuan(t, row["plan_fees_recognised_rmb"])
	refundedDay := yuan(t, row["plan_fees_refunded_rmb"])
	opening := yuan(t, row["plan_deferred_opening_rmb"])
	closing := yuan(t, row["plan_deferred_closing_rmb"])
	require.EqualValues(t, 2_900+29_000, received, "both fees are received today")
	require.Equal(t, refunded, refundedDay, "the refund paid back today")
	require.Zero(t, opening)
	require.Equal(t, opening+received-recognised-refundedDay, closing, "reconciles to the fen")
	// The yearly fee is settled today (refunded, the rest earned); only the
	// monthly fee's days after today are deferred.
	require.Greater(t, closing, int64(2_900-2*104), "most of the month is deferred")
	require.Less(t, closing, int64(2_900))
	require.Equal(t, (29_000-refunded)+(2_900-closing), recognised, "the kept part of the year and today's share of the month")
	require.Empty(t, row["plan_fees_received_credits"], "a fee is money, not credit")

	// A year on, both fees are fully recognised or refunded: nothing deferred.
	from := time.Date(today.Year(), today.Month(), 1, 0, 0, 0, 0, format.Shanghai)
	whole := reportCSV(t, fin, url.Values{"from": {from.Format("2006-01-02")}, "to": {from.AddDate(1, 1, 0).Format("2006-01-02")}, "granularity": {"month"}})
	tot := whole["total"]
	require.EqualValues(t, 31_900, yuan(t, tot["plan_fees_received_rmb"]))
	require.Equal(t, 31_900-refunded, yuan(t, tot["plan_fees_recognised_rmb"]))
	require.Equal(t, refunded, yuan(t, tot["plan_fees_refunded_rmb"]))
	require.Zero(t, yuan(t, tot["plan_deferred_closing_rmb"]))
	var sum int64
	for k, line := range whole {
		if k != "total" {
			sum += yuan(t, line["plan_fees_recognised_rmb"])
		}
	}
	require.Equal(t, 31_900-refunded, sum, "the months add up to the total")
	require.Equal(t, "0.000000", tot["promo_granted_credits"], "plan credits are not promotional credit")

	t.Run("TableShowsTheColumns", func(t *testing.T) {
		for _, lang := range []string{"zh-CN", "en"} {
			fin.Header.Set("Accept-Language", lang)
			p := fin.Get("/admin/reports?" + url.Values{"from": {day}, "to": {day}, "granularity": {"day"}}.Encode())
			require.Equal(t, http.StatusOK, p.Status)
			total := p.Doc.Find(`[data-testid="report-total"]`)
			require.Equal(t, format.Money(decimal.New(recognised, -2)), strings.TrimSpace(total.Find(`[data-testid="plan-recognised"]`).Text()))
			require.Equal(t, format.Money(decimal.New(closing, -2)), strings.TrimSpace(total.Find(`[data-testid="plan-deferred"]`).Text()))
		}
		fin.Header.Del("Accept-Language")
	})
}

// TestRevenueReportProductFees: a one-time product that delivers no credits
// (Batch inference, ¥99 for a year) is a fee earned over its entitlement's
// term, day by day, beside the plan fees; a model pack (¥39 of credits) is
// a paid lot valued like a top-up and not a fee. The fee columns reconcile
// to the fen on the day and over the year.
func TestRevenueReportProductFees(t *testing.T) {
	t.Parallel()
	b := setupProductShop(t)
	c, _ := b.customer(t, uniqEmail("rev-product"), true)
	b.buyQR(t, c, "batch-api", payments.ChannelAlipay)
	b.buyQR(t, c, "deepseek-pack", payments.ChannelAlipay)
	fin := b.finance(t)

	today := time.Now().In(format.Shanghai)
	day := today.Format("2006-01-02")
	row := reportCSV(t, fin, url.Values{"from": {day}, "to": {day}, "granularity": {"day"}})[day]
	require.NotNil(t, row)
	received := yuan(t, row["plan_fees_received_rmb"])
	recognised := yuan(t, row["plan_fees_recognised_rmb"])
	closing := yuan(t, row["plan_deferred_closing_rmb"])
	require.EqualValues(t, 9_900, received, "the feature's fee; the model pack is credit, not a fee")
	require.Less(t, recognised, int64(9_900/365+2), "at most today's share of the year is earned")
	require.Equal(t, received-recognised, closing, "the rest is deferred, to the fen")

	from := time.Date(today.Year(), today.Month(), 1, 0, 0, 0, 0, format.Shanghai)
	tot := reportCSV(t, fin, url.Values{"from": {from.Format("2006-01-02")}, "to": {from.AddDate(1, 1, 0).Format("2006-01-02")},
		"granularity": {"month"}})["total"]
	require.EqualValues(t, 9_900, yuan(t, tot["plan_fees_recognised_rmb"]), "earned in full over its year")
	require.Zero(t, yuan(t, tot["plan_deferred_closing_rmb"]))
}

package costs

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

// reportFixture is a set of charges of two live customers across two
// Shanghai days and two models, with what the ledger says each charged.
type reportFixture struct {
	l        *ledger.Ledger
	a, b     ledger.Account
	charged  map[string]decimal.Decimal // by Shanghai day
	byModel  map[string]decimal.Decimal
	cost     map[string]decimal.Decimal // by day
	total    decimal.Decimal
	totalCst decimal.Decimal
}

// seedCharges charges through the ledger as the gateway does (a detail
// with cost_version and cost, or none), around the Shanghai midnight
// between day1 and day2 (16:00 UTC).
func seedCharges(t *testing.T, s *Service, day1 time.Time) *reportFixture {
	t.Helper()
	ctx := context.Background()
	f := &reportFixture{l: ledger.New(s.pool, ledger.Options{}), charged: map[string]decimal.Decimal{},
		byModel: map[string]decimal.Decimal{}, cost: map[string]decimal.Decimal{}}
	t.Cleanup(f.l.Close)
	var err error
	f.a, err = f.l.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual, Name: "Customer A"})
	require.NoError(t, err)
	f.b, err = f.l.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual, ExternalID: t.Name() + "-b"})
	require.NoError(t, err)
	for acct, amount := range map[int64]string{f.a.ID: "1000", f.b.ID: "50"} {
		_, err := f.l.Credit(ctx, ledger.CreditRequest{AccountID: acct, Kind: ledger.LotPaid, Amount: decimal.RequireFromString(amount),
			EventType: ledger.EventPurchase, SourceRef: "order", Actor: "test", ReasonCode: "topup",
			IdempotencyKey: "topup-" + t.Name() + amount})
		require.NoError(t, err)
	}
	midnight := time.Date(day1.Year(), day1.Month(), day1.Day(), 16, 0, 0, 0, time.UTC) // 00:00 next day in Shanghai
	d1, d2 := day1.Format("2006-01-02"), day1.AddDate(0, 0, 1).Format("2006-01-02")
	for i, c := range []struct {
		acct          int64
		model, amount string
		cost          string // "" none recorded
		at            time.Time
		day           string
	}{
		{f.a.ID, "deepseek-chat", "12.345678", "0.007407", midnight.Add(-time.Second), d1},
		{f.a.ID, "qwen-plus", "3.000001", "0.001234", midnight, d2},
		{f.a.ID, "qwen-plus", "0.000004", "0.020000", midnight.Add(time.Hour), d2},    // costs more than it brings in
		{f.b.ID, "deepseek-chat", "100", "0.200000", midnight.Add(2 * time.Hour), d2}, // 50 charged, 50 unpaid
		{f.b.ID, "qwen-plus", "0.5", "", midnight.Add(3 * time.Hour), d2},             // nothing left: all unpaid
		{f.a.ID, "deepseek-chat", "7", "0.1", midnight.Add(48 * time.Hour), "after"},  // outside the range
	} {
		detail := map[string]any{"input_tokens": 1, "rate_card_version": 1}
		if c.cost != "" {
			detail["cost_version"], detail["cost"] = 1, c.cost
		}
		if c.model == "deepseek-chat" {
			detail["upstream"] = "上游 A" // through the relay
		}
		raw, _ := json.Marshal(detail)
		res, err := f.l.Charge(ctx, ledger.ChargeRequest{AccountID: c.acct, Amount: decimal.RequireFromString(c.amount),
			IdempotencyKey: t.Name() + "-" + string(rune('a'+i)), Model: c.model, OccurredAt: c.at, Detail: raw})
		require.NoError(t, err)
		if c.day == "after" {
			continue
		}
		f.charged[c.day] = f.charged[c.day].Add(res.Charged)
		f.byModel[c.model] = f.byModel[c.model].Add(res.Charged)
		f.total = f.total.Add(res.Charged)
		if c.cost != "" {
			f.cost[c.day] = f.cost[c.day].Add(decimal.RequireFromString(c.cost))
			f.totalCst = f.totalCst.Add(decimal.RequireFromString(c.cost))
		}
	}
	return f
}

// The margin report's revenue is the ledger's charged credits (the unpaid
// part not) at the credit price, its cost the sum of the charges' recorded
// costs, by Shanghai day (a charge at 15:59:59 UTC is the first day's, at
// 16:00 the next's), by model and by customer; every total reconciles with
// the ledger to the fen.
func TestMarginReportReconcilesWithTheLedger(t *testing.T) {
	ctx := context.Background()
	s := New(dbtest.Pool(t))
	day1 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	f := seedCharges(t, s, day1)
	price := ledger.DefaultCreditPriceRMB
	from := time.Date(2025, 3, 1, 0, 0, 0, 0, time.FixedZone("CST", 8*3600))
	r, err := s.Margins(ctx, from, from.AddDate(0, 0, 2), price)
	require.NoError(t, err)

	fen := func(d decimal.Decimal) string { return Fen(d).StringFixed(2) }
	require.Len(t, r.ByDay, 2)
	for _, m := range r.ByDay {
		require.Equal(t, fen(f.charged[m.Key].Mul(price)), fen(m.Revenue), m.Key)
		require.True(t, f.charged[m.Key].Equal(m.Credits), "%s: %s credits, ledger %s", m.Key, m.Credits, f.charged[m.Key])
		require.True(t, f.cost[m.Key].Equal(m.Cost), m.Key)
	}
	require.Equal(t, "2025-03-01", r.ByDay[0].Key)
	require.True(t, decimal.RequireFromString("12.345678").Equal(r.ByDay[0].Credits))
	require.Len(t, r.ByModel, 2)
	for _, m := range r.ByModel {
		require.True(t, f.byModel[m.Key].Equal(m.Credits), m.Key)
	}
	require.Len(t, r.ByCustomer, 2)
	require.Equal(t, t.Name()+"-b", r.ByCustomer[0].Name, "the customer who brought in more (50 credits) comes first")
	require.Equal(t, "Customer A", r.ByCustomer[1].Name)
	require.Len(t, r.ByUpstream, 2)
	for _, m := range r.ByUpstream {
		require.True(t, f.byModel[map[string]string{"上游 A": "deepseek-chat", "": "qwen-plus"}[m.Key]].Equal(m.Credits), m.Key)
	}
	require.EqualValues(t, 5, r.Total.Charges)
	require.EqualValues(t, 1, r.Total.Uncosted)
	require.True(t, decimal.RequireFromString("65.345683").Equal(r.Total.Credits), "50 of B's 100.5 were unpaid: %s", r.Total.Credits)
	require.Equal(t, fen(f.total.Mul(price)), fen(r.Total.Revenue))
	require.Equal(t, "0.07", fen(r.Total.Revenue))
	require.True(t, f.totalCst.Equal(r.Total.Cost))
	require.Equal(t, "0.23", fen(r.Total.Cost))
	require.Equal(t, "-0.16", fen(r.Total.Margin()))

	var buf bytes.Buffer
	require.NoError(t, MarginCSV(&buf, r, ViewModel))
	lines := strings.Split(strings.TrimSpace(strings.TrimPrefix(buf.String(), "\ufeff")), "\n")
	require.Len(t, lines, 4, buf.String())
	require.Equal(t, "model,charges,credits,revenue_rmb,cost_rmb,margin_rmb,uncosted_charges", lines[0])
	require.Equal(t, "total,5,65.345683,0.07,0.23,-0.16,1", lines[3])
}

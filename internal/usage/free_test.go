package usage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/internal/usage"
)

// freeCall records a free model's call as the gateway does
// (gateway_free_calls), and returns its id.
type freeCall struct {
	account        ledger.Account
	key, model     string
	session, state string
	in, out        int64
	at             time.Time
}

func recordFree(t *testing.T, pool *pgxpool.Pool, c freeCall) int64 {
	t.Helper()
	if c.state == "" {
		c.state = "committed"
	}
	var id int64
	err := pool.QueryRow(context.Background(), `
INSERT INTO gateway_free_calls (account_id, pool_id, idempotency_key, request_hash, model, session_id, rate_card_version,
                                state, input_tokens, output_tokens, requests, outcome, occurred_at)
VALUES ($1, $2, $3, 'h', $4, $5, 7, $6, $7, $8, 1, 'completed', $9) RETURNING id`,
		c.account.ID, c.account.PoolID, c.key, c.model, c.session, c.state, c.in, c.out, c.at).Scan(&id)
	require.NoError(t, err)
	return id
}

func chargeAt(t *testing.T, l *ledger.Ledger, account int64, key, model, session, amount string, in int64, at time.Time) {
	t.Helper()
	d, _ := json.Marshal(map[string]any{"input_tokens": in, "output_tokens": 1, "requests": 1, "rate_card_version": 7})
	_, err := l.Charge(context.Background(), ledger.ChargeRequest{AccountID: account, Amount: decimal.RequireFromString(amount),
		IdempotencyKey: key, Model: model, SessionID: session, RequestID: "req-" + key, OccurredAt: at, Detail: d})
	require.NoError(t, err)
}

// listAll pages through List with limit and returns every row and the
// number of pages.
func listAll(t *testing.T, s *usage.Store, sc usage.Scope, f usage.Filter, limit int) ([]usage.Charge, int) {
	t.Helper()
	var all []usage.Charge
	var cursor usage.Cursor
	for pages := 1; ; pages++ {
		page, next, err := s.List(context.Background(), sc, f, cursor, limit)
		require.NoError(t, err)
		all = append(all, page...)
		if next.IsZero() {
			return all, pages
		}
		// The cursor goes through a URL.
		cursor, err = usage.ParseCursor(next.String())
		require.NoError(t, err)
		require.Less(t, pages, 100)
	}
}

// label names a row: its model and whether it was free.
func labels(cs []usage.Charge) []string {
	var out []string
	for _, c := range cs {
		if c.FreeCallID != 0 {
			out = append(out, "free:"+c.RequestID)
		} else {
			out = append(out, "charge:"+c.RequestID)
		}
	}
	return out
}

// TestFreeCallsAreZeroCreditUsage: a free model's committed calls are rows
// of the history (zero credits, no bucket, their tokens and rate card),
// merged with the charges newest first through keyset pages, counted in
// the calls and tokens but not in the charges or credits, offered in the
// model filter, and narrowed by every filter; reserved or released calls
// and another pool's calls never show.
func TestFreeCallsAreZeroCreditUsage(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	l := ledger.New(pool, ledger.Options{})
	t.Cleanup(l.Close)
	s := usage.New(pool)
	ctx := context.Background()

	ent, err := l.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountEnterprise})
	require.NoError(t, err)
	dept, err := l.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: ent.ID})
	require.NoError(t, err)
	other, err := l.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual})
	require.NoError(t, err)
	for _, a := range []ledger.Account{ent, other} {
		_, err = l.Credit(ctx, ledger.CreditRequest{AccountID: a.ID, Kind: ledger.LotPromo, Amount: decimal.NewFromInt(1000), IdempotencyKey: "g"})
		require.NoError(t, err)
	}
	// Yesterday (Asia/Shanghai), one call a minute from 10:00, alternating
	// charged and free; the free ones carry their key as request id.
	base := usage.Day(time.Now()).AddDate(0, 0, -1).Add(10 * time.Hour)
	at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }
	chargeAt(t, l, ent.ID, "c1", "deepseek-chat", "s1", "10", 100, at(1))
	recordFree(t, pool, freeCall{account: ent, key: "usage:f2", model: "glm-4-flash", session: "s1", in: 20, out: 2, at: at(2)})
	chargeAt(t, l, dept.ID, "c3", "deepseek-chat", "", "5", 300, at(3))
	recordFree(t, pool, freeCall{account: dept, key: "usage:f4", model: "glm-4-flash", in: 40, out: 4, at: at(4)})
	chargeAt(t, l, ent.ID, "c5", "qwen-plus", "s1", "2.5", 500, at(5))
	recordFree(t, pool, freeCall{account: ent, key: "rsv:f6", model: "glm-4-flash", session: "s1", in: 60, out: 6, at: at(6)})
	// Not calls (yet): a reservation still open and one released.
	recordFree(t, pool, freeCall{account: ent, key: "rsv:open", model: "open-model", state: "reserved", at: at(7)})
	recordFree(t, pool, freeCall{account: ent, key: "rsv:gone", model: "gone-model", state: "released", at: at(8)})
	// Another pool's free call, the newest of all.
	recordFree(t, pool, freeCall{account: other, key: "usage:secret", model: "secret-free-model", in: 999, at: at(9)})

	whole := usage.Scope{PoolID: ent.ID}
	want := []string{"free:", "charge:req-c5", "free:f4", "charge:req-c3", "free:f2", "charge:req-c1"}
	for _, limit := range []int{1, 2, 4, 50} {
		rows, pages := listAll(t, s, whole, usage.Filter{}, limit)
		require.Equal(t, want, labels(rows), "pages of %d", limit)
		require.Equal(t, (len(want)+limit-1)/limit, pages, "no empty last page with pages of %d", limit)
	}
	rows, _ := listAll(t, s, whole, usage.Filter{}, 50)
	f := rows[0]
	require.Zero(t, f.OpID)
	require.NotZero(t, f.FreeCallID)
	require.Equal(t, "glm-4-flash", f.Model)
	require.Equal(t, "s1", f.SessionID)
	require.True(t, f.Charged.IsZero())
	require.True(t, f.Unpaid.IsZero())
	require.Empty(t, f.Parts, "no bucket paid for it")
	require.Equal(t, int64(60), f.Detail.InputTokens)
	require.Equal(t, int64(6), f.Detail.OutputTokens)
	require.Equal(t, "7", f.RateCard())
	require.Equal(t, "completed", f.Detail.Outcome)
	require.WithinDuration(t, at(6), f.OccurredAt, 0)

	filtered := func(sc usage.Scope, fl usage.Filter) []string {
		rows, _ := listAll(t, s, sc, fl, 2)
		return labels(rows)
	}
	require.Equal(t, []string{"free:", "free:f4", "free:f2"}, filtered(whole, usage.Filter{Model: "glm-4-flash"}))
	require.Equal(t, []string{"free:f4", "charge:req-c3"}, filtered(usage.Scope{PoolID: ent.ID, AccountID: dept.ID}, usage.Filter{}))
	require.Equal(t, []string{"free:", "charge:req-c5", "free:f2", "charge:req-c1"}, filtered(whole, usage.Filter{SessionID: "s1"}))
	require.Equal(t, []string{"charge:req-c5", "free:f4", "charge:req-c3"}, filtered(whole, usage.Filter{From: at(3), To: at(6)}))
	require.Empty(t, filtered(whole, usage.Filter{From: base.AddDate(0, 0, 1), To: base.AddDate(0, 0, 2)}))

	var csv []string
	require.NoError(t, s.Export(ctx, whole, usage.Filter{}, func(c usage.Charge) error {
		csv = append(csv, labels([]usage.Charge{c})...)
		return nil
	}))
	require.Equal(t, want, csv, "the export has exactly the listed rows")

	// Totals: calls and tokens count, credits and charges do not.
	for _, fold := range []bool{false, true} {
		if fold {
			require.NoError(t, s.Refresh(ctx, ent.ID))
		}
		sum, err := s.Summarize(ctx, whole, usage.Filter{From: usage.Day(base), To: usage.Day(base).AddDate(0, 0, 1)})
		require.NoError(t, err)
		require.Equal(t, int64(3), sum.Totals.Charges, "folded %v", fold)
		require.Equal(t, int64(6), sum.Totals.Requests)
		require.Equal(t, int64(100+300+500+20+40+60), sum.Totals.InputTokens)
		require.True(t, sum.Totals.Charged.Equal(decimal.RequireFromString("17.5")), sum.Totals.Charged.String())
		byModel := map[string]usage.DayModel{}
		for _, d := range sum.Days {
			require.Equal(t, usage.Day(base).Format("2006-01-02"), d.Day)
			byModel[d.Model] = d
		}
		require.Len(t, byModel, 3)
		g := byModel["glm-4-flash"]
		require.Equal(t, int64(3), g.Requests)
		require.Equal(t, int64(120), g.InputTokens)
		require.Equal(t, int64(12), g.OutputTokens)
		require.True(t, g.Charged.IsZero())
		require.Zero(t, g.Charges)
	}
	sum, err := s.Summarize(ctx, usage.Scope{PoolID: ent.ID, AccountID: dept.ID}, usage.Filter{Model: "glm-4-flash"})
	require.NoError(t, err)
	require.Equal(t, int64(1), sum.Totals.Requests)
	require.Equal(t, int64(40), sum.Totals.InputTokens)
	sum, err = s.Summarize(ctx, whole, usage.Filter{SessionID: "s1"})
	require.NoError(t, err)
	require.Equal(t, int64(4), sum.Totals.Requests)
	require.Equal(t, int64(100+500+20+60), sum.Totals.InputTokens)
	sum, err = s.Summarize(ctx, whole, usage.Filter{From: usage.Day(base).AddDate(0, 0, 1)})
	require.NoError(t, err)
	require.Zero(t, sum.Totals.Requests, "a range after the calls has none")

	models, err := s.Models(ctx, whole)
	require.NoError(t, err)
	require.Equal(t, []string{"deepseek-chat", "glm-4-flash", "qwen-plus"}, models)
	models, err = s.Models(ctx, usage.Scope{PoolID: other.ID})
	require.NoError(t, err)
	require.Equal(t, []string{"secret-free-model"}, models)

	// The other pool sees only its own free call, and ent's never.
	rows, _ = listAll(t, s, usage.Scope{PoolID: other.ID}, usage.Filter{}, 2)
	require.Equal(t, []string{"free:secret"}, labels(rows))
	rows, _ = listAll(t, s, usage.Scope{PoolID: ent.ID, AccountID: other.ID}, usage.Filter{}, 2)
	require.Empty(t, rows, "an account of another pool names nothing in this pool")
}

// TestVersionFollowsFreeCalls: the version the portal caches under changes
// with every new charge, every new free call and the commit of an older
// free reservation, and not for another pool's calls.
func TestVersionFollowsFreeCalls(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	l := ledger.New(pool, ledger.Options{})
	t.Cleanup(l.Close)
	s := usage.New(pool)
	ctx := context.Background()
	acc, err := l.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual})
	require.NoError(t, err)
	other, err := l.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual})
	require.NoError(t, err)
	_, err = l.Credit(ctx, ledger.CreditRequest{AccountID: acc.ID, Kind: ledger.LotPromo, Amount: decimal.NewFromInt(100), IdempotencyKey: "g"})
	require.NoError(t, err)

	seen := map[int64]bool{}
	step := func(what string) {
		t.Helper()
		v, err := s.Version(ctx, acc.PoolID)
		require.NoError(t, err)
		require.False(t, seen[v], "version %d again after %s", v, what)
		seen[v] = true
	}
	same := func(what string) {
		t.Helper()
		v, err := s.Version(ctx, acc.PoolID)
		require.NoError(t, err)
		require.True(t, seen[v], "version changed by %s", what)
	}
	step("the grant")
	open := recordFree(t, pool, freeCall{account: acc, key: "rsv:old", model: "free-m", state: "reserved", at: time.Now()})
	same("an open reservation")
	recordFree(t, pool, freeCall{account: acc, key: "usage:new", model: "free-m", at: time.Now()})
	step("a free usage event")
	recordFree(t, pool, freeCall{account: other, key: "usage:x", model: "free-m", at: time.Now()})
	same("another pool's call")
	_, err = pool.Exec(ctx, `UPDATE gateway_free_calls SET state = 'committed' WHERE id = $1`, open)
	require.NoError(t, err)
	step("the commit of the older reservation")
	chargeAt(t, l, acc.ID, fmt.Sprint("c", 1), "m", "", "1", 1, time.Time{})
	step("a charge")
}

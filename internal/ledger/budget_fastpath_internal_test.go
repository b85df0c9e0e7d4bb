package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

// The fast path of a budgeted hold (the pool row's scopes, ends and limits:
// in ledger_budget_hold, and inlined in the batched ledger_reserve_t)
// decides exactly as the full path that reads the budgets. Two accounts
// with the same nested budgets — one whose fast path is switched off by
// clearing its scopes — get the same random run of reserves (in batches,
// so through ledger_reserve_t, and alone, through ledger_reserve), commits
// and releases, across threshold crossings, hard stops, a budget changed
// mid-period and Shanghai day boundaries, and end with the same refusals,
// the same use in every budget and the same alerts.
func TestBudgetFastPathMatchesTheFullPath(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	pool := dbtest.Pool(t)
	l := New(pool, Options{Now: func() time.Time { return now }, Writers: 1})
	defer l.Close()
	w := l.writers[0]
	seq := 0
	key := func() string { seq++; return fmt.Sprintf("fp-%d", seq) }
	setBudget := func(s BudgetSpec) int64 {
		s.Unit, s.Actor = BudgetCredits, "test"
		var id int64
		require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			var err error
			id, err = l.SetBudgetTx(ctx, tx, s)
			return err
		}))
		return id
	}
	type nested struct{ acct, proj, key int64 }
	budgets := map[int64]nested{}
	var fast, full int64
	for i := range 2 {
		a, err := l.CreateAccount(ctx, AccountSpec{Kind: AccountIndividual, Name: t.Name()})
		require.NoError(t, err)
		_, err = l.Credit(ctx, CreditRequest{AccountID: a.ID, Kind: LotPaid, Amount: decimal.NewFromInt(100000), IdempotencyKey: key()})
		require.NoError(t, err)
		budgets[a.ID] = nested{
			acct: setBudget(BudgetSpec{AccountID: a.ID, Period: BudgetDay, Amount: decimal.NewFromInt(150), Thresholds: []int{50, 80, 100}, HardStop: true}),
			proj: setBudget(BudgetSpec{AccountID: a.ID, Project: "p", Period: BudgetWeek, Amount: decimal.NewFromInt(300), Thresholds: []int{25, 90}}),
			key:  setBudget(BudgetSpec{AccountID: a.ID, Project: "p", Key: "k", Period: BudgetDay, Amount: decimal.NewFromInt(40), Thresholds: []int{60, 100}, HardStop: true}),
		}
		if i == 0 {
			fast = a.ID
		} else {
			full = a.ID
		}
	}
	noFastPath := func() {
		_, err := pool.Exec(ctx, `UPDATE ledger_accounts SET budget_scopes = NULL WHERE id = $1`, full)
		require.NoError(t, err)
	}
	noFastPath()
	mkJob := func(acc int64, op string, p payload, k string, identity ...any) *job {
		arg, err := json.Marshal(l.stamp(p, k, identity...))
		require.NoError(t, err)
		return &job{pool: acc, op: op, arg: arg, done: make(chan struct{})}
	}
	answers := func(jobs ...*job) []map[string]any {
		if len(jobs) == 1 {
			w.single(ctx, jobs[0])
		} else {
			w.flush(jobs)
		}
		out := map[int64]map[string]any{}
		for _, j := range jobs {
			<-j.done
			require.NoError(t, j.err)
			var m map[string]any
			require.NoError(t, json.Unmarshal(j.raw, &m))
			out[j.pool] = m
		}
		return []map[string]any{out[fast], out[full]}
	}

	rng := rand.New(rand.NewPCG(7, 11))
	open := map[int64][]int64{}
	var refusals int
	for step := range 700 {
		if step == 350 { // a budget changed mid-period: its limits are set again
			for acc := range budgets {
				setBudget(BudgetSpec{AccountID: acc, Project: "p", Key: "k", Period: BudgetDay, Amount: decimal.NewFromInt(50),
					Thresholds: []int{60, 100}, HardStop: true})
			}
			noFastPath()
		}
		op := rng.IntN(100)
		amount := fmt.Sprint(1 + rng.IntN(12))
		project, label := []string{"", "p", "p"}[rng.IntN(3)], ""
		if project == "p" && rng.IntN(2) == 0 {
			label = "k"
		}
		batched := rng.IntN(4) != 0
		pick := rng.IntN(1 << 20)
		actual := fmt.Sprintf("%d.%d", rng.IntN(int(1+rng.IntN(12))), rng.IntN(10))
		switch {
		case op < 55:
			var jobs []*job
			for _, acc := range []int64{fast, full} {
				jobs = append(jobs, mkJob(acc, opReserve, payload{"account_id": acc, "amount": amount, "ttl_seconds": 3600 * 24 * 365,
					"project": project, "key_label": label}, key(), "reserve", acc, amount, project, label))
			}
			var got []map[string]any
			if batched {
				got = answers(jobs...)
			} else {
				got = append(answers(jobs[0])[:1], answers(jobs[1])[1])
			}
			require.Equal(t, got[1]["error"], got[0]["error"], "step %d: the same answer", step)
			if got[0]["error"] == "budget_exceeded" {
				refusals++
				continue
			}
			require.Nil(t, got[0]["error"], "step %d", step)
			for i, acc := range []int64{fast, full} {
				open[acc] = append(open[acc], int64(got[i]["reservation_id"].(float64)))
			}
		case op < 95 && len(open[fast]) > 0:
			i := pick % len(open[fast])
			var jobs []*job
			for _, acc := range []int64{fast, full} {
				res := open[acc][i]
				if op < 85 {
					jobs = append(jobs, mkJob(acc, opCommit, payload{"reservation_id": res, "actual": actual}, fmt.Sprintf("commit:%d", res), "commit", res, actual))
				} else {
					jobs = append(jobs, mkJob(acc, opRelease, payload{"reservation_id": res}, fmt.Sprintf("release:%d", res), "release", res))
				}
				open[acc] = append(open[acc][:i], open[acc][i+1:]...)
			}
			for _, a := range answers(jobs...) {
				require.Nil(t, a["error"], "step %d", step)
			}
		case op >= 95:
			now = now.Add(time.Duration(2+rng.IntN(10)) * time.Hour)
		}
	}
	require.Positive(t, refusals, "the run reached hard stops")
	used := func(acc int64) map[string]string {
		bs, err := l.Budgets(ctx, acc)
		require.NoError(t, err)
		out := map[string]string{}
		for _, b := range bs {
			out[b.Project+"/"+b.Key] = b.Used.String()
		}
		return out
	}
	require.Equal(t, used(full), used(fast), "the same use in every budget")
	alerts := func(acc int64) []string {
		rows, err := pool.Query(ctx, `
			SELECT a.period_start::text || ' ' || b.project || '/' || b.key_label || ' ' || a.threshold || ' ' || a.refused
			FROM ledger_budget_alerts a JOIN ledger_budgets b ON b.id = a.budget_id
			WHERE a.pool_id = $1 ORDER BY 1`, acc)
		require.NoError(t, err)
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return out
	}
	require.NotEmpty(t, alerts(fast))
	require.Equal(t, alerts(full), alerts(fast), "the same thresholds reached, once each per period")
}

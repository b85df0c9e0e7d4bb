package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

// TestSetBasedReserveCommitMatchesPerOperation runs the same reserves and
// commits on twin sets of accounts: one twin's in ledger_apply batches (a
// run of ledger_rc_run: its common pools in memory and written set-based,
// the others handed to the per-operation path), the other's one at a time
// (ledger_reserve, ledger_commit). Every answer, every event row, every
// lot and the balances are the same, and Verify is clean. The batches hold
// a replay and a conflicting repeat of a key within the batch and of one
// from an earlier batch, a refusal, a commit that gives credit back to a
// lot its reservation had emptied followed by a reserve that spends it
// again in spending order, a sub-account (another pool's path) and a
// commit beyond its hold (its pool's whole part of the run goes the
// per-operation way).
func TestSetBasedReserveCommitMatchesPerOperation(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	pool := dbtest.Pool(t)
	l := New(pool, Options{Now: func() time.Time { return now }, Writers: 1})
	defer l.Close()
	w := l.writers[0]
	dec := decimal.RequireFromString
	type twin struct{ a, b, c, frozen, ent, sub Account }
	mkTwin := func() twin {
		var tw twin
		var err error
		tw.a, err = l.CreateAccount(ctx, AccountSpec{Kind: AccountIndividual, Name: t.Name()})
		require.NoError(t, err)
		tw.b, err = l.CreateAccount(ctx, AccountSpec{Kind: AccountIndividual, Name: t.Name()})
		require.NoError(t, err)
		tw.c, err = l.CreateAccount(ctx, AccountSpec{Kind: AccountIndividual, Name: t.Name()})
		require.NoError(t, err)
		tw.frozen, err = l.CreateAccount(ctx, AccountSpec{Kind: AccountIndividual, Name: t.Name()})
		require.NoError(t, err)
		tw.ent, err = l.CreateAccount(ctx, AccountSpec{Kind: AccountEnterprise, Name: t.Name()})
		require.NoError(t, err)
		tw.sub, err = l.CreateAccount(ctx, AccountSpec{Kind: AccountSub, ParentID: tw.ent.ID, Name: t.Name()})
		require.NoError(t, err)
		day, twoDays := now.Add(24*time.Hour), now.Add(48*time.Hour)
		for i, c := range []CreditRequest{
			{AccountID: tw.a.ID, Kind: LotPaid, Amount: dec("10")},
			{AccountID: tw.a.ID, Kind: LotPlan, Amount: dec("3"), ExpiresAt: &day},
			{AccountID: tw.a.ID, Kind: LotPromo, Amount: dec("2"), ExpiresAt: &twoDays},
			{AccountID: tw.b.ID, Kind: LotPaid, Amount: dec("5")},
			{AccountID: tw.ent.ID, Kind: LotPaid, Amount: dec("5")},
			{AccountID: tw.c.ID, Kind: LotPaid, Amount: dec("3")},
			{AccountID: tw.frozen.ID, Kind: LotPaid, Amount: dec("3")},
		} {
			c.IdempotencyKey = fmt.Sprintf("fund-%d", i)
			_, err = l.Credit(ctx, c)
			require.NoError(t, err)
		}
		require.NoError(t, l.SetStatus(ctx, tw.frozen.ID, StatusFrozen, "test", "test"))
		return tw
	}
	reserve := func(acc, pool int64, amount, key string, model string) *job {
		r := ReserveRequest{AccountID: acc, Amount: dec(amount), TTL: time.Minute, IdempotencyKey: key, Model: model}
		p := payload{"account_id": acc, "amount": r.Amount.String(), "ttl_seconds": r.TTL.Seconds(), "model": model,
			"session_id": "s-" + key, "request_id": "q-" + key, "detail": json.RawMessage(`{"n": 1}`)}
		arg, err := json.Marshal(l.stamp(p, key, "reserve", acc, r.Amount.String(), r.TTL, model))
		require.NoError(t, err)
		return &job{pool: pool, op: opReserve, arg: arg, done: make(chan struct{})}
	}
	commit := func(pool, res int64, actual string) *job {
		p := l.stamp(payload{"reservation_id": res, "actual": actual, "detail": json.RawMessage(`{"tokens": 7}`)},
			"commit:"+strconv.FormatInt(res, 10), "commit", res, actual)
		arg, err := json.Marshal(p)
		require.NoError(t, err)
		return &job{pool: pool, op: opCommit, arg: arg, done: make(chan struct{})}
	}
	run := func(jobs []*job, batched bool) []map[string]any {
		if batched {
			before := w.fallbacks.Load()
			w.flush(slices.Clone(jobs))
			require.Equal(t, before, w.fallbacks.Load(), "the batch ran as one call")
		} else {
			for _, j := range jobs {
				w.flush([]*job{j})
			}
		}
		var out []map[string]any
		for _, j := range jobs {
			<-j.done
			require.NoError(t, j.err)
			var m map[string]any
			require.NoError(t, json.Unmarshal(j.raw, &m))
			out = append(out, m)
		}
		return out
	}
	resID := func(m map[string]any) int64 { return int64(m["reservation_id"].(float64)) }
	// what may differ between the twins: ids
	plain := func(ms []map[string]any) []map[string]any {
		var out []map[string]any
		for _, m := range ms {
			c := map[string]any{}
			for k, v := range m {
				switch k {
				case "op_id", "reservation_id", "account_id", "pool":
				case "holds":
					var hs []any
					for _, h := range v.([]any) {
						hm := h.(map[string]any)
						hs = append(hs, []any{hm["amount"], hm["kind"]})
					}
					c[k] = hs
				default:
					c[k] = v
				}
			}
			out = append(out, c)
		}
		return out
	}
	scenario := func(tw twin, batched bool) [][]map[string]any {
		var all [][]map[string]any
		first := run([]*job{
			reserve(tw.a.ID, tw.a.ID, "4", "r1", "m1"),         // plan 3, promo 1
			reserve(tw.a.ID, tw.a.ID, "2", "r2", "m2"),         // promo 1, paid 1
			reserve(tw.a.ID, tw.a.ID, "4", "r1", "m1"),         // replayed within the batch
			reserve(tw.a.ID, tw.a.ID, "5", "r2", "m2"),         // conflict within the batch
			reserve(tw.a.ID, tw.a.ID, "100", "r3", "m3"),       // refused: 9 left
			reserve(tw.b.ID, tw.b.ID, "5", "r4", ""),           // all of b's one lot
			reserve(tw.c.ID, tw.c.ID, "5", "c1", ""),           // refused: c has 3
			reserve(tw.c.ID, tw.c.ID, "2", "c2", ""),           // then held
			reserve(tw.c.ID, tw.c.ID, "2", "c3", ""),           // refused: 1 left after c2
			reserve(tw.frozen.ID, tw.frozen.ID, "1", "f1", ""), // refused: frozen
			reserve(tw.sub.ID, tw.ent.ID, "1", "r5", ""),       // a sub-account: the per-operation path
		}, batched)
		all = append(all, first)
		second := run([]*job{
			commit(tw.a.ID, resID(first[0]), "2.5"),      // gives 0.5 back to the emptied plan lot, 1 to promo
			reserve(tw.a.ID, tw.a.ID, "1.2", "r6", "m6"), // the plan lot's 0.5 first, then promo 0.7
			commit(tw.a.ID, resID(first[1]), "2"),        // all of its hold
			reserve(tw.a.ID, tw.a.ID, "2", "r2", "m2"),   // replay of a key of the batch before
			commit(tw.b.ID, resID(first[5]), "0"),        // gives b's lot all back
			reserve(tw.b.ID, tw.b.ID, "5", "r7", ""),     // and holds it again
			reserve(tw.c.ID, tw.c.ID, "1", "c4", ""),     // the last 1 of c
			commit(tw.c.ID, resID(first[7]), "1.5"),      // 0.5 back to c's lot
			reserve(tw.c.ID, tw.c.ID, "0.5", "c5", ""),   // and held again by the reserve after it
			reserve(tw.c.ID, tw.c.ID, "0.1", "c6", ""),   // refused: nothing left
			commit(tw.ent.ID, resID(first[10]), "0.5"),   // the sub-account's: the per-operation path
		}, batched)
		all = append(all, second)
		third := run([]*job{
			commit(tw.a.ID, resID(second[1]), "2"),   // beyond its hold of 1.2: a's part goes per operation
			reserve(tw.a.ID, tw.a.ID, "1", "r8", ""), // after it, on that path
			commit(tw.b.ID, resID(second[5]), "4.5"), // b stays on the set-based path
		}, batched)
		all = append(all, third)
		return all
	}
	type row struct {
		Pool                                                                           int
		Type, Amount, Balance, Unpaid, Kind, Key, Model, Request, Session, Detail, Res string
	}
	events := func(tw twin) []row {
		rows, err := pool.Query(ctx, `SELECT CASE e.pool_id WHEN $1 THEN 1 WHEN $2 THEN 2 WHEN $3 THEN 3 WHEN $4 THEN 4 ELSE 5 END,
			e.type::text, e.amount::text, e.balance_after::text, e.unpaid::text,
			coalesce(l.kind::text, ''), regexp_replace(e.idempotency_key, '[0-9]+', 'N'), e.model, e.request_id, e.session_id,
			coalesce(e.detail::text, ''), CASE WHEN e.reservation_id IS NULL THEN '' ELSE 'r' END
			FROM ledger_events e LEFT JOIN ledger_lots l ON l.pool_id = e.pool_id AND l.id = e.lot_id
			WHERE e.pool_id IN ($1, $2, $3, $4, $5) ORDER BY 1, e.id`, tw.a.ID, tw.b.ID, tw.ent.ID, tw.c.ID, tw.frozen.ID)
		require.NoError(t, err)
		out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			err := r.Scan(&x.Pool, &x.Type, &x.Amount, &x.Balance, &x.Unpaid, &x.Kind, &x.Key, &x.Model, &x.Request,
				&x.Session, &x.Detail, &x.Res)
			return x, err
		})
		require.NoError(t, err)
		return out
	}
	state := func(tw twin) []string {
		var out []string
		for _, id := range []int64{tw.a.ID, tw.b.ID, tw.ent.ID, tw.c.ID, tw.frozen.ID} {
			var s string
			require.NoError(t, pool.QueryRow(ctx, `SELECT a.balance::text || ' ' || a.reserved::text || ' ' ||
				(SELECT string_agg(l.kind::text || '=' || l.remaining::text, ',' ORDER BY l.id) FROM ledger_lots l WHERE l.pool_id = a.id) || ' ' ||
				coalesce((SELECT string_agg(r.status::text || '/' || r.amount::text, ',' ORDER BY r.id) FROM ledger_reservations r WHERE r.pool_id = a.id), '')
				FROM ledger_accounts a WHERE a.id = $1`, id).Scan(&s))
			out = append(out, s)
		}
		return out
	}

	x, y := mkTwin(), mkTwin()
	batched, single := scenario(x, true), scenario(y, false)
	for i := range batched {
		require.Equal(t, plain(single[i]), plain(batched[i]), "batch %d", i+1)
	}
	require.Equal(t, true, batched[0][2]["replayed"])
	require.Equal(t, resID(batched[0][0]), resID(batched[0][2]))
	require.Equal(t, "idempotency_conflict", batched[0][3]["error"])
	require.Equal(t, "insufficient_credits", batched[0][4]["error"])
	require.Equal(t, "insufficient_credits", batched[0][6]["error"])
	require.Equal(t, "insufficient_credits", batched[0][8]["error"])
	require.Equal(t, "account_frozen", batched[0][9]["error"])
	require.Equal(t, "insufficient_credits", batched[1][9]["error"])
	require.Equal(t, []any{[]any{0.5, "paid"}}, plain(batched[1])[8]["holds"], "c's give-back is held by the reserve after it")
	require.Equal(t, true, batched[1][3]["replayed"])
	require.Equal(t, resID(batched[0][1]), resID(batched[1][3]))
	holds := plain(batched[1])[1]["holds"]
	require.Equal(t, []any{[]any{0.5, "plan"}, []any{0.7, "promo"}}, holds, "the plan lot's give-back is spent first")
	require.Equal(t, events(y), events(x))
	require.Equal(t, state(y), state(x))
	bal, err := l.Balance(ctx, x.a.ID)
	require.NoError(t, err)
	require.True(t, bal.Available.Equal(dec("7.5")), "15 - 2.5 - 2 - 2 charged - 1 held, got %s", bal.Available)
	require.True(t, bal.Reserved.Equal(dec("1")))
	m, err := l.Verify(ctx)
	require.NoError(t, err)
	require.Empty(t, m)
}

// TestSetBasedReserveCommitUnderConcurrency sends 64 concurrent callers at
// one account through the ledger's writers, so that its reserves and
// commits meet in batches on the set-based path: pairs of callers use the
// same key, so each reservation is asked for twice, often within one
// batch. Exactly as many reservations succeed as the credit covers, each
// once (its twin is a replay of it), the holds are exact, nothing goes
// negative, the commits (each also sent twice) charge once, and Verify is
// clean.
func TestSetBasedReserveCommitUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	l := New(dbtest.Pool(t), Options{})
	defer l.Close()
	dec := decimal.RequireFromString
	acc, err := l.CreateAccount(ctx, AccountSpec{Kind: AccountIndividual, Name: t.Name()})
	require.NoError(t, err)
	week := time.Now().Add(7 * 24 * time.Hour)
	_, err = l.Credit(ctx, CreditRequest{AccountID: acc.ID, Kind: LotPaid, Amount: dec("30"), IdempotencyKey: "fund-paid"})
	require.NoError(t, err)
	_, err = l.Credit(ctx, CreditRequest{AccountID: acc.ID, Kind: LotPromo, Amount: dec("10"), ExpiresAt: &week, IdempotencyKey: "fund-promo"})
	require.NoError(t, err)

	const callers = 64
	type got struct {
		res Reservation
		err error
	}
	reserved := make([]got, callers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := l.Reserve(ctx, ReserveRequest{AccountID: acc.ID, Amount: dec("1.5"), TTL: time.Minute,
				IdempotencyKey: fmt.Sprintf("cc-%d", i%(callers/2)), Model: "m"})
			reserved[i] = got{r, err}
		}()
	}
	close(start)
	wg.Wait()

	// 32 keys of 1.5 over 40 credits: 26 succeed (39), 6 are refused.
	byKey := map[int]int64{}
	var ok, refused, replays int
	for i, g := range reserved {
		k := i % (callers / 2)
		if g.err != nil {
			require.ErrorIs(t, g.err, ErrInsufficientCredits)
			refused++
			continue
		}
		ok++
		if g.res.Replayed {
			replays++
		}
		if id, seen := byKey[k]; seen {
			require.Equal(t, id, g.res.ID, "key %d: both callers get the one reservation", k)
		}
		byKey[k] = g.res.ID
	}
	require.Len(t, byKey, 26)
	require.Equal(t, 52, ok)
	require.Equal(t, 26, replays, "one of each pair is the replay")
	require.Equal(t, 12, refused)
	bal, err := l.Balance(ctx, acc.ID)
	require.NoError(t, err)
	require.True(t, bal.Reserved.Equal(dec("39")), "got %s", bal.Reserved)
	require.True(t, bal.Available.Equal(dec("1")), "got %s", bal.Available)

	var commits sync.WaitGroup
	charged := make([]CommitResult, callers)
	errs := make([]error, callers)
	for i, g := range reserved {
		if g.err != nil {
			continue
		}
		commits.Add(1)
		go func() {
			defer commits.Done()
			charged[i], errs[i] = l.Commit(ctx, CommitRequest{ReservationID: g.res.ID, Actual: dec("1")})
		}()
	}
	commits.Wait()
	sum := decimal.Zero
	for i, c := range charged {
		require.NoError(t, errs[i])
		if !c.Replayed {
			sum = sum.Add(c.Charged)
		}
	}
	require.True(t, sum.Equal(dec("26")), "each reservation charged once, got %s", sum)
	bal, err = l.Balance(ctx, acc.ID)
	require.NoError(t, err)
	require.True(t, bal.Reserved.IsZero(), "got %s", bal.Reserved)
	require.True(t, bal.Available.Equal(dec("14")), "40 - 26, got %s", bal.Available)
	m, err := l.Verify(ctx)
	require.NoError(t, err)
	require.Empty(t, m)
}

// TestSetBasedReserveCommitAcrossPoolsUnderConcurrency sends 64 concurrent
// callers at four accounts at once, each looping reserve 1 then commit 1,
// so that batches hold reserves and commits of several pools together on
// the set-based path. Each account's credit covers six of its sixteen
// callers' calls: exactly six reservations of each account are charged,
// every other reserve is refused, no balance goes negative, and Verify is
// clean.
func TestSetBasedReserveCommitAcrossPoolsUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	l := New(dbtest.Pool(t), Options{})
	defer l.Close()
	dec := decimal.RequireFromString
	accs := make([]Account, 4)
	for i := range accs {
		var err error
		accs[i], err = l.CreateAccount(ctx, AccountSpec{Kind: AccountIndividual, Name: t.Name()})
		require.NoError(t, err)
		_, err = l.Credit(ctx, CreditRequest{AccountID: accs[i].ID, Kind: LotPaid, Amount: dec("6"), IdempotencyKey: "fund"})
		require.NoError(t, err)
	}
	const callers = 64
	charged := make([]decimal.Decimal, callers)
	refused := make([]int, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			charged[i] = decimal.Zero
			for n := range 3 {
				r, err := l.Reserve(ctx, ReserveRequest{AccountID: accs[i%4].ID, Amount: dec("1"), TTL: time.Minute,
					IdempotencyKey: fmt.Sprintf("x-%d-%d", i, n)})
				if errors.Is(err, ErrInsufficientCredits) {
					refused[i]++
					continue
				}
				if err != nil {
					errs[i] = err
					return
				}
				c, err := l.Commit(ctx, CommitRequest{ReservationID: r.ID, Actual: dec("1")})
				if err != nil {
					errs[i] = err
					return
				}
				charged[i] = charged[i].Add(c.Charged)
			}
		}()
	}
	close(start)
	wg.Wait()
	per := make([]decimal.Decimal, 4)
	for i := range per {
		per[i] = decimal.Zero
	}
	total := 0
	for i := range callers {
		require.NoError(t, errs[i])
		per[i%4] = per[i%4].Add(charged[i])
		total += refused[i]
	}
	require.Equal(t, callers*3-24, total, "every reserve beyond the credit is refused")
	for i, a := range accs {
		require.True(t, per[i].Equal(dec("6")), "account %d charged %s", i, per[i])
		bal, err := l.Balance(ctx, a.ID)
		require.NoError(t, err)
		require.True(t, bal.Available.IsZero(), "got %s", bal.Available)
		require.True(t, bal.Reserved.IsZero(), "got %s", bal.Reserved)
		var negative int
		require.NoError(t, l.pool.QueryRow(ctx, `SELECT count(*) FROM ledger_events WHERE pool_id = $1 AND balance_after < 0`, a.ID).Scan(&negative))
		require.Zero(t, negative, "no event leaves the balance below zero")
	}
	m, err := l.Verify(ctx)
	require.NoError(t, err)
	require.Empty(t, m)
}

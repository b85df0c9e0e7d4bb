package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

// TestBatchRunsAsOneCallAndIsolatesAFailingOperation drives one writer
// directly: a batch of good operations is applied in one ledger_apply call,
// and a batch with one operation that raises in PostgreSQL still gives the
// others their results (each rerun alone), while the bad one gets an error.
func TestBatchRunsAsOneCallAndIsolatesAFailingOperation(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	l := New(dbtest.Pool(t), Options{Now: func() time.Time { return now }, Writers: 1})
	defer l.Close()
	acc, err := l.CreateAccount(ctx, AccountSpec{Kind: AccountIndividual, Name: t.Name()})
	require.NoError(t, err)
	_, err = l.Credit(ctx, CreditRequest{AccountID: acc.ID, Kind: LotPaid, Amount: decimal.NewFromInt(10), IdempotencyKey: "wt-fund"})
	require.NoError(t, err)

	reserve := func(key string) *job {
		p := l.stamp(payload{"account_id": acc.ID, "amount": "1", "ttl_seconds": 60}, key, "reserve", acc.ID, "1")
		arg, err := json.Marshal(p)
		require.NoError(t, err)
		return &job{pool: acc.PoolID, op: opReserve, arg: arg, done: make(chan struct{})}
	}
	w := l.writers[0]
	before := l.Stats()

	good := []*job{reserve("wt-1"), reserve("wt-2"), reserve("wt-3")}
	w.flush(good)
	require.Zero(t, w.fallbacks.Load(), "a good batch runs as one call")
	require.Equal(t, WriterStats{Operations: before.Operations + 3, Transactions: before.Transactions + 1}, l.Stats())
	for _, j := range good {
		<-j.done
		require.NoError(t, j.err)
		var r Reservation
		require.NoError(t, decode(j.raw, &r))
		require.True(t, r.Amount.Equal(decimal.NewFromInt(1)))
	}

	// 10^30 overflows numeric(24,6): the INSERT of the lot raises.
	p := l.stamp(payload{"account_id": acc.ID, "kind": "paid", "amount": "1000000000000000000000000000000", "event_type": "purchase"},
		"wt-bad", "credit", acc.ID)
	arg, err := json.Marshal(p)
	require.NoError(t, err)
	bad := &job{pool: acc.PoolID, op: opCredit, arg: arg, done: make(chan struct{})}
	mixed := []*job{reserve("wt-4"), bad, reserve("wt-5")}
	w.flush(mixed)
	require.EqualValues(t, 1, w.fallbacks.Load(), "the failing batch was rerun operation by operation")
	require.Equal(t, WriterStats{Operations: before.Operations + 6, Transactions: before.Transactions + 1 + 1 + 3}, l.Stats(),
		"the failed transaction and one per operation rerun")
	<-bad.done
	require.Error(t, bad.err)
	for _, j := range []*job{mixed[0], mixed[2]} {
		<-j.done
		require.NoError(t, j.err)
		var r Reservation
		require.NoError(t, decode(j.raw, &r))
		require.NotZero(t, r.ID)
	}

	b, err := l.Balance(ctx, acc.ID)
	require.NoError(t, err)
	require.True(t, b.Available.Equal(decimal.NewFromInt(5)), "five holds of 1 from 10, got %s", b.Available)
	require.True(t, b.Reserved.Equal(decimal.NewFromInt(5)))
	m, err := l.Verify(ctx)
	require.NoError(t, err)
	require.Empty(t, m)
}

// TestPipelinedWriterNeverRunsOnePoolTwice drives one writer with two
// batches in flight from many goroutines over three accounts: no account is
// ever in two batches in flight at once, every operation gets its result,
// and the balances verify.
func TestPipelinedWriterNeverRunsOnePoolTwice(t *testing.T) {
	ctx := context.Background()
	l := New(dbtest.Pool(t), Options{Writers: 1, InFlight: 2, MaxBatch: 8})
	var (
		mu       sync.Mutex
		inFlight = map[int64]int{}
		batches  int
		overlap  int // times two batches were in flight together
		running  int
	)
	w := l.writers[0]
	w.observe = func(batch []*job, started bool) {
		mu.Lock()
		defer mu.Unlock()
		pools := map[int64]bool{}
		for _, j := range batch {
			pools[j.pool] = true
		}
		for p := range pools {
			if started {
				inFlight[p]++
				if inFlight[p] > 1 {
					t.Errorf("pool %d is in two batches in flight", p)
				}
			} else {
				inFlight[p]--
			}
		}
		if started {
			batches++
			running++
			if running > 1 {
				overlap++
			}
		} else {
			running--
		}
	}
	accs := make([]Account, 3)
	for i := range accs {
		a, err := l.CreateAccount(ctx, AccountSpec{Kind: AccountIndividual, Name: t.Name()})
		require.NoError(t, err)
		_, err = l.Credit(ctx, CreditRequest{AccountID: a.ID, Kind: LotPaid, Amount: decimal.NewFromInt(1000), IdempotencyKey: "pw-fund"})
		require.NoError(t, err)
		accs[i] = a
	}
	var wg sync.WaitGroup
	for g := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				acc := accs[(g+i)%len(accs)]
				res, err := l.Reserve(ctx, ReserveRequest{AccountID: acc.ID, Amount: decimal.NewFromInt(2), IdempotencyKey: fmt.Sprintf("pw-%d-%d", g, i)})
				if !assert.NoError(t, err) {
					return
				}
				_, err = l.Commit(ctx, CommitRequest{ReservationID: res.ID, Actual: decimal.NewFromInt(1)})
				assert.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	l.Close()
	t.Logf("%d batches, %d started while another was in flight", batches, overlap)
	for _, a := range accs {
		b, err := l.Balance(ctx, a.ID)
		require.NoError(t, err)
		require.True(t, b.Available.Equal(decimal.NewFromInt(920)), "80 commits of 1 from 1000, got %s", b.Available)
		require.True(t, b.Reserved.IsZero())
	}
	m, err := l.Verify(ctx)
	require.NoError(t, err)
	require.Empty(t, m)
}

// TestBatchSharesAPoolsRunningState runs mixed batches through one
// ledger_apply call — several reserves and commits of one pool (which share
// its running state), a sub-account, a credit in between, a refusal, a
// repeated commit and a commit beyond its hold — and checks the results,
// the balances and Verify.
func TestBatchSharesAPoolsRunningState(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	l := New(dbtest.Pool(t), Options{Now: func() time.Time { return now }, Writers: 1})
	defer l.Close()
	w := l.writers[0]
	dec := decimal.RequireFromString
	a, err := l.CreateAccount(ctx, AccountSpec{Kind: AccountIndividual, Name: t.Name()})
	require.NoError(t, err)
	ent, err := l.CreateAccount(ctx, AccountSpec{Kind: AccountEnterprise, Name: t.Name()})
	require.NoError(t, err)
	sub, err := l.CreateAccount(ctx, AccountSpec{Kind: AccountSub, ParentID: ent.ID, Name: t.Name()})
	require.NoError(t, err)
	for _, id := range []int64{a.ID, ent.ID} {
		_, err = l.Credit(ctx, CreditRequest{AccountID: id, Kind: LotPaid, Amount: dec("10"), IdempotencyKey: "bs-fund"})
		require.NoError(t, err)
	}
	mk := func(pool int64, op string, p payload, key string, identity ...any) *job {
		arg, err := json.Marshal(l.stamp(p, key, identity...))
		require.NoError(t, err)
		return &job{pool: pool, op: op, arg: arg, done: make(chan struct{})}
	}
	reserve := func(acc, pool int64, amount, key string) *job {
		return mk(pool, opReserve, payload{"account_id": acc, "amount": amount, "ttl_seconds": 60}, key, "reserve", acc, amount)
	}
	commit := func(pool, res int64, actual string) *job {
		return mk(pool, opCommit, payload{"reservation_id": res, "actual": actual}, fmt.Sprintf("commit:%d", res), "commit", res, actual)
	}
	results := func(jobs []*job) []map[string]any {
		w.flush(jobs)
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

	first := results([]*job{
		reserve(a.ID, a.ID, "2", "bs-1"),
		reserve(a.ID, a.ID, "3", "bs-2"),
		mk(a.ID, opCredit, payload{"account_id": a.ID, "kind": "promo", "amount": "1", "event_type": "grant"}, "bs-credit", "credit", a.ID),
		reserve(a.ID, a.ID, "4", "bs-3"),
		reserve(a.ID, a.ID, "100", "bs-4"), // refused: 2 left
		reserve(a.ID, a.ID, "2", "bs-1"),   // replay of the first
		reserve(ent.ID, ent.ID, "1", "bs-5"),
		reserve(sub.ID, ent.ID, "2", "bs-6"),
	})
	require.Zero(t, w.fallbacks.Load())
	require.Equal(t, "insufficient_credits", first[4]["error"])
	require.Equal(t, true, first[5]["replayed"])
	require.Equal(t, resID(first[0]), resID(first[5]))
	b, err := l.Balance(ctx, a.ID)
	require.NoError(t, err)
	require.True(t, b.Available.Equal(dec("2")), "11 - 9 held, got %s", b.Available)
	require.True(t, b.Reserved.Equal(dec("9")))

	second := results([]*job{
		commit(a.ID, resID(first[0]), "1"),
		commit(a.ID, resID(first[0]), "1"), // repeated: replayed
		commit(a.ID, resID(first[1]), "5"), // beyond its hold of 3: 2 more from the lots
		commit(a.ID, resID(first[3]), "4"),
		commit(ent.ID, resID(first[6]), "0.5"),
		commit(ent.ID, resID(first[7]), "2"),
	})
	require.Zero(t, w.fallbacks.Load())
	require.Equal(t, true, second[1]["replayed"])
	require.EqualValues(t, 5, second[2]["charged"])
	b, err = l.Balance(ctx, a.ID)
	require.NoError(t, err)
	require.True(t, b.Available.Equal(dec("1")), "11 - 1 - 5 - 4, got %s", b.Available)
	require.True(t, b.Reserved.IsZero())
	b, err = l.Balance(ctx, ent.ID)
	require.NoError(t, err)
	require.True(t, b.Available.Equal(dec("7.5")), "10 - 0.5 - 2, got %s", b.Available)
	m, err := l.Verify(ctx)
	require.NoError(t, err)
	require.Empty(t, m)
}

// TestBatchedChargesMatchSingle charges twin accounts the same way: one's
// charges in one ledger_apply batch (ledger_charge_run on the pool's running
// state, a sub-account's handed to ledger_charge in between), the other's
// one at a time (ledger_charge). Every answer, every event row and the
// balances are the same, and Verify is clean: the batched path is the same
// rule, not a second one.
func TestBatchedChargesMatchSingle(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	pool := dbtest.Pool(t)
	l := New(pool, Options{Now: func() time.Time { return now }, Writers: 1})
	defer l.Close()
	w := l.writers[0]
	dec := decimal.RequireFromString
	type twin struct{ own, ent, sub Account }
	mkTwin := func() twin {
		var tw twin
		var err error
		tw.own, err = l.CreateAccount(ctx, AccountSpec{Kind: AccountIndividual, Name: t.Name()})
		require.NoError(t, err)
		tw.ent, err = l.CreateAccount(ctx, AccountSpec{Kind: AccountEnterprise, Name: t.Name()})
		require.NoError(t, err)
		tw.sub, err = l.CreateAccount(ctx, AccountSpec{Kind: AccountSub, ParentID: tw.ent.ID, Name: t.Name()})
		require.NoError(t, err)
		day, twoDays := now.Add(24*time.Hour), now.Add(48*time.Hour)
		for i, c := range []CreditRequest{
			{AccountID: tw.own.ID, Kind: LotPaid, Amount: dec("10")},
			{AccountID: tw.own.ID, Kind: LotPlan, Amount: dec("3"), ExpiresAt: &day},
			{AccountID: tw.own.ID, Kind: LotPromo, Amount: dec("2"), ExpiresAt: &twoDays},
			{AccountID: tw.ent.ID, Kind: LotPaid, Amount: dec("5")},
		} {
			c.IdempotencyKey = fmt.Sprintf("fund-%d", i)
			_, err = l.Credit(ctx, c)
			require.NoError(t, err)
		}
		return tw
	}
	requests := func(tw twin) []ChargeRequest {
		detail := json.RawMessage(`{"input_tokens": 1000}`)
		return []ChargeRequest{
			{AccountID: tw.own.ID, Amount: dec("1"), IdempotencyKey: "c1", Model: "m", RequestID: "r1"},
			{AccountID: tw.own.ID, Amount: dec("2.5"), IdempotencyKey: "c2", Detail: detail, SessionID: "s"},
			{AccountID: tw.sub.ID, Amount: dec("1.25"), IdempotencyKey: "c3"},
			{AccountID: tw.own.ID, Amount: dec("4"), IdempotencyKey: "c4", Project: "p", Key: "k"},
			{AccountID: tw.own.ID, Amount: dec("1"), IdempotencyKey: "c1", Model: "m", RequestID: "r1"},      // replayed
			{AccountID: tw.own.ID, Amount: dec("3"), IdempotencyKey: "c2", Detail: detail, SessionID: "s"},   // conflict
			{AccountID: tw.own.ID, Amount: dec("20"), IdempotencyKey: "c5", OccurredAt: now.Add(-time.Hour)}, // partly unpaid
			{AccountID: tw.own.ID, Amount: dec("0.000001"), IdempotencyKey: "c6"},                            // all unpaid
		}
	}
	answers := func(tw twin, batched bool) []map[string]any {
		var jobs []*job
		for _, r := range requests(tw) {
			j, _, err := l.chargeJob(r)
			require.NoError(t, err)
			if r.AccountID == tw.sub.ID {
				j.pool = tw.ent.ID
			}
			jobs = append(jobs, j)
		}
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
			delete(m, "op_id")
			delete(m, "pool")
			out = append(out, m)
		}
		return out
	}
	type row struct {
		Type, Amount, Balance, Unpaid, Kind, Key, Model, Request, Session, Detail, Project, Label string
		Occurred                                                                                  time.Time
	}
	events := func(tw twin) []row {
		rows, err := pool.Query(ctx, `SELECT e.type::text, e.amount::text, e.balance_after::text, e.unpaid::text,
			coalesce(l.kind::text, ''), e.idempotency_key, e.model, e.request_id, e.session_id, coalesce(e.detail::text, ''),
			e.project, e.key_label, e.occurred_at
			FROM ledger_events e LEFT JOIN ledger_lots l ON l.pool_id = e.pool_id AND l.id = e.lot_id
			WHERE e.pool_id IN ($1, $2) AND e.type IN ('deduction', 'unpaid_usage') ORDER BY e.pool_id = $2, e.id`, tw.own.ID, tw.ent.ID)
		require.NoError(t, err)
		out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			err := r.Scan(&x.Type, &x.Amount, &x.Balance, &x.Unpaid, &x.Kind, &x.Key, &x.Model, &x.Request, &x.Session,
				&x.Detail, &x.Project, &x.Label, &x.Occurred)
			return x, err
		})
		require.NoError(t, err)
		return out
	}

	a, b := mkTwin(), mkTwin()
	batched, single := answers(a, true), answers(b, false)
	require.Equal(t, single, batched)
	require.Equal(t, true, batched[4]["replayed"])
	require.Equal(t, "idempotency_conflict", batched[5]["error"])
	require.EqualValues(t, 2, batched[1]["plan_charged"], "the plan lot expires first: 1 of its 3 went to c1, the other 2 here")
	require.EqualValues(t, 12.5, batched[6]["unpaid"], "15 - 1 - 2.5 - 4 leaves 7.5 of the 20")
	require.Equal(t, events(b), events(a))
	require.Len(t, events(a), 9, "8 rows of the pool's 6 charges, 1 of the sub-account's")
	for _, tw := range []twin{a, b} {
		bal, err := l.Balance(ctx, tw.own.ID)
		require.NoError(t, err)
		require.True(t, bal.Available.IsZero(), "got %s", bal.Available)
		bal, err = l.Balance(ctx, tw.sub.ID)
		require.NoError(t, err)
		require.True(t, bal.Available.Equal(dec("3.75")), "got %s", bal.Available)
	}
	m, err := l.Verify(ctx)
	require.NoError(t, err)
	require.Empty(t, m)
}

// TestChargeManyAnswersInOrder charges 150 requests (more than a batch)
// over three pools in one ChargeMany, with an invalid amount and a
// repeated key among them: each gets its own answer in its place, the
// repeat replays the first, and the balances and Verify agree.
func TestChargeManyAnswersInOrder(t *testing.T) {
	ctx := context.Background()
	l := New(dbtest.Pool(t), Options{MaxBatch: 16})
	defer l.Close()
	var accts []Account
	for range 3 {
		a, err := l.CreateAccount(ctx, AccountSpec{Kind: AccountIndividual, Name: t.Name()})
		require.NoError(t, err)
		_, err = l.Credit(ctx, CreditRequest{AccountID: a.ID, Kind: LotPaid, Amount: decimal.NewFromInt(100), IdempotencyKey: "fund"})
		require.NoError(t, err)
		accts = append(accts, a)
	}
	var rs []ChargeRequest
	for i := range 150 {
		rs = append(rs, ChargeRequest{AccountID: accts[i%3].ID, Amount: decimal.RequireFromString("0.5"),
			IdempotencyKey: fmt.Sprintf("many-%d", i)})
	}
	rs[7].Amount = decimal.Zero
	rs[100] = rs[10] // the same account, key and amount
	out := l.ChargeMany(ctx, rs)
	require.Len(t, out, 150)
	for i, o := range out {
		switch i {
		case 7:
			require.ErrorIs(t, o.Err, ErrInvalidAmount)
		case 100:
			require.NoError(t, o.Err)
			require.True(t, o.Result.Replayed)
			require.Equal(t, out[10].Result.OpID, o.Result.OpID)
		default:
			require.NoError(t, o.Err, "request %d", i)
			require.False(t, o.Result.Replayed, "request %d", i)
			require.True(t, o.Result.Charged.Equal(decimal.RequireFromString("0.5")), "request %d", i)
		}
	}
	// 150 requests, 50 per account: account 1 (7 % 3) lost the invalid one,
	// and account 1 (100 % 3) the repeat.
	for i, want := range []string{"75", "76", "75"} {
		b, err := l.Balance(ctx, accts[i].ID)
		require.NoError(t, err)
		require.True(t, b.Available.Equal(decimal.RequireFromString(want)), "account %d: got %s", i, b.Available)
	}
	m, err := l.Verify(ctx)
	require.NoError(t, err)
	require.Empty(t, m)
}

// TestChargeRunEdges charges twin accounts with the same requests, one's in
// one ledger_apply batch (a run of ledger_charge_run, whose rows are
// written at once), the other's one at a time (ledger_charge), where a
// batch could differ from charges applied one by one: a key repeated
// within the batch (same body: the first charge replayed; another body: a
// conflict), a key used before the batch, a key the retention job
// archived, a lot that expires between two charges of the batch, a charge
// that would take the balance below zero (charged what is left, the rest
// unpaid) and charges after it (all unpaid). Every answer, event row, lot
// and balance is the same on both, no lot is ever negative, and the whole
// batch sent again is answered from its idempotency records without a row
// more. The database is the test's own: the lot left to expire would be
// found by the other tests' expiry sweeps.
func TestChargeRunEdges(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	now := start
	pool, _ := dbtest.Own(t)
	l := New(pool, Options{Now: func() time.Time { return now }, Writers: 1})
	defer l.Close()
	w := l.writers[0]
	dec := decimal.RequireFromString
	soon := start.Add(90 * time.Second) // the plan lot expires within the batch
	mkAccount := func() Account {
		a, err := l.CreateAccount(ctx, AccountSpec{Kind: AccountIndividual, Name: t.Name()})
		require.NoError(t, err)
		for i, c := range []CreditRequest{
			{AccountID: a.ID, Kind: LotPaid, Amount: dec("10")},
			{AccountID: a.ID, Kind: LotPlan, Amount: dec("3"), ExpiresAt: &soon},
		} {
			c.IdempotencyKey = fmt.Sprintf("fund-%d", i)
			_, err = l.Credit(ctx, c)
			require.NoError(t, err)
		}
		_, err = l.Charge(ctx, ChargeRequest{AccountID: a.ID, Amount: dec("0.5"), IdempotencyKey: "before"})
		require.NoError(t, err)
		_, err = pool.Exec(ctx, `INSERT INTO ledger_idempotency_archive (pool_id, account_id, key, op, args_hash, result, created_at)
			VALUES ($1, $1, 'archived', 'charge', 'h', '{}', now() - interval '30 days')`, a.ID)
		require.NoError(t, err)
		return a
	}
	type step struct {
		at time.Duration // after start: each request is stamped with its own time
		r  ChargeRequest
	}
	steps := func(a Account) []step {
		return []step{
			{0, ChargeRequest{AccountID: a.ID, Amount: dec("1"), IdempotencyKey: "d1", Model: "m"}},
			{time.Second, ChargeRequest{AccountID: a.ID, Amount: dec("1"), IdempotencyKey: "d1", Model: "m"}},     // replayed
			{time.Second, ChargeRequest{AccountID: a.ID, Amount: dec("2"), IdempotencyKey: "d1", Model: "m"}},     // conflict
			{time.Second, ChargeRequest{AccountID: a.ID, Amount: dec("0.5"), IdempotencyKey: "before"}},           // replayed
			{time.Second, ChargeRequest{AccountID: a.ID, Amount: dec("0.6"), IdempotencyKey: "before"}},           // conflict
			{time.Second, ChargeRequest{AccountID: a.ID, Amount: dec("1"), IdempotencyKey: "archived"}},           // retry window passed
			{time.Minute, ChargeRequest{AccountID: a.ID, Amount: dec("1"), IdempotencyKey: "d2", SessionID: "s"}}, // the plan lot's last credit
			{2 * time.Minute, ChargeRequest{AccountID: a.ID, Amount: dec("1"), IdempotencyKey: "d3"}},             // the plan lot has expired: paid
			{2 * time.Minute, ChargeRequest{AccountID: a.ID, Amount: dec("12"), IdempotencyKey: "d4"}},            // 9 left: 3 unpaid
			{3 * time.Minute, ChargeRequest{AccountID: a.ID, Amount: dec("2"), IdempotencyKey: "d5"}},             // all unpaid
			{3 * time.Minute, ChargeRequest{AccountID: a.ID, Amount: dec("12"), IdempotencyKey: "d4"}},            // replayed
		}
	}
	jobsOf := func(a Account) []*job {
		var jobs []*job
		for _, s := range steps(a) {
			now = start.Add(s.at)
			j, _, err := l.chargeJob(s.r)
			require.NoError(t, err)
			jobs = append(jobs, j)
		}
		return jobs
	}
	answers := func(jobs []*job) []map[string]any {
		var out []map[string]any
		for _, j := range jobs {
			<-j.done
			require.NoError(t, j.err)
			var m map[string]any
			require.NoError(t, json.Unmarshal(j.raw, &m))
			delete(m, "op_id")
			delete(m, "pool")
			out = append(out, m)
		}
		return out
	}
	type row struct {
		Type, Amount, Balance, Unpaid, Kind, Key, Session string
		At                                                time.Time
	}
	events := func(a Account) []row {
		rows, err := pool.Query(ctx, `SELECT e.type::text, e.amount::text, e.balance_after::text, e.unpaid::text,
			coalesce(l.kind::text, ''), e.idempotency_key, e.session_id, e.at
			FROM ledger_events e LEFT JOIN ledger_lots l ON l.pool_id = e.pool_id AND l.id = e.lot_id
			WHERE e.pool_id = $1 AND e.type IN ('deduction', 'unpaid_usage') ORDER BY e.id`, a.ID)
		require.NoError(t, err)
		out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			err := r.Scan(&x.Type, &x.Amount, &x.Balance, &x.Unpaid, &x.Kind, &x.Key, &x.Session, &x.At)
			return x, err
		})
		require.NoError(t, err)
		return out
	}
	lots := func(a Account) []string {
		rows, err := pool.Query(ctx, `SELECT kind::text || ' ' || remaining::text FROM ledger_lots WHERE pool_id = $1 ORDER BY id`, a.ID)
		require.NoError(t, err)
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return out
	}

	now = start
	a, b := mkAccount(), mkAccount()
	batchedJobs := jobsOf(a)
	w.flush(slices.Clone(batchedJobs))
	require.Zero(t, w.fallbacks.Load(), "the batch ran as one call")
	batched := answers(batchedJobs)
	var singleJobs []*job
	for _, j := range jobsOf(b) {
		w.flush([]*job{j})
		singleJobs = append(singleJobs, j)
	}
	single := answers(singleJobs)
	require.Equal(t, single, batched)

	require.Equal(t, true, batched[1]["replayed"], "a key repeated within the batch replays its first charge")
	require.Equal(t, "idempotency_conflict", batched[2]["error"])
	require.Equal(t, true, batched[3]["replayed"], "a key used before the batch replays")
	require.Equal(t, "idempotency_conflict", batched[4]["error"])
	require.Equal(t, "retry_window_passed", batched[5]["error"])
	require.EqualValues(t, 1, batched[6]["plan_charged"], "the plan lot pays before it expires")
	require.EqualValues(t, 0, batched[7]["plan_charged"], "and not after")
	require.EqualValues(t, 9, batched[7]["available"], "the expired lot's 0.5 is not available")
	require.EqualValues(t, 9, batched[8]["charged"])
	require.EqualValues(t, 3, batched[8]["unpaid"])
	require.EqualValues(t, 0, batched[9]["charged"])
	require.EqualValues(t, 2, batched[9]["unpaid"])
	require.Equal(t, true, batched[10]["replayed"])

	evA := events(a)
	require.Equal(t, events(b), evA)
	require.Len(t, evA, 7, "before, d1, d2 (plan); d3 (paid); d4 (paid, unpaid); d5 (unpaid)")
	require.True(t, start.Add(2*time.Minute).Equal(evA[3].At), "each charge keeps its own time: %s", evA[3].At)
	require.Equal(t, lots(b), lots(a))
	require.Equal(t, []string{"paid 0.000000", "plan 0.500000"}, lots(a), "never negative; the expired lot keeps what expiry takes")

	// The same batch again: every answer from the records, no row more.
	again := jobsOf(a)
	w.flush(slices.Clone(again))
	replayed := answers(again)
	for i, m := range replayed {
		if batched[i]["error"] != nil {
			require.Equal(t, batched[i]["error"], m["error"], "request %d", i)
			continue
		}
		require.Equal(t, true, m["replayed"], "request %d", i)
		require.Equal(t, batched[i]["charged"], m["charged"], "request %d", i)
	}
	require.Len(t, events(a), len(evA))
	for _, acct := range []Account{a, b} {
		bal, err := l.Balance(ctx, acct.ID)
		require.NoError(t, err)
		require.True(t, bal.Available.IsZero(), "got %s", bal.Available)
	}
	m, err := l.Verify(ctx)
	require.NoError(t, err)
	require.Empty(t, m)
}

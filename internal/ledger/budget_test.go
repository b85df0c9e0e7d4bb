package ledger_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

// setBudget sets a budget in its own transaction and returns its id.
func (b *testBundle) setBudget(t *testing.T, s ledger.BudgetSpec) int64 {
	t.Helper()
	if s.Period == "" {
		s.Period = ledger.BudgetMonth
	}
	if s.Unit == "" {
		s.Unit = ledger.BudgetCredits
	}
	if s.Actor == "" {
		s.Actor = "test"
	}
	var id int64
	err := pgx.BeginFunc(b.ctx, dbtest.Pool(t), func(tx pgx.Tx) error {
		var err error
		id, err = b.l.SetBudgetTx(b.ctx, tx, s)
		return err
	})
	require.NoError(t, err)
	return id
}

func (b *testBundle) budget(t *testing.T, accountID, id int64) ledger.Budget {
	t.Helper()
	bs, err := b.l.Budgets(b.ctx, accountID)
	require.NoError(t, err)
	for _, x := range bs {
		if x.ID == id {
			return x
		}
	}
	t.Fatalf("budget %d not listed for account %d", id, accountID)
	return ledger.Budget{}
}

// raceReserves runs n reserves of one credit at once, each from
// accounts[i % len] with the labels, and returns the reservations made and
// how many a budget refused; any other error fails the test.
func raceReserves(t *testing.T, b *testBundle, n int, accounts []int64, project, key string) ([]ledger.Reservation, int) {
	t.Helper()
	var (
		mu      sync.Mutex
		made    []ledger.Reservation
		refused int
		wg      sync.WaitGroup
		start   = make(chan struct{})
		errs    []error
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{TTL: longTTL, AccountID: accounts[i%len(accounts)], Amount: d("1"),
				IdempotencyKey: key + "race" + keyN(), Model: "m", Project: project, Key: key})
			mu.Lock()
			defer mu.Unlock()
			var be *ledger.BudgetExceededError
			switch {
			case err == nil:
				made = append(made, r)
			case errors.As(err, &be):
				refused++
			default:
				errs = append(errs, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	require.Empty(t, errs)
	return made, refused
}

func keyN() string { return key() }

// longTTL keeps this file's holds out of the TTL sweeps other tests of the
// package run on the shared database (a sweep takes a batch of the due
// holds of every pool).
const longTTL = 100 * 365 * 24 * time.Hour

// 80 reserves of one credit race at each level a budget can sit on, with a
// hard stop at 50: exactly 50 are held and 30 refused, the budget has used
// exactly 50, and the budget above (the wider scope, with more room) counts
// the same 50. The check and the count run in the transaction of the hold,
// under the pool's lock.
func TestBudgetHoldsExactlyUnderConcurrency(t *testing.T) {
	const calls, cap = 80, 50
	b := setup(t, ledger.Options{})
	for _, tc := range []struct {
		name string
		// build returns the accounts calling, the budget's scope and the
		// scope of a wider budget around it (room 1000)
		build func(t *testing.T) (callers []int64, inner, outer ledger.BudgetSpec, project, key string)
		// outerCountsAll: every caller is in the outer budget's scope (else
		// only the outer budget's own account)
		outerCountsAll bool
	}{
		{"Enterprise", func(t *testing.T) ([]int64, ledger.BudgetSpec, ledger.BudgetSpec, string, string) {
			ent := b.account(t, ledger.AccountEnterprise)
			b.credit(t, ent.ID, "10000", lotOpts{})
			s1, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: ent.ID})
			require.NoError(t, err)
			s2, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: ent.ID})
			require.NoError(t, err)
			// the sub-account's own budget is wider than the enterprise's
			return []int64{s1.ID, s2.ID, ent.ID}, ledger.BudgetSpec{AccountID: ent.ID},
				ledger.BudgetSpec{AccountID: s1.ID}, "", ""
		}, false},
		{"SubAccount", func(t *testing.T) ([]int64, ledger.BudgetSpec, ledger.BudgetSpec, string, string) {
			ent := b.account(t, ledger.AccountEnterprise)
			b.credit(t, ent.ID, "10000", lotOpts{})
			s1, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: ent.ID})
			require.NoError(t, err)
			return []int64{s1.ID}, ledger.BudgetSpec{AccountID: s1.ID}, ledger.BudgetSpec{AccountID: ent.ID}, "", ""
		}, true},
		{"Project", func(t *testing.T) ([]int64, ledger.BudgetSpec, ledger.BudgetSpec, string, string) {
			ent := b.account(t, ledger.AccountEnterprise)
			b.credit(t, ent.ID, "10000", lotOpts{})
			s1, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: ent.ID})
			require.NoError(t, err)
			return []int64{s1.ID}, ledger.BudgetSpec{AccountID: s1.ID, Project: "search"},
				ledger.BudgetSpec{AccountID: s1.ID}, "search", "k-1"
		}, true},
		{"Key", func(t *testing.T) ([]int64, ledger.BudgetSpec, ledger.BudgetSpec, string, string) {
			acc := b.account(t, ledger.AccountIndividual) // its own pool: the batched fast path
			b.credit(t, acc.ID, "10000", lotOpts{})
			return []int64{acc.ID}, ledger.BudgetSpec{AccountID: acc.ID, Project: "search", Key: "k-1"},
				ledger.BudgetSpec{AccountID: acc.ID, Project: "search"}, "search", "k-1"
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			callers, inner, outer, project, k := tc.build(t)
			inner.Amount, inner.HardStop = decimal.NewFromInt(cap), true
			outer.Amount, outer.HardStop = decimal.NewFromInt(1000), true
			innerID := b.setBudget(t, inner)
			outerID := b.setBudget(t, outer)

			made, refused := raceReserves(t, b, calls, callers, project, k)
			require.Len(t, made, cap, "holds made")
			require.Equal(t, calls-cap, refused, "refused by the budget")
			requireDec(t, "50", b.budget(t, inner.AccountID, innerID).Used, "inner budget used")
			inOuter := 0 // the holds made in the outer budget's scope
			for _, r := range made {
				if tc.outerCountsAll || r.AccountID == outer.AccountID {
					inOuter++
				}
			}
			requireDec(t, decimal.NewFromInt(int64(inOuter)).String(), b.budget(t, outer.AccountID, outerID).Used, "outer budget used")

			// commits of 0.4 and releases give room back: used is what was charged
			for i, r := range made {
				if i%2 == 0 {
					_, err := b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: r.ID, Actual: d("0.4")})
					require.NoError(t, err)
				} else {
					_, err := b.l.Release(b.ctx, r.ID)
					require.NoError(t, err)
				}
			}
			requireDec(t, "10", b.budget(t, inner.AccountID, innerID).Used, "after commits of 25 × 0.4 and 25 releases")
			made, refused = raceReserves(t, b, calls, callers, project, k)
			require.Len(t, made, 40, "room left: 50 - 10")
			require.Equal(t, calls-40, refused)
			b.verifyClean(t)
		})
	}
}

// A call outside a budget's scope is not counted in it: another project
// of the account, another key of the project.
func TestBudgetScopes(t *testing.T) {
	b := setup(t, ledger.Options{})
	acc := b.account(t, ledger.AccountIndividual)
	b.credit(t, acc.ID, "1000", lotOpts{})
	keyBudget := b.setBudget(t, ledger.BudgetSpec{AccountID: acc.ID, Project: "p", Key: "k", Amount: d("5"), HardStop: true})
	projBudget := b.setBudget(t, ledger.BudgetSpec{AccountID: acc.ID, Project: "p", Amount: d("8"), HardStop: true})
	reserve := func(project, key string, amount string) error {
		_, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{TTL: longTTL, AccountID: acc.ID, Amount: d(amount), IdempotencyKey: keyN(),
			Project: project, Key: key})
		return err
	}
	require.NoError(t, reserve("p", "k", "5"))
	require.ErrorIs(t, reserve("p", "k", "1"), ledger.ErrBudgetExceeded, "key budget full")
	require.NoError(t, reserve("p", "other", "3"), "another key: only the project's budget")
	err := reserve("p", "other", "1")
	var be *ledger.BudgetExceededError
	require.ErrorAs(t, err, &be, "project budget full")
	require.Equal(t, projBudget, be.BudgetID)
	requireDec(t, "0", be.Available)
	require.NoError(t, reserve("q", "k", "100"), "another project")
	require.NoError(t, reserve("", "", "100"), "no labels")
	requireDec(t, "5", b.budget(t, acc.ID, keyBudget).Used)
	requireDec(t, "8", b.budget(t, acc.ID, projBudget).Used)

	// the labels are on the reservation's events
	var project, label string
	require.NoError(t, dbtest.Pool(t).QueryRow(b.ctx, `SELECT project, key_label FROM ledger_event_view
		WHERE pool_id = $1 AND type = 'reservation' ORDER BY id LIMIT 1`, acc.ID).Scan(&project, &label))
	require.Equal(t, []string{"p", "k"}, []string{project, label})

	// a usage charge counts and is refused the same way
	_, err = b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: d("1"), IdempotencyKey: keyN(), Project: "p", Key: "z"})
	require.ErrorIs(t, err, ledger.ErrBudgetExceeded)
	_, err = b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: d("1"), IdempotencyKey: keyN(), Project: "q"})
	require.NoError(t, err)
}

// Periods start at midnight in Shanghai (16:00 UTC): a day budget full at
// 23:59:59 refuses with retry_at the next midnight and holds again one
// second later, without any job having run; a hold made before midnight
// and committed after it moves the old period's counter, not the new one.
func TestBudgetPeriodBoundaryShanghai(t *testing.T) {
	for _, tc := range []struct {
		period      ledger.BudgetPeriod
		before, end time.Time // the last second of a period, and the next period's start
	}{
		// Saturday 1 March 2025, 23:59:59 in Shanghai
		{ledger.BudgetDay, time.Date(2025, 3, 1, 15, 59, 59, 0, time.UTC), time.Date(2025, 3, 1, 16, 0, 0, 0, time.UTC)},
		// Sunday 2 March 23:59:59; the week starts on Monday 3 March
		{ledger.BudgetWeek, time.Date(2025, 3, 2, 15, 59, 59, 0, time.UTC), time.Date(2025, 3, 2, 16, 0, 0, 0, time.UTC)},
		// 31 March 23:59:59; April starts
		{ledger.BudgetMonth, time.Date(2025, 3, 31, 15, 59, 59, 0, time.UTC), time.Date(2025, 3, 31, 16, 0, 0, 0, time.UTC)},
	} {
		t.Run(string(tc.period), func(t *testing.T) {
			b := setup(t, ledger.Options{})
			b.clock.t = tc.before.Add(-time.Hour)
			acc := b.account(t, ledger.AccountIndividual)
			b.credit(t, acc.ID, "1000", lotOpts{})
			id := b.setBudget(t, ledger.BudgetSpec{AccountID: acc.ID, Period: tc.period, Amount: d("10"), HardStop: true})
			r1, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{TTL: longTTL, AccountID: acc.ID, Amount: d("6"), IdempotencyKey: keyN()})
			require.NoError(t, err)
			b.clock.t = tc.before
			_, err = b.l.Reserve(b.ctx, ledger.ReserveRequest{TTL: longTTL, AccountID: acc.ID, Amount: d("4"), IdempotencyKey: keyN()})
			require.NoError(t, err)
			_, err = b.l.Reserve(b.ctx, ledger.ReserveRequest{TTL: longTTL, AccountID: acc.ID, Amount: d("1"), IdempotencyKey: keyN()})
			var be *ledger.BudgetExceededError
			require.ErrorAs(t, err, &be)
			require.NotNil(t, be.ResetAt)
			require.True(t, tc.end.Equal(*be.ResetAt), "retry at %s, want %s", be.ResetAt, tc.end)
			bu := b.budget(t, acc.ID, id)
			require.True(t, tc.end.Equal(*bu.ResetAt))
			require.Equal(t, tc.end, *ledger.PeriodEnd(tc.period, tc.before))
			require.True(t, ledger.PeriodStart(tc.period, tc.end).Equal(tc.end))

			b.clock.t = tc.end
			requireDec(t, "0", b.budget(t, acc.ID, id).Used, "a new period has used nothing")
			_, err = b.l.Reserve(b.ctx, ledger.ReserveRequest{TTL: longTTL, AccountID: acc.ID, Amount: d("7"), IdempotencyKey: keyN()})
			require.NoError(t, err)
			// the old period's hold is charged now: it does not count again
			_, err = b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: r1.ID, Actual: d("6")})
			require.NoError(t, err)
			requireDec(t, "7", b.budget(t, acc.ID, id).Used)
			_, err = b.l.Reserve(b.ctx, ledger.ReserveRequest{TTL: longTTL, AccountID: acc.ID, Amount: d("3"), IdempotencyKey: keyN()})
			require.NoError(t, err)
			_, err = b.l.Reserve(b.ctx, ledger.ReserveRequest{TTL: longTTL, AccountID: acc.ID, Amount: d("0.000001"), IdempotencyKey: keyN()})
			require.ErrorIs(t, err, ledger.ErrBudgetExceeded)
		})
	}
}

// PeriodStart agrees with the SQL that counts (ledger_budget_period_start)
// around the boundaries of a year.
func TestBudgetPeriodStartMatchesSQL(t *testing.T) {
	b := setup(t, ledger.Options{})
	pool := dbtest.Pool(t)
	for _, at := range []time.Time{
		time.Date(2024, 12, 31, 15, 59, 59, 0, time.UTC), time.Date(2024, 12, 31, 16, 0, 0, 0, time.UTC),
		time.Date(2025, 2, 28, 16, 30, 0, 0, time.UTC), time.Date(2025, 6, 8, 23, 0, 0, 0, time.UTC),
		time.Date(2025, 6, 9, 0, 0, 0, 0, time.UTC),
	} {
		for _, p := range []ledger.BudgetPeriod{ledger.BudgetDay, ledger.BudgetWeek, ledger.BudgetMonth} {
			var start, end time.Time
			require.NoError(t, pool.QueryRow(b.ctx, `SELECT ledger_budget_period_start($1, $2),
				ledger_budget_period_end($1, ledger_budget_period_start($1, $2))`, string(p), at).Scan(&start, &end))
			require.True(t, start.Equal(ledger.PeriodStart(p, at)), "%s %s: sql %s go %s", p, at, start, ledger.PeriodStart(p, at))
			require.True(t, end.Equal(*ledger.PeriodEnd(p, at)), "%s %s end", p, at)
		}
	}
}

// Thresholds are recorded once per period each; an alert-only budget lets
// calls through past 100 %; a refusal records the hard stop's 100 %.
func TestBudgetThresholdAlerts(t *testing.T) {
	b := setup(t, ledger.Options{})
	acc := b.account(t, ledger.AccountIndividual)
	b.credit(t, acc.ID, "1000", lotOpts{})
	soft := b.setBudget(t, ledger.BudgetSpec{AccountID: acc.ID, Period: ledger.BudgetDay, Amount: d("10"), Thresholds: []int{50, 80, 100}})
	hard := b.setBudget(t, ledger.BudgetSpec{AccountID: acc.ID, Project: "p", Period: ledger.BudgetDay, Amount: d("4"),
		Thresholds: []int{50, 100}, HardStop: true})
	reserve := func(project, amount string) error {
		_, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{TTL: longTTL, AccountID: acc.ID, Amount: d(amount), IdempotencyKey: keyN(), Project: project})
		return err
	}
	require.NoError(t, reserve("", "5"))  // 50 %
	require.NoError(t, reserve("", "1"))  // 60 %: nothing new
	require.NoError(t, reserve("", "4"))  // 100 %: 80 and 100 at once
	require.NoError(t, reserve("", "3"))  // 130 %: alert only, not refused
	require.NoError(t, reserve("p", "3")) // the project's 50 % (and 160 % of the account's)
	require.ErrorIs(t, reserve("p", "2"), ledger.ErrBudgetExceeded)
	require.ErrorIs(t, reserve("p", "2"), ledger.ErrBudgetExceeded)

	claim := func() []ledger.BudgetAlert {
		var as []ledger.BudgetAlert
		require.NoError(t, pgx.BeginFunc(b.ctx, dbtest.Pool(t), func(tx pgx.Tx) error {
			var err error
			as, err = b.l.ClaimBudgetAlertsTx(b.ctx, tx, 100)
			return err
		}))
		return as
	}
	due := claim()
	type alert struct {
		budget    int64
		threshold int
		refused   bool
	}
	var got []alert
	for _, a := range due {
		if a.PoolID == acc.ID {
			got = append(got, alert{a.BudgetID, a.Threshold, a.Refused})
		}
	}
	require.ElementsMatch(t, []alert{{soft, 50, false}, {soft, 80, false}, {soft, 100, false}, {hard, 50, false}, {hard, 100, true}}, got)
	for _, a := range claim() {
		require.NotEqual(t, acc.ID, a.PoolID, "claimed once")
	}
	// the next day counts again and alerts again
	b.clock.Add(24 * time.Hour)
	require.NoError(t, reserve("", "6"))
	due = claim()
	got = nil
	for _, a := range due {
		if a.PoolID == acc.ID {
			got = append(got, alert{a.BudgetID, a.Threshold, a.Refused})
		}
	}
	require.Equal(t, []alert{{soft, 50, false}}, got)
}

// Bad specs name every bad field at once; a budget in yuan caps the
// credits it buys; deleting the last budget leaves the pool unbudgeted.
func TestBudgetSpecAndDelete(t *testing.T) {
	errs := ledger.BudgetSpec{Project: " x", Key: "a\x01", Period: "year", Unit: "usd", Amount: d("-1"), Thresholds: []int{0}}.Check()
	var fields []string
	for _, e := range errs {
		require.ErrorIs(t, e, ledger.ErrInvalidArgument)
		fields = append(fields, e.Field)
	}
	require.Equal(t, []string{"account", "project", "key", "period", "unit", "amount", "thresholds"}, fields)

	b := setup(t, ledger.Options{})
	acc := b.account(t, ledger.AccountIndividual)
	b.credit(t, acc.ID, "100000", lotOpts{})
	id := b.setBudget(t, ledger.BudgetSpec{AccountID: acc.ID, Unit: ledger.BudgetYuan, Amount: d("5.00"), HardStop: true})
	bu := b.budget(t, acc.ID, id)
	requireDec(t, "5000", bu.Cap, "¥5 at ¥0.001 a credit")
	_, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{TTL: longTTL, AccountID: acc.ID, Amount: d("5000.000001"), IdempotencyKey: keyN()})
	require.ErrorIs(t, err, ledger.ErrBudgetExceeded)

	// changing the amount keeps what the period used
	r, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{TTL: longTTL, AccountID: acc.ID, Amount: d("3000"), IdempotencyKey: keyN()})
	require.NoError(t, err)
	b.setBudget(t, ledger.BudgetSpec{AccountID: acc.ID, Unit: ledger.BudgetYuan, Amount: d("4.00"), HardStop: true})
	requireDec(t, "3000", b.budget(t, acc.ID, id).Used)

	require.NoError(t, pgx.BeginFunc(b.ctx, dbtest.Pool(t), func(tx pgx.Tx) error { return b.l.DeleteBudgetTx(b.ctx, tx, acc.ID, id) }))
	_, err = b.l.Reserve(b.ctx, ledger.ReserveRequest{TTL: longTTL, AccountID: acc.ID, Amount: d("5000"), IdempotencyKey: keyN()})
	require.NoError(t, err)
	_, err = b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: r.ID, Actual: d("3000")})
	require.NoError(t, err, "a hold counted in a deleted budget settles into nothing")
	var budgeted bool
	require.NoError(t, dbtest.Pool(t).QueryRow(b.ctx, `SELECT budgeted FROM ledger_accounts WHERE id = $1`, acc.ID).Scan(&budgeted))
	require.False(t, budgeted)
	b.verifyClean(t)
}

// A budget set mid-period starts from what its scope was charged since the
// period began (its project's charges only, for a project budget), not
// from 0; charges of the previous period do not count.
func TestBudgetStartsFromThePeriodsCharges(t *testing.T) {
	b := setup(t, ledger.Options{})
	acc := b.account(t, ledger.AccountIndividual)
	b.credit(t, acc.ID, "1000", lotOpts{})
	charge := func(project, amount string) {
		_, err := b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: d(amount), IdempotencyKey: keyN(), Project: project})
		require.NoError(t, err)
	}
	charge("p", "100") // 2025-03-01 08:00 UTC: Saturday in Shanghai
	b.clock.Add(24 * time.Hour)
	charge("p", "7")
	charge("q", "5")
	day := b.setBudget(t, ledger.BudgetSpec{AccountID: acc.ID, Project: "p", Period: ledger.BudgetDay, Amount: d("10"), HardStop: true})
	month := b.setBudget(t, ledger.BudgetSpec{AccountID: acc.ID, Period: ledger.BudgetMonth, Amount: d("1000")})
	requireDec(t, "7", b.budget(t, acc.ID, day).Used, "today's charges of project p")
	requireDec(t, "112", b.budget(t, acc.ID, month).Used, "this month's charges of the account")
	_, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{TTL: longTTL, AccountID: acc.ID, Amount: d("4"), IdempotencyKey: keyN(), Project: "p"})
	require.ErrorIs(t, err, ledger.ErrBudgetExceeded, "7 + 4 > 10")
}

// A budget set while calls are in flight counts their open holds: they
// can not pass it, and their commits and releases settle it like holds
// made after it.
func TestBudgetCountsHoldsOpenWhenSet(t *testing.T) {
	b := setup(t, ledger.Options{})
	acc := b.account(t, ledger.AccountIndividual)
	b.credit(t, acc.ID, "1000", lotOpts{})
	var held []ledger.Reservation
	for range 8 {
		r, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{TTL: longTTL, AccountID: acc.ID, Amount: d("1"), IdempotencyKey: keyN(), Project: "p"})
		require.NoError(t, err)
		held = append(held, r)
	}
	other, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{TTL: longTTL, AccountID: acc.ID, Amount: d("5"), IdempotencyKey: keyN(), Project: "q"})
	require.NoError(t, err)

	id := b.setBudget(t, ledger.BudgetSpec{AccountID: acc.ID, Project: "p", Amount: d("10"), HardStop: true})
	requireDec(t, "8", b.budget(t, acc.ID, id).Used, "the eight open holds of project p, not project q's")
	_, err = b.l.Reserve(b.ctx, ledger.ReserveRequest{TTL: longTTL, AccountID: acc.ID, Amount: d("3"), IdempotencyKey: keyN(), Project: "p"})
	require.ErrorIs(t, err, ledger.ErrBudgetExceeded, "8 open + 3 > 10")

	_, err = b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: held[0].ID, Actual: d("0.5")})
	require.NoError(t, err)
	_, err = b.l.Release(b.ctx, held[1].ID)
	require.NoError(t, err)
	requireDec(t, "6.5", b.budget(t, acc.ID, id).Used, "a commit settles what it charged, a release gives its hold back")
	_, err = b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: other.ID, Actual: d("5")})
	require.NoError(t, err)
	requireDec(t, "6.5", b.budget(t, acc.ID, id).Used, "project q is outside the budget")

	// changing the period kind starts the budget again from this period's
	// charges plus the holds still open (six of one credit), once each
	b.setBudget(t, ledger.BudgetSpec{AccountID: acc.ID, Project: "p", Period: ledger.BudgetDay, Amount: d("10"), HardStop: true})
	requireDec(t, "6.5", b.budget(t, acc.ID, id).Used, "0.5 charged today and six holds of 1")
	_, err = b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: held[2].ID, Actual: d("1")})
	require.NoError(t, err)
	requireDec(t, "6.5", b.budget(t, acc.ID, id).Used, "a hold committed in full leaves the count as it was")
}

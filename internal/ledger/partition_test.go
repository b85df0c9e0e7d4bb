package ledger_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

var shanghai = time.FixedZone("CST", 8*3600)

// partitionBundle is a database of the test's own (partitions are created
// and detached, which the package's other tests must not see), a ledger on
// it as the server runs it (the application role) with a movable clock,
// and the owner role's pool the partition job runs as.
type partitionBundle struct {
	*testBundle
	owner, app *pgxpool.Pool
	// first is the start of the first month after the months the
	// migration covered (ledger_events_after's lower bound, a Shanghai
	// month start): the months the test creates partitions for.
	first time.Time
}

func setupPartitions(t *testing.T) *partitionBundle {
	t.Helper()
	ctx := context.Background()
	owner, app, _ := dbtest.OwnRoles(t)
	parts, err := ledger.Partitions(ctx, owner)
	require.NoError(t, err)
	last := parts[len(parts)-1]
	require.Equal(t, "ledger_events_after", last.Name)
	require.True(t, last.To.IsZero(), "ledger_events_after runs to MAXVALUE")
	c := &clock{t: last.From}
	l := ledger.New(app, ledger.Options{Now: c.Now})
	t.Cleanup(l.Close)
	return &partitionBundle{testBundle: &testBundle{ctx: ctx, l: l, clock: c}, owner: owner, app: app, first: last.From}
}

// monthName is the partition of the Shanghai month of at.
func monthName(at time.Time) string {
	return "ledger_events_" + at.In(shanghai).Format("2006_01")
}

// addMonths is the start of the Shanghai month n months after the one of at.
func addMonths(at time.Time, n int) time.Time {
	s := at.In(shanghai)
	return time.Date(s.Year(), s.Month()+time.Month(n), 1, 0, 0, 0, 0, shanghai).UTC()
}

type balancePoint struct {
	at      time.Time
	balance decimal.Decimal
}

// billMonths credits acc and bills it on three days of each of months
// Shanghai months from b.first, returning the balance after each write at
// its ledger time.
func (b *partitionBundle) billMonths(t *testing.T, acc int64, months int) []balancePoint {
	t.Helper()
	b.clock.t = b.first.Add(26 * time.Hour)
	var points []balancePoint
	balance := func() balancePoint {
		bal, err := b.l.Balance(b.ctx, acc)
		require.NoError(t, err)
		return balancePoint{b.clock.Now(), bal.Available}
	}
	_, err := b.l.Credit(b.ctx, ledger.CreditRequest{AccountID: acc, Kind: ledger.LotPaid, Amount: d("1000"), IdempotencyKey: key(), Actor: "test"})
	require.NoError(t, err)
	points = append(points, balance())
	for m := range months {
		for _, day := range []int{2, 11, 27} {
			b.clock.t = addMonths(b.first, m).Add(time.Duration(day)*24*time.Hour + 3*time.Hour)
			r, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc, Amount: d("9"), IdempotencyKey: key(), Model: "m"})
			require.NoError(t, err)
			b.clock.Add(time.Minute)
			_, err = b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: r.ID, Actual: d("7.5"), IdempotencyKey: key()})
			require.NoError(t, err)
			points = append(points, balance())
			b.clock.Add(time.Hour)
			_, err = b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc, Amount: d("1.25"), IdempotencyKey: key(), Model: "m"})
			require.NoError(t, err)
			points = append(points, balance())
		}
	}
	return points
}

// TestEventsLandInTheirMonthsPartitions: the job creates a partition per
// Shanghai month ahead (four months here); events billed on three days of
// each month land in their month's partition, the job run again creates
// nothing, BalanceAt answers at points in each month (at and just after
// each write) the balance after the last write up to that point,
// the event pages walk every event across the months once, newest first,
// and verify is clean.
func TestEventsLandInTheirMonthsPartitions(t *testing.T) {
	b := setupPartitions(t)
	made, err := ledger.CreatePartitions(b.ctx, b.owner, b.first, 3)
	require.NoError(t, err)
	require.Equal(t, 4, made)
	again, err := ledger.CreatePartitions(b.ctx, b.owner, b.first, 3)
	require.NoError(t, err)
	require.Zero(t, again, "a second run creates nothing")
	_, err = ledger.CreatePartitions(b.ctx, b.app, addMonths(b.first, 4), 0)
	require.Error(t, err, "the application role may not create partitions")

	parts, err := ledger.Partitions(b.ctx, b.owner)
	require.NoError(t, err)
	var names []string
	for _, p := range parts {
		names = append(names, p.Name)
	}
	for m := range 4 {
		require.Contains(t, names, monthName(addMonths(b.first, m)))
	}
	require.Equal(t, addMonths(b.first, 4), parts[len(parts)-1].From, "ledger_events_after starts after the months created")

	acc := b.account(t, ledger.AccountIndividual)
	points := b.billMonths(t, acc.ID, 4)

	rows, err := b.owner.Query(b.ctx, `SELECT tableoid::regclass::text, at FROM ledger_events WHERE pool_id = $1`, acc.ID)
	require.NoError(t, err)
	seen := map[string]int{}
	for rows.Next() {
		var part string
		var at time.Time
		require.NoError(t, rows.Scan(&part, &at))
		require.Equal(t, monthName(at), part, "event at %s", at)
		seen[part]++
	}
	require.NoError(t, rows.Err())
	require.Len(t, seen, 4, "events in four months' partitions: %v", seen)

	for _, p := range points {
		for _, at := range []time.Time{p.at, p.at.Add(30 * time.Second)} {
			got, err := b.l.BalanceAt(b.ctx, acc.ID, at)
			require.NoError(t, err)
			requireDec(t, p.balance.String(), got, "at", at)
		}
	}
	got, err := b.l.BalanceAt(b.ctx, acc.ID, b.first)
	require.NoError(t, err)
	requireDec(t, "0", got, "before the first write")
	got, err = b.l.BalanceAt(b.ctx, acc.ID, addMonths(b.first, 6))
	require.NoError(t, err)
	requireDec(t, points[len(points)-1].balance.String(), got, "after the last month")

	var ids []int64
	require.NoError(t, b.owner.QueryRow(b.ctx, `SELECT array_agg(id ORDER BY id DESC) FROM ledger_events WHERE pool_id = $1`, acc.ID).Scan(&ids))
	var paged []int64
	var cursor int64
	for {
		evs, next, err := b.l.Events(b.ctx, acc.ID, ledger.EventFilter{}, cursor, 4)
		require.NoError(t, err)
		for _, e := range evs {
			paged = append(paged, e.ID)
		}
		if next == 0 {
			break
		}
		cursor = next
	}
	require.Equal(t, ids, paged, "pages walk every event once, newest first")

	head, err := ledger.Head(b.ctx, b.app, acc.ID)
	require.NoError(t, err)
	require.Equal(t, ids[0], head)

	mismatches, err := b.l.Verify(b.ctx)
	require.NoError(t, err)
	require.Empty(t, mismatches)
}

// TestCreatePartitionsWhileBilling: 64 clients bill their own accounts
// while the job creates six months of partitions ahead, one run at a time
// (each detaches and attaches ledger_events_after under the writes): every
// write is applied exactly once and verify is clean.
func TestCreatePartitionsWhileBilling(t *testing.T) {
	b := setupPartitions(t)
	b.clock.t = b.first.Add(-48 * time.Hour) // the writes stay in the months the migration covered
	const clients, writes = 64, 12
	accs := make([]int64, clients)
	for i := range accs {
		accs[i] = b.account(t, ledger.AccountIndividual).ID
		b.credit(t, accs[i], "100", lotOpts{})
	}
	var wg sync.WaitGroup
	errs := make(chan error, clients*writes+10)
	for i := range clients {
		wg.Go(func() {
			for w := range writes {
				k := fmt.Sprintf("part-%d-%d", i, w)
				if _, err := b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: accs[i], Amount: d("1.5"), IdempotencyKey: k, Model: "m"}); err != nil {
					errs <- err
				}
				// a retry of the same key is a replay, never a second charge
				if _, err := b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: accs[i], Amount: d("1.5"), IdempotencyKey: k, Model: "m"}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Go(func() {
		for m := range 6 {
			if _, err := ledger.CreatePartitions(b.ctx, b.owner, addMonths(b.first, m), 0); err != nil {
				errs <- err
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	parts, err := ledger.Partitions(b.ctx, b.owner)
	require.NoError(t, err)
	var names []string
	for _, p := range parts {
		names = append(names, p.Name)
	}
	for m := range 6 {
		require.True(t, slices.Contains(names, monthName(addMonths(b.first, m))), "%s in %v", monthName(addMonths(b.first, m)), names)
	}
	for _, acc := range accs {
		bal, err := b.l.Balance(b.ctx, acc)
		require.NoError(t, err)
		requireDec(t, "82", bal.Available, "account", acc)
		var n int
		require.NoError(t, b.owner.QueryRow(b.ctx, `SELECT count(*) FROM ledger_events WHERE pool_id = $1 AND type = 'deduction'`, acc).Scan(&n))
		require.Equal(t, writes, n)
	}
	mismatches, err := b.l.Verify(b.ctx)
	require.NoError(t, err)
	require.Empty(t, mismatches)
}

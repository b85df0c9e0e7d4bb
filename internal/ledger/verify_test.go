package ledger_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

// verifyHistory is one enterprise pool with every kind of row Verify reads.
type verifyHistory struct {
	pool          int64
	paid, promo   int64 // lots
	open, closed  int64 // reservations
	deduction     int64 // the closed reservation's deduction event
	afterDeduct   int64 // the event after it
	status        int64 // a status event (amount 0, no lot)
	last          int64 // the pool's last event
	transferOp    int64
	otherPoolsLot int64 // a lot of another pool
}

// buildVerifyHistory: ¥100 paid and 30 promo; team A reserves 40 (30 promo,
// 10 paid) and commits 25; team B transfers 5 of its allocation to A; the
// pool is frozen and unfrozen; the enterprise holds 10 more (5 promo, 5
// paid), left open.
func buildVerifyHistory(t *testing.T, b *testBundle, pool *pgxpool.Pool) verifyHistory {
	t.Helper()
	ent := b.account(t, ledger.AccountEnterprise)
	fifty, twenty := d("50"), d("20")
	a, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: ent.ID, Allocation: &fifty, Name: "team A"})
	require.NoError(t, err)
	bsub, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: ent.ID, Allocation: &twenty, Name: "team B"})
	require.NoError(t, err)
	h := verifyHistory{pool: ent.ID}
	h.paid = b.credit(t, ent.ID, "100", lotOpts{}).ID
	h.promo = b.credit(t, ent.ID, "30", lotOpts{kind: ledger.LotPromo}).ID

	res, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: a.ID, Amount: d("40"), IdempotencyKey: key()})
	require.NoError(t, err)
	h.closed = res.ID
	_, err = b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: res.ID, Actual: d("25")})
	require.NoError(t, err)
	tr, err := b.l.Transfer(b.ctx, ledger.TransferRequest{From: bsub.ID, To: a.ID, Amount: d("5"), IdempotencyKey: key(), Actor: "admin"})
	require.NoError(t, err)
	h.transferOp = tr.OpID
	require.NoError(t, b.l.SetStatus(b.ctx, ent.ID, ledger.StatusFrozen, "admin", "check"))
	require.NoError(t, b.l.SetStatus(b.ctx, ent.ID, ledger.StatusActive, "admin", "check"))
	open, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: ent.ID, Amount: d("10"), IdempotencyKey: key()})
	require.NoError(t, err)
	require.Len(t, open.Holds, 2)
	h.open = open.ID

	ctx := b.ctx
	q := func(sql string, args ...any) int64 {
		var id int64
		require.NoError(t, pool.QueryRow(ctx, sql, args...).Scan(&id))
		return id
	}
	h.deduction = q(`SELECT id FROM ledger_events WHERE pool_id = $1 AND type = 'deduction' AND reservation_id = $2`, h.pool, h.closed)
	h.afterDeduct = q(`SELECT min(id) FROM ledger_events WHERE pool_id = $1 AND id > $2`, h.pool, h.deduction)
	h.status = q(`SELECT min(id) FROM ledger_events WHERE pool_id = $1 AND type = 'status'`, h.pool)
	h.last = q(`SELECT max(id) FROM ledger_events WHERE pool_id = $1`, h.pool)

	other := b.account(t, ledger.AccountIndividual)
	h.otherPoolsLot = b.credit(t, other.ID, "1", lotOpts{}).ID
	return h
}

// tamper rewrites ledger rows as only someone who owns the tables and
// disables ledger_events' append-only triggers could, in one transaction
// that enables them again before it commits.
func tamper(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck
	_, err = tx.Exec(ctx, `ALTER TABLE ledger_events DISABLE TRIGGER USER`)
	require.NoError(t, err)
	tag, err := tx.Exec(ctx, sql, args...)
	require.NoError(t, err)
	require.EqualValues(t, 1, tag.RowsAffected(), "the tamper rewrites one row")
	_, err = tx.Exec(ctx, `ALTER TABLE ledger_events ENABLE TRIGGER USER`)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
}

// found is what a test compares of a Mismatch: the rule and the row.
type found struct {
	Invariant ledger.Invariant
	ID, LotID int64
}

func TestVerifyNamesThePoolAndTheInvariantEachTamperBreaks(t *testing.T) {
	// A database of its own: the tampered pools stay broken, which would
	// fail every other test's Verify in the package database.
	pool, _ := dbtest.Own(t)
	c := &clock{t: time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)}
	l := ledger.New(pool, ledger.Options{Now: c.Now})
	t.Cleanup(l.Close)
	b := &testBundle{ctx: context.Background(), l: l, clock: c}

	verifyPool := func(t *testing.T, poolID int64) []ledger.Mismatch {
		t.Helper()
		all, err := l.Verify(b.ctx)
		require.NoError(t, err)
		var ms []ledger.Mismatch
		for _, m := range all {
			if m.PoolID == poolID {
				ms = append(ms, m)
			}
		}
		return ms
	}

	clean := buildVerifyHistory(t, b, pool)
	all, err := l.Verify(b.ctx)
	require.NoError(t, err)
	require.Empty(t, all, "an untouched history verifies")

	for _, tc := range []struct {
		name   string
		tamper func(h verifyHistory) (string, []any)
		want   func(h verifyHistory) []found
		// stored and derived of the first mismatch
		stored, derived string
	}{
		{
			name: "EventChain",
			tamper: func(h verifyHistory) (string, []any) {
				return `UPDATE ledger_events SET balance_after = balance_after + 1 WHERE pool_id = $1 AND id = $2`, []any{h.pool, h.deduction}
			},
			want: func(h verifyHistory) []found {
				return []found{{ledger.InvariantChain, h.deduction, 0}, {ledger.InvariantChain, h.afterDeduct, 0}}
			},
			stored: "96", derived: "95", // 130 - 40 held + 30 released - 25 charged
		},
		{
			name: "BalanceIsTheSumOfAmounts",
			tamper: func(h verifyHistory) (string, []any) {
				return `UPDATE ledger_events SET amount = 2 WHERE pool_id = $1 AND id = $2`, []any{h.pool, h.status}
			},
			want: func(h verifyHistory) []found {
				return []found{{ledger.InvariantChain, h.status, 0}, {ledger.InvariantBalanceEvents, 0, 0}}
			},
			stored: "105", derived: "107",
		},
		{
			name: "BalanceIsTheLastBalanceAfter",
			tamper: func(h verifyHistory) (string, []any) {
				return `UPDATE ledger_events SET balance_after = balance_after - 1 WHERE pool_id = $1 AND id = $2`, []any{h.pool, h.last}
			},
			want: func(h verifyHistory) []found {
				return []found{{ledger.InvariantChain, h.last, 0}, {ledger.InvariantBalanceLast, 0, 0}}
			},
			stored: "94", derived: "95",
		},
		{
			name: "PoolBalance",
			tamper: func(h verifyHistory) (string, []any) {
				return `UPDATE ledger_accounts SET balance = balance + 3 WHERE id = $1`, []any{h.pool}
			},
			want: func(h verifyHistory) []found {
				return []found{{ledger.InvariantBalanceEvents, 0, 0}, {ledger.InvariantBalanceLast, 0, 0}, {ledger.InvariantBalanceLots, 0, 0}}
			},
			stored: "98", derived: "95",
		},
		{
			name: "LotRemaining",
			tamper: func(h verifyHistory) (string, []any) {
				return `UPDATE ledger_lots SET remaining = remaining + 1 WHERE pool_id = $1 AND id = $2`, []any{h.pool, h.paid}
			},
			want: func(h verifyHistory) []found {
				return []found{{ledger.InvariantBalanceLots, 0, 0}, {ledger.InvariantLotRemaining, h.paid, 0}}
			},
			stored: "95", derived: "96",
		},
		{
			name: "EventOnTheWrongLot",
			tamper: func(h verifyHistory) (string, []any) {
				return `UPDATE ledger_events SET lot_id = $3 WHERE pool_id = $1 AND id = $2`, []any{h.pool, h.deduction, h.paid}
			},
			want: func(h verifyHistory) []found {
				return []found{{ledger.InvariantLotRemaining, h.paid, 0}, {ledger.InvariantLotRemaining, h.promo, 0}}
			},
			stored: "95", derived: "70", // the paid lot: 100 - 5 held, and now also the promo lot's 25
		},
		{
			name: "Reserved",
			tamper: func(h verifyHistory) (string, []any) {
				return `UPDATE ledger_accounts SET reserved = reserved + 40 WHERE id = $1`, []any{h.pool}
			},
			want: func(h verifyHistory) []found {
				return []found{{ledger.InvariantReserved, 0, 0}}
			},
			stored: "50", derived: "10",
		},
		{
			name: "ReservationClosedButCounted",
			tamper: func(h verifyHistory) (string, []any) {
				return `UPDATE ledger_reservations SET status = 'released' WHERE pool_id = $1 AND id = $2`, []any{h.pool, h.open}
			},
			want: func(h verifyHistory) []found {
				return []found{{ledger.InvariantReserved, 0, 0}}
			},
			stored: "10", derived: "0",
		},
		{
			name: "Holds",
			tamper: func(h verifyHistory) (string, []any) {
				return `UPDATE ledger_reservations SET amount = amount + 1 WHERE pool_id = $1 AND id = $2`, []any{h.pool, h.closed}
			},
			want: func(h verifyHistory) []found {
				return []found{{ledger.InvariantHolds, h.closed, 0}}
			},
			stored: "41", derived: "40",
		},
		{
			name: "HeldLotOfAnotherPool",
			tamper: func(h verifyHistory) (string, []any) {
				return `UPDATE ledger_reservations SET holds = jsonb_set(holds, '{1,lot}', to_jsonb($3::bigint)) WHERE pool_id = $1 AND id = $2`,
					[]any{h.pool, h.open, h.otherPoolsLot}
			},
			want: func(h verifyHistory) []found {
				return []found{{ledger.InvariantHeldLot, h.open, h.otherPoolsLot}}
			},
			stored: "5", derived: "0",
		},
		{
			name: "Transfer",
			tamper: func(h verifyHistory) (string, []any) {
				return `UPDATE ledger_events SET amount = 6 WHERE pool_id = $1 AND op_id = $2 AND type = 'transfer' AND amount > 0`, []any{h.pool, h.transferOp}
			},
			want: func(h verifyHistory) []found {
				return []found{{ledger.InvariantTransfer, h.transferOp, 0}}
			},
			stored: "1", derived: "0",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := buildVerifyHistory(t, b, pool)
			require.Empty(t, verifyPool(t, h.pool))
			sql, args := tc.tamper(h)
			tamper(t, pool, sql, args...)

			ms := verifyPool(t, h.pool)
			var got []found
			for _, m := range ms {
				got = append(got, found{m.Invariant, m.ID, m.LotID})
			}
			require.Equal(t, tc.want(h), got)
			requireDec(t, tc.stored, ms[0].Stored, "stored")
			requireDec(t, tc.derived, ms[0].Derived, "derived")
			line := ms[0].String()
			require.True(t, strings.HasPrefix(line, fmt.Sprintf("pool %d: %s: ", h.pool, ms[0].Invariant)), line)
			require.Contains(t, line, ms[0].Stored.String())
		})
	}

	require.Empty(t, verifyPool(t, clean.pool), "a tamper breaks only its own pool")
	_, err = pool.Exec(b.ctx, `UPDATE ledger_events SET amount = 0 WHERE pool_id = $1`, clean.pool)
	require.ErrorContains(t, err, "append-only", "the triggers are on again")
}

// TestVerifyCleanAfterEveryOperationRaces: 64 clients run every kind of
// operation at once on two individual pools and an enterprise pool with two
// sub-accounts — reserves committed below, at and above their holds,
// releases, holds left to the sweep or left open, charges beyond the
// balance, credits (some inside the caller's transaction, some expiring),
// refunds and transfers — with grace credit on, two writers with two
// batches in flight, while the expiry and reservation sweeps run and the
// clock moves. Verify finds every pool's chain, balance, lots, reserved and
// holds in agreement, under both sweep policies.
func TestVerifyCleanAfterEveryOperationRaces(t *testing.T) {
	for _, policy := range []ledger.ExpiredReservationPolicy{ledger.ExpiredRelease, ledger.ExpiredCharge} {
		t.Run(fmt.Sprintf("Sweep=%s", policy), func(t *testing.T) {
			b := setup(t, ledger.Options{
				Writers: 2, InFlight: 2, ExpiredReservations: policy,
				Grace: ledger.GracePolicy{Enabled: true, Amount: d("2"), Lifetime: time.Minute},
			})
			pg := dbtest.Pool(t)
			ent := b.account(t, ledger.AccountEnterprise)
			alloc := d("150")
			subA, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: ent.ID, Allocation: &alloc, Name: "team A"})
			require.NoError(t, err)
			subB, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: ent.ID, Allocation: &alloc, Name: "team B"})
			require.NoError(t, err)
			ind1, ind2 := b.account(t, ledger.AccountIndividual), b.account(t, ledger.AccountIndividual)
			pools := []int64{ent.ID, ind1.ID, ind2.ID}
			var paid []int64
			for _, p := range pools {
				paid = append(paid, b.credit(t, p, "300", lotOpts{}).ID)
			}
			spenders := []int64{ent.ID, subA.ID, subB.ID, ind1.ID, ind2.ID}

			allowed := func(err error) bool {
				for _, e := range []error{ledger.ErrInsufficientCredits, ledger.ErrAllocationExceeded, ledger.ErrRefundExceedsLot, ledger.ErrReservationClosed} {
					if errorsIs(err, e) {
						return true
					}
				}
				return err == nil
			}
			const clients, rounds = 64, 7
			stop := make(chan struct{})
			sweeps := make(chan error, 1)
			go func() {
				for {
					select {
					case <-stop:
						sweeps <- nil
						return
					default:
					}
					b.clock.Add(7 * time.Second)
					if _, err := b.l.ExpireDue(b.ctx, 50); err != nil {
						sweeps <- err
						return
					}
					if _, err := b.l.SweepReservations(b.ctx, 50); err != nil {
						sweeps <- err
						return
					}
					time.Sleep(5 * time.Millisecond)
				}
			}()
			var wg sync.WaitGroup
			for g := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range rounds {
						acc := spenders[(g+i)%len(spenders)]
						amount := decimal.New(int64(1+(g*7+i*3)%40), -1) // 0.1 .. 4.0
						k := fmt.Sprintf("race-%d-%d-%d", ent.ID, g, i)
						var err error
						switch (g + i) % 8 {
						case 0, 1: // commit below, at or above the hold
							var r ledger.Reservation
							if r, err = b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc, Amount: amount, IdempotencyKey: k}); err == nil {
								actual := amount.Mul(decimal.New(int64(5+5*(g%3)), -1)).Round(6)
								_, err = b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: r.ID, Actual: actual})
							}
						case 2:
							var r ledger.Reservation
							if r, err = b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc, Amount: amount, IdempotencyKey: k}); err == nil {
								_, err = b.l.Release(b.ctx, r.ID)
							}
						case 3: // left to the sweep, or open at the end
							ttl := 20 * time.Second
							if g%2 == 0 {
								ttl = 24 * time.Hour
							}
							_, err = b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc, Amount: amount, IdempotencyKey: k, TTL: ttl})
						case 4:
							_, err = b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc, Amount: amount.Mul(decimal.NewFromInt(3)), IdempotencyKey: k})
						case 5:
							if g%2 == 0 {
								e := b.clock.Now().Add(30 * time.Second)
								_, err = b.l.Credit(b.ctx, ledger.CreditRequest{AccountID: acc, Kind: ledger.LotPromo, Amount: amount, ExpiresAt: &e, EventType: ledger.EventGrant, IdempotencyKey: k})
							} else {
								err = db.InTx(b.ctx, pg, func(tx pgx.Tx) error {
									_, err := b.l.CreditTx(b.ctx, tx, ledger.CreditRequest{AccountID: acc, Kind: ledger.LotPaid, Amount: amount, EventType: ledger.EventPurchase, IdempotencyKey: k})
									return err
								})
							}
						case 6:
							_, err = b.l.Refund(b.ctx, ledger.RefundRequest{LotID: paid[g%len(paid)], Amount: amount, IdempotencyKey: k, Actor: "finance"})
						case 7:
							from, to := subA.ID, subB.ID
							if g%2 == 0 {
								from, to = to, from
							}
							_, err = b.l.Transfer(b.ctx, ledger.TransferRequest{From: from, To: to, Amount: amount, IdempotencyKey: k, Actor: "owner"})
						}
						if !allowed(err) {
							t.Errorf("client %d round %d: %v", g, i, err)
						}
					}
				}()
			}
			wg.Wait()
			close(stop)
			require.NoError(t, <-sweeps)
			// The race may spend every promo lot before it falls due (expiring credit
			// is spent first), so one more grant that nothing spends makes sure an
			// expiry is among the events checked.
			due := b.clock.Now().Add(time.Minute)
			_, err = b.l.Credit(b.ctx, ledger.CreditRequest{AccountID: ind2.ID, Kind: ledger.LotPromo, Amount: decimal.NewFromInt(1), ExpiresAt: &due, EventType: ledger.EventGrant, IdempotencyKey: fmt.Sprintf("race-%d-unspent", ent.ID)})
			require.NoError(t, err)
			// An hour on: the last promo lots and short holds are past due.
			b.clock.Add(time.Hour)
			for {
				n, err := b.l.ExpireDue(b.ctx, 0)
				require.NoError(t, err)
				m, err := b.l.SweepReservations(b.ctx, 0)
				require.NoError(t, err)
				if n+m == 0 {
					break
				}
			}

			rows, _ := pg.Query(b.ctx, `SELECT DISTINCT type::text FROM ledger_events WHERE pool_id = ANY ($1) ORDER BY 1`, pools)
			types, err := pgx.CollectRows(rows, pgx.RowTo[string])
			require.NoError(t, err)
			want := []string{"deduction", "expiry", "grant", "purchase", "refund", "reservation", "reservation_release", "transfer", "unpaid_usage"}
			if policy == ledger.ExpiredCharge {
				want = append(want, "reservation_expired_charge")
			}
			require.Subset(t, types, want, "the race wrote every kind of event")
			var open int
			require.NoError(t, pg.QueryRow(b.ctx, `SELECT count(*) FROM ledger_reservations WHERE pool_id = ANY ($1) AND status = 'open'`, pools).Scan(&open))
			require.NotZero(t, open, "some holds are still open, so reserved is checked against them")
			b.verifyClean(t)
		})
	}
}

package relay_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/internal/relay"
)

// answerLost stands between the relay and the real gateway service like a
// connection cut the instant the ledger committed: a reserve it is told to
// lose is made by the real service, and the relay gets the error pgx gives
// for a connection reset instead of the reservation.
type answerLost struct {
	relay.Gateway
	lose     atomic.Int64 // how many of the next reserves made lose their answer
	reserves atomic.Int64 // reserves asked for, the lost ones' replays included
	// made, when set, runs once a reserve whose answer is lost is made,
	// before the relay hears of it.
	made func()
	mu   sync.Mutex
	keys []string       // the idempotency keys asked for, in order
	asks map[string]int // reserves asked for by idempotency key
}

func (g *answerLost) ReserveAccount(ctx context.Context, key gateway.Key, accountID int64, in gateway.ReserveInput) (gateway.ReservationView, error) {
	g.reserves.Add(1)
	g.mu.Lock()
	if g.asks == nil {
		g.asks = map[string]int{}
	}
	if g.asks[in.IdempotencyKey] == 0 {
		g.keys = append(g.keys, in.IdempotencyKey)
	}
	g.asks[in.IdempotencyKey]++
	g.mu.Unlock()
	v, err := g.Gateway.ReserveAccount(ctx, key, accountID, in)
	if err != nil || g.lose.Load() == 0 {
		return v, err
	}
	g.lose.Add(-1)
	if g.made != nil {
		g.made()
	}
	return gateway.ReservationView{}, fmt.Errorf("ledger: reserve: %w",
		&net.OpError{Op: "read", Net: "unix", Err: syscall.ECONNRESET})
}

// asked reports how many reserves the key-th idempotency key asked for was
// (0: the first) asked for.
func (g *answerLost) asked(n int) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.asks[g.keys[n]]
}

// lossyRelay is a second gateway process over the bundle's services whose
// reserves go through an answerLost.
func lossyRelay(t *testing.T, b *testBundle, opts relay.Options) (*relay.Relay, *answerLost, string) {
	t.Helper()
	lossy := &answerLost{Gateway: b.gw}
	opts.Now = b.clock.Now
	r, err := relay.New(relay.Deps{Gateway: lossy, Pricing: b.pricing, Keys: b.keys, Upstreams: b.ups, Counter: b.counter}, opts)
	require.NoError(t, err)
	srv := httptest.NewServer(r.Handler())
	t.Cleanup(srv.Close)
	return r, lossy, srv.URL
}

// callAt posts a chat call to the gateway at base and returns its status
// and body.
func callAt(t *testing.T, base, secret, body string) (int, string, http.Header) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat/completions", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(raw), resp.Header
}

// reservations counts the account's reservations by status.
func reservations(t *testing.T, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, accountID int64) (open, released, committed int64) {
	t.Helper()
	err := q.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE status = 'open'),
		count(*) FILTER (WHERE status = 'released'), count(*) FILTER (WHERE status = 'committed')
		FROM ledger_reservations WHERE account_id = $1`, accountID).Scan(&open, &released, &committed)
	require.NoError(t, err)
	return open, released, committed
}

// waitResolved waits for the relay's background settles and lost reserves
// and requires that none was given up.
func waitResolved(t *testing.T, r *relay.Relay) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, r.WaitSettles(ctx))
	require.Zero(t, r.Unsettled(), "nothing given up to the sweep")
}

// A reserve the ledger committed whose answer the gateway lost, under
// RESERVATION_EXPIRED_POLICY=charge: the call answers 503 (retry), and
// the gateway makes the same reserve again in the background — the ledger
// answers the reservation it made — and releases it, so the customer's
// balance and budget come back whole, no charge is written, and the sweep
// (which charges an open hold under this policy: the control account shows
// it) finds nothing of theirs. Both the plain start and the speculative one
// (whose upstream call is stopped). A definite refusal is not tried again.
// Not parallel: its sweep runs on a clock moved past every TTL in the
// package's shared database.
func TestLostReserveIsReleased(t *testing.T) {
	b := setup(t)
	b.upstream(t, "lost", "ernie-4.0-8k=sim-chat", 0)
	r, lossy, url := lossyRelay(t, b, relay.Options{UpstreamTTL: 50 * time.Millisecond})
	ctx := context.Background()
	acct, secret := b.customer(t, "1000")
	var budgetID int64
	require.NoError(t, pgx.BeginFunc(ctx, dbtest.Pool(t), func(tx pgx.Tx) error {
		var err error
		budgetID, err = b.ledger.SetBudgetTx(ctx, tx, ledger.BudgetSpec{AccountID: acct.ID, Period: ledger.BudgetMonth,
			Amount: d("900"), Unit: ledger.BudgetCredits, HardStop: true, Actor: "test"})
		return err
	}))
	budgetUsed := func() decimal.Decimal {
		t.Helper()
		bs, err := b.ledger.Budgets(ctx, acct.ID)
		require.NoError(t, err)
		for _, x := range bs {
			if x.ID == budgetID {
				return x.Used
			}
		}
		t.Fatalf("budget %d not found", budgetID)
		return decimal.Zero
	}
	before, _ := b.balance(t, acct.ID)
	require.True(t, before.Equal(d("1000")))
	lostAnswer := func(status int, body string, h http.Header) {
		t.Helper()
		require.Equal(t, http.StatusServiceUnavailable, status, body)
		require.Equal(t, "true", h.Get("x-should-retry"))
		require.Contains(t, body, `"code":"service_unavailable"`)
	}

	t.Run("Plain", func(t *testing.T) {
		calls := b.sim.Calls()
		lossy.lose.Store(1)
		status, body, h := callAt(t, url, secret, chatBody("ernie-4.0-8k", "lost sim:tokens=5", false, `,"max_tokens":50`))
		lostAnswer(status, body, h)
		waitResolved(t, r)
		require.Equal(t, int64(2), lossy.reserves.Load(), "the lost reserve and its replay")
		require.Equal(t, calls, b.sim.Calls(), "the call never went upstream")
		avail, held := b.balance(t, acct.ID)
		require.True(t, held.IsZero(), "nothing held: %s", held)
		require.True(t, avail.Equal(before), "nothing charged: %s", avail)
		open, released, committed := reservations(t, b.pool, acct.ID)
		require.Equal(t, [3]int64{0, 1, 0}, [3]int64{open, released, committed},
			"one reservation (the replay found the one the ledger made), released")
		// gateway.Release returns the budgets' counts with the credits (the
		// ledger's release settles them), so nothing more is needed here. A
		// quota-paid hold goes the same way: its replay answers the same
		// quota hold and its release gives the quota back (web's
		// TestAPIPlanQuotaPaysCoveredCalls, TestAPIPlanOnlyRefusesWithRetryAt).
		require.True(t, budgetUsed().IsZero(), "the release gave the budget its count back: %s", budgetUsed())
	})

	t.Run("Speculative", func(t *testing.T) {
		status, body, _ := callAt(t, url, secret, chatBody("ernie-4.0-8k", "trusted sim:tokens=4", false, `,"max_tokens":50`))
		require.Equal(t, http.StatusOK, status, body)
		waitResolved(t, r)
		after := b.waitSettled(t, acct.ID)
		charged := b.cost(t, "ernie-4.0-8k", promptTokens("trusted sim:tokens=4"), 0, 4)
		require.True(t, before.Sub(after).Equal(charged), "the good call is charged its usage: %s", before.Sub(after))
		require.True(t, budgetUsed().Equal(charged))

		speculated, reserves := r.Speculated(), lossy.reserves.Load()
		lossy.lose.Store(1)
		status, body, h := callAt(t, url, secret, chatBody("ernie-4.0-8k", "lost sim:tokens=30 sim:first=3s", true, `,"max_tokens":50`))
		lostAnswer(status, body, h)
		require.Equal(t, speculated+1, r.Speculated(), "it went upstream while reserving")
		waitResolved(t, r)
		require.Equal(t, reserves+2, lossy.reserves.Load(), "the lost reserve and its replay")
		avail, held := b.balance(t, acct.ID)
		require.True(t, held.IsZero(), "nothing held: %s", held)
		require.True(t, avail.Equal(after), "the stopped call charged nothing: %s", avail)
		open, released, committed := reservations(t, b.pool, acct.ID)
		require.Equal(t, [3]int64{0, 2, 1}, [3]int64{open, released, committed})
		require.True(t, budgetUsed().Equal(charged), "the budget counts only the charged call: %s", budgetUsed())
	})

	t.Run("RefusalNotRetried", func(t *testing.T) {
		poor, poorSecret := b.customer(t, "0.001")
		reserves := lossy.reserves.Load()
		status, body, _ := callAt(t, url, poorSecret, chatBody("ernie-4.0-8k", "too dear sim:tokens=5", false, `,"max_tokens":5000`))
		require.Equal(t, http.StatusTooManyRequests, status, body)
		require.Contains(t, body, `"code":"insufficient_quota"`)
		waitResolved(t, r)
		require.Equal(t, reserves+1, lossy.reserves.Load(), "a refusal is an answer: no replay")
		avail, held := b.balance(t, poor.ID)
		require.True(t, avail.Equal(d("0.001")) && held.IsZero(), "%s held %s", avail, held)
		open, released, committed := reservations(t, b.pool, poor.ID)
		require.Equal(t, [3]int64{0, 0, 0}, [3]int64{open, released, committed})
	})

	// The sweep under the charge policy, past every TTL: it charges the
	// control account's hold, left open on purpose, and nothing of ours.
	ctrl, _ := b.customer(t, "1000")
	key, err := b.gw.AccountKey(ctx, ctrl.ID, 0, "control")
	require.NoError(t, err)
	hold, err := b.gw.ReserveAccount(ctx, key, ctrl.ID, gateway.ReserveInput{Model: "ernie-4.0-8k", MaxInputTokens: 100,
		MaxOutputTokens: 100, IdempotencyKey: "control-" + t.Name()})
	require.NoError(t, err)
	require.True(t, hold.Reserved.IsPositive())
	mine, _ := b.balance(t, acct.ID)
	b.clock.Advance(2 * time.Minute)
	sweeper := ledger.New(b.pool, ledger.Options{Now: b.clock.Now, ExpiredReservations: ledger.ExpiredCharge})
	t.Cleanup(sweeper.Close)
	for {
		n, err := sweeper.SweepReservations(ctx, 0)
		require.NoError(t, err)
		if n == 0 {
			break
		}
	}
	ctrlAvail, ctrlHeld := b.balance(t, ctrl.ID)
	require.True(t, ctrlHeld.IsZero())
	require.True(t, ctrlAvail.Equal(d("1000").Sub(hold.Reserved)), "the policy charges an open hold: %s", ctrlAvail)
	avail, held := b.balance(t, acct.ID)
	require.True(t, held.IsZero() && avail.Equal(mine), "the sweep found nothing of ours: %s held %s", avail, held)
	var expiredCharges, ctrlCharges int64
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE account_id = $1), count(*) FILTER (WHERE account_id = $2)
		FROM ledger_events WHERE type = $3 AND account_id IN ($1, $2)`, acct.ID, ctrl.ID, ledger.EventReservationExpiredCharge).
		Scan(&expiredCharges, &ctrlCharges))
	require.Zero(t, expiredCharges, "no expiry charge for the lost reserves")
	require.Positive(t, ctrlCharges)
}

// A reserve made just before the primary stops, its answer lost: the call
// answers 503, the gateway's replay finds no primary and is tried again
// (its hold still held on the standby meanwhile), and once the primary is
// back the replay gets the reservation and releases it: nothing held,
// nothing charged. A reserve tried while the primary is down never reached
// a server, so it is not tried again.
func TestLostReserveThroughAPrimaryRestart(t *testing.T) {
	cluster, primary, reader := startPair(t, "credits_relay_lost")
	ctx := context.Background()
	b := setupOn(t, primary, reader, func(o *relay.Options) { o.KeyCacheTTL = time.Hour; o.UpstreamTTL = time.Hour })
	b.upstream(t, "lost-restart", "deepseek-chat=sim-chat", 0)
	r, lossy, url := lossyRelay(t, b, relay.Options{KeyCacheTTL: time.Hour, UpstreamTTL: time.Hour})
	acct, secret := b.customer(t, "1000")
	status, body, _ := callAt(t, url, secret, chatBody("deepseek-chat", "warm up sim:tokens=2", false, ""))
	require.Equal(t, http.StatusOK, status, body) // the key and the upstreams are cached
	before := b.waitSettled(t, acct.ID)
	cluster.WaitCaughtUp()

	// The primary stops right after the reserve committed: its answer is lost.
	made, stopped := make(chan struct{}), make(chan struct{})
	lossy.made = func() { close(made); <-stopped }
	lossy.lose.Store(1)
	answered := make(chan int, 1)
	go func() {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/chat/completions",
			strings.NewReader(chatBody("deepseek-chat", "lost sim:tokens=5", false, `,"max_tokens":50`)))
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	<-made
	cluster.WaitCaughtUp()
	cluster.StopPrimary()
	close(stopped)
	require.Equal(t, http.StatusServiceUnavailable, <-answered)
	const lost = 1 // the warm-up's key is the first
	require.Eventually(t, func() bool { return lossy.asked(lost) >= 3 }, 20*time.Second, 20*time.Millisecond,
		"the replay finds no primary and is tried again")
	require.Eventually(t, reader.StandingIn, 10*time.Second, 20*time.Millisecond)
	held, err := b.ledger.Balance(reader.PinFailover(ctx, 0), acct.ID)
	require.NoError(t, err, "read from the standby")
	require.True(t, held.Reserved.IsPositive(), "the lost reserve's hold is on the standby")

	// A reserve while the primary is down: no connection, nothing sent.
	lossy.made = nil
	status, body, _ = callAt(t, url, secret, chatBody("deepseek-chat", "during sim:tokens=5", false, `,"max_tokens":50`))
	require.Equal(t, http.StatusServiceUnavailable, status, body)

	cluster.StartPrimary()
	waitResolved(t, r)
	t.Logf("the lost reserve was asked for %d times", lossy.asked(lost))
	require.Equal(t, 1, lossy.asked(lost+1), "the reserve tried while the primary was down is not tried again")
	after := b.waitSettled(t, acct.ID)
	require.True(t, after.Equal(before), "nothing charged: %s, was %s", after, before)
	open, released, committed := reservations(t, b.pool, acct.ID)
	require.Equal(t, [3]int64{0, 1, 1}, [3]int64{open, released, committed}, "the warm-up committed, the lost one released")
}

package usagestream_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/internal/platform/natstest"
	"github.com/seed75218f88/credits/internal/pricing"
	"github.com/seed75218f88/credits/internal/ratelimit"
	"github.com/seed75218f88/credits/internal/usagestream"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

var priceOnce sync.Once

// counting wraps the gateway and counts the events each consumer charged
// now (not duplicates); fail makes every charge answer unavailable;
// loseAcks > 0 charges the next that many batches but answers unavailable
// for each of their events, as if the instance had crashed between the
// ledger's commit and the acknowledgements (JetStream delivers them again);
// flaky answers unavailable for the events of those idempotency keys,
// without charging them, the given number of times (< 0: always).
type counting struct {
	*gateway.Service
	charged  atomic.Int64
	fail     atomic.Bool
	loseAcks atomic.Int64
	mu       sync.Mutex
	flaky    map[string]int
	// charging is signalled after each charged batch, so a benchmark waits
	// for the charges without polling (a timer's wake-ups every
	// millisecond would count as the path's CPU).
	charging chan struct{}
}

func (c *counting) down(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.flaky[key]
	if n > 0 {
		c.flaky[key] = n - 1
	}
	return n != 0
}

func (c *counting) ChargeQueued(ctx context.Context, evs []gateway.QueuedUsage) []string {
	if c.fail.Load() {
		return retryAll(len(evs))
	}
	out := make([]string, len(evs))
	up, at := evs, []int(nil) // at nil: every event is up (the benchmark's case, without copies)
	c.mu.Lock()
	someDown := len(c.flaky) > 0
	c.mu.Unlock()
	if someDown {
		up, at = make([]gateway.QueuedUsage, 0, len(evs)), make([]int, 0, len(evs))
		for i, ev := range evs {
			if c.down(ev.Event.IdempotencyKey) {
				out[i] = gateway.RejectRetry
				continue
			}
			up, at = append(up, ev), append(at, i)
		}
	}
	if len(up) > 0 {
		for j, o := range c.Service.ChargeQueued(ctx, up) {
			i := j
			if at != nil {
				i = at[j]
			}
			out[i] = o
			if o == "" {
				c.charged.Add(1)
			}
		}
	}
	select {
	case c.charging <- struct{}{}:
	default:
	}
	if c.loseAcks.Add(-1) >= 0 {
		return retryAll(len(evs))
	}
	return out
}

func retryAll(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = gateway.RejectRetry
	}
	return out
}

type bundle struct {
	gw     *gateway.Service
	ledger *ledger.Ledger
	pool   *pgxpool.Pool
	key    gateway.Key
	prefix string
	url    string
}

func setup(t testing.TB) *bundle {
	t.Helper()
	ctx := context.Background()
	b := &bundle{url: natstest.URL(t), prefix: natstest.Prefix()}
	pool := dbtest.Pool(t)
	priceOnce.Do(func() {
		_, err := pricing.New(pool).EnsureDefault(ctx, "test", pricing.DefaultCreditPriceRMB)
		require.NoError(t, err)
	})
	l := ledger.New(pool, ledger.Options{TrialCap: ledger.DefaultTrialCap})
	t.Cleanup(l.Close)
	var err error
	b.ledger, b.pool = l, pool
	b.gw, err = gateway.New(gateway.Deps{Pool: pool, Ledger: l, Pricing: pricing.New(pool),
		Limiter: ratelimit.NewMemory(ratelimit.MemoryOptions{})},
		gateway.Options{Secret: []byte("usagestream-test-secret-0123456789"), CacheTTL: time.Millisecond})
	require.NoError(t, err)
	b.key, _, err = b.gw.Keys.Create(ctx, ledger.ModeLive, "live "+t.Name())
	require.NoError(t, err)
	return b
}

// open opens a Stream (one `credits serve` instance's) on the bundle's
// prefix and runs its consumer until the test ends; the streams are
// deleted after the test.
func (b *bundle) open(t testing.TB, o usagestream.Options) (*usagestream.Stream, *counting) {
	t.Helper()
	c := &counting{Service: b.gw, charging: make(chan struct{}, 1), flaky: map[string]int{}}
	o.URL, o.Prefix = b.url, b.prefix
	s, err := usagestream.Open(context.Background(), c, o)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = s.Delete(context.Background())
		s.Close()
	})
	return s, c
}

// waitPulling waits until n instances' consumers wait for messages.
func (b *bundle) waitPulling(t testing.TB, n int) {
	t.Helper()
	nc, err := nats.Connect(b.url)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		c, err := js.Consumer(context.Background(), strings.ToUpper(b.prefix)+"_USAGE", "ledger")
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.NumWaiting >= n
	}, 10*time.Second, 10*time.Millisecond, "the instances never pulled")
}

// openIdle opens a Stream on the bundle's prefix without running its
// consumer: what is published stays in the stream.
func (b *bundle) openIdle(t testing.TB) *usagestream.Stream {
	t.Helper()
	s, err := usagestream.Open(context.Background(), b.gw, usagestream.Options{URL: b.url, Prefix: b.prefix})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = s.Delete(context.Background())
		s.Close()
	})
	return s
}

func (b *bundle) account(t *testing.T, ext string) {
	t.Helper()
	ctx := context.Background()
	_, _, err := b.gw.PutAccount(ctx, b.key, ext, gateway.AccountInput{
		Verification: &gateway.VerificationInput{Status: "verified", Reference: "ref-" + ext}})
	require.NoError(t, err)
	_, err = b.gw.Grant(ctx, b.key, ext, gateway.GrantInput{Amount: decimal.RequireFromString("1000"),
		Kind: ledger.LotPromo, ReasonCode: "test", IdempotencyKey: "promo-" + ext})
	require.NoError(t, err)
}

// spent is what the account has spent: each event below costs 2 credits.
func (b *bundle) spent(t *testing.T, ext string) decimal.Decimal {
	t.Helper()
	bal, err := b.gw.Balance(context.Background(), b.key, ext)
	require.NoError(t, err)
	return decimal.RequireFromString("1000").Sub(bal.Available)
}

func event(ext, key string) gateway.UsageEvent {
	return gateway.UsageEvent{IdempotencyKey: key, Account: ext, Model: "deepseek-chat", InputTokens: 1000,
		OccurredAt: time.Now()}
}

func drained(t *testing.T, s *usagestream.Stream) {
	t.Helper()
	require.Eventually(t, func() bool {
		n, err := s.Backlog(context.Background())
		return err == nil && n == 0
	}, 20*time.Second, 20*time.Millisecond, "the consumer never emptied the usage stream")
}

// verified fails the test unless the ledger verifies clean.
func (b *bundle) verified(t *testing.T) {
	t.Helper()
	m, err := b.ledger.Verify(context.Background())
	require.NoError(t, err)
	require.Empty(t, m)
}

// noLetters fails the test if the dead-letter stream holds anything.
func noLetters(t *testing.T, s *usagestream.Stream, why string) {
	t.Helper()
	letters, _, err := s.DeadLetters(context.Background(), 0, 10)
	require.NoError(t, err)
	require.Empty(t, letters, why)
}

func requireDec(t *testing.T, want string, got decimal.Decimal) {
	t.Helper()
	require.True(t, decimal.RequireFromString(want).Equal(got), "want %s, got %s", want, got)
}

// A batch taken with 202 is charged once, and only once however often it
// reaches the consumers: a retried batch is dropped by the duplicate
// window, a message delivered again (published anew outside the window) is
// a duplicate in the ledger.
func TestQueuedBatchChargedExactlyOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s, c := b.open(t, usagestream.Options{})
	ctx := context.Background()
	ext := "once-" + b.prefix
	b.account(t, ext)

	batch := gateway.UsageBatch{Events: []gateway.UsageEvent{event(ext, "a"), event(ext, "b"), event(ext, "c"),
		event(ext, ""), {IdempotencyKey: "old", Account: ext, Model: "deepseek-chat", OccurredAt: time.Now().Add(-30 * 24 * time.Hour)}}}
	res, err := s.Publish(ctx, b.key, batch)
	require.NoError(t, err)
	require.Equal(t, 3, res.Queued)
	require.Equal(t, []gateway.Rejection{{Index: 3, Code: gateway.RejectInvalid}, {Index: 4, Code: gateway.RejectTooOld}}, res.Rejected)
	require.Len(t, res.Events, 5)
	require.Equal(t, usagestream.EventState{ID: usagestream.EventID(ledger.ModeLive, "a"), State: usagestream.StateQueued}, res.Events[0])
	require.Equal(t, usagestream.StateRejected, res.Events[3].State)

	// The client retries the batch: JetStream drops it as duplicates.
	again, err := s.Publish(ctx, b.key, batch)
	require.NoError(t, err)
	require.Equal(t, 0, again.Queued)
	require.Equal(t, 3, again.Duplicates)
	require.Equal(t, usagestream.StateDuplicate, again.Events[0].State)
	drained(t, s)
	requireDec(t, "6", b.spent(t, ext))
	require.EqualValues(t, 3, c.charged.Load())

	// A redelivery the window cannot catch (the same message under another
	// Nats-Msg-Id, as after the window): the ledger's idempotency key makes
	// it a duplicate, acknowledged without a second charge.
	nc, err := nats.Connect(b.url)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	data, err := json.Marshal(gateway.QueuedUsage{Mode: ledger.ModeLive, Event: batch.Events[0], ReceivedAt: time.Now()})
	require.NoError(t, err)
	for i := range 2 {
		_, err = js.Publish(ctx, b.prefix+".usage.live", data, jetstream.WithMsgID(fmt.Sprintf("redelivery-%d", i)))
		require.NoError(t, err)
	}
	drained(t, s)
	requireDec(t, "6", b.spent(t, ext))
	require.EqualValues(t, 3, c.charged.Load())
	letters, _, err := s.DeadLetters(ctx, 0, 10)
	require.NoError(t, err)
	require.Empty(t, letters, "duplicates are dropped, not dead-lettered")
}

// An event for an unknown account is dead-lettered with its reason; once
// the account exists a replay charges it, once; a discarded one is gone.
// A message that is not a usage event is dead-lettered as undecodable.
func TestPoisonEventDeadLetteredReplayedAndDiscarded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s, _ := b.open(t, usagestream.Options{})
	ctx := context.Background()
	ext := "late-" + b.prefix
	res, err := s.Publish(ctx, b.key, gateway.UsageBatch{Events: []gateway.UsageEvent{event(ext, "p1"), event("nobody-"+b.prefix, "p2")}})
	require.NoError(t, err)
	require.Equal(t, 2, res.Queued)
	nc, err := nats.Connect(b.url)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	_, err = js.Publish(ctx, b.prefix+".usage.live", []byte("not json"))
	require.NoError(t, err)
	drained(t, s)

	letters, _, err := s.DeadLetters(ctx, 0, 10)
	require.NoError(t, err)
	require.Len(t, letters, 3)
	byReason := map[string]usagestream.DeadLetter{}
	for _, l := range letters {
		byReason[l.Reason+"/"+l.Usage.Event.IdempotencyKey] = l
	}
	p1, ok := byReason[gateway.RejectUnknownAccount+"/p1"]
	require.True(t, ok, "%+v", letters)
	require.Equal(t, usagestream.EventID(ledger.ModeLive, "p1"), p1.ID)
	require.EqualValues(t, 1, p1.Deliveries)
	require.Equal(t, ext, p1.Usage.Event.Account)
	p2 := byReason[gateway.RejectUnknownAccount+"/p2"]
	require.NotZero(t, p2.Seq)
	require.Contains(t, byReason, usagestream.ReasonUndecodable+"/")
	n, err := s.DeadLetterCount(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 3, n)

	// The account is created afterwards: the replay charges the event.
	b.account(t, ext)
	_, err = s.Replay(ctx, p1.Seq)
	require.NoError(t, err)
	drained(t, s)
	requireDec(t, "2", b.spent(t, ext))
	_, err = s.DeadLetter(ctx, p1.Seq)
	require.ErrorIs(t, err, usagestream.ErrNotFound, "a replayed event leaves the dead-letter stream")
	_, err = s.Replay(ctx, p1.Seq)
	require.ErrorIs(t, err, usagestream.ErrNotFound)

	_, err = s.Discard(ctx, p2.Seq)
	require.NoError(t, err)
	_, err = s.Discard(ctx, p2.Seq)
	require.ErrorIs(t, err, usagestream.ErrNotFound)
	letters, _, err = s.DeadLetters(ctx, 0, 10)
	require.NoError(t, err)
	require.Len(t, letters, 1)
	require.Equal(t, usagestream.ReasonUndecodable, letters[0].Reason)
}

// A failure that may pass (the database unavailable) is redelivered with
// backoff and dead-lettered as unavailable after MaxDeliver deliveries;
// the replay then charges it.
func TestRetryableFailureDeadLetteredAfterMaxDeliver(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s, c := b.open(t, usagestream.Options{MaxDeliver: 3, Backoff: func(uint64) time.Duration { return 10 * time.Millisecond }})
	ctx := context.Background()
	ext := "retry-" + b.prefix
	b.account(t, ext)
	c.fail.Store(true)
	_, err := s.Publish(ctx, b.key, gateway.UsageBatch{Events: []gateway.UsageEvent{event(ext, "r")}})
	require.NoError(t, err)
	drained(t, s)
	letters, _, err := s.DeadLetters(ctx, 0, 10)
	require.NoError(t, err)
	require.Len(t, letters, 1)
	require.Equal(t, gateway.RejectRetry, letters[0].Reason)
	require.EqualValues(t, 3, letters[0].Deliveries)

	c.fail.Store(false)
	_, err = s.Replay(ctx, letters[0].Seq)
	require.NoError(t, err)
	drained(t, s)
	requireDec(t, "2", b.spent(t, ext))
}

// Two instances share the consumer: 64 concurrent batches (each event sent
// twice, by two clients) are charged once each, and both instances work.
func TestTwoInstancesShareTheWork(t *testing.T) {
	t.Parallel()
	b := setup(t)
	opts := usagestream.Options{Batch: 8}
	s1, c1 := b.open(t, opts)
	s2, c2 := b.open(t, opts)
	b.waitPulling(t, 2)
	ctx := context.Background()
	ext := "share-" + b.prefix
	b.account(t, ext)
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			s := s1
			if i%2 == 1 {
				s = s2
			}
			var evs []gateway.UsageEvent
			for j := range 4 {
				evs = append(evs, event(ext, fmt.Sprintf("e%d-%d", i/2, j))) // clients 2k and 2k+1 send the same events
			}
			_, err := s.Publish(ctx, b.key, gateway.UsageBatch{Events: evs})
			require.NoError(t, err)
		})
	}
	wg.Wait()
	drained(t, s1)
	require.EqualValues(t, 128, c1.charged.Load()+c2.charged.Load(), "32 clients' 4 distinct events each")
	require.Positive(t, c1.charged.Load(), "the first instance charged nothing")
	require.Positive(t, c2.charged.Load(), "the second instance charged nothing")
	requireDec(t, "256", b.spent(t, ext))
}

// 64 clients publish at once through two instances, their batches sharing
// event ids (each event is sent by four clients, over four accounts); one
// instance loses the acknowledgements of its first batches after charging
// them, and every event is also published again under another message id
// (a redelivery the duplicate window cannot catch). Each event is charged
// exactly once, and the ledger verifies clean.
func TestConcurrentPublishersWithSharedIDsChargeOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	opts := usagestream.Options{Batch: 64, Backoff: func(uint64) time.Duration { return 10 * time.Millisecond }}
	s1, c1 := b.open(t, opts)
	s2, c2 := b.open(t, opts)
	c1.loseAcks.Store(3)
	ctx := context.Background()
	accts := make([]string, 4)
	for i := range accts {
		accts[i] = fmt.Sprintf("many-%d-%s", i, b.prefix)
		b.account(t, accts[i])
	}
	const clients, perBatch = 64, 20
	// Client c sends events (c/4)*20 .. +19: four clients share each set,
	// so 16 sets × 20 = 320 distinct events.
	sets := make([]gateway.UsageBatch, clients/4)
	for k := range sets {
		for j := range perBatch {
			n := k*perBatch + j
			sets[k].Events = append(sets[k].Events, event(accts[n%len(accts)], fmt.Sprintf("shared-%d", n)))
		}
	}
	batch := func(c int) gateway.UsageBatch { return sets[c/4] }
	var queued atomic.Int64
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			s := s1
			if c%2 == 1 {
				s = s2
			}
			res, err := s.Publish(ctx, b.key, batch(c))
			require.NoError(t, err)
			require.Equal(t, perBatch, res.Queued+res.Duplicates)
			queued.Add(int64(res.Queued))
		})
	}
	wg.Wait()
	require.EqualValues(t, 320, queued.Load(), "the duplicate window stored each event id once")
	drained(t, s1)

	// The same events again under new message ids: the ledger's keys make
	// them duplicates.
	nc, err := nats.Connect(b.url)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	for c := 0; c < clients; c += 4 {
		for j, ev := range batch(c).Events {
			data, err := json.Marshal(gateway.QueuedUsage{Mode: ledger.ModeLive, Event: ev, ReceivedAt: time.Now()})
			require.NoError(t, err)
			_, err = js.PublishAsync(b.prefix+".usage.live", data, jetstream.WithMsgID(fmt.Sprintf("again-%d-%d", c, j)))
			require.NoError(t, err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(10 * time.Second):
		t.Fatal("the republished events were not all stored")
	}
	drained(t, s1)

	require.EqualValues(t, 320, c1.charged.Load()+c2.charged.Load(), "each distinct event charged once")
	require.Negative(t, c1.loseAcks.Load(), "the first instance lost its acknowledgements")
	for _, a := range accts {
		requireDec(t, "160", b.spent(t, a)) // 80 events of 2 credits each
	}
	noLetters(t, s1, "")
	b.verified(t)
}

// One batch mixes good events with bad ones (an unknown account, an unknown
// model); the whole batch's acknowledgements are lost once after the
// charge. The good events are charged once, the bad ones are dead-lettered
// once each with their reason, and nothing else is.
func TestMixedBatchChargesTheGoodAndDeadLettersTheBad(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s, c := b.open(t, usagestream.Options{Backoff: func(uint64) time.Duration { return 10 * time.Millisecond }})
	c.loseAcks.Store(1)
	ctx := context.Background()
	ext := "mixed-" + b.prefix
	b.account(t, ext)
	var evs []gateway.UsageEvent
	for i := range 10 {
		evs = append(evs, event(ext, fmt.Sprintf("good-%d", i)))
	}
	evs = slices.Insert(evs, 3, event("nobody-"+b.prefix, "bad-account"))
	unknown := event(ext, "bad-model")
	unknown.Model = "no-such-model"
	evs = slices.Insert(evs, 7, unknown)
	res, err := s.Publish(ctx, b.key, gateway.UsageBatch{Events: evs})
	require.NoError(t, err)
	require.Equal(t, 12, res.Queued)
	drained(t, s)

	requireDec(t, "20", b.spent(t, ext))
	require.EqualValues(t, 10, c.charged.Load())
	letters, _, err := s.DeadLetters(ctx, 0, 10)
	require.NoError(t, err)
	reasons := map[string]string{}
	for _, l := range letters {
		reasons[l.Usage.Event.IdempotencyKey] = l.Reason
		// Each its own letter, with the event's id as the 202 answered it
		// and the delivery (the second: the first lost its acks) that
		// settled the batch.
		require.Equal(t, usagestream.EventID(ledger.ModeLive, l.Usage.Event.IdempotencyKey), l.ID)
		require.EqualValues(t, 2, l.Deliveries)
		require.Equal(t, ledger.ModeLive, l.Usage.Mode)
	}
	require.Equal(t, map[string]string{"bad-account": gateway.RejectUnknownAccount, "bad-model": gateway.RejectUnknownModel}, reasons)
	require.Len(t, letters, 2, "each bad event dead-lettered once")
	b.verified(t)
}

// A batch is stored as one message. The same batch sent again within the
// duplicate window is answered duplicate for every event and stored no
// more; a batch overlapping it (half its events and new ones) is stored and
// answered queued, and the ledger's idempotency keys charge its repeated
// events nothing more: each distinct event once, none dead-lettered.
func TestBatchResentIsDuplicateAndOverlapChargesOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	idle := b.openIdle(t)
	ctx := context.Background()
	ext := "resend-" + b.prefix
	b.account(t, ext)
	var all []gateway.UsageEvent // a resent event is the same event: same key, same body
	for i := range 15 {
		all = append(all, event(ext, fmt.Sprintf("r-%d", i)))
	}
	batch := func(from, to int) gateway.UsageBatch { return gateway.UsageBatch{Events: all[from:to]} }
	first := batch(0, 10)
	res, err := idle.Publish(ctx, b.key, first)
	require.NoError(t, err)
	require.Equal(t, 10, res.Queued)
	backlog := func() uint64 {
		n, err := idle.Backlog(ctx)
		require.NoError(t, err)
		return n
	}
	require.EqualValues(t, 1, backlog(), "a batch is one message")

	again, err := idle.Publish(ctx, b.key, first)
	require.NoError(t, err)
	require.Equal(t, 0, again.Queued)
	require.Equal(t, 10, again.Duplicates)
	for i, e := range again.Events {
		require.Equal(t, usagestream.EventState{ID: usagestream.EventID(ledger.ModeLive, fmt.Sprintf("r-%d", i)), State: usagestream.StateDuplicate}, e)
	}
	require.EqualValues(t, 1, backlog(), "the resent batch was stored again")

	overlap, err := idle.Publish(ctx, b.key, batch(5, 15))
	require.NoError(t, err)
	require.Equal(t, 10, overlap.Queued, "another set of events is another message")
	require.EqualValues(t, 2, backlog())

	s, c := b.open(t, usagestream.Options{})
	drained(t, s)
	require.EqualValues(t, 15, c.charged.Load(), "each of the 15 distinct events once")
	requireDec(t, "30", b.spent(t, ext))
	noLetters(t, s, "the overlap's repeats are ledger duplicates, not dead letters")
	b.verified(t)
}

// A batch some of whose events are unavailable is delivered again whole,
// with backoff: the events charged at the first delivery are duplicates
// then (no second charge), an event that comes back is charged once, and
// at the last delivery only the event still unavailable is dead-lettered,
// on its own; its replay charges it. The first delivery also loses its
// acknowledgements after charging.
func TestUnavailableBatchRedeliveredWithoutDoubleCharge(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s, c := b.open(t, usagestream.Options{MaxDeliver: 4, Backoff: func(uint64) time.Duration { return 10 * time.Millisecond }})
	ctx := context.Background()
	ext := "flaky-" + b.prefix
	b.account(t, ext)
	c.flaky["comes-back"] = 2
	c.flaky["stays-down"] = -1
	c.loseAcks.Store(1)
	evs := []gateway.UsageEvent{event(ext, "comes-back"), event(ext, "stays-down")}
	for i := range 8 {
		evs = append(evs, event(ext, fmt.Sprintf("up-%d", i)))
	}
	res, err := s.Publish(ctx, b.key, gateway.UsageBatch{Events: evs})
	require.NoError(t, err)
	require.Equal(t, 10, res.Queued)
	drained(t, s)

	require.EqualValues(t, 9, c.charged.Load(), "8 charged at the first delivery, 1 at the third")
	requireDec(t, "18", b.spent(t, ext))
	letters, _, err := s.DeadLetters(ctx, 0, 10)
	require.NoError(t, err)
	require.Len(t, letters, 1)
	require.Equal(t, "stays-down", letters[0].Usage.Event.IdempotencyKey)
	require.Equal(t, gateway.RejectRetry, letters[0].Reason)
	require.EqualValues(t, 4, letters[0].Deliveries)
	require.Equal(t, usagestream.EventID(ledger.ModeLive, "stays-down"), letters[0].ID)

	c.mu.Lock()
	delete(c.flaky, "stays-down")
	c.mu.Unlock()
	_, err = s.Replay(ctx, letters[0].Seq)
	require.NoError(t, err)
	drained(t, s)
	requireDec(t, "20", b.spent(t, ext))
	require.EqualValues(t, 10, c.charged.Load())
	b.verified(t)
}

// Messages of one event, as Publish wrote them before batches (id header
// the event's id), still in the stream after an upgrade, are charged beside
// batch messages; a bad one is dead-lettered as before.
func TestSingleEventMessagesStillConsumed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	idle := b.openIdle(t)
	ctx := context.Background()
	ext := "old-" + b.prefix
	b.account(t, ext)
	nc, err := nats.Connect(b.url)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	old := []gateway.UsageEvent{event(ext, "old-0"), event(ext, "old-1"), event("nobody-"+b.prefix, "old-bad")}
	for _, ev := range old {
		data, err := json.Marshal(gateway.QueuedUsage{Mode: ledger.ModeLive, Event: ev, ReceivedAt: time.Now().UTC()})
		require.NoError(t, err)
		_, err = js.Publish(ctx, b.prefix+".usage.live", data, jetstream.WithMsgID(usagestream.EventID(ledger.ModeLive, ev.IdempotencyKey)))
		require.NoError(t, err)
	}
	res, err := idle.Publish(ctx, b.key, gateway.UsageBatch{Events: []gateway.UsageEvent{event(ext, "new-0"), old[0]}})
	require.NoError(t, err)
	require.Equal(t, 2, res.Queued)
	n, err := idle.Backlog(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 4, n)

	s, c := b.open(t, usagestream.Options{})
	drained(t, s)
	require.EqualValues(t, 3, c.charged.Load(), "old-0, old-1 and new-0; old-0 again is a duplicate")
	requireDec(t, "6", b.spent(t, ext))
	letters, _, err := s.DeadLetters(ctx, 0, 10)
	require.NoError(t, err)
	require.Len(t, letters, 1)
	require.Equal(t, gateway.RejectUnknownAccount, letters[0].Reason)
	require.Equal(t, usagestream.EventID(ledger.ModeLive, "old-bad"), letters[0].ID)
	require.Equal(t, "old-bad", letters[0].Usage.Event.IdempotencyKey)
}

// A batch larger than the NATS server's largest message (1 MB by default)
// is stored as several messages, each under the limit; sent again, every
// event is a duplicate; each event is charged once.
func TestLargeBatchSplitIntoMessages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	idle := b.openIdle(t)
	ctx := context.Background()
	ext := "large-" + b.prefix
	b.account(t, ext)
	session := strings.Repeat("s", 3000)
	var evs []gateway.UsageEvent
	for i := range 400 {
		ev := event(ext, fmt.Sprintf("large-%d", i))
		ev.SessionID = session
		evs = append(evs, ev)
	}
	res, err := idle.Publish(ctx, b.key, gateway.UsageBatch{Events: evs})
	require.NoError(t, err)
	require.Equal(t, 400, res.Queued)
	n, err := idle.Backlog(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 2, n, "1.2 MB of events in two messages")
	again, err := idle.Publish(ctx, b.key, gateway.UsageBatch{Events: evs})
	require.NoError(t, err)
	require.Equal(t, 400, again.Duplicates)

	s, c := b.open(t, usagestream.Options{})
	drained(t, s)
	require.EqualValues(t, 400, c.charged.Load())
	requireDec(t, "800", b.spent(t, ext))
}

// A message whose dead-lettering fails at its last try (the dead-letter
// stream gone for a while) is delivered again and dead-lettered once it
// can be, not left in the usage stream undelivered for good; a consumer
// made by an earlier build, which delivered at most 8 times, is taken over.
func TestDeadLetterFailureAtTheLastTryIsTriedAgain(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	nc, err := nats.Connect(b.url)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	base := strings.ToUpper(b.prefix)
	old, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: base + "_USAGE", Subjects: []string{b.prefix + ".usage.>"},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute})
	require.NoError(t, err)
	_, err = old.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "ledger", AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: 30 * time.Second, MaxDeliver: 8, MaxAckPending: 10000})
	require.NoError(t, err)

	s, c := b.open(t, usagestream.Options{MaxDeliver: 2, Backoff: func(uint64) time.Duration { return 10 * time.Millisecond }})
	ext := "dlqdown-" + b.prefix
	b.account(t, ext)
	c.fail.Store(true)
	dlq, err := js.Stream(ctx, base+"_USAGE_DLQ")
	require.NoError(t, err)
	dlqCfg := dlq.CachedInfo().Config
	require.NoError(t, js.DeleteStream(ctx, base+"_USAGE_DLQ"))
	_, err = s.Publish(ctx, b.key, gateway.UsageBatch{Events: []gateway.UsageEvent{event(ext, "d")}})
	require.NoError(t, err)
	cons, err := old.Consumer(ctx, "ledger")
	require.NoError(t, err)
	require.Eventually(t, func() bool { // past the last try: every dead-lettering failed
		info, err := cons.Info(ctx)
		return err == nil && info.Delivered.Consumer >= 4
	}, 20*time.Second, 10*time.Millisecond, "the message was not delivered past its last try")
	n, err := s.Backlog(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "the event left the stream without a dead letter")

	_, err = js.CreateStream(ctx, dlqCfg)
	require.NoError(t, err)
	drained(t, s)
	letters, _, err := s.DeadLetters(ctx, 0, 10)
	require.NoError(t, err)
	require.Len(t, letters, 1)
	require.Equal(t, gateway.RejectRetry, letters[0].Reason)
	require.GreaterOrEqual(t, letters[0].Deliveries, uint64(4))
}

package webhook

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// replay asks for a replay of delivery attempt id as staff member 7.
func (b *testBundle) replay(t *testing.T, id int64) (Replay, error) {
	t.Helper()
	var r Replay
	err := pgx.BeginFunc(t.Context(), b.pool, func(tx pgx.Tx) error {
		var err error
		r, err = b.svc.ReplayTx(t.Context(), tx, id, 7)
		return err
	})
	return r, err
}

func (b *testBundle) setActive(t *testing.T, id int64, active bool) (bool, error) {
	t.Helper()
	var changed bool
	err := pgx.BeginFunc(t.Context(), b.pool, func(tx pgx.Tx) error {
		var err error
		_, changed, err = b.svc.SetActiveTx(t.Context(), tx, id, active)
		return err
	})
	return changed, err
}

func TestReplay(t *testing.T) {
	t.Run("RedeliversTheSameEventWithAFreshValidSignature", func(t *testing.T) {
		b := setup(t, Options{})
		r := newReceiver(t)
		ep := b.endpoint(t, r)
		eventID := b.enqueue(t, Event{Type: "balance.low", Payload: lowBalance{Account: "acme", Available: "5", Threshold: 5}})
		first := r.wait(t, 1)[0]
		ds := b.waitDeliveries(t, ep.ID, 1)

		time.Sleep(1100 * time.Millisecond) // the signature's timestamp is in seconds
		rp, err := b.replay(t, ds[0].ID)
		require.NoError(t, err)
		require.Equal(t, 1, rp.Number)
		require.Equal(t, eventID, rp.EventID)

		got := r.wait(t, 2)[1]
		require.NoError(t, got.verifyErr, "the replay is signed with the endpoint's secret")
		require.Equal(t, eventID, got.header.Get("Credits-Event-Id"), "same event id: the receiver dedupes")
		require.Equal(t, string(first.body), string(got.body), "the same body, byte for byte")
		require.NotEqual(t, first.header.Get(SignatureHeader), got.header.Get(SignatureHeader), "a fresh signature")

		log, next, err := b.svc.EventLog(t.Context(), ep.ID, 0, 10)
		require.NoError(t, err)
		require.Zero(t, next)
		require.Len(t, log, 1)
		require.Equal(t, 1, log[0].Replays)
		require.Eventually(t, func() bool {
			log, _, err = b.svc.EventLog(t.Context(), ep.ID, 0, 10)
			return err == nil && len(log[0].Attempts) == 2
		}, 5*time.Second, 20*time.Millisecond)
		a := log[0].Attempts[0] // newest first: the replay
		require.Equal(t, 1, a.Replay)
		require.Equal(t, 1, a.Attempt)
		require.Equal(t, http.StatusOK, *a.StatusCode)
		require.Equal(t, got.header.Get(SignatureHeader), a.RequestHeaders[SignatureHeader], "the log keeps the headers sent")
		require.Equal(t, eventID, a.RequestHeaders["Credits-Event-Id"])
		require.Equal(t, "OK", *a.ResponseBody)
		require.NotNil(t, a.DurationMS)
		require.Equal(t, 0, log[0].Attempts[1].Replay)
	})

	t.Run("ConcurrentReplaysAreEachDelivered", func(t *testing.T) {
		b := setup(t, Options{})
		r := newReceiver(t)
		ep := b.endpoint(t, r)
		b.enqueue(t, Event{Type: "lot.expiring", Payload: map[string]string{"lot": "L9"}})
		r.wait(t, 1)
		ds := b.waitDeliveries(t, ep.ID, 1)

		const n = 8
		var wg sync.WaitGroup
		numbers := make(chan int, n)
		for range n {
			wg.Go(func() {
				rp, err := b.replay(t, ds[0].ID)
				if err == nil {
					numbers <- rp.Number
				}
			})
		}
		wg.Wait()
		close(numbers)
		seen := map[int]bool{}
		for x := range numbers {
			seen[x] = true
		}
		require.Len(t, seen, n, "every replay gets its own number")
		for i := 1; i <= n; i++ {
			require.True(t, seen[i])
		}
		reqs := r.wait(t, n+1)
		for _, q := range reqs {
			require.NoError(t, q.verifyErr)
			require.Equal(t, string(reqs[0].body), string(q.body))
		}
	})

	t.Run("DisabledEndpointGetsNothingNotEvenAReplay", func(t *testing.T) {
		b := setup(t, Options{})
		r := newReceiver(t)
		ep := b.endpoint(t, r)
		b.enqueue(t, Event{Type: "balance.low", Payload: lowBalance{Account: "acme"}})
		r.wait(t, 1)
		ds := b.waitDeliveries(t, ep.ID, 1)

		changed, err := b.setActive(t, ep.ID, false)
		require.NoError(t, err)
		require.True(t, changed)
		changed, err = b.setActive(t, ep.ID, false)
		require.NoError(t, err)
		require.False(t, changed, "disabling twice changes nothing")

		_, err = b.replay(t, ds[0].ID)
		require.ErrorIs(t, err, ErrEndpointInactive)
		b.enqueue(t, Event{Type: "balance.low", Payload: lowBalance{Account: "acme", Threshold: 5}})

		// A delivery queued before the endpoint was disabled is cancelled
		// when it comes up: enqueue and disable in one transaction.
		on := newReceiver(t)
		ep2 := b.endpoint(t, on)
		err = pgx.BeginFunc(t.Context(), b.pool, func(tx pgx.Tx) error {
			if err := b.svc.EnqueueEventTx(t.Context(), tx, &Event{AccountID: b.accountID, Type: "balance.low", Payload: lowBalance{Account: "x"}}); err != nil {
				return err
			}
			_, _, err := b.svc.SetActiveTx(t.Context(), tx, ep2.ID, false)
			return err
		})
		require.NoError(t, err)
		logged := b.waitDeliveries(t, ep2.ID, 1)
		require.Equal(t, ErrEndpointInactive.Error(), *logged[0].Error)
		time.Sleep(300 * time.Millisecond)
		require.Len(t, r.requests(), 1, "nothing after disabling")
		require.Empty(t, on.requests(), "a delivery queued before disabling is not sent")

		h, err := b.svc.EndpointHealthOf(t.Context(), ep2.ID, time.Now())
		require.NoError(t, err)
		require.False(t, h.Active)
		require.Equal(t, DisabledByStaff, *h.DisabledBy)
		require.Zero(t, h.Attempts, "an attempt cancelled by disabling is no failure of the receiver")

		// Re-enabled, it receives again.
		changed, err = b.setActive(t, ep.ID, true)
		require.NoError(t, err)
		require.True(t, changed)
		b.enqueue(t, Event{Type: "balance.low", Payload: lowBalance{Account: "acme", Threshold: 1}})
		require.NoError(t, r.wait(t, 2)[1].verifyErr)
	})

	t.Run("EndpointDeletedByThePlatformStaysDeleted", func(t *testing.T) {
		b := setup(t, Options{})
		ep := b.endpoint(t, newReceiver(t))
		require.NoError(t, b.svc.SetActive(t.Context(), b.accountID, ep.ID, false))
		_, err := b.setActive(t, ep.ID, true)
		require.ErrorIs(t, err, ErrEndpointDeleted)
		_, err = b.setActive(t, 1<<40, false)
		require.ErrorIs(t, err, ErrNotFound)
		_, err = b.replay(t, 1<<40)
		require.ErrorIs(t, err, ErrDeliveryNotFound)
	})
}

func TestEndpointHealth(t *testing.T) {
	b := setup(t, Options{MaxAttempts: 3})
	r := newReceiver(t, 200, 500, 500, 500)
	ep := b.endpoint(t, r)
	b.enqueue(t, Event{Type: "balance.low", Payload: lowBalance{Account: "ok"}})
	b.waitDeliveries(t, ep.ID, 1)
	b.enqueue(t, Event{Type: "balance.low", Payload: lowBalance{Account: "failing"}})
	b.waitDeliveries(t, ep.ID, 4)

	h, err := b.svc.EndpointHealthOf(t.Context(), ep.ID, time.Now())
	require.NoError(t, err)
	require.Equal(t, int64(4), h.Attempts)
	require.Equal(t, int64(1), h.Delivered)
	pct, ok := h.SuccessPercent()
	require.True(t, ok)
	require.Equal(t, 25, pct)
	require.NotNil(t, h.LastSuccess)
	require.NotNil(t, h.LastFailure)
	require.True(t, h.LastFailure.After(*h.LastSuccess))
	require.Equal(t, int64(3), h.ConsecutiveFailures)

	list, err := b.svc.EndpointsHealth(t.Context(), EndpointFilter{AccountID: b.accountID}, time.Now())
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, h.ConsecutiveFailures, list[0].ConsecutiveFailures)

	// A delivery waiting for its retry is queued.
	slow := newReceiver(t, 500)
	ep2 := b.endpoint(t, slow)
	b2 := *b
	b2.svc = NewService(b.pool, b.svc.jobs, Options{MaxAttempts: 12})
	_ = b2.enqueue(t, Event{Type: "balance.low", Payload: lowBalance{Account: "q"}})
	slow.wait(t, 1)
	require.Eventually(t, func() bool {
		h2, err := b.svc.EndpointHealthOf(t.Context(), ep2.ID, time.Now())
		return err == nil && h2.Queued == 1
	}, 5*time.Second, 20*time.Millisecond)
}

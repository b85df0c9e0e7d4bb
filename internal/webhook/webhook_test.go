package webhook

import (
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/internal/platform/jobs/jobstest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// testBackoff keeps retries fast: 200 ms, 400 ms, 800 ms …
func testBackoff(attempt int) time.Duration { return 200 * time.Millisecond << (attempt - 1) }

type testBundle struct {
	pool      *pgxpool.Pool
	svc       *Service
	accountID int64
}

// setup starts a River client working deliveries and returns a service for
// a fresh account. Tests using it run one after another: deliveries from
// one test must not be worked by another test's client.
func setup(t *testing.T, opts Options) *testBundle {
	t.Helper()
	pool := dbtest.Pool(t)
	workers := river.NewWorkers()
	river.AddWorker(workers, NewDeliverer(pool, DelivererOptions{Backoff: testBackoff, AllowPrivateNetworks: true}))
	client := jobstest.Start(t, pool, workers)
	return &testBundle{pool: pool, svc: NewService(pool, client, opts), accountID: rand.Int64N(1 << 40)}
}

type request struct {
	at        time.Time
	body      []byte
	header    http.Header
	verifyErr error
}

// receiver is a platform's webhook endpoint: it verifies each request's
// signature and answers with the next status of its script (the last one
// repeats; 200 when empty).
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	script []int
	got    []request
	notify chan struct{}
}

func newReceiver(t *testing.T, script ...int) *receiver {
	r := &receiver{script: script, notify: make(chan struct{}, 100)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		verifyErr := Verify(r.secret, req.Header.Get(SignatureHeader), body, 5*time.Minute)
		r.got = append(r.got, request{at: time.Now(), body: body, header: req.Header.Clone(), verifyErr: verifyErr})
		status := http.StatusOK
		if n := len(r.got); len(r.script) > 0 {
			status = r.script[min(n, len(r.script))-1]
		}
		r.mu.Unlock()
		if verifyErr != nil {
			status = http.StatusBadRequest
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(http.StatusText(status)))
		r.notify <- struct{}{}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) setSecret(s string) {
	r.mu.Lock()
	r.secret = s
	r.mu.Unlock()
}

func (r *receiver) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.got...)
}

func (r *receiver) wait(t *testing.T, n int) []request {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for len(r.requests()) < n {
		select {
		case <-r.notify:
		case <-deadline:
			t.Fatalf("endpoint got %d requests, want %d", len(r.requests()), n)
		}
	}
	return r.requests()
}

func (b *testBundle) endpoint(t *testing.T, r *receiver) Endpoint {
	t.Helper()
	ep, secret, err := b.svc.CreateEndpoint(t.Context(), b.accountID, r.srv.URL+"/hooks/credits")
	require.NoError(t, err)
	r.setSecret(secret)
	return ep
}

func (b *testBundle) enqueue(t *testing.T, ev Event) string {
	t.Helper()
	ev.AccountID = b.accountID
	err := pgx.BeginFunc(t.Context(), b.pool, func(tx pgx.Tx) error {
		return b.svc.EnqueueEventTx(t.Context(), tx, &ev)
	})
	require.NoError(t, err)
	return ev.ID
}

// waitDeliveries waits until the endpoint's log has n attempts and the last
// one is final (delivered or given up).
func (b *testBundle) waitDeliveries(t *testing.T, endpointID int64, n int) []Delivery {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ds, err := b.svc.Deliveries(t.Context(), b.accountID, endpointID, 100)
		require.NoError(t, err)
		if len(ds) >= n {
			// newest first; return oldest first
			for i, j := 0, len(ds)-1; i < j; i, j = i+1, j-1 {
				ds[i], ds[j] = ds[j], ds[i]
			}
			return ds
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery log has %d attempts, want %d", len(ds), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type lowBalance struct {
	Account   string `json:"account"`
	Available string `json:"available"`
	Threshold int    `json:"threshold_percent"`
}

func TestDelivery(t *testing.T) {
	t.Run("SignedEventReachesActiveEndpointsOnly", func(t *testing.T) {
		b := setup(t, Options{})
		on, off := newReceiver(t), newReceiver(t)
		epOn := b.endpoint(t, on)
		epOff := b.endpoint(t, off)
		require.NoError(t, b.svc.SetActive(t.Context(), b.accountID, epOff.ID, false))

		var eventID string
		err := pgx.BeginFunc(t.Context(), b.pool, func(tx pgx.Tx) error {
			var err error
			eventID, err = b.svc.EnqueueTx(t.Context(), tx, b.accountID, "balance.low",
				lowBalance{Account: "acme", Available: "19.500000", Threshold: 20})
			return err
		})
		require.NoError(t, err)

		got := on.wait(t, 1)[0]
		require.NoError(t, got.verifyErr, "the receiver must be able to verify the signature")
		require.Equal(t, "application/json", got.header.Get("Content-Type"))
		require.Equal(t, eventID, got.header.Get("Credits-Event-Id"))
		var body struct {
			ID        string     `json:"id"`
			Type      string     `json:"type"`
			CreatedAt time.Time  `json:"created_at"`
			Data      lowBalance `json:"data"`
		}
		require.NoError(t, json.Unmarshal(got.body, &body))
		require.Equal(t, eventID, body.ID)
		require.Equal(t, "balance.low", body.Type)
		require.Equal(t, lowBalance{"acme", "19.500000", 20}, body.Data)
		require.WithinDuration(t, time.Now(), body.CreatedAt, time.Minute)

		ds := b.waitDeliveries(t, epOn.ID, 1)
		require.Len(t, ds, 1)
		require.Equal(t, 1, ds[0].Attempt)
		require.Equal(t, http.StatusOK, *ds[0].StatusCode)
		require.NotNil(t, ds[0].DeliveredAt)
		require.Nil(t, ds[0].Error)
		require.Nil(t, ds[0].NextAttemptAt)
		require.JSONEq(t, string(got.body), string(ds[0].Payload), "the log keeps what was sent")

		time.Sleep(300 * time.Millisecond)
		require.Empty(t, off.requests(), "a disabled endpoint gets nothing")
	})

	t.Run("FailingEndpointIsRetriedWithGrowingBackoffAndEveryAttemptLogged", func(t *testing.T) {
		b := setup(t, Options{})
		r := newReceiver(t, 500, 502, 200)
		ep := b.endpoint(t, r)
		b.enqueue(t, Event{Type: "balance.low", Payload: lowBalance{Account: "acme", Available: "5", Threshold: 5}})

		reqs := r.wait(t, 3)
		for _, req := range reqs {
			require.NoError(t, req.verifyErr)
			require.Equal(t, string(reqs[0].body), string(req.body), "every attempt sends the same body")
		}
		gap1, gap2 := reqs[1].at.Sub(reqs[0].at), reqs[2].at.Sub(reqs[1].at)
		require.GreaterOrEqual(t, gap1, 180*time.Millisecond, "first retry waits ≈200 ms")
		require.GreaterOrEqual(t, gap2, 360*time.Millisecond, "second retry waits ≈400 ms")

		ds := b.waitDeliveries(t, ep.ID, 3)
		// The backoff grows as scheduled (the observed gaps also include how
		// soon a busy machine picks the job up, so they are only bounded below).
		wait1, wait2 := ds[0].NextAttemptAt.Sub(ds[0].CreatedAt), ds[1].NextAttemptAt.Sub(ds[1].CreatedAt)
		require.Greater(t, wait2, wait1, "the second retry is scheduled further out than the first")
		require.Len(t, ds, 3)
		for i, want := range []int{500, 502, 200} {
			require.Equal(t, i+1, ds[i].Attempt)
			require.Equal(t, want, *ds[i].StatusCode)
		}
		require.Contains(t, *ds[0].Error, "500")
		require.NotNil(t, ds[0].NextAttemptAt)
		// The retry comes no earlier than the log says (later on a busy
		// machine: the observed time also holds the wait for a worker).
		require.False(t, reqs[1].at.Before(ds[0].NextAttemptAt.Add(-50*time.Millisecond)),
			"the log says when the next attempt happens: %v, came %v", *ds[0].NextAttemptAt, reqs[1].at)
		require.Nil(t, ds[0].DeliveredAt)
		require.NotNil(t, ds[2].DeliveredAt)
		require.Nil(t, ds[2].Error)
	})

	t.Run("GivesUpAfterMaxAttempts", func(t *testing.T) {
		b := setup(t, Options{MaxAttempts: 3})
		r := newReceiver(t, 503)
		ep := b.endpoint(t, r)
		eventID := b.enqueue(t, Event{Type: "lot.expiring", Payload: map[string]string{"lot": "L1"}})

		ds := b.waitDeliveries(t, ep.ID, 3)
		require.Equal(t, 3, ds[2].Attempt)
		require.Nil(t, ds[2].NextAttemptAt, "no further attempt is announced")
		require.Nil(t, ds[2].DeliveredAt)

		require.Eventually(t, func() bool {
			var state string
			err := b.pool.QueryRow(t.Context(),
				`SELECT state FROM river_job WHERE kind = 'webhook_deliver' AND args->>'event_id' = $1`, eventID).Scan(&state)
			return err == nil && state == "discarded"
		}, 5*time.Second, 20*time.Millisecond)
		time.Sleep(1500 * time.Millisecond)
		require.Len(t, r.requests(), 3, "no fourth attempt")
	})

	t.Run("RotatedSecretSignsLaterDeliveries", func(t *testing.T) {
		b := setup(t, Options{})
		r := newReceiver(t)
		ep := b.endpoint(t, r)
		secret, err := b.svc.RotateSecret(t.Context(), b.accountID, ep.ID)
		require.NoError(t, err)
		r.setSecret(secret)
		b.enqueue(t, Event{Type: "balance.low", Payload: lowBalance{Account: "acme"}})
		require.NoError(t, r.wait(t, 1)[0].verifyErr)

		_, err = b.svc.RotateSecret(t.Context(), b.accountID+1, ep.ID)
		require.ErrorIs(t, err, ErrNotFound, "another account cannot rotate it")
	})
}

func TestEnqueueTx(t *testing.T) {
	t.Run("RolledBackTransactionEnqueuesNothing", func(t *testing.T) {
		b := setup(t, Options{})
		r := newReceiver(t)
		b.endpoint(t, r)
		errLedger := errors.New("ledger write failed")
		var eventID string
		err := pgx.BeginFunc(t.Context(), b.pool, func(tx pgx.Tx) error {
			var err error
			eventID, err = b.svc.EnqueueTx(t.Context(), tx, b.accountID, "balance.low", lowBalance{Account: "acme"})
			require.NoError(t, err)
			return errLedger
		})
		require.ErrorIs(t, err, errLedger)

		var n int
		require.NoError(t, b.pool.QueryRow(t.Context(),
			`SELECT count(*) FROM river_job WHERE args->>'event_id' = $1`, eventID).Scan(&n))
		require.Zero(t, n)
		time.Sleep(500 * time.Millisecond)
		require.Empty(t, r.requests())
	})

	t.Run("SameEventIDIsDeliveredOncePerEndpoint", func(t *testing.T) {
		b := setup(t, Options{})
		r1, r2 := newReceiver(t), newReceiver(t)
		ep1 := b.endpoint(t, r1)
		ev := Event{ID: "evt_low_balance_42_topup_7_20", Type: "balance.low", Payload: lowBalance{Account: "acme"}}
		b.enqueue(t, ev)
		b.enqueue(t, ev) // e.g. a retried use case
		r1.wait(t, 1)
		b.waitDeliveries(t, ep1.ID, 1)

		// Long after delivery (even once River cleaned its job), the same
		// event is not sent again; a new endpoint still gets it.
		_, err := b.pool.Exec(t.Context(), `DELETE FROM river_job WHERE args->>'event_id' = $1`, ev.ID)
		require.NoError(t, err)
		b.endpoint(t, r2)
		b.enqueue(t, ev)
		r2.wait(t, 1)
		time.Sleep(500 * time.Millisecond)
		require.Len(t, r1.requests(), 1)
		require.Len(t, r2.requests(), 1)
	})

	t.Run("InvalidEventIsRefused", func(t *testing.T) {
		b := setup(t, Options{})
		err := pgx.BeginFunc(t.Context(), b.pool, func(tx pgx.Tx) error {
			_, err := b.svc.EnqueueTx(t.Context(), tx, b.accountID, "", lowBalance{})
			return err
		})
		require.ErrorIs(t, err, ErrInvalidEvent)
		err = pgx.BeginFunc(t.Context(), b.pool, func(tx pgx.Tx) error {
			_, err := b.svc.EnqueueTx(t.Context(), tx, b.accountID, "balance.low", func() {})
			return err
		})
		require.ErrorIs(t, err, ErrInvalidEvent)
	})
}

func TestEndpoints(t *testing.T) {
	t.Run("CreateShowsSecretOnceAndValidatesURL", func(t *testing.T) {
		pool := dbtest.Pool(t)
		svc := NewService(pool, nil, Options{RequireHTTPS: true})
		account := rand.Int64N(1 << 40)
		ep, secret, err := svc.CreateEndpoint(t.Context(), account, "https://platform.example.cn/webhooks/credits")
		require.NoError(t, err)
		require.Regexp(t, `^whsec_[A-Za-z0-9_-]{43}$`, secret)
		require.True(t, ep.Active)

		eps, err := svc.Endpoints(t.Context(), account)
		require.NoError(t, err)
		require.Equal(t, []Endpoint{ep}, eps)

		for _, bad := range []string{"", "platform.example.cn/hook", "ftp://x.cn/h", "https://user:pw@x.cn/h", "http://platform.example.cn/hook"} {
			_, _, err := svc.CreateEndpoint(t.Context(), account, bad)
			require.ErrorIs(t, err, ErrInvalidURL, bad)
		}
		require.ErrorIs(t, svc.SetActive(t.Context(), account+1, ep.ID, false), ErrNotFound)
	})

	t.Run("PrivateAddressesAreRefusedByDefault", func(t *testing.T) {
		pool := dbtest.Pool(t)
		r := newReceiver(t)
		d := NewDeliverer(pool, DelivererOptions{})
		ex, err := d.post(t.Context(), r.srv.URL, "whsec_x", DeliverArgs{EventID: "evt_1", EventType: "t"}, []byte(`{}`))
		require.ErrorIs(t, err, errPrivateAddress)
		require.Nil(t, ex.status, "no answer")
		require.Empty(t, r.requests(), "the request never left")
	})
}

package relay_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/access"
	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/piicrypto"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/internal/pricing"
	"github.com/seed75218f88/credits/internal/ratelimit"
	"github.com/seed75218f88/credits/internal/relay"
	"github.com/seed75218f88/credits/internal/relay/upstreamsim"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// clock is a movable clock shared by the ledger, the gateway and the relay.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.off) }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

type testBundle struct {
	pool    *pgxpool.Pool
	ledger  *ledger.Ledger
	gw      *gateway.Service
	keys    *relay.Keys
	ups     *relay.Upstreams
	counter *relay.Counter
	sim     *upstreamsim.Server
	simURL  string
	url     string // the relay
	admin   backoffice.Actor
	clock   *clock
	card    pricing.Card
	pricing *pricing.Service
	relay   *relay.Relay
}

var (
	cardOnce sync.Once
	counter  *relay.Counter
	uniqN    atomic.Int64
)

// setup runs a relay over the package's database in front of its own
// simulator, with one upstream (named after the test) serving
// deepseek-chat as sim-chat. Upstreams are shared by the package's tests:
// each test uses a model of its own when it adds upstreams.
func setup(t testing.TB, opts ...func(*relay.Options)) *testBundle {
	t.Helper()
	return setupOn(t, dbtest.AppPool(t), nil, opts...)
}

// setupOn is setup over pool, the primary, whose services read and write
// through reader's Failover when reader is given, as app.Build wires them.
func setupOn(t testing.TB, pool *pgxpool.Pool, reader *db.Reader, opts ...func(*relay.Options)) *testBundle {
	t.Helper()
	ctx := context.Background()
	b := &testBundle{clock: &clock{}, pool: pool}
	q := db.Querier(pool)
	if reader != nil {
		q = reader.Failover()
	}
	cardOnce.Do(func() {
		_, err := pricing.New(dbtest.Pool(t)).EnsureDefault(ctx, "test", pricing.DefaultCreditPriceRMB)
		require.NoError(t, err)
		counter, err = relay.NewCounter()
		require.NoError(t, err)
	})
	b.counter = counter
	b.ledger = ledger.New(q, ledger.Options{Now: b.clock.Now, ExpiredReservations: ledger.ExpiredRelease})
	t.Cleanup(b.ledger.Close)
	ps := pricing.New(q)
	b.pricing = ps
	var err error
	b.card, err = ps.InForce(ctx, time.Now())
	require.NoError(t, err)
	b.gw, err = gateway.New(gateway.Deps{Pool: q, Ledger: b.ledger, Pricing: ps,
		Limiter: ratelimit.NewMemory(ratelimit.MemoryOptions{}), Models: access.NewStore(q)},
		gateway.Options{Now: b.clock.Now, Secret: []byte("relay-test-secret-0123456789"), ReservationTTL: time.Minute})
	require.NoError(t, err)
	o := relay.Options{Now: b.clock.Now, UpstreamTTL: 50 * time.Millisecond, Reader: reader}
	for _, f := range opts {
		f(&o)
	}
	b.keys = relay.NewKeys(q, b.ledger, func(ctx context.Context) ([]string, error) { return modelNames(b.card), nil }, o)
	b.ups = relay.NewUpstreams(q, piicrypto.Dev(), o)
	b.sim = upstreamsim.New(upstreamsim.Options{APIKey: "sim-secret"})
	simSrv := httptest.NewServer(b.sim)
	t.Cleanup(simSrv.Close)
	b.simURL = simSrv.URL + "/v1"
	r, err := relay.New(relay.Deps{Gateway: b.gw, Pricing: ps, Keys: b.keys, Upstreams: b.ups, Counter: b.counter}, o)
	require.NoError(t, err)
	b.relay = r
	srv := httptest.NewServer(r.Handler())
	t.Cleanup(srv.Close)
	b.url = srv.URL
	b.admin = backoffice.Actor{User: auth.User{ID: 1, Email: "admin@example.com", Kind: auth.KindStaff, Roles: []auth.Role{auth.RoleAdmin}}}
	return b
}

func modelNames(c pricing.Card) []string {
	out := make([]string, len(c.Models))
	for i, m := range c.Models {
		out[i] = m.Model
	}
	return out
}

// upstream adds an upstream serving models (lines "public=upstream") at
// the bundle's simulator, or at url when given.
func (b *testBundle) upstream(t testing.TB, name, models string, priority int, url ...string) relay.Upstream {
	t.Helper()
	base := b.simURL
	if len(url) > 0 {
		base = url[0]
	}
	u, err := b.ups.Create(context.Background(), b.admin, relay.UpstreamForm{Name: fmt.Sprintf("%s-%d", name, uniqN.Add(1)),
		BaseURL: base, Secret: "sim-secret", Models: models, Weight: "1", Priority: fmt.Sprint(priority), TimeoutMS: "10000", Enabled: true})
	require.NoError(t, err)
	t.Cleanup(func() {
		f := relay.FormOf(u)
		f.Enabled = false
		_, _ = b.ups.Update(context.Background(), b.admin, u.ID, f)
	})
	return u
}

// customer makes a verified account holding credits of paid credit and a
// key for it; it returns the account and the key's secret.
func (b *testBundle) customer(t testing.TB, credits string, form ...relay.KeyForm) (ledger.Account, string) {
	t.Helper()
	ctx := context.Background()
	acct, err := b.ledger.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual, Name: "relay " + t.Name()})
	require.NoError(t, err)
	require.NoError(t, gateway.PGVerifier{Pool: b.pool, Ledger: b.ledger}.MarkVerifiedExternally(ctx, acct.ID, "ref", "test"))
	if credits != "0" {
		_, err = b.ledger.Credit(ctx, ledger.CreditRequest{AccountID: acct.ID, Kind: ledger.LotPaid, Amount: d(credits),
			EventType: ledger.EventPurchase, SourceRef: "test", Actor: "test", IdempotencyKey: fmt.Sprintf("relay-test-%d", uniqN.Add(1))})
		require.NoError(t, err)
	}
	f := relay.KeyForm{Name: "test key"}
	if len(form) > 0 {
		f = form[0]
	}
	f.AccountID = acct.ID
	_, secret, err := b.keys.Create(ctx, acct, relay.Customer{UserID: 0, Email: "c@example.com"}, f)
	require.NoError(t, err)
	return acct, secret
}

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// balance is the account's available and reserved credit.
func (b *testBundle) balance(t testing.TB, id int64) (decimal.Decimal, decimal.Decimal) {
	t.Helper()
	bal, err := b.ledger.Balance(context.Background(), id)
	require.NoError(t, err)
	return bal.Available, bal.Reserved
}

// waitSettled waits until nothing is held for the account and returns
// what it has left.
func (b *testBundle) waitSettled(t testing.TB, id int64) decimal.Decimal {
	t.Helper()
	var avail, reserved decimal.Decimal
	require.Eventually(t, func() bool {
		avail, reserved = b.balance(t, id)
		return reserved.IsZero()
	}, 10*time.Second, 10*time.Millisecond, "the hold is settled")
	return avail
}

// cost is what usage costs on the card in force for model.
func (b *testBundle) cost(t testing.TB, model string, in, cached, out int64) decimal.Decimal {
	t.Helper()
	for _, m := range b.card.Models {
		if m.Model == model {
			return pricing.UsageCost(m, in-cached, out, cached, 1)
		}
	}
	t.Fatalf("no price for %s", model)
	return decimal.Zero
}

func (b *testBundle) post(t *testing.T, secret, path, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.url+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func chatBody(model, text string, stream bool, extra string) string {
	b, _ := json.Marshal(text)
	return fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":%s}],"stream":%v%s}`, model, b, stream, extra)
}

// events reads a stream's data payloads.
func events(t *testing.T, r io.Reader) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, v)
		}
	}
	return out
}

func errorCode(t *testing.T, resp *http.Response) string {
	t.Helper()
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Type    string `json:"type"`
		} `json:"error"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
	require.NotEmpty(t, e.Error.Message)
	require.NotEmpty(t, e.Error.Type)
	return e.Error.Code
}

// promptTokens is the simulator's count of a one-message prompt.
func promptTokens(text string) int64 { return int64(3 + 3 + len(strings.Fields(text))) }

func TestStreamingIsBilledExactlyTheUpstreamsUsage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.upstream(t, "stream", "deepseek-chat=sim-chat", 0)
	acct, secret := b.customer(t, "1000")
	text := "hello there sim:tokens=20 sim:cached=4"

	t.Run("UsageChunkStrippedWhenNotAsked", func(t *testing.T) {
		before, _ := b.balance(t, acct.ID)
		resp := b.post(t, secret, "/v1/chat/completions", chatBody("deepseek-chat", text, true, ""))
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
		evs := events(t, resp.Body)
		require.Equal(t, "[DONE]", evs[len(evs)-1])
		content := 0
		for _, e := range evs[:len(evs)-1] {
			require.NotContains(t, e, `"usage"`, "the client did not ask for usage")
			require.Contains(t, e, `"model":"deepseek-chat"`, "the public model name, not the upstream's")
			if strings.Contains(e, upstreamsim.Token) {
				content++
			}
		}
		require.Equal(t, 20, content, "every token chunk passed on")
		after := b.waitSettled(t, acct.ID)
		require.True(t, before.Sub(after).Equal(b.cost(t, "deepseek-chat", promptTokens(text), 4, 20)),
			"charged %s, want %s", before.Sub(after), b.cost(t, "deepseek-chat", promptTokens(text), 4, 20))
	})

	t.Run("UsageChunkKeptWhenAsked", func(t *testing.T) {
		resp := b.post(t, secret, "/v1/chat/completions", chatBody("deepseek-chat", text, true, `,"stream_options":{"include_usage":true}`))
		evs := events(t, resp.Body)
		usage := evs[len(evs)-2]
		require.Contains(t, usage, `"usage"`)
		require.Contains(t, usage, `"cached_tokens":4`)
		b.waitSettled(t, acct.ID)
	})

	t.Run("NonStreaming", func(t *testing.T) {
		before, _ := b.balance(t, acct.ID)
		resp := b.post(t, secret, "/v1/chat/completions", chatBody("deepseek-chat", text, false, ""))
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var doc struct {
			Model   string `json:"model"`
			Choices []struct {
				Message struct{ Content string } `json:"message"`
			} `json:"choices"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&doc))
		require.Equal(t, "deepseek-chat", doc.Model)
		require.Equal(t, strings.Repeat(upstreamsim.Token, 20), doc.Choices[0].Message.Content)
		after := b.waitSettled(t, acct.ID)
		require.True(t, before.Sub(after).Equal(b.cost(t, "deepseek-chat", promptTokens(text), 4, 20)))
	})
}

func TestOutcomes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.upstream(t, "outcomes", "deepseek-reasoner=sim-chat", 0)
	const model = "deepseek-reasoner"

	t.Run("ClientDisconnectMidStreamChargesWhatWasProduced", func(t *testing.T) {
		acct, secret := b.customer(t, "1000")
		before, _ := b.balance(t, acct.ID)
		finished := b.sim.Finished()
		text := "go on sim:tokens=40 sim:delay=15ms"
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, b.url+"/v1/chat/completions", strings.NewReader(chatBody(model, text, true, "")))
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		rd := bufio.NewReader(resp.Body)
		for seen := 0; seen < 3; {
			line, err := rd.ReadString('\n')
			require.NoError(t, err)
			if strings.Contains(line, upstreamsim.Token) {
				seen++
			}
		}
		cancel() // the client goes away after 3 tokens
		resp.Body.Close()
		require.Eventually(t, func() bool { return b.sim.Finished() > finished }, 5*time.Second, 10*time.Millisecond,
			"the upstream is read to its end")
		after := b.waitSettled(t, acct.ID)
		require.True(t, before.Sub(after).Equal(b.cost(t, model, promptTokens(text), 0, 40)),
			"charged %s: all 40 tokens the upstream produced", before.Sub(after))
	})

	t.Run("UpstreamErrorBeforeOutputChargesNothing", func(t *testing.T) {
		acct, secret := b.customer(t, "1000")
		before, _ := b.balance(t, acct.ID)
		resp := b.post(t, secret, "/v1/chat/completions", chatBody(model, "sim:fault=error", true, ""))
		require.Equal(t, http.StatusBadGateway, resp.StatusCode)
		require.Equal(t, "upstream_error", errorCode(t, resp))
		after := b.waitSettled(t, acct.ID)
		require.True(t, before.Equal(after), "nothing charged, hold released: %s → %s", before, after)
	})

	t.Run("UpstreamCutAfterPartialChargesWhatWasProduced", func(t *testing.T) {
		acct, secret := b.customer(t, "1000")
		before, _ := b.balance(t, acct.ID)
		text := "a story sim:tokens=30 sim:fault=cut:7"
		resp := b.post(t, secret, "/v1/chat/completions", chatBody(model, text, true, ""))
		require.Equal(t, http.StatusOK, resp.StatusCode)
		evs := events(t, resp.Body)
		require.Contains(t, evs[len(evs)-1], `"upstream_error"`, "the client is told the stream ended early")
		after := b.waitSettled(t, acct.ID)
		est := b.counter.PromptTokens(json.RawMessage(fmt.Sprintf(`[{"role":"user","content":%q}]`, text)))
		require.True(t, before.Sub(after).Equal(b.cost(t, model, est, 0, 7)),
			"charged %s: the input estimate and the 7 tokens produced", before.Sub(after))
	})

	t.Run("NoUsageReportedIsCounted", func(t *testing.T) {
		acct, secret := b.customer(t, "1000")
		before, _ := b.balance(t, acct.ID)
		text := "count me sim:tokens=12 sim:fault=nousage"
		resp := b.post(t, secret, "/v1/chat/completions", chatBody(model, text, true, ""))
		evs := events(t, resp.Body)
		require.Equal(t, "[DONE]", evs[len(evs)-1])
		after := b.waitSettled(t, acct.ID)
		est := b.counter.PromptTokens(json.RawMessage(fmt.Sprintf(`[{"role":"user","content":%q}]`, text)))
		require.True(t, before.Sub(after).Equal(b.cost(t, model, est, 0, 12)), "charged %s", before.Sub(after))
	})
}

func TestFailoverBeforeTheFirstByteAndCircuitBreaker(t *testing.T) {
	t.Parallel()
	b := setup(t, func(o *relay.Options) { o.BreakerFailures = 3; o.BreakerOpen = time.Hour })
	bad := upstreamsim.New(upstreamsim.Options{APIKey: "sim-secret"})
	bad.Fail.Store(503)
	badSrv := httptest.NewServer(bad)
	t.Cleanup(badSrv.Close)
	badUp := b.upstream(t, "bad", "kimi-k2=sim-chat", 0, badSrv.URL+"/v1")
	goodUp := b.upstream(t, "good", "kimi-k2=sim-chat", 1)
	acct, secret := b.customer(t, "1000")
	for i := range 6 {
		resp := b.post(t, secret, "/v1/chat/completions", chatBody("kimi-k2", "hi sim:tokens=3", i%2 == 0, ""))
		require.Equal(t, http.StatusOK, resp.StatusCode, "call %d served by the second upstream", i)
		_, _ = io.Copy(io.Discard, resp.Body)
	}
	require.EqualValues(t, 3, bad.Calls(), "after 3 failures the failing upstream is skipped")
	b.waitSettled(t, acct.ID)
	// Each charge names the upstream that served it (the margin report's
	// view by upstream).
	var served []string
	require.Eventually(t, func() bool {
		rows, err := b.pool.Query(context.Background(), `SELECT DISTINCT ON (op_id) coalesce(detail->>'upstream', '')
			FROM ledger_events WHERE account_id = $1 AND type = 'deduction' ORDER BY op_id`, acct.ID)
		require.NoError(t, err)
		served, err = pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return len(served) == 6
	}, 5*time.Second, 20*time.Millisecond)
	for _, u := range served {
		require.Equal(t, goodUp.Name, u)
	}

	// the open circuit is reported for the back office, until it lets a
	// trial through; the healthy upstream's circuit is closed
	var states map[int64][]relay.BreakerState
	require.Eventually(t, func() bool {
		var err error
		states, err = b.ups.Breakers(context.Background())
		require.NoError(t, err)
		return len(states[badUp.ID]) == 1
	}, 5*time.Second, 20*time.Millisecond)
	open := states[badUp.ID][0]
	require.Equal(t, "open", open.State)
	require.NotNil(t, open.Until)
	require.WithinDuration(t, open.Since.Add(time.Hour), *open.Until, time.Second)
	require.Empty(t, states[goodUp.ID])
}

func TestKeysAndErrors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.upstream(t, "keys", "glm-4-plus=sim-chat\ndeepseek-chat=sim-chat", 0)
	ctx := context.Background()

	t.Run("InvalidKey", func(t *testing.T) {
		resp := b.post(t, "sk-"+strings.Repeat("x", 48), "/v1/chat/completions", chatBody("glm-4-plus", "hi", false, ""))
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		require.Equal(t, "invalid_api_key", errorCode(t, resp))
	})

	t.Run("RevokedKeyStopsWithinTwoSeconds", func(t *testing.T) {
		acct, secret := b.customer(t, "100")
		resp := b.post(t, secret, "/v1/chat/completions", chatBody("glm-4-plus", "hi sim:tokens=2", false, ""))
		require.Equal(t, http.StatusOK, resp.StatusCode)
		keys, err := b.keys.List(ctx, acct)
		require.NoError(t, err)
		require.Len(t, keys, 1)
		require.NotNil(t, keys[0].LastUsedAt, "last use is shown")
		require.True(t, strings.HasPrefix(secret, keys[0].Prefix))
		// Another process's store, which cached the key before the revocation.
		other := relay.NewKeys(b.pool, b.ledger, nil, relay.Options{})
		_, err = other.Authenticate(ctx, secret)
		require.NoError(t, err)
		_, err = b.keys.Revoke(ctx, acct, relay.Customer{Email: "c@example.com"}, keys[0].ID)
		require.NoError(t, err)
		revokedAt := time.Now()
		resp = b.post(t, secret, "/v1/chat/completions", chatBody("glm-4-plus", "hi", false, ""))
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "refused at once by the process that revoked it")
		require.Eventually(t, func() bool {
			_, err := other.Authenticate(ctx, secret)
			return err != nil
		}, 2*time.Second, 20*time.Millisecond)
		require.Less(t, time.Since(revokedAt), 2*time.Second)
		var n int
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM admin_audit_log WHERE action = 'relay_key_revoked' AND account_id = $1`, acct.ID).Scan(&n))
		require.Equal(t, 1, n, "the revocation is audited")
	})

	// A key in steady use is read again in the background past half its
	// cache time, never on a call's path; a revocation the store never
	// heard of is still obeyed: at the next background read, and at the
	// latest when the cached copy's time is up.
	t.Run("ReadAgainAheadOfExpiry", func(t *testing.T) {
		acct, secret := b.customer(t, "100")
		clk := &clock{}
		store := relay.NewKeys(b.pool, b.ledger, nil, relay.Options{Now: clk.Now, KeyCacheTTL: time.Minute})
		lastUsed := func() time.Time {
			var at time.Time
			require.NoError(t, b.pool.QueryRow(ctx, `SELECT last_used_at FROM relay_keys WHERE account_id = $1`, acct.ID).Scan(&at))
			return at
		}
		_, err := store.Authenticate(ctx, secret)
		require.NoError(t, err)
		first := lastUsed()

		clk.Advance(20 * time.Second) // a third of the TTL: the cache alone
		_, err = store.Authenticate(ctx, secret)
		require.NoError(t, err)
		require.True(t, first.Equal(lastUsed()), "not read again before half the TTL")

		clk.Advance(15 * time.Second) // past half: served, and read again behind the call
		_, err = store.Authenticate(ctx, secret)
		require.NoError(t, err)
		require.Eventually(t, func() bool { return lastUsed().After(first) }, 2*time.Second, 10*time.Millisecond,
			"read again in the background")

		// Revoked behind the store's back (no invalidation word).
		_, err = b.pool.Exec(ctx, `UPDATE relay_keys SET revoked_at = now() WHERE account_id = $1`, acct.ID)
		require.NoError(t, err)
		clk.Advance(35 * time.Second) // 35 s after the background read: past half again
		_, err = store.Authenticate(ctx, secret)
		require.NoError(t, err, "the cached copy is still within its TTL")
		require.Eventually(t, func() bool {
			_, err := store.Authenticate(ctx, secret)
			return errors.Is(err, relay.ErrInvalidKey)
		}, 2*time.Second, 10*time.Millisecond, "the background read found it revoked")

		// A copy past its TTL is never served, read ahead or not.
		acct2, secret2 := b.customer(t, "100")
		_, err = store.Authenticate(ctx, secret2)
		require.NoError(t, err)
		_, err = b.pool.Exec(ctx, `UPDATE relay_keys SET revoked_at = now() WHERE account_id = $1`, acct2.ID)
		require.NoError(t, err)
		clk.Advance(time.Minute)
		_, err = store.Authenticate(ctx, secret2)
		require.ErrorIs(t, err, relay.ErrInvalidKey)
	})

	// A key read again on a call's path (its cached copy expired) writes
	// its last use only when the recorded one is half a minute old: the
	// reads in between leave the row as it was (no new row version, no WAL).
	t.Run("LastUseWrittenAtMostEveryHalfMinute", func(t *testing.T) {
		acct, secret := b.customer(t, "100")
		clk := &clock{}
		store := relay.NewKeys(b.pool, b.ledger, nil, relay.Options{Now: clk.Now, KeyCacheTTL: time.Second})
		type use struct {
			at      time.Time
			version string // the row version's xmin
		}
		recorded := func() use {
			var u use
			require.NoError(t, b.pool.QueryRow(ctx, `SELECT last_used_at, xmin::text FROM relay_keys WHERE account_id = $1`, acct.ID).Scan(&u.at, &u.version))
			return u
		}
		_, err := store.Authenticate(ctx, secret)
		require.NoError(t, err)
		first := recorded()

		clk.Advance(10 * time.Second) // the cached copy has expired: read on the call's path
		k, err := store.Authenticate(ctx, secret)
		require.NoError(t, err)
		require.Equal(t, first, recorded(), "a read within half a minute of the last recorded use writes nothing")
		require.NotNil(t, k.LastUsedAt)
		require.True(t, first.at.Equal(*k.LastUsedAt), "the key carries the recorded use")

		clk.Advance(25 * time.Second) // 35 s after the recorded use
		k, err = store.Authenticate(ctx, secret)
		require.NoError(t, err)
		now := recorded()
		require.True(t, now.at.After(first.at), "recorded again once half a minute old")
		require.True(t, now.at.Equal(*k.LastUsedAt), "the key carries the use just recorded")
	})

	t.Run("ExpiredKey", func(t *testing.T) {
		_, secret := b.customer(t, "100", relay.KeyForm{Name: "short", ExpiresOn: time.Now().In(time.FixedZone("CST", 8*3600)).Format("2006-01-02")})
		resp := b.post(t, secret, "/v1/chat/completions", chatBody("glm-4-plus", "hi sim:tokens=1", false, ""))
		require.Equal(t, http.StatusOK, resp.StatusCode, "works through the day it names")
		b.clock.Advance(48 * time.Hour)
		defer b.clock.Advance(-48 * time.Hour)
		resp = b.post(t, secret, "/v1/chat/completions", chatBody("glm-4-plus", "hi", false, ""))
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	})

	t.Run("ModelNotAllowedAndModelList", func(t *testing.T) {
		_, secret := b.customer(t, "100", relay.KeyForm{Name: "glm only", Models: "glm-4-plus"})
		resp := b.post(t, secret, "/v1/chat/completions", chatBody("deepseek-chat", "hi", false, ""))
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		require.Equal(t, "model_not_allowed", errorCode(t, resp))
		req, _ := http.NewRequest(http.MethodGet, b.url+"/v1/models", nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var list struct {
			Data []struct{ ID string } `json:"data"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&list))
		require.Len(t, list.Data, 1)
		require.Equal(t, "glm-4-plus", list.Data[0].ID)
	})

	t.Run("AccountModelNotAllowed", func(t *testing.T) {
		acct, secret := b.customer(t, "100")
		require.NoError(t, access.New(b.pool, b.ledger, access.Options{}).SetModels(ctx,
			access.Actor{Kind: backoffice.ActorStaff, Email: "admin@example.com"}, 0, acct.ID, []string{"glm-4-plus"}))
		resp := b.post(t, secret, "/v1/chat/completions", chatBody("deepseek-chat", "hi", false, ""))
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		require.Equal(t, "false", resp.Header.Get("x-should-retry"))
		require.Equal(t, "model_not_allowed", errorCode(t, resp))
		avail, reserved := b.balance(t, acct.ID)
		require.Equal(t, "100", avail.String(), "nothing held")
		require.True(t, reserved.IsZero())
		resp = b.post(t, secret, "/v1/chat/completions", chatBody("glm-4-plus", "hi sim:tokens=1", false, ""))
		require.Equal(t, http.StatusOK, resp.StatusCode)
		_, _ = io.Copy(io.Discard, resp.Body)
		b.waitSettled(t, acct.ID)
	})

	t.Run("UnknownModel", func(t *testing.T) {
		_, secret := b.customer(t, "100")
		resp := b.post(t, secret, "/v1/chat/completions", chatBody("no-such-model", "hi", false, ""))
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
		require.Equal(t, "model_not_found", errorCode(t, resp))
	})

	t.Run("InsufficientQuota", func(t *testing.T) {
		acct, secret := b.customer(t, "0.01")
		resp := b.post(t, secret, "/v1/chat/completions", chatBody("glm-4-plus", "hi", true, `,"max_tokens":1000`))
		require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
		require.Equal(t, "false", resp.Header.Get("x-should-retry"))
		require.Equal(t, "insufficient_quota", errorCode(t, resp))
		avail, reserved := b.balance(t, acct.ID)
		require.True(t, avail.Equal(d("0.01")) && reserved.IsZero())
	})

	t.Run("BodyTooLarge", func(t *testing.T) {
		_, secret := b.customer(t, "100")
		resp := b.post(t, secret, "/v1/chat/completions", chatBody("glm-4-plus", strings.Repeat("a", 5<<20), false, ""))
		require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
		require.Equal(t, "request_too_large", errorCode(t, resp))
	})

	t.Run("KeyFormErrorsAllAtOnce", func(t *testing.T) {
		acct, _ := b.customer(t, "0")
		_, _, err := b.keys.Create(ctx, acct, relay.Customer{}, relay.KeyForm{Name: "", Models: "nope", ExpiresOn: "2001-01-01", AccountID: acct.ID + 100000})
		require.Error(t, err)
		for _, f := range []string{"name", "models", "expires_on", "account"} {
			require.Contains(t, err.Error(), f)
		}
	})
}

func TestEmbeddingsAreBilledAtTheInputRate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.upstream(t, "embed", "qwen-plus=sim-embed", 0)
	acct, secret := b.customer(t, "100")
	before, _ := b.balance(t, acct.ID)
	resp := b.post(t, secret, "/v1/embeddings", `{"model":"qwen-plus","input":["one two three","four five"]}`)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var doc struct {
		Data []struct{ Embedding []float64 } `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&doc))
	require.Len(t, doc.Data, 2)
	after := b.waitSettled(t, acct.ID)
	require.True(t, before.Sub(after).Equal(b.cost(t, "qwen-plus", 5, 0, 0)), "charged %s", before.Sub(after))
}

// 64 concurrent streams on a balance enough for a few: some are refused
// with insufficient_quota, the others are billed their usage, and the
// balance never goes below zero.
func TestConcurrentStreamsNeverOverspend(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.upstream(t, "conc", "doubao-seed-1-6-251015=sim-chat", 0)
	const model = "doubao-seed-1-6-251015"
	acct, secret := b.customer(t, "3")
	text := "race sim:tokens=50 sim:delay=2ms"
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, b.url+"/v1/chat/completions", strings.NewReader(chatBody(model, text, true, `,"max_tokens":50`)))
			req.Header.Set("Authorization", "Bearer "+secret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			_, _ = io.Copy(io.Discard, resp.Body)
			switch resp.StatusCode {
			case http.StatusOK:
				ok.Add(1)
			case http.StatusTooManyRequests:
				refused.Add(1)
			}
		}()
	}
	wg.Wait()
	require.EqualValues(t, 64, ok.Load()+refused.Load())
	require.Positive(t, ok.Load())
	require.Positive(t, refused.Load())
	after := b.waitSettled(t, acct.ID)
	require.False(t, after.IsNegative())
	spent := d("3").Sub(after)
	require.True(t, spent.Equal(b.cost(t, model, promptTokens(text), 0, 50).Mul(decimal.NewFromInt(ok.Load()))),
		"each of the %d streams served is charged its usage exactly: spent %s", ok.Load(), spent)
}

func dbAppURL(t *testing.T) string { return dbtest.AppURL(t) }

// TestOverheadObserved: each stream that reaches its client tells
// Options.Observe the gateway's own part of its time to first token, stage
// by stage, and that part excludes the upstream's slow first token; a
// non-streaming call is not a stream and tells nothing.
func TestOverheadObserved(t *testing.T) {
	t.Parallel()
	seen := make(chan relay.Overhead, 4)
	b := setup(t, func(o *relay.Options) { o.Observe = func(v relay.Overhead) { seen <- v } })
	b.upstream(t, "observed", "moonshot-v1-8k=sim-chat", 0)
	_, secret := b.customer(t, "100000")
	start := time.Now()
	resp := b.post(t, secret, "/v1/chat/completions", chatBody("moonshot-v1-8k", "hello sim:tokens=3 sim:first=300ms", true, ""))
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	elapsed := time.Since(start)
	var o relay.Overhead
	select {
	case o = <-seen:
	default:
		t.Fatal("the stream's overhead was not observed")
	}
	require.Positive(t, o.BeforeUpstream)
	require.GreaterOrEqual(t, o.HoldWait, time.Duration(0))
	require.GreaterOrEqual(t, o.FirstEvent, time.Duration(0))
	require.Equal(t, o.BeforeUpstream+o.HoldWait+o.FirstEvent, o.Total())
	require.Less(t, o.Total(), elapsed-300*time.Millisecond, "the upstream's 300 ms before its first token is not the gateway's")

	resp = b.post(t, secret, "/v1/chat/completions", chatBody("moonshot-v1-8k", "hello sim:tokens=3", false, ""))
	body, _ = io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	require.Empty(t, seen, "only streams are observed")
}

package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/config"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/replicatest"
	"github.com/seed75218f88/credits/internal/pricing"
	"github.com/seed75218f88/credits/internal/signup"
	"github.com/seed75218f88/credits/web/webtest"
)

// TestPortalReadsFromTheStandby runs the server on a private primary with a
// real streaming standby (pg_basebackup) as DATABASE_REPLICA_URL:
//   - the usage page is served by the standby: with its replay paused, a
//     charge the gateway records is not on the page yet;
//   - read-your-writes: after the customer's own change (a new API key) their
//     next pages read the primary — the key and that charge are there —
//     while the standby is still paused;
//   - once replay resumes the standby serves them again;
//   - with the standby stopped every page still answers, from the primary.
func TestPortalReadsFromTheStandby(t *testing.T) {
	// Paused replay stays usable for reads not after a write.
	b := setupReplica(t, "credits_web_replica", time.Minute)
	cluster, reader := b.cluster, b.reader
	customer, u := b.register(t, "standby@example.com", "Standby")
	b.charge(t, u.AccountID, "sb1", "deepseek-chat", "sess-sb", "120", 12000, 300)
	cluster.WaitCaughtUp()

	// served reports how many rows the usage page shows and whether the
	// standby served its reads.
	served := func(path string) (rows int, onStandby bool) {
		before := reader.Stats()
		p := customer.Get(path)
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		after := reader.Stats()
		return p.Doc.Find(`[data-testid="charge-row"]`).Length() + p.Doc.Find(`[data-testid="apikey-row"]`).Length(),
			after.StandbyReads > before.StandbyReads && after.PrimaryReads == before.PrimaryReads && after.Fallbacks == before.Fallbacks
	}
	require.Eventually(t, func() bool { _, s := served("/portal/usage"); return s }, 10*time.Second, 50*time.Millisecond,
		"the usage page is read from the standby once it has caught up")

	// The standby stops replaying; the gateway records a second charge.
	cluster.PauseReplay()
	b.charge(t, u.AccountID, "sb2", "deepseek-chat", "sess-sb", "80", 8000, 200)
	rows, onStandby := served("/portal/usage")
	require.True(t, onStandby)
	require.Equal(t, 1, rows, "the standby has not replayed the second charge: the page proves where it was read")

	// The customer's own change: their next pages read the primary.
	p := customer.PostForm("/portal/keys", url.Values{"name": {"standby-key"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	keys := customer.Get("/portal/keys")
	require.Equal(t, http.StatusOK, keys.Status)
	require.Contains(t, keys.Text(`[data-testid="apikey-name"]`), "standby-key", "the customer sees their own write")
	rows, onStandby = served("/portal/usage")
	require.False(t, onStandby, "after a write the customer reads the primary while the standby has not replayed it")
	require.Equal(t, 2, rows)

	// Replay resumes: the standby passes the customer's write and serves
	// them again, with everything.
	cluster.ResumeReplay()
	require.Eventually(t, func() bool { n, s := served("/portal/usage"); return s && n == 2 }, 10*time.Second, 50*time.Millisecond)
	n, onStandby := served("/portal/keys")
	require.True(t, onStandby)
	require.Equal(t, 1, n)

	// The standby goes away: pages still answer, from the primary (a read
	// pinned to the standby before the probe noticed falls back).
	cluster.StopStandby()
	rows, onStandby = served("/portal/usage")
	require.False(t, onStandby)
	require.Equal(t, 2, rows)
	require.Positive(t, reader.Stats().Fallbacks+reader.Stats().PrimaryReads)
	require.Eventually(t, func() bool { return !reader.Stats().Healthy }, 5*time.Second, 20*time.Millisecond)
	rows, onStandby = served("/portal/usage")
	require.False(t, onStandby)
	require.Equal(t, 2, rows)
	csv := customer.Get("/portal/usage.csv")
	require.Equal(t, http.StatusOK, csv.Status)
	require.Contains(t, csv.Body, "sess-sb")
}

// TestPortalThroughAPrimaryFailover: the primary is lost (stopped at once,
// as a crash), the standby not yet promoted (README "Reads through a
// failover"):
//   - the signed-in customer's pages still answer, from the standby — the
//     session, the user, the account, the balance, the usage and the
//     transactions — both before the probe has noticed (each read fails on
//     the primary and runs again on the standby) and after (the page goes
//     to the standby at once), and /readyz passes;
//   - a session deleted on the primary before the loss (a sign-out whose
//     word this process did not hear) is refused: the standby has the
//     delete;
//   - a sign-out during the loss cannot commit, and the token is refused
//     by the process that handled it all the same.
func TestPortalThroughAPrimaryFailover(t *testing.T) {
	ctx := context.Background()
	b := setupReplica(t, "credits_web_failover", 0)
	cluster, reader, app, primary := b.cluster, b.reader, b.app, b.primary
	customer, u := b.register(t, "failover@example.com", "Failover")
	b.charge(t, u.AccountID, "fo1", "deepseek-chat", "sess-fo", "120", 12000, 300)
	revoked, _ := b.register(t, "revoked@example.com", "Revoked")
	require.Equal(t, http.StatusOK, revoked.Get("/portal").Status)

	// The second customer's session is deleted on the primary by hand: no
	// word reaches this process, whose cache trusts it sessionTrust (2 s).
	token := ""
	for _, k := range revoked.HTTP.Jar.Cookies(mustURL(t, app.URL)) {
		if k.Name == "credits_session" {
			token = k.Value
		}
	}
	require.NotEmpty(t, token)
	_, err := primary.Exec(ctx, `DELETE FROM sessions WHERE token = $1`, token)
	require.NoError(t, err)
	cluster.WaitCaughtUp()
	require.Eventually(t, func() bool { return reader.Stats().Healthy }, 10*time.Second, 20*time.Millisecond)
	time.Sleep(2100 * time.Millisecond)

	pages := func(when string) {
		t.Helper()
		p := customer.Get("/portal")
		require.Equal(t, http.StatusOK, p.Status, when+": "+p.Body)
		require.Equal(t, "/portal", p.URL.Path, when)
		require.Contains(t, p.TestID("available"), "4,880", when+": the balance after the charge, from the standby")
		require.Equal(t, 1, p.Doc.Find(`[data-testid="event-row"][data-type="deduction"]`).Length(), when)
		p = customer.Get("/portal/usage")
		require.Equal(t, http.StatusOK, p.Status, when+": "+p.Body)
		require.Equal(t, 1, p.Doc.Find(`[data-testid="charge-row"]`).Length(), when)
		p = customer.Get("/portal/transactions")
		require.Equal(t, http.StatusOK, p.Status, when+": "+p.Body)
		require.Equal(t, 1, p.Doc.Find(`[data-testid="transactions"] [data-testid="event-row"][data-type="deduction"]`).Length(), when)
	}
	pages("with the primary")

	cluster.StopPrimary()
	before := reader.Stats().StandIns
	pages("the primary just lost")
	require.Greater(t, reader.Stats().StandIns, before, "the standby answered for the primary")
	require.Eventually(t, reader.StandingIn, 5*time.Second, 20*time.Millisecond, "the probe finds the primary gone")
	pages("the probe has noticed")
	ready := webtest.NewClient(t, app.URL).Get("/readyz")
	require.Equal(t, http.StatusOK, ready.Status, "the instance still serves pages: it stays in the load balancer")

	p := revoked.Get("/portal")
	require.Equal(t, "/signin", p.URL.Path, "a session deleted before the loss is refused: the standby has the delete")

	p = customer.PostForm("/signout", nil)
	require.GreaterOrEqual(t, p.Status, 500, "a sign-out cannot commit without a primary, and says so")
	p = customer.Get("/portal")
	require.Equal(t, "/signin", p.URL.Path, "the token is refused by the process that handled the sign-out")
}

// replicaBundle is the whole server on a private primary with a real
// streaming standby (replicatest) as DATABASE_REPLICA_URL.
type replicaBundle struct {
	*portalBundle
	cluster *replicatest.Cluster
	primary *pgxpool.Pool
	reader  *db.Reader
}

// setupReplica starts the primary and its standby (database name) and the
// server over them; maxLag is DATABASE_REPLICA_MAX_LAG (0: the default).
func setupReplica(t *testing.T, name string, maxLag time.Duration) *replicaBundle {
	t.Helper()
	cluster := replicatest.Start(t, name)
	primary, err := db.Open(context.Background(), cluster.PrimaryURL())
	require.NoError(t, err)
	t.Cleanup(primary.Close)
	app := webtest.Start(t, webtest.WithPool(primary), webtest.WithConfig(func(c *config.Config) {
		c.Database.ReplicaURL = cluster.StandbyURL()
		c.Database.ReplicaMaxLag = maxLag
		c.Signup = signup.Settings{Credit: decimal.NewFromInt(5000), ExpiryDays: 30}
	}))
	return &replicaBundle{portalBundle: &portalBundle{app: app, ledger: app.Services.Ledger, auth: app.Services.Auth},
		cluster: cluster, primary: primary, reader: app.Services.Reader}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}

// TestEveryPageThroughAPrimaryFailover walks every GET page of the portal
// and the back office (their plain routes, and the pages of routes with
// parameters that those pages link to) with the primary, then again with
// the primary stopped (a crash) and the standby not promoted: each page
// answers as it did, from the standby, both before the probe notices and
// after (README "Reads through a failover"). Then, without a primary:
//   - a customer whose last write the standby has not replayed gets a
//     translated "try again" page, 503 with Retry-After, not a 500;
//   - a form's POST is answered the same way (no write runs on the
//     standby), and so is a JSON request.
func TestEveryPageThroughAPrimaryFailover(t *testing.T) {
	ctx := context.Background()
	b := setupReplica(t, "credits_web_failover_walk", 0)
	cluster, reader, app := b.cluster, b.reader, b.app
	_, err := app.Services.Pricing.EnsureDefault(ctx, "test", pricing.DefaultCreditPriceRMB)
	require.NoError(t, err)
	_, err = app.Services.Plans.EnsureDemo(ctx, "test")
	require.NoError(t, err)
	_, err = app.Services.Products.EnsureDemo(ctx, "test")
	require.NoError(t, err)
	customer, u := b.register(t, uniqEmail("walk-failover"), "Failover Walk")
	b.charge(t, u.AccountID, "fw1", "deepseek-chat", "sess-fw", "120", 12000, 300)
	require.Equal(t, http.StatusOK, customer.PostForm("/portal/keys", url.Values{"name": {"walk-key"}}).Status)
	const staffPW = "staff password 1"
	staffLogin := uniqEmail("walk-failover-staff")
	_, err = b.auth.CreateStaff(ctx, auth.StaffRequest{Email: staffLogin, Password: staffPW, Name: "Failover Staff", Roles: auth.AllRoles})
	require.NoError(t, err)
	staff := webtest.NewClient(t, app.URL)
	staff.Get("/signin")
	require.Equal(t, http.StatusOK, staff.PostForm("/signin", url.Values{"login": {staffLogin}, "password": {staffPW}}).Status)
	late, lateUser := b.register(t, uniqEmail("walk-failover-late"), "Failover Late")
	b.charge(t, lateUser.AccountID, "fw2", "deepseek-chat", "sess-fw2", "10", 1000, 30)
	cluster.WaitCaughtUp()
	require.Eventually(t, func() bool { return reader.Stats().Healthy }, 10*time.Second, 20*time.Millisecond)

	// The pages and what each answered with the primary.
	clientOf := func(path string) *webtest.Client {
		if strings.HasPrefix(path, "/admin") {
			return staff
		}
		return customer
	}
	want := map[string]int{}
	var plain []string
	routes := map[string]bool{}
	for _, rt := range app.Server.Echo.Routes() {
		if rt.Method != http.MethodGet || !(strings.HasPrefix(rt.Path, "/portal") || strings.HasPrefix(rt.Path, "/admin")) {
			continue
		}
		if strings.ContainsAny(rt.Path, ":*") {
			routes[rt.Path] = true
		} else if !slices.Contains(plain, rt.Path) {
			plain = append(plain, rt.Path)
		}
	}
	sort.Strings(plain)
	links := map[string]bool{}
	for _, path := range plain {
		p := clientOf(path).Get(path)
		want[path] = p.Status
		p.Doc.Find("a[href]").Each(func(_ int, s *goquery.Selection) {
			h := s.AttrOr("href", "")
			if (strings.HasPrefix(h, "/portal/") || strings.HasPrefix(h, "/admin/")) && strings.Contains(h, "/") {
				links[h] = true
			}
		})
	}
	perRoute := map[string]int{}
	var linked []string
	for h := range links {
		if _, ok := want[h]; ok {
			continue
		}
		for route := range routes {
			pattern := regexp.MustCompile(`^` + regexp.MustCompile(`:[a-z_]+`).ReplaceAllString(regexp.QuoteMeta(route), `[^/?#]+`) + `(\?.*)?$`)
			if pattern.MatchString(h) && perRoute[route] < 2 {
				perRoute[route]++
				linked = append(linked, h)
				break
			}
		}
	}
	sort.Strings(linked)
	for _, h := range linked {
		want[h] = clientOf(h).Get(h).Status
	}
	pages := append(plain, linked...)
	ok := 0
	for _, path := range pages {
		require.Less(t, want[path], 500, "%s fails even with a primary", path)
		if want[path] == http.StatusOK {
			ok++
		}
	}
	require.Greater(t, ok, 50, "the walk found too few pages")
	t.Logf("%d pages, %d of them 200 with the primary", len(pages), ok)

	walk := func(when string) {
		t.Helper()
		var failed []string
		for _, path := range pages {
			p := clientOf(path).Get(path)
			if p.Status != want[path] {
				failed = append(failed, fmt.Sprintf("%s: %d (with the primary %d) %s", path, p.Status, want[path], strings.Join(strings.Fields(p.Doc.Find(".error-page, [data-testid=\"error-page\"]").Text()), " ")))
			}
		}
		require.Empty(t, failed, "%s: pages that answer otherwise than with the primary:\n%s", when, strings.Join(failed, "\n"))
	}

	// The late customer's last write is one the standby will not have.
	cluster.PauseReplay()
	require.Equal(t, http.StatusOK, late.PostForm("/portal/keys", url.Values{"name": {"late-key"}}).Status)

	cluster.StopPrimary()
	before := reader.Stats().StandIns
	walk("the primary just lost")
	require.Greater(t, reader.Stats().StandIns, before, "the standby answered for the primary")
	require.Eventually(t, reader.StandingIn, 5*time.Second, 20*time.Millisecond, "the probe finds the primary gone")
	walk("the probe has noticed")

	// Past the session cache's trust the session itself is read from the
	// standby, which has not replayed its last write either: the position
	// of the customer's last write must not depend on it.
	time.Sleep(2500 * time.Millisecond) // web.sessionTrust is 2 s
	// Read-your-writes: the standby has not replayed the late customer's
	// key, so their pages may not come from it.
	for _, lang := range []struct{ path, text string }{{"/lang/zh-CN", "请几秒后重试"}, {"/lang/en", "try again in a few seconds"}} {
		late.Get(lang.path)
		p := late.Get("/portal/keys")
		require.Equal(t, http.StatusServiceUnavailable, p.Status, p.Body)
		require.Equal(t, "2", p.Header.Get("Retry-After"))
		require.Contains(t, p.Body, lang.text)
	}

	// A write cannot commit anywhere: the form is answered "try again".
	p := customer.PostForm("/portal/keys", url.Values{"name": {"during-the-gap"}})
	require.Equal(t, http.StatusServiceUnavailable, p.Status, p.Body)
	require.Equal(t, "2", p.Header.Get("Retry-After"))
	late.Get("/lang/zh-CN")
	req := late.NewRequest(http.MethodGet, "/portal/keys", nil)
	req.Header.Set("Accept", "application/json")
	p = late.Do(req)
	require.Equal(t, http.StatusServiceUnavailable, p.Status, p.Body)
	require.Contains(t, p.Body, `"code":"unavailable_retry"`)
}

// TestEveryAPIGetThroughAPrimaryFailover calls every GET of the gateway API
// (every /v1 GET route the server has, with an account that has a lot, a
// charge in a session and a webhook) with the primary, then again with the
// primary stopped (a crash) and the standby not promoted, before and after
// the probe notices: each answers 200 with the body it had with the
// primary, from the standby, even for a service key this server has not
// checked before (README "Reads through a failover"). Writes answer 503
// unavailable_retry with Retry-After.
func TestEveryAPIGetThroughAPrimaryFailover(t *testing.T) {
	ctx := context.Background()
	b := setupReplica(t, "credits_web_failover_api", 0)
	cluster, reader, app := b.cluster, b.reader, b.app
	_, err := app.Services.Pricing.EnsureDefault(ctx, "test", pricing.DefaultCreditPriceRMB)
	require.NoError(t, err)
	keys := app.Services.Gateway.Keys
	_, secret, err := keys.Create(ctx, ledger.ModeLive, "failover walk")
	require.NoError(t, err)
	_, unseen, err := keys.Create(ctx, ledger.ModeLive, "first used in the failover")
	require.NoError(t, err)
	api := newAPIClient(t, app.URL, secret)

	const ext, session = "api-failover", "sess-api-fo"
	require.Equal(t, http.StatusCreated, api.do(http.MethodPut, "/v1/accounts/"+ext, map[string]any{"verification": verified}).Status)
	r := api.do(http.MethodPost, "/v1/accounts/"+ext+"/grants", map[string]any{
		"amount": "500", "kind": "promo", "reason_code": "signup", "idempotency_key": "fo-grant"})
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	r = api.do(http.MethodPost, "/v1/usage/events", map[string]any{"events": []map[string]any{{"idempotency_key": "fo-use",
		"account": ext, "model": "deepseek-chat", "input_tokens": 1000, "output_tokens": 300, "session_id": session,
		"occurred_at": time.Now().UTC().Format(time.RFC3339Nano)}}})
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	r = api.do(http.MethodPost, "/v1/accounts/"+ext+"/webhooks", map[string]any{"url": "https://hooks.example.com/fo"})
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))

	// Every GET route of the API, with its parameters filled in.
	fill := strings.NewReplacer(":external_id", ext, ":session_id", session)
	var paths []string
	for _, rt := range app.Server.Echo.Routes() {
		if rt.Method == http.MethodGet && strings.HasPrefix(rt.Path, "/v1/") {
			p := fill.Replace(rt.Path)
			require.NotContains(t, p, ":", "a parameter this test does not fill: %s", rt.Path)
			paths = append(paths, p)
		}
	}
	paths = append(paths, "/v1/rate-card?account="+ext, "/v1/accounts/"+ext+"/ledger?limit=1")
	sort.Strings(paths)
	require.GreaterOrEqual(t, len(paths), 9)
	want := map[string]string{}
	for _, p := range paths {
		r := api.do(http.MethodGet, p, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s with the primary: %s", p, r.Body)
		want[p] = string(r.Body)
	}
	require.Contains(t, want["/v1/accounts/"+ext+"/balance"], `"available":"`)
	require.Contains(t, want["/v1/accounts/"+ext+"/sessions/"+session], "deepseek-chat")
	require.Contains(t, want["/v1/accounts/"+ext+"/webhooks"], "https://hooks.example.com/fo")
	cluster.WaitCaughtUp()
	require.Eventually(t, func() bool { return reader.Stats().Healthy }, 10*time.Second, 20*time.Millisecond)

	walk := func(c *apiClient, when string) {
		t.Helper()
		// Nothing cached: the key and the account are read again.
		keys.ForgetAll()
		app.Services.Gateway.ForgetAll()
		for _, p := range paths {
			r := c.do(http.MethodGet, p, nil)
			require.Equal(t, http.StatusOK, r.Status, "%s %s: %s", when, p, r.Body)
			require.JSONEq(t, want[p], string(r.Body), "%s %s", when, p)
		}
	}
	cluster.StopPrimary()
	before := reader.Stats().StandIns
	walk(newAPIClient(t, app.URL, unseen), "the primary just lost")
	require.Greater(t, reader.Stats().StandIns, before, "the standby answered for the primary")
	require.Eventually(t, reader.StandingIn, 5*time.Second, 20*time.Millisecond, "the probe finds the primary gone")
	walk(api, "the probe has noticed")

	// Writes cannot commit anywhere: "try again".
	for _, w := range []struct {
		method, path string
		body         any
	}{
		{http.MethodPost, "/v1/accounts/" + ext + "/grants", map[string]any{"amount": "1", "kind": "promo", "reason_code": "signup", "idempotency_key": "fo-gap"}},
		{http.MethodPost, "/v1/reservations", map[string]any{"account": ext, "model": "deepseek-chat", "max_input_tokens": 10, "max_output_tokens": 10, "idempotency_key": "fo-gap"}},
		{http.MethodPut, "/v1/accounts/" + ext, map[string]any{}},
	} {
		r := api.do(w.method, w.path, w.body)
		require.Equal(t, http.StatusServiceUnavailable, r.Status, "%s %s: %s", w.method, w.path, r.Body)
		require.Equal(t, "unavailable_retry", r.Code(t))
		require.Equal(t, "2", r.Header.Get("Retry-After"))
	}
}

// TestSignOutThroughAPrimaryFailoverReachesEveryInstance: two instances on
// one database with its standby and one Redis (README "Reads through a
// failover"). With the primary stopped, a customer signs out on A: A
// answers the sign-out, and B — which had the session cached and can read
// it from the standby, where it still is — refuses the token within 2 s
// and still past its cache's 2 s, on the word A announced over Redis. Once
// the primary is back, A's queued delete removes the session row.
func TestSignOutThroughAPrimaryFailoverReachesEveryInstance(t *testing.T) {
	ctx := context.Background()
	cluster := replicatest.Start(t, "credits_web_failover_signout")
	primary, err := db.Open(ctx, cluster.PrimaryURL())
	require.NoError(t, err)
	t.Cleanup(primary.Close)
	redisURL := testRedisURL()
	instance := func() *webtest.App {
		return webtest.Start(t, webtest.WithPool(primary), webtest.WithConfig(func(c *config.Config) {
			c.Database.ReplicaURL = cluster.StandbyURL()
			c.RedisURL = redisURL
		}))
	}
	a, b := instance(), instance()
	ca := (&portalBundle{app: a, ledger: a.Services.Ledger, auth: a.Services.Auth})
	customer, _ := ca.register(t, uniqEmail("signout-failover"), "Sign Out Failover")
	token := ""
	au := mustURL(t, a.URL)
	for _, k := range customer.HTTP.Jar.Cookies(au) {
		if k.Name == "credits_session" {
			token = k.Value
		}
	}
	require.NotEmpty(t, token)
	// B's browser holds the same cookie (one host, two ports).
	cb := webtest.NewClient(t, b.URL)
	cb.HTTP.Jar.SetCookies(au, customer.HTTP.Jar.Cookies(au))
	require.Equal(t, "/portal", cb.Get("/portal").URL.Path, "B serves the session (and caches it)")
	cluster.WaitCaughtUp()
	require.Eventually(t, func() bool { return a.Services.Reader.Stats().Healthy && b.Services.Reader.Stats().Healthy },
		10*time.Second, 20*time.Millisecond)

	cluster.StopPrimary()
	require.Eventually(t, func() bool { return a.Services.Reader.StandingIn() && b.Services.Reader.StandingIn() },
		5*time.Second, 20*time.Millisecond)
	require.Equal(t, "/portal", cb.Get("/portal").URL.Path, "B still serves the session, from the standby")

	signedOut := time.Now()
	p := customer.PostForm("/signout", nil)
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Equal(t, "/signin", p.URL.Path, "the sign-out is answered without a primary")
	require.Eventually(t, func() bool { return cb.Get("/portal").URL.Path == "/signin" }, 2*time.Second, 20*time.Millisecond,
		"B refuses the token within 2 s")
	t.Logf("B refused the token %.0f ms after the sign-out", float64(time.Since(signedOut).Milliseconds()))
	time.Sleep(2500 * time.Millisecond) // past B's cache (2 s): the standby still has the session row
	require.Equal(t, "/signin", cb.Get("/portal").URL.Path, "and keeps refusing it")
	require.Equal(t, "/signin", customer.Get("/portal").URL.Path, "so does A")

	cluster.StartPrimary()
	require.Eventually(t, func() bool {
		var n int
		return primary.QueryRow(ctx, `SELECT count(*) FROM sessions WHERE token = $1`, token).Scan(&n) == nil && n == 0
	}, 15*time.Second, 100*time.Millisecond, "A deletes the session once a primary answers")
}

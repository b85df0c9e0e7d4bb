package web_test

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/config"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/faultproxy"
	"github.com/seed75218f88/credits/internal/platform/invalidate"
	"github.com/seed75218f88/credits/internal/platform/replicatest"
	"github.com/seed75218f88/credits/web/webtest"
)

// testRedisURL is the Redis the failover tests relay sign-outs through.
func testRedisURL() string {
	if u := os.Getenv("REDIS_TEST_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// redisBehindProxy is the test's Redis, a client of it, and a proxy to it
// the test cuts and restores (faultproxy), with the URL that goes through
// the proxy.
func redisBehindProxy(t *testing.T) (rdb *redis.Client, direct, proxied string, proxy *faultproxy.Proxy) {
	t.Helper()
	direct = testRedisURL()
	opts, err := redis.ParseURL(direct)
	require.NoError(t, err)
	rdb = redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	require.NoError(t, rdb.Ping(context.Background()).Err(), "the failover tests need Redis (make redis)")
	proxy, err = faultproxy.New(opts.Addr)
	require.NoError(t, err)
	t.Cleanup(proxy.Close)
	return rdb, direct, strings.Replace(direct, opts.Addr, proxy.Addr(), 1), proxy
}

// sessionToken is the portal session cookie c holds for app.
func sessionToken(t *testing.T, c *webtest.Client, app *webtest.App) string {
	t.Helper()
	for _, k := range c.HTTP.Jar.Cookies(mustURL(t, app.URL)) {
		if k.Name == "credits_session" {
			return k.Value
		}
	}
	t.Fatal("no session cookie")
	return ""
}

// sessionRows counts the session rows of token on the primary.
func sessionRows(t *testing.T, primary *pgxpool.Pool, token string) int {
	t.Helper()
	var n int
	require.NoError(t, primary.QueryRow(context.Background(), `SELECT count(*) FROM sessions WHERE token = $1`, token).Scan(&n))
	return n
}

// TestSignOutDuringAFailoverIsRecordedInRedis: the word a sign-out
// announces over Redis during a failover reaches only the instances
// subscribed at that moment, and the session row is deleted only by the
// instance that handled it, once a primary returns. The sign-out is also
// recorded in Redis, by the token's hash, for the session's remaining
// lifetime, and every instance checks the record when it reads a session
// from the database:
//   - B, whose Redis connection was cut during the sign-out (it missed the
//     word, and without Redis served the session from the standby as
//     before), refuses the token once Redis answers again, though the
//     standby still holds the session;
//   - A, which handled the sign-out, stops before the primary returns: the
//     row survives it; C, started after the sign-out and the primary's
//     return, refuses the token and deletes the row;
//   - a second customer signed out on A during the failover, whose word B
//     heard: B deletes that row when the token comes again.
func TestSignOutDuringAFailoverIsRecordedInRedis(t *testing.T) {
	ctx := context.Background()
	cluster := replicatest.Start(t, "credits_web_failover_revoke")
	primary, err := db.Open(ctx, cluster.PrimaryURL())
	require.NoError(t, err)
	t.Cleanup(primary.Close)
	rdb, direct, proxied, proxy := redisBehindProxy(t)
	instance := func(redisURL string) *webtest.App {
		return webtest.Start(t, webtest.WithPool(primary), webtest.WithConfig(func(c *config.Config) {
			c.Database.ReplicaURL = cluster.StandbyURL()
			c.RedisURL = redisURL
		}))
	}
	a, b := instance(direct), instance(proxied)
	ca := &portalBundle{app: a, ledger: a.Services.Ledger, auth: a.Services.Auth}
	customer, _ := ca.register(t, uniqEmail("revoke-failover"), "Revoke Failover")
	token := sessionToken(t, customer, a)
	au := mustURL(t, a.URL)
	cb := webtest.NewClient(t, b.URL) // the same browser, through B
	cb.HTTP.Jar.SetCookies(au, customer.HTTP.Jar.Cookies(au))
	require.Equal(t, "/portal", cb.Get("/portal").URL.Path)
	second, _ := ca.register(t, uniqEmail("revoke-failover-heard"), "Revoke Failover Heard")
	secondToken := sessionToken(t, second, a)
	cb2 := webtest.NewClient(t, b.URL)
	cb2.HTTP.Jar.SetCookies(au, second.HTTP.Jar.Cookies(au))
	require.Equal(t, "/portal", cb2.Get("/portal").URL.Path)
	cluster.WaitCaughtUp()
	require.Eventually(t, func() bool { return a.Services.Reader.Stats().Healthy && b.Services.Reader.Stats().Healthy },
		10*time.Second, 20*time.Millisecond)

	cluster.StopPrimary()
	require.Eventually(t, func() bool { return a.Services.Reader.StandingIn() && b.Services.Reader.StandingIn() },
		5*time.Second, 20*time.Millisecond)
	p := second.PostForm("/signout", nil)
	require.Equal(t, "/signin", p.URL.Path)
	require.Eventually(t, func() bool { return cb2.Get("/portal").URL.Path == "/signin" }, 2*time.Second, 20*time.Millisecond,
		"B hears the second sign-out's word")
	proxy.Cut()
	p = customer.PostForm("/signout", nil)
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Equal(t, "/signin", p.URL.Path, "the sign-out is answered without a primary")

	record := invalidate.Channel + ":" + primary.Config().ConnConfig.Database + ":revoked:session:" + invalidate.SessionKey(token)
	ttl, err := rdb.TTL(ctx, record).Result()
	require.NoError(t, err)
	const lifetime = 7 * 24 * time.Hour
	require.Greater(t, ttl, lifetime-time.Hour, "kept for the session's remaining lifetime (it was just made)")
	require.LessOrEqual(t, ttl, lifetime)
	leaked, err := rdb.Keys(ctx, "*"+token+"*").Result()
	require.NoError(t, err)
	require.Empty(t, leaked, "only the token's hash is written")

	time.Sleep(2100 * time.Millisecond) // past B's cache (2 s)
	require.Equal(t, "/portal", cb.Get("/portal").URL.Path,
		"B missed the word and cannot ask Redis: it serves the session from the standby, as before")
	require.NoError(t, proxy.Restore())
	time.Sleep(2100 * time.Millisecond)
	require.Eventually(t, func() bool { return cb.Get("/portal").URL.Path == "/signin" }, 3*time.Second, 100*time.Millisecond,
		"once Redis answers, B refuses the token on its next read of the session")
	time.Sleep(2100 * time.Millisecond)
	require.Equal(t, "/signin", cb.Get("/portal").URL.Path, "and keeps refusing it")

	a.Stop()
	cluster.StartPrimary()
	require.Eventually(t, func() bool { _, err := primary.Exec(ctx, "SELECT 1"); return err == nil }, 15*time.Second, 100*time.Millisecond)
	time.Sleep(2 * time.Second) // A's retry would have run by now
	require.Equal(t, 1, sessionRows(t, primary, token), "A stopped before the primary returned: the row is still there")

	c := instance(direct)
	cc := webtest.NewClient(t, c.URL)
	// The signed-out token (the customer's jar now holds the one the
	// sign-out gave).
	cc.HTTP.Jar.SetCookies(au, []*http.Cookie{{Name: "credits_session", Value: token, Path: "/"}})
	require.Equal(t, "/signin", cc.Get("/portal").URL.Path, "C, started after the sign-out, refuses the token")
	require.Zero(t, sessionRows(t, primary, token), "and deletes the row")
	require.Equal(t, 1, sessionRows(t, primary, secondToken))
	require.Equal(t, "/signin", cb2.Get("/portal").URL.Path)
	require.Zero(t, sessionRows(t, primary, secondToken), "B, which heard the word, deletes the row when the token comes again")
}

// TestSignOutWithRedisDownWorksAsBefore: with a primary and Redis cut,
// sessions are served (the check for a sign-out recorded in Redis does not
// refuse them), and a sign-out on A deletes the row, B refuses the token
// within 2 s (the database's word), and nothing is recorded in Redis.
func TestSignOutWithRedisDownWorksAsBefore(t *testing.T) {
	rdb, _, proxied, proxy := redisBehindProxy(t)
	withRedis := webtest.WithConfig(func(c *config.Config) { c.RedisURL = proxied })
	a := webtest.Start(t, withRedis)
	b := webtest.Start(t, webtest.WithPool(a.Pool), withRedis)
	ca := &portalBundle{app: a, ledger: a.Services.Ledger, auth: a.Services.Auth}
	customer, _ := ca.register(t, uniqEmail("revoke-redis-down"), "Revoke Redis Down")
	token := sessionToken(t, customer, a)
	au := mustURL(t, a.URL)
	cb := webtest.NewClient(t, b.URL)
	cb.HTTP.Jar.SetCookies(au, customer.HTTP.Jar.Cookies(au))
	require.Equal(t, "/portal", cb.Get("/portal").URL.Path)

	proxy.Cut()
	for range 2 { // each past B's cache (2 s): B reads the session from the database
		time.Sleep(2100 * time.Millisecond)
		require.Equal(t, "/portal", cb.Get("/portal").URL.Path, "Redis down: B still serves the session")
	}
	require.Equal(t, "/portal", customer.Get("/portal").URL.Path, "so does A")

	p := customer.PostForm("/signout", nil)
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Equal(t, "/signin", p.URL.Path)
	require.Zero(t, sessionRows(t, a.Pool, token), "the row is deleted")
	require.Eventually(t, func() bool { return cb.Get("/portal").URL.Path == "/signin" }, 2*time.Second, 20*time.Millisecond,
		"B refuses the token within 2 s")
	require.NoError(t, proxy.Restore())
	n, err := rdb.Keys(context.Background(), "*:revoked:session:"+invalidate.SessionKey(token)).Result()
	require.NoError(t, err)
	require.Empty(t, n, "a sign-out a primary took is not recorded in Redis")
}

package web_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"testing"
	"time"

	"github.com/alexedwards/scs/pgxstore"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/web"
)

// TestCachedPagesNeverCrossAccountsAndFollowTheLedger: two customers load
// their overview, usage page and chart again and again (so the view caches
// answer), each sees only their own figures, and a new charge shows on the
// very next page without waiting for a cache to expire.
func TestCachedPagesNeverCrossAccountsAndFollowTheLedger(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	ctx := context.Background()
	a, ua := b.register(t, "cache-a@example.com", "A")
	c, uc := b.register(t, "cache-b@example.com", "B")
	_, err := b.ledger.Credit(ctx, ledger.CreditRequest{AccountID: uc.AccountID, Kind: ledger.LotPaid, Amount: decimal.NewFromInt(888888), IdempotencyKey: "b-topup"})
	require.NoError(t, err)
	b.charge(t, uc.AccountID, "b1", "b-secret-model", "b-secret-session", "6543", 1, 1)
	b.charge(t, ua.AccountID, "a1", "a-model", "", "10", 1, 1)

	secrets := []string{"b-secret-model", "b-secret-session", "888,888", "6,543", "6543"}
	for range 3 {
		for _, path := range []string{"/portal", "/portal/usage", "/portal/usage/chart.json"} {
			pb := c.Get(path)
			require.Equal(t, http.StatusOK, pb.Status, path)
			pa := a.Get(path)
			require.Equal(t, http.StatusOK, pa.Status, path)
			for _, s := range secrets {
				require.NotContains(t, pa.Body, s, "A's %s shows B's %q", path, s)
			}
		}
	}
	// B's model as A's filter (cached for B just before): nothing of B's.
	require.Equal(t, "6,543", c.Get("/portal/usage?model=b-secret-model").TestID("total-charged"))
	p := a.Get("/portal/usage?model=b-secret-model")
	require.Equal(t, "0", p.TestID("total-charged"))
	require.Equal(t, 0, p.Doc.Find(`[data-testid="charge-row"]`).Length())

	p = c.Get("/portal/usage")
	require.Equal(t, "6,543", p.TestID("total-charged"))
	require.Contains(t, p.Body, "b-secret-model")
	p = a.Get("/portal/usage")
	require.Equal(t, "10", p.TestID("total-charged"))

	// A charge lands: the next overview and usage page show it at once.
	before := a.Get("/portal").TestID("bucket-promo-amount")
	require.Equal(t, "4,990", before)
	b.charge(t, ua.AccountID, "a2", "a-model-2", "", "90", 1, 1)
	require.Equal(t, "4,900", a.Get("/portal").TestID("bucket-promo-amount"))
	p = a.Get("/portal/usage")
	require.Equal(t, "100", p.TestID("total-charged"))
	require.Equal(t, 2, p.Doc.Find(`[data-testid="charge-row"]`).Length())
	require.Contains(t, p.Body, "a-model-2")
	require.Contains(t, p.Doc.Find(`[data-testid="charge-parts"]`).First().Text(), "来自")

	// The rows are kept rendered per language: English gets English rows.
	p = a.Get("/lang/en?next=/portal/usage")
	require.Equal(t, "/portal/usage", p.URL.Path)
	parts := p.Doc.Find(`[data-testid="charge-parts"]`).First().Text()
	require.NotContains(t, parts, "来自")
	require.Contains(t, parts, "from")
}

// TestSignedOutSessionCannotBeReplayed: the session cookie of a signed-out
// session, sent again right away (while the server's session cache would
// still trust it), is signed out.
func TestSignedOutSessionCannotBeReplayed(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	c, _ := b.register(t, "replay@example.com", "")
	require.Equal(t, "/portal", c.Get("/portal").URL.Path)
	old := sessionCookie(t, c, b.app.URL)
	require.NotEmpty(t, old)

	p := c.PostForm("/signout", url.Values{})
	require.Equal(t, "/signin", p.URL.Path)

	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(b.app.URL)
	jar.SetCookies(u, []*http.Cookie{{Name: "credits_session", Value: old, Path: "/"}})
	thief := &http.Client{Jar: jar}
	res, err := thief.Get(b.app.URL + "/portal")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, "/signin", res.Request.URL.Path, "a signed-out session must not open the portal")
}

// TestSessionCacheNeverRevivesASignedOutSession: a request that loaded the
// session just before the sign-out and saves it just after (scs saves every
// request to move the idle timeout) must not bring the session back, and a
// session deleted behind the cache's back is refused once the cache's short
// trust has passed.
func TestSessionCacheNeverRevivesASignedOutSession(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	store := pgxstore.NewWithCleanupInterval(pool, 0)
	cache := web.NewSessionCache(store)
	exp := time.Now().Add(time.Hour)

	require.NoError(t, cache.Commit("tok-1", []byte("data"), exp))
	got, found, err := cache.Find("tok-1")
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, []byte("data"), got)

	require.NoError(t, cache.Delete("tok-1"))                                       // sign-out
	require.NoError(t, cache.Commit("tok-1", []byte("data"), exp.Add(time.Minute))) // the late save
	_, found, err = cache.Find("tok-1")
	require.NoError(t, err)
	require.False(t, found)
	_, found, err = store.Find("tok-1")
	require.NoError(t, err)
	require.False(t, found, "the store must not hold the signed-out session again")

	// Deleted by another process: refused within the trust window.
	require.NoError(t, cache.Commit("tok-2", []byte("data"), exp))
	require.NoError(t, store.Delete("tok-2"))
	require.Eventually(t, func() bool {
		_, found, err := cache.Find("tok-2")
		return err == nil && !found
	}, 5*time.Second, 100*time.Millisecond)
}

package web_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/config"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/replicatest"
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
	ctx := context.Background()
	cluster := replicatest.Start(t, "credits_web_replica")
	primary, err := db.Open(ctx, cluster.PrimaryURL())
	require.NoError(t, err)
	t.Cleanup(primary.Close)
	app := webtest.Start(t, webtest.WithPool(primary), webtest.WithConfig(func(c *config.Config) {
		c.Database.ReplicaURL = cluster.StandbyURL()
		c.Database.ReplicaMaxLag = time.Minute // paused replay stays usable for reads not after a write
		c.Signup = signup.Settings{Credit: decimal.NewFromInt(5000), ExpiryDays: 30}
	}))
	b := &portalBundle{app: app, ledger: app.Services.Ledger, auth: app.Services.Auth}
	reader := app.Services.Reader
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

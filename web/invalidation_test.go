package web_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/access"
	"github.com/seed75218f88/credits/internal/app"
	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/config"
	"github.com/seed75218f88/credits/internal/pricing"
	"github.com/seed75218f88/credits/internal/relay"
	"github.com/seed75218f88/credits/internal/settings"
	"github.com/seed75218f88/credits/web/webtest"
)

// twoInstances starts two servers on one database, as two `credits serve`
// processes behind a load balancer, each trusting what it caches for an
// hour (service keys, customer API keys; the settings for 5 s, the
// sessions for 2 s): only the word one sends the other
// (internal/platform/invalidate) makes the other let go in time.
func twoInstances(t *testing.T) (*webtest.App, *webtest.App) {
	t.Helper()
	long := []webtest.Option{
		webtest.WithOverrides(func(o *app.Overrides) { o.KeyCacheTTL = time.Hour }),
		webtest.WithConfig(func(c *config.Config) { c.Relay.KeyCacheTTL = time.Hour }),
	}
	a := webtest.Start(t, append(long, webtest.WithOwnDatabase())...)
	b := webtest.Start(t, append(long, webtest.WithPool(a.Pool))...)
	return a, b
}

// TestInvalidationReachesTheOtherInstance: a service key revoked on one
// instance, a customer API key revoked on one, a sign-out on one and a
// settings change on one are each obeyed by the other within 2 s.
func TestInvalidationReachesTheOtherInstance(t *testing.T) {
	ctx := context.Background()
	a, b := twoInstances(t)

	t.Run("SettingsChanged", func(t *testing.T) {
		admin, err := a.Services.Auth.CreateStaff(ctx, auth.StaffRequest{Email: uniqEmail("inv-admin"), Password: "settings password 1",
			Name: "Settings admin", Roles: []auth.Role{auth.RoleAdmin}})
		require.NoError(t, err)
		next := b.Services.Settings.Current().RunwayDays + 3
		_, err = a.Services.Settings.Change(ctx, settings.GroupAlerts, map[string]string{settings.FieldRunwayDays: itoa(int64(next))},
			"two instances", backoffice.Actor{User: admin})
		require.NoError(t, err)
		require.Eventually(t, func() bool { return b.Services.Settings.Current().RunwayDays == next }, 2*time.Second, 20*time.Millisecond)
	})

	t.Run("ServiceKeyRevoked", func(t *testing.T) {
		k, secret, err := a.Services.Gateway.Keys.Create(ctx, ledger.ModeTest, "two instances")
		require.NoError(t, err)
		balance := func() int {
			req, err := http.NewRequest(http.MethodGet, b.URL+"/v1/accounts/nobody/balance", nil)
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+secret)
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			res.Body.Close()
			return res.StatusCode
		}
		require.Equal(t, http.StatusNotFound, balance(), "B accepts the key (and caches it)")
		require.NoError(t, a.Services.Gateway.Keys.Revoke(ctx, k.ID))
		require.Eventually(t, func() bool { return balance() == http.StatusUnauthorized }, 2*time.Second, 20*time.Millisecond)
	})

	t.Run("RelayKeyRevoked", func(t *testing.T) {
		acct, err := a.Services.Ledger.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual, ExternalID: "inv-relay", Mode: ledger.ModeTest})
		require.NoError(t, err)
		who := relay.Customer{Email: "inv@example.com"}
		k, secret, err := a.Services.RelayKeys.Create(ctx, acct, who, relay.KeyForm{Name: "two instances", AccountID: acct.ID})
		require.NoError(t, err)
		_, err = b.Services.RelayKeys.Authenticate(ctx, secret)
		require.NoError(t, err, "B accepts the key (and caches it)")
		_, err = a.Services.RelayKeys.Revoke(ctx, acct, who, k.ID)
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			_, err := b.Services.RelayKeys.Authenticate(ctx, secret)
			return err != nil
		}, 2*time.Second, 20*time.Millisecond)
		_, err = b.Services.RelayKeys.Authenticate(ctx, secret)
		require.ErrorIs(t, err, relay.ErrInvalidKey)
	})

	t.Run("SignedOut", func(t *testing.T) {
		ca := webtest.NewClient(t, a.URL)
		ca.Get("/signup")
		p := ca.PostForm("/signup", url.Values{"login": {"inv-signout@example.com"}, "name": {"Sign Out"},
			"password": {"correct horse 1"}, "password_confirm": {"correct horse 1"}, "consent": {"yes"}})
		require.Equal(t, "/portal", p.URL.Path)
		// A copy of the session cookie, as it is now, reaches B: the
		// sign-out below gives A's browser a new token, and B must refuse
		// the old one.
		au, err := url.Parse(a.URL)
		require.NoError(t, err)
		cb := webtest.NewClient(t, b.URL)
		cb.HTTP.Jar.SetCookies(au, ca.HTTP.Jar.Cookies(au))
		require.Equal(t, "/portal", cb.Get("/portal").URL.Path, "B serves the session (and caches it)")
		p = ca.PostForm("/signout", url.Values{})
		require.Equal(t, "/signin", p.URL.Path)
		require.Eventually(t, func() bool { return cb.Get("/portal").URL.Path == "/signin" }, 2*time.Second, 20*time.Millisecond)
	})

	t.Run("AccountAllowListChanged", func(t *testing.T) {
		_, err := a.Services.Pricing.EnsureDefault(ctx, "test", pricing.DefaultCreditPriceRMB)
		require.NoError(t, err)
		card, err := a.Services.Pricing.InForce(ctx, time.Now())
		require.NoError(t, err)
		require.GreaterOrEqual(t, len(card.Models), 2)
		model, other := card.Models[0].Model, card.Models[1].Model
		key, _, err := a.Services.Gateway.Keys.Create(ctx, ledger.ModeTest, "two instances allow-list")
		require.NoError(t, err)
		view, _, err := a.Services.Gateway.PutAccount(ctx, key, "inv-models", gateway.AccountInput{
			Verification: &gateway.VerificationInput{Status: "verified", Reference: "inv"}})
		require.NoError(t, err)
		_, err = a.Services.Gateway.Grant(ctx, key, "inv-models", gateway.GrantInput{Amount: decimal.NewFromInt(100),
			Kind: ledger.LotPromo, ReasonCode: "goodwill", IdempotencyKey: "inv-models"})
		require.NoError(t, err)
		n := 0
		reserve := func() error {
			n++
			_, err := b.Services.Gateway.Reserve(ctx, key, gateway.ReserveInput{Account: "inv-models", Model: model,
				MaxInputTokens: 10, MaxOutputTokens: 10, IdempotencyKey: "inv-models-" + itoa(int64(n))})
			return err
		}
		require.NoError(t, reserve(), "B allows every model (and caches the account for an hour)")
		require.NoError(t, a.Services.Access.SetModels(ctx, access.Actor{Kind: backoffice.ActorStaff}, 0, view.ID, []string{other}))
		require.Eventually(t, func() bool { return errors.Is(reserve(), gateway.ErrModelNotAllowed) }, 2*time.Second, 20*time.Millisecond,
			"B refuses a model the list no longer allows")
	})
}

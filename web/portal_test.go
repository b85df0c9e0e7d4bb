package web_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/config"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/signup"
	"github.com/seed75218f88/credits/web"
	"github.com/seed75218f88/credits/web/webtest"
)

// portalBundle is a running server with the ledger and auth it uses.
type portalBundle struct {
	app    *webtest.App
	ledger *ledger.Ledger
	auth   *auth.Service
}

func setupPortal(t testing.TB, opts ...webtest.Option) *portalBundle {
	t.Helper()
	b := &portalBundle{}
	b.app = webtest.Start(t, append([]webtest.Option{webtest.WithConfig(func(c *config.Config) {
		c.Signup = signup.Settings{Credit: decimal.NewFromInt(5000), ExpiryDays: 30}
	})}, opts...)...)
	b.ledger, b.auth = b.app.Services.Ledger, b.app.Services.Auth
	return b
}

// register signs up through the form and returns the signed-in client and
// the new user.
func (b *portalBundle) register(t testing.TB, login, name string) (*webtest.Client, auth.User) {
	t.Helper()
	c := webtest.NewClient(t, b.app.URL)
	c.Get("/signup")
	p := c.PostForm("/signup", url.Values{"login": {login}, "name": {name}, "password": {"correct horse 1"}, "password_confirm": {"correct horse 1"}, "consent": {"yes"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Equal(t, "/portal", p.URL.Path)
	u, err := b.auth.UserByLogin(context.Background(), login)
	require.NoError(t, err)
	return c, u
}

// charge records a usage charge like the gateway does. The account is
// verified first (实名): the tests' credit is paid credit, which an
// account in trial may not spend.
func (b *portalBundle) charge(t *testing.T, account int64, key, model, session string, credits string, in, out int64) {
	t.Helper()
	b.verified(t, account)
	d, _ := json.Marshal(map[string]any{"input_tokens": in, "output_tokens": out, "cache_hit_tokens": 0, "requests": 1, "rate_card_version": 3, "outcome": "completed"})
	_, err := b.ledger.Charge(context.Background(), ledger.ChargeRequest{AccountID: account, Amount: decimal.RequireFromString(credits),
		IdempotencyKey: key, Model: model, SessionID: session, RequestID: "req-" + key, Detail: d})
	require.NoError(t, err)
}

// verified marks the account verified, as the gateway API's clients do.
func (b *portalBundle) verified(t *testing.T, account int64) {
	t.Helper()
	v := b.app.Services.Verification
	ok, err := v.IsVerified(context.Background(), account)
	require.NoError(t, err)
	if !ok {
		_, err = v.MarkVerifiedExternally(context.Background(), account, "test", "test")
		require.NoError(t, err)
	}
}

func TestSignUpShowsThePromoBucketAndSignsOutAndIn(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	c, u := b.register(t, "alice@example.com", "Alice")
	require.NotZero(t, u.AccountID)

	p := c.Get("/portal")
	require.Equal(t, http.StatusOK, p.Status)
	require.Equal(t, "5,000", p.TestID("bucket-promo-amount"))
	require.Equal(t, "0", p.TestID("bucket-paid-amount"))
	require.Equal(t, format.Time(time.Now().Add(30*24*time.Hour)), p.TestID("bucket-promo-expiry"))
	require.Contains(t, p.TestID("available"), "¥5.00")
	require.Equal(t, fmt.Sprint(u.AccountID), p.TestID("account-id"))

	// Sign out: the portal sends us to sign in again; the old cookie is dead.
	p = c.PostForm("/signout", url.Values{})
	require.Equal(t, "/signin", p.URL.Path)
	p = c.Get("/portal")
	require.Equal(t, "/signin", p.URL.Path)

	// A wrong password is refused with the form again.
	p = c.PostForm("/signin", url.Values{"login": {"alice@example.com"}, "password": {"wrong password"}})
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Contains(t, p.Body, "账号或密码不正确")

	p = c.PostForm("/signin", url.Values{"login": {"ALICE@example.com"}, "password": {"correct horse 1"}, "next": {"/portal/usage"}})
	require.Equal(t, http.StatusOK, p.Status)
	require.Equal(t, "/portal/usage", p.URL.Path)

	// Registering the same login again is refused on the login field.
	c2 := webtest.NewClient(t, b.app.URL)
	c2.Get("/signup")
	p = c2.PostForm("/signup", url.Values{"login": {"alice@example.com"}, "password": {"another pass 2"}, "password_confirm": {"another pass 2"}, "consent": {"yes"}})
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.NotEmpty(t, p.TestID("error-login"))
}

func TestSessionTokenIsRenewedAtSignIn(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	b.register(t, "13800138001", "")
	c := webtest.NewClient(t, b.app.URL)
	c.Get("/signin")
	before := sessionCookie(t, c, b.app.URL)
	p := c.PostForm("/signin", url.Values{"login": {"138 0013 8001"}, "password": {"correct horse 1"}})
	require.Equal(t, "/portal", p.URL.Path)
	after := sessionCookie(t, c, b.app.URL)
	require.NotEmpty(t, after)
	require.NotEqual(t, before, after)
}

func sessionCookie(t *testing.T, c *webtest.Client, base string) string {
	u, _ := url.Parse(base)
	for _, k := range c.HTTP.Jar.Cookies(u) {
		if k.Name == "credits_session" {
			return k.Value
		}
	}
	return ""
}

func TestPortalLinkSignsInAndOffersAPassword(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	ctx := context.Background()
	acc, err := b.ledger.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual, ExternalID: "platform-user-7", Name: "Platform user"})
	require.NoError(t, err)
	token, _, err := b.auth.CreatePortalLink(ctx, acc.ID, time.Hour)
	require.NoError(t, err)
	c := webtest.NewClient(t, b.app.URL)
	p := c.Get("/portal/link/" + token)
	require.Equal(t, "/portal/password", p.URL.Path)
	p = c.Get("/portal")
	require.Equal(t, fmt.Sprint(acc.ID), p.TestID("account-id"))
	require.NotEmpty(t, p.TestID("set-password-hint"))
	// Used once.
	p = webtest.NewClient(t, b.app.URL).Get("/portal/link/" + token)
	require.Equal(t, http.StatusNotFound, p.Status)
}

func TestStaffSignInGoesToAdmin(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	_, err := b.auth.CreateStaff(context.Background(), auth.StaffRequest{Email: "ops@example.com", Password: "staff password 1", Name: "Ops", Roles: []auth.Role{auth.RoleSupport}})
	require.NoError(t, err)
	c := webtest.NewClient(t, b.app.URL)
	c.FollowRedirects = false
	c.Get("/signin")
	p := c.PostForm("/signin", url.Values{"login": {"ops@example.com"}, "password": {"staff password 1"}})
	require.Equal(t, http.StatusSeeOther, p.Status)
	require.Equal(t, "/admin", p.Header.Get("Location"))
	p = c.Get("/portal")
	require.Equal(t, "/admin", p.Header.Get("Location"), "staff never see the customer portal")
}

func TestUsageShowsTotalsChartAndCSVOfTheFilter(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	c, u := b.register(t, "carol@example.com", "Carol")
	ctx := context.Background()
	_, err := b.ledger.Credit(ctx, ledger.CreditRequest{AccountID: u.AccountID, Kind: ledger.LotPaid, Amount: decimal.NewFromInt(100000), IdempotencyKey: "topup-1", SourceRef: "order-1"})
	require.NoError(t, err)
	// 4,990 of the 5,000 promo first, then paid: one charge straddles both.
	b.charge(t, u.AccountID, "c1", "deepseek-chat", "s-1", "4990", 1000, 500)
	b.charge(t, u.AccountID, "c2", "qwen-plus", "s-1", "100", 2000, 100)
	b.charge(t, u.AccountID, "c3", "deepseek-chat", "", "12.5", 300, 20)

	p := c.Get("/portal/usage?model=deepseek-chat")
	require.Equal(t, http.StatusOK, p.Status)
	require.Equal(t, "5,002.5", p.TestID("total-charged"))
	require.Equal(t, "2", p.TestID("total-charges"))
	require.Equal(t, 2, p.Doc.Find(`[data-testid="charge-row"]`).Length())
	require.Equal(t, 0, p.Doc.Find(`[data-model="qwen-plus"]`).Length())

	p = c.Get("/portal/usage")
	parts := p.Doc.Find(`[data-testid="charge-row"]`).Eq(1).Find(`[data-testid="charge-parts"]`).Text()
	require.Contains(t, parts, "10 来自赠送")
	require.Contains(t, parts, "90 来自充值")

	chartURL, _ := p.Doc.Find(`[data-testid="usage-chart"]`).Attr("data-src")
	var chart web.ChartData
	res := c.Get(chartURL)
	require.Equal(t, http.StatusOK, res.Status)
	require.NoError(t, json.Unmarshal([]byte(res.Body), &chart))
	require.Len(t, chart.Days, web.DefaultUsageDays)
	require.Len(t, chart.Series, 2)
	require.Equal(t, "5102.5", chart.Total)

	csvURL, _ := p.Doc.Find(`[data-testid="export-csv"]`).Attr("href")
	res = c.Get(csvURL + "&model=deepseek-chat")
	require.True(t, strings.HasPrefix(res.Body, "\uFEFF"), "UTF-8 BOM for Excel")
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(res.Body, "\uFEFF"))).ReadAll()
	require.NoError(t, err)
	require.Equal(t, "时间（北京时间）", recs[0][0])
	evs, _, err := b.ledger.Events(ctx, u.AccountID, ledger.EventFilter{Model: "deepseek-chat", Types: []ledger.EventType{ledger.EventDeduction}}, 0, 100)
	require.NoError(t, err)
	byOp := map[string]decimal.Decimal{}
	for _, e := range evs {
		byOp[fmt.Sprint(e.OpID)] = byOp[fmt.Sprint(e.OpID)].Sub(e.Amount)
	}
	require.Len(t, recs[1:], len(byOp))
	for _, r := range recs[1:] {
		require.Equal(t, "deepseek-chat", r[3])
		require.True(t, byOp[r[1]].Equal(decimal.RequireFromString(r[12])), "csv row %v vs ledger %s", r, byOp[r[1]])
	}
}

func TestUsageLoadMorePagesThroughTheHistory(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	c, u := b.register(t, "dave@example.com", "")
	for i := range web.UsagePageSize + 7 {
		b.charge(t, u.AccountID, fmt.Sprint("p", i), "glm-4", "", "1", 10, 10)
	}
	p := c.Get("/portal/usage")
	require.Equal(t, web.UsagePageSize, p.Doc.Find(`[data-testid="charge-row"]`).Length())
	more, ok := p.Doc.Find(`[data-testid="load-more"]`).Attr("hx-get")
	require.True(t, ok)
	p = c.HTMX(http.MethodGet, more, nil)
	rows, err := goquery.NewDocumentFromReader(strings.NewReader("<table>" + p.Body + "</table>"))
	require.NoError(t, err)
	require.Equal(t, 7, rows.Find(`[data-testid="charge-row"]`).Length())
	require.Equal(t, 0, rows.Find(`[data-testid="load-more"]`).Length())
}

func TestTransactionsAnswerTheBalanceOnADate(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	c, _ := b.register(t, "erin@example.com", "")
	today := format.Date(time.Now())
	p := c.Get("/portal/transactions?date=" + today)
	require.Equal(t, http.StatusOK, p.Status)
	require.Equal(t, "5,000", p.Doc.Find(`[data-testid="balance-at"] strong`).Text())
	p = c.Get("/portal/transactions?date=2020-01-01")
	require.Equal(t, "0", p.Doc.Find(`[data-testid="balance-at"] strong`).Text())
	require.Equal(t, 1, p.Doc.Find(`[data-testid="event-row"][data-type="grant"]`).Length())
}

func TestTopUpPageListsTheTiers(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	c, _ := b.register(t, "frank@example.com", "")
	p := c.Get("/portal/topup")
	require.Equal(t, 4, p.Doc.Find(`[data-testid="tier"]`).Length())
	require.Contains(t, p.Doc.Find(`[data-testid="tier"]`).Eq(1).Text(), "¥100.00")
	require.Contains(t, p.TestID("tier-bonus"), "+20,000")
}

func TestEveryAuthErrorHasAMessage(t *testing.T) {
	b, err := i18n.Default()
	require.NoError(t, err)
	for _, e := range auth.AllErrors {
		require.True(t, b.Has("form.auth."+e.Code), e.Code)
	}
	for _, k := range []string{"paid", "promo", "plan", "grace"} {
		require.True(t, b.Has("kind."+k))
	}
	for _, k := range []ledger.EventType{ledger.EventPurchase, ledger.EventGrant, ledger.EventDeduction, ledger.EventReservation,
		ledger.EventReservationRelease, ledger.EventReservationExpiredCharge, ledger.EventRefund, ledger.EventExpiry,
		ledger.EventAdjustment, ledger.EventTransfer, ledger.EventUnpaidUsage, ledger.EventAllocation, ledger.EventStatus} {
		require.True(t, b.Has("event."+string(k)), k)
	}
}

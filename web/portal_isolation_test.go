package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
)

// TestCustomersCannotReachEachOthersData: customer A changes ids and
// parameters to reach B's pages, exports and chart data, and gets 404 with
// nothing of B in the answer.
func TestCustomersCannotReachEachOthersData(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	ctx := context.Background()

	// A is an enterprise owner with one department; B is an enterprise too.
	a, ua := b.register(t, "owner-a@example.com", "A Corp")
	_, ub := b.register(t, "owner-b@example.com", "B Corp")
	entA := b.enterprise(t, ua.ID, "A Corp")
	entB := b.enterprise(t, ub.ID, "B Corp")
	subA, err := b.ledger.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: entA, Name: "A research"})
	require.NoError(t, err)
	subB, err := b.ledger.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: entB, Name: "B-secret-department"})
	require.NoError(t, err)
	_, err = b.ledger.Credit(ctx, ledger.CreditRequest{AccountID: entB, Kind: ledger.LotPaid, Amount: decimal.NewFromInt(777777), IdempotencyKey: "b-topup"})
	require.NoError(t, err)
	b.charge(t, subB.ID, "b1", "b-secret-model", "b-secret-session", "4321", 1, 1)
	_, err = b.ledger.Credit(ctx, ledger.CreditRequest{AccountID: entA, Kind: ledger.LotPaid, Amount: decimal.NewFromInt(1000), IdempotencyKey: "a-topup"})
	require.NoError(t, err)
	b.charge(t, subA.ID, "a1", "a-model", "", "10", 1, 1)

	// A sees its own department.
	p := a.Get(fmt.Sprintf("/portal/accounts/%d", subA.ID))
	require.Equal(t, http.StatusOK, p.Status)
	p = a.Get(fmt.Sprintf("/portal/usage?account=%d", subA.ID))
	require.Equal(t, http.StatusOK, p.Status)
	require.Equal(t, "10", p.TestID("total-charged"))

	secrets := []string{"B-secret-department", "b-secret-model", "b-secret-session", "777,777", "4,321", "owner-b"}
	forB := []string{
		fmt.Sprintf("/portal/accounts/%d", subB.ID),
		fmt.Sprintf("/portal/accounts/%d", entB),
		fmt.Sprintf("/portal/accounts/%d", entA),
		fmt.Sprintf("/portal/usage?account=%d", subB.ID),
		fmt.Sprintf("/portal/usage?account=%d", entB),
		fmt.Sprintf("/portal/usage/rows?account=%d&cursor=999999999", subB.ID),
		fmt.Sprintf("/portal/usage/chart.json?account=%d", subB.ID),
		fmt.Sprintf("/portal/usage.csv?account=%d", subB.ID),
		fmt.Sprintf("/portal/usage.csv?account=%d&model=b-secret-model", entB),
		"/portal/accounts/abc",
	}
	for _, path := range forB {
		p := a.Get(path)
		require.Equal(t, http.StatusNotFound, p.Status, path)
		// The language switch links back to the URL A typed; nothing else
		// may name B's things.
		body := strings.ReplaceAll(p.Body, url.QueryEscape(path), "")
		for _, s := range secrets {
			require.NotContains(t, body, s, path)
		}
	}
	posted := a.PostForm(fmt.Sprintf("/portal/accounts/%d", subB.ID), url.Values{"allocation": {"1"}})
	require.Equal(t, http.StatusNotFound, posted.Status)
	sub, err := b.ledger.Account(ctx, subB.ID)
	require.NoError(t, err)
	require.False(t, sub.Allocation.Valid, "B's allocation is untouched")

	// Parameters that do not name an account never widen the scope: a
	// session or model filter of B's finds nothing in A's own data.
	for _, path := range []string{"/portal/usage?session=b-secret-session", "/portal/usage?model=b-secret-model",
		"/portal/usage/chart.json?model=b-secret-model", "/portal/usage.csv?session=b-secret-session"} {
		p := a.Get(path)
		require.Equal(t, http.StatusOK, p.Status, path)
		body := strings.ReplaceAll(p.Body, url.QueryEscape(path), "")
		body = strings.ReplaceAll(strings.ReplaceAll(body, "b-secret-session", ""), "b-secret-model", "")
		for _, s := range secrets {
			require.NotContains(t, body, s, path)
		}
		require.NotContains(t, p.Body, "4321", path)
	}

	// A signed-out visitor sees nothing at all.
	anon := a
	anon.PostForm("/signout", url.Values{})
	p = anon.Get(fmt.Sprintf("/portal/usage/chart.json?account=%d", subA.ID))
	require.Equal(t, "/signin", p.URL.Path)
}

// enterprise turns a registered customer into an enterprise owner: a new
// enterprise account linked to the user (what the back office or the API
// would do), returning its id.
func (b *portalBundle) enterprise(t *testing.T, userID int64, name string) int64 {
	t.Helper()
	ctx := context.Background()
	acc, err := b.ledger.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountEnterprise, Name: name})
	require.NoError(t, err)
	_, err = b.app.Pool.Exec(ctx, `UPDATE users SET account_id = $2 WHERE id = $1`, userID, acc.ID)
	require.NoError(t, err)
	return acc.ID
}

func TestEnterpriseOwnerCreatesSubAccountsWithLimits(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	c, u := b.register(t, "corp@example.com", "Corp")
	ent := b.enterprise(t, u.ID, "Corp")
	_, err := b.ledger.Credit(context.Background(), ledger.CreditRequest{AccountID: ent, Kind: ledger.LotPaid, Amount: decimal.NewFromInt(50000), IdempotencyKey: "t"})
	require.NoError(t, err)
	c.Get("/portal/accounts")
	p := c.PostForm("/portal/accounts", url.Values{"name": {"研发部"}, "allocation": {"20,000"}, "rpm": {"60"}, "tpm": {"100000"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Contains(t, p.URL.Path, "/portal/accounts/")
	require.Contains(t, p.Body, "研发部")
	p = c.Get("/portal/accounts")
	row := p.Doc.Find(`[data-testid="sub-account-row"]`)
	require.Equal(t, 1, row.Length())
	require.Contains(t, row.Text(), "20,000")
	require.Contains(t, row.Text(), "60")
	p = c.PostForm("/portal/accounts", url.Values{"name": {""}, "rpm": {"-1"}})
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.NotEmpty(t, p.TestID("error-name"))
	require.NotEmpty(t, p.TestID("error-rpm"))

	// An individual has no sub-accounts page.
	ind, _ := b.register(t, "solo@example.com", "")
	require.Equal(t, http.StatusNotFound, ind.Get("/portal/accounts").Status)
}

package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
)

// Finance generates a batch whose codes are shown once with their CSV; a
// customer redeems one in the portal (a promo lot), and it works only once.
func TestRedemptionCodesGeneratedOnceAndRedeemedOnce(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t)
	finance := b.staff(t, "codes", auth.RoleFinance)
	finance.Get("/admin/codes")

	bad := finance.PostForm("/admin/codes", url.Values{"campaign": {"春节"}, "amount": {"x"}, "count": {"0"}})
	require.Equal(t, http.StatusUnprocessableEntity, bad.Status)
	require.NotEmpty(t, bad.TestID("error-amount"))
	require.NotEmpty(t, bad.TestID("error-count"))

	p := finance.PostForm("/admin/codes", url.Values{"campaign": {"春节活动"}, "amount": {"300"}, "count": {"2"}, "lot_days": {"30"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	codes := p.Doc.Find(`[data-testid="code"]`).Map(func(_ int, s *goquery.Selection) string { return s.Text() })
	require.Len(t, codes, 2)
	href := p.Doc.Find(`[data-testid="codes-csv"]`).AttrOr("href", "")
	require.True(t, strings.HasPrefix(href, "data:text/csv"), href)
	require.Empty(t, finance.Get("/admin/codes").TestID("generated"), "codes are shown once")
	require.Contains(t, finance.Get("/admin/codes").Text(`[data-testid="batches"]`), "0 / 2")

	cust, u := b.register(t, uniqEmail("redeem"), "Redeemer")
	cust.Get("/portal/redeem")
	r := cust.PostForm("/portal/redeem", url.Values{"code": {strings.ToLower(codes[0])}})
	require.Equal(t, http.StatusOK, r.Status)
	require.NotEmpty(t, r.TestID("redeem-done"))
	bal, err := b.ledger.Balance(context.Background(), u.AccountID)
	require.NoError(t, err)
	require.Equal(t, "5300", bal.Available.String())

	again := cust.PostForm("/portal/redeem", url.Values{"code": {codes[0]}})
	require.Equal(t, http.StatusUnprocessableEntity, again.Status)
	require.NotEmpty(t, again.TestID("error-code"))
	cust.Get("/lang/en")
	wrong := cust.PostForm("/portal/redeem", url.Values{"code": {"AAAA-BBBB-CCCC-DDDD"}})
	require.Equal(t, http.StatusUnprocessableEntity, wrong.Status)
	require.Equal(t, "This code is not valid. Check it and try again.", wrong.TestID("error-code"))
}

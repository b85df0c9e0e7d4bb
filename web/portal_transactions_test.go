package web_test

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The transactions export holds every event across the ledger's pages,
// newest first, with headers and labels in the customer's language.
func TestTransactionsCSVExportsEveryEvent(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	c, u := b.register(t, "tx-export@example.com", "")
	const calls = 1005 // more than one page of the ledger's listing
	for i := range calls {
		b.charge(t, u.AccountID, fmt.Sprintf("tx-export-%d", i), "deepseek-chat", "s", "1", 10, 10)
	}
	p := c.Get("/portal/transactions")
	_, ok := p.Doc.Find(`[data-testid="export-transactions-csv"]`).Attr("href")
	require.True(t, ok, "the page offers the export")

	res := c.Get("/portal/transactions.csv")
	require.Equal(t, http.StatusOK, res.Status)
	require.True(t, strings.HasPrefix(res.Body, "\uFEFF"), "a byte order mark for Excel")
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(res.Body, "\uFEFF"))).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, 1+calls+2, "header, every charge, the sign-up grant and the trial ending (verified)")
	require.Equal(t, "记账时间", recs[0][0])
	require.Equal(t, "扣费", recs[1][2])
	require.Equal(t, "-1", recs[1][3])
	require.Equal(t, fmt.Sprint(5000-calls), recs[1][4], "newest first: the balance after the last charge")
	require.Equal(t, "赠送余额", recs[1][5])
	last := recs[len(recs)-1]
	require.Equal(t, "赠送", last[2])
	require.Equal(t, "5000", last[4])

	c.Header.Set("Accept-Language", "en")
	defer c.Header.Del("Accept-Language")
	res = c.Get("/portal/transactions.csv")
	recs, err = csv.NewReader(strings.NewReader(strings.TrimPrefix(res.Body, "\uFEFF"))).ReadAll()
	require.NoError(t, err)
	require.Equal(t, "Recorded at", recs[0][0])
	require.Equal(t, "Bonus balance", recs[1][5])
}

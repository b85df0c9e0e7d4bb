package web_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/platform/format"
)

// TestBackOfficeDetails (issue 16, defect 10): the statement page documents
// the formats it reads, from the reader's own table; an approval card names
// the reason code, not the code, and says its note once; the decided list
// has headers and times.
func TestBackOfficeDetails(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t)
	finance := b.staff(t, "details-finance", auth.RoleFinance)
	p := finance.Get("/admin/statements")
	serial := p.Doc.Find(`[data-testid="statement-headers"] tr[data-field="serial"]`)
	require.Equal(t, 1, serial.Length())
	require.Contains(t, serial.Text(), "交易流水号", "every header text the reader knows")
	require.Contains(t, serial.Text(), "必需")
	require.Contains(t, p.TestID("statement-formats"), "GBK")

	support := b.staff(t, "details-support", auth.RoleSupport)
	_, cust := b.register(t, uniqEmail("details-cust"), "")
	page := fmt.Sprintf("/admin/customers/%d", cust.AccountID)
	g := support.Get(page)
	key := g.Doc.Find(`[data-testid="grant-form"] input[name="idempotency_key"]`).AttrOr("value", "")
	expires := time.Now().AddDate(0, 1, 0).In(format.Shanghai).Format("2006-01-02")
	r := support.PostForm(page+"/grant", url.Values{"amount": {"1200"}, "expires_at": {expires}, "reason_code": {"goodwill"},
		"note": {"outage on 12-04"}, "idempotency_key": {key}})
	require.Contains(t, r.Body, "outage on 12-04")

	p = finance.Get("/admin/approvals")
	// This customer's request (other tests' requests share the queue).
	card := p.Doc.Find(`article[data-testid^="approval-"]`).FilterFunction(func(_ int, a *goquery.Selection) bool {
		return a.Find(fmt.Sprintf(`a[href="/admin/customers/%d"]`, cust.AccountID)).Length() > 0
	}).First()
	require.NotZero(t, card.Length())
	text := card.Text()
	require.NotContains(t, text, "goodwill", "the reason code by its name")
	require.Equal(t, 1, strings.Count(text, "outage on 12-04"), "the note once: %s", text)

	id := strings.TrimPrefix(card.AttrOr("data-testid", ""), "approval-")
	finance.PostForm("/admin/approvals/"+id+"/approve", url.Values{})
	p = finance.Get("/admin/approvals")
	require.Equal(t, 8, p.Doc.Find(`[data-testid="approvals-recent"] thead th`).Length(), "the decided list has headers")
	require.NotZero(t, p.Doc.Find(`[data-testid="decided-`+id+`"] [data-testid="decided-at"]`).Length(), "and when it was decided")
}

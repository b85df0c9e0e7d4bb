package web_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/invoicing"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/web/webtest"
)

// fakePlatformPDF is what the national platform's PDF looks like to a content sniffer.
var fakePlatformPDF = []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")

func TestAdminInvoiceQueue(t *testing.T) {
	t.Parallel()
	b := setupKYC(t, kycOpts{})
	ctx := context.Background()
	finance := b.staff(t, "inv-finance@example.com", auth.RoleFinance)
	support := b.staff(t, "inv-support@example.com", auth.RoleSupport)
	cust, u := b.register(t, "inv-customer@example.com")
	o1 := b.paidTopUp(t, u.AccountID, 30000)
	o2 := b.paidTopUp(t, u.AccountID, 12345)
	o3 := b.paidTopUp(t, u.AccountID, 10000)
	request := func(kind invoicing.Kind, orders ...int64) int64 {
		t.Helper()
		r := invoicing.Request{Kind: kind, Email: "inv-customer@example.com", RequestedBy: "test",
			Title: &invoicing.TitleInput{Type: invoicing.TitleCompany, Name: "上海测试智能有限公司", TaxID: newCreditCode(t),
				Address: "上海市浦东新区张江路 1 号", Phone: "021-50801234", BankName: "中国银行上海张江支行", BankAccount: "4563 5123 4567 8901"}}
		for _, o := range orders {
			r.Items = append(r.Items, invoicing.ItemRequest{OrderID: o})
		}
		inv, err := b.inv.RequestInvoice(ctx, u.AccountID, r)
		require.NoError(t, err)
		return inv.ID
	}
	detail := func(id int64) string { return "/admin/invoices/detail?id=" + strconv.FormatInt(id, 10) }

	require.Equal(t, http.StatusForbidden, support.Get("/admin/invoices").Status)

	t.Run("IssueFormErrors", func(t *testing.T) {
		id := request(invoicing.KindSpecial, o1.ID)
		p := finance.Get("/admin/invoices")
		require.Equal(t, 1, p.Doc.Find(`[data-testid="invoice-queue-row"][data-id="`+strconv.FormatInt(id, 10)+`"]`).Length())
		finance.Get(detail(id))
		sid := strconv.FormatInt(id, 10)
		cases := []struct {
			name   string
			fields map[string]string
			file   []byte
			field  string
			expect string
		}{
			{"NoNumber", map[string]string{"id": sid, "source": "generate"}, nil, "number", "必填"},
			{"NumberNotDigits", map[string]string{"id": sid, "number": "INV-123", "source": "generate"}, nil, "number", "格式"},
			{"BadDate", map[string]string{"id": sid, "number": "12345678", "date": "2025-02-30", "source": "generate"}, nil, "date", "格式"},
			{"UploadWithoutFile", map[string]string{"id": sid, "number": "12345678", "source": "upload"}, nil, "pdf", "上传"},
			{"UploadNotAPDF", map[string]string{"id": sid, "number": "12345678", "source": "upload"}, pngBytes, "pdf", "格式"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				p := postMultipart(t, finance, "/admin/invoices/issue", tc.fields, "pdf", "invoice.pdf", tc.file)
				require.Equal(t, http.StatusUnprocessableEntity, p.Status, p.Body)
				require.Contains(t, p.TestID("error-"+tc.field), tc.expect)
				require.Equal(t, "requested", attr(p.Doc.Find(`[data-testid="invoice-detail"]`), "data-state"))
			})
		}
		require.Equal(t, http.StatusBadRequest, postMultipart(t, finance, "/admin/invoices/issue", map[string]string{"number": "12345678"}, "", "", nil).Status)
		require.Equal(t, http.StatusNotFound, finance.Get("/admin/invoices/detail?id=99999999").Status)
	})

	t.Run("IssueUploadedThenReverseAndReissueWithOurCopy", func(t *testing.T) {
		id := request(invoicing.KindOrdinary, o2.ID)
		finance.Get(detail(id))
		p := postMultipart(t, finance, "/admin/invoices/issue", map[string]string{"id": strconv.FormatInt(id, 10), "number": "044001900111", "date": "2025-06-03", "source": "upload"}, "pdf", "platform.pdf", fakePlatformPDF)
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		require.Equal(t, "issued", attr(p.Doc.Find(`[data-testid="invoice-detail"]`), "data-state"))
		require.Equal(t, "044001900111", p.TestID("invoice-detail-number"))
		audit := finance.Get("/admin/audit?action=invoice_issued")
		require.Contains(t, audit.Doc.Find(`[data-testid="audit-table"] tbody`).Text(), "044001900111", "issuing is in the audit log")
		pdf := finance.Get("/admin/invoices/pdf?id=" + strconv.FormatInt(id, 10))
		require.Equal(t, string(fakePlatformPDF), pdf.Body)
		require.Equal(t, string(fakePlatformPDF), cust.Get("/portal/invoices/"+strconv.FormatInt(id, 10)+"/pdf").Body)

		// The same number again is refused.
		other := request(invoicing.KindOrdinary, o3.ID)
		finance.Get(detail(other))
		p = postMultipart(t, finance, "/admin/invoices/issue", map[string]string{"id": strconv.FormatInt(other, 10), "number": "044001900111", "source": "generate"}, "", "", nil)
		require.Equal(t, http.StatusUnprocessableEntity, p.Status)
		require.Contains(t, p.TestID("error-number"), "已被使用")
		p = finance.PostForm("/admin/invoices/reject", url.Values{"id": {strconv.FormatInt(other, 10)}})
		require.Equal(t, http.StatusUnprocessableEntity, p.Status)
		require.NotEmpty(t, p.TestID("error-reason"))
		p = finance.PostForm("/admin/invoices/reject", url.Values{"id": {strconv.FormatInt(other, 10)}, "reason": {"抬头与合同不符"}})
		require.Equal(t, "rejected", attr(p.Doc.Find(`[data-testid="invoice-detail"]`), "data-state"))
		p = cust.Get("/portal/invoices")
		require.Contains(t, p.Doc.Find(`[data-testid="invoice-row"][data-id="`+strconv.FormatInt(other, 10)+`"]`).Text(), "抬头与合同不符")

		// Red-letter reversal needs a reason, then the reissue is issued with our copy.
		finance.Get(detail(id))
		p = finance.PostForm("/admin/invoices/reverse", url.Values{"id": {strconv.FormatInt(id, 10)}})
		require.Equal(t, http.StatusUnprocessableEntity, p.Status)
		p = finance.PostForm("/admin/invoices/reverse", url.Values{"id": {strconv.FormatInt(id, 10)}, "reason": {"购买方名称有误"}})
		require.Equal(t, "reversed", attr(p.Doc.Find(`[data-testid="invoice-detail"]`), "data-state"))
		p = finance.PostForm("/admin/invoices/reissue", url.Values{"id": {strconv.FormatInt(id, 10)}, "kind": {"bogus"}})
		require.Equal(t, http.StatusUnprocessableEntity, p.Status)
		p = finance.PostForm("/admin/invoices/reissue", url.Values{"id": {strconv.FormatInt(id, 10)}, "email": {"new-inbox@example.com"}})
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		require.Equal(t, "requested", attr(p.Doc.Find(`[data-testid="invoice-detail"]`), "data-state"))
		newID := p.Doc.Find(`input[name="id"]`).First().AttrOr("value", "")
		require.NotEqual(t, strconv.FormatInt(id, 10), newID)
		p = postMultipart(t, finance, "/admin/invoices/issue", map[string]string{"id": newID, "number": "044001900112", "source": "generate"}, "", "", nil)
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		text := pdfToText(t, []byte(finance.Get("/admin/invoices/pdf?id="+newID).Body))
		require.Contains(t, text, "上海测试智能有限公司")
		require.Contains(t, text, "123.45")
		p = finance.Get(detail(id))
		require.Equal(t, "reissued", attr(p.Doc.Find(`[data-testid="invoice-detail"]`), "data-state"))
		require.Equal(t, "#"+newID, p.TestID("invoice-reissued-as"))
	})
}

// TestInvoiceCopyNeedsASeller (issue 16, defect 10): without the seller's
// name and tax id, the issue form offers no copy of ours to generate and
// says why, in both languages, and a forged request for one is refused on
// the pdf field.
func TestInvoiceCopyNeedsASeller(t *testing.T) {
	t.Parallel()
	b := setupKYC(t, kycOpts{noSeller: true})
	finance := b.staff(t, "noseller-finance@example.com", auth.RoleFinance)
	_, u := b.register(t, "noseller-customer@example.com")
	o := b.paidTopUp(t, u.AccountID, 30000)
	inv, err := b.inv.RequestInvoice(context.Background(), u.AccountID, invoicing.Request{Kind: invoicing.KindOrdinary, Email: "noseller-customer@example.com", RequestedBy: "test",
		Title: &invoicing.TitleInput{Type: invoicing.TitleCompany, Name: "上海无销售方科技有限公司", TaxID: newCreditCode(t)},
		Items: []invoicing.ItemRequest{{OrderID: o.ID}}})
	require.NoError(t, err)
	detail := "/admin/invoices/detail?id=" + strconv.FormatInt(inv.ID, 10)
	for lang, want := range map[string]string{"zh-CN": "未配置销售方名称和税号", "en": "Without the seller's name and tax id"} {
		finance.Get("/lang/" + lang)
		p := finance.Get(detail)
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		require.Empty(t, p.Doc.Find(`[data-testid="issue-source-generate"]`).Nodes, "%s: no copy of ours to choose", lang)
		require.Contains(t, p.TestID("issue-generate-unavailable"), want)
	}
	finance.Get("/lang/zh-CN")
	p := postMultipart(t, finance, "/admin/invoices/issue", map[string]string{"id": strconv.FormatInt(inv.ID, 10), "number": "044001900199", "source": "generate"}, "", "", nil)
	require.Equal(t, http.StatusUnprocessableEntity, p.Status, p.Body)
	require.Contains(t, p.TestID("error-pdf"), "未配置销售方信息")
	require.Equal(t, "requested", attr(p.Doc.Find(`[data-testid="invoice-detail"]`), "data-state"))
}

// TestIssueAfterARefundSaysWhyItIsRefused: a ¥100 top-up's invoice is
// requested, then ¥50 of the top-up is refunded; issuing the ¥100 invoice
// is refused, and finance is told why — the top-up has ¥50.00 left to
// invoice — under the invoice's items, in both languages and on a 390 px
// phone. Before, the page said "check the marked fields" and marked none:
// the refusal's field (items) had no place on the issue form.
func TestIssueAfterARefundSaysWhyItIsRefused(t *testing.T) {
	t.Parallel()
	b := setupKYC(t, kycOpts{})
	ctx := context.Background()
	finance := b.staff(t, "refunded-inv-finance@example.com", auth.RoleFinance)
	_, u := b.register(t, "refunded-inv-customer@example.com")
	o := b.paidTopUp(t, u.AccountID, 10000)
	inv, err := b.inv.RequestInvoice(ctx, u.AccountID, invoicing.Request{Kind: invoicing.KindOrdinary, Email: "refunded-inv-customer@example.com",
		RequestedBy: "test", Title: &invoicing.TitleInput{Type: invoicing.TitleIndividual, Name: "张三"},
		Items: []invoicing.ItemRequest{{OrderID: o.ID}}})
	require.NoError(t, err)
	_, err = b.pay.Refund(ctx, payments.RefundRequest{AccountID: u.AccountID, OrderNo: o.OrderNo, AmountFen: 5000,
		IdempotencyKey: "half", Reason: "customer request", Actor: "staff:test"})
	require.NoError(t, err)

	id := strconv.FormatInt(inv.ID, 10)
	issue := map[string]string{"id": id, "number": "044001900999", "source": "upload"}
	for _, lang := range []struct{ code, left string }{{"zh-CN", "仅剩 ¥50.00 可开票"}, {"en", "¥50.00"}} {
		finance.Get("/lang/" + lang.code)
		finance.Get("/admin/invoices/detail?id=" + id)
		p := postMultipart(t, finance, "/admin/invoices/issue", issue, "pdf", "platform.pdf", fakePlatformPDF)
		require.Equal(t, http.StatusUnprocessableEntity, p.Status, p.Body)
		require.Contains(t, p.TestID("error-items"), lang.left, "the refusal names what is left to invoice (%s)", lang.code)
		require.Contains(t, p.TestID("error-items"), o.OrderNo)
		require.Equal(t, "requested", attr(p.Doc.Find(`[data-testid="invoice-detail"]`), "data-state"))
	}

	pdf := filepath.Join(t.TempDir(), "platform.pdf")
	require.NoError(t, os.WriteFile(pdf, fakePlatformPDF, 0o600))
	bctx := webtest.Browser(t, 120*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	webtest.SignIn(t, bctx, b.app.URL, "refunded-inv-finance@example.com", "staff password 1")
	for _, lang := range []string{"zh-CN", "en"} {
		require.NoError(t, chromedp.Do(bctx,
			chromedp.Navigate(b.app.URL+"/lang/"+lang),
			chromedp.Navigate(b.app.URL+"/admin/invoices/detail?id="+id),
			chromedp.WaitVisible(css(`[data-testid="invoice-issue-form"]`)),
			chromedp.SendKeys(css(`#f-number`), "044001900999"),
			chromedp.SetUploadFiles(css(`#f-pdf`), []string{pdf}),
			chromedp.Click(css(`[data-testid="invoice-issue"]`)),
			chromedp.WaitVisible(css(`[data-testid="error-items"]`)),
		))
		require.Contains(t, webtest.Text(t, bctx, `[data-testid="error-items"]`), "¥50.00")
		require.NotContains(t, webtest.Text(t, bctx, "main"), "error.field.", "no raw keys (%s)", lang)
		webtest.RequireFitsWidth(t, bctx, 390, "the refused issue (%s)", lang)
		webtest.Screenshot(t, bctx, "admin-invoice-issue-refused-390-"+lang)
	}
}

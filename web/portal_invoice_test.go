package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/invoicing"
)

// specialTitle is a complete company title for a 专票 (form fields).
func specialTitle(name, taxID string) url.Values {
	return url.Values{"title.type": {"company"}, "title.name": {name}, "title.tax_id": {taxID},
		"title.address": {"深圳市南山区科技园南区深南大道 10000 号"}, "title.phone": {"0755-86013388"},
		"title.bank_name": {"招商银行深圳分行科技园支行"}, "title.bank_account": {"755912345610801"}}
}

func merge(vs ...url.Values) url.Values {
	out := url.Values{}
	for _, v := range vs {
		for k, x := range v {
			out[k] = x
		}
	}
	return out
}

func TestPortalInvoices(t *testing.T) {
	t.Parallel()
	b := setupKYC(t, kycOpts{})
	ctx := context.Background()
	c, u := b.register(t, "invoices@example.com")
	o1 := b.paidTopUp(t, u.AccountID, 50000)
	o2 := b.paidTopUp(t, u.AccountID, 20000)
	order := func(o int64) string { return strconv.FormatInt(o, 10) }
	taxID := newCreditCode(t)

	t.Run("PageListsTheTopUpsWithTheRefundNote", func(t *testing.T) {
		p := c.Get("/portal/invoices")
		require.Equal(t, http.StatusOK, p.Status)
		require.Contains(t, p.TestID("refund-note"), "红字冲销")
		require.Equal(t, 2, p.Doc.Find(`[data-testid="invoiceable-row"]`).Length())
		require.Equal(t, "¥500.00", p.Doc.Find(`[data-testid="invoiceable-row"][data-order="`+o1.OrderNo+`"] [data-testid="available"]`).Text())
		require.Equal(t, "invoices@example.com", val(p, "email"))
	})

	t.Run("FormErrors", func(t *testing.T) {
		c.Get("/portal/invoices")
		cases := []struct {
			name   string
			form   url.Values
			field  string
			expect string
		}{
			{"NoTopUp", merge(url.Values{"kind": {"ordinary"}, "title_id": {"new"}, "email": {"a@example.com"}}, specialTitle("深圳市星河智能科技有限公司", taxID)), "items", "必填"},
			{"SpecialForAnIndividual", url.Values{"kind": {"special"}, "title_id": {"new"}, "email": {"a@example.com"}, "order": {order(o1.ID)},
				"title.type": {"individual"}, "title.name": {"王小明"}}, "title.type", "仅可开具给企业"},
			{"SpecialMissingBank", merge(url.Values{"kind": {"special"}, "title_id": {"new"}, "email": {"a@example.com"}, "order": {order(o1.ID)}},
				specialTitle("深圳市星河智能科技有限公司", taxID), url.Values{"title.bank_name": {""}}), "title.bank_name", "必填"},
			{"BadTaxID", merge(url.Values{"kind": {"ordinary"}, "title_id": {"new"}, "email": {"a@example.com"}, "order": {order(o1.ID)}},
				specialTitle("深圳市星河智能科技有限公司", taxID[:17]+"#")), "title.tax_id", "税号"},
			{"NoEmail", merge(url.Values{"kind": {"ordinary"}, "title_id": {"new"}, "order": {order(o1.ID)}}, specialTitle("深圳市星河智能科技有限公司", taxID)), "email", "必填"},
			{"MoreThanAvailable", merge(url.Values{"kind": {"ordinary"}, "title_id": {"new"}, "email": {"a@example.com"}, "order": {order(o2.ID)},
				"amount_" + order(o2.ID): {"200.01"}}, specialTitle("深圳市星河智能科技有限公司", taxID)), "items", "¥200.00"},
			{"ExponentAmount", merge(url.Values{"kind": {"ordinary"}, "title_id": {"new"}, "email": {"a@example.com"}, "order": {order(o2.ID)},
				"amount_" + order(o2.ID): {"1e2"}}, specialTitle("深圳市星河智能科技有限公司", taxID)), "items", "格式"},
			{"BadAmount", merge(url.Values{"kind": {"ordinary"}, "title_id": {"new"}, "email": {"a@example.com"}, "order": {order(o2.ID)},
				"amount_" + order(o2.ID): {"1.234"}}, specialTitle("深圳市星河智能科技有限公司", taxID)), "items", "格式"},
			{"AnotherAccountsTopUp", merge(url.Values{"kind": {"ordinary"}, "title_id": {"new"}, "email": {"a@example.com"}, "order": {"99999999"}},
				specialTitle("深圳市星河智能科技有限公司", taxID)), "items", "不属于本账户"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				p := c.PostForm("/portal/invoices", tc.form)
				require.Equal(t, http.StatusUnprocessableEntity, p.Status, p.Body)
				require.Contains(t, p.TestID("error-"+tc.field), tc.expect)
				require.NotEmpty(t, p.TestID("flash-error"))
			})
		}
		// More than is left to invoice and no email: both named at once,
		// in either language (before, the email alone was named, and the
		// amount only once the email was given).
		t.Run("MoreThanAvailableAndNoEmailAtOnce", func(t *testing.T) {
			form := merge(url.Values{"kind": {"ordinary"}, "title_id": {"new"}, "order": {order(o2.ID)},
				"amount_" + order(o2.ID): {"200.01"}}, specialTitle("深圳市星河智能科技有限公司", taxID))
			for _, lang := range []struct{ code, items, email string }{
				{"zh-CN", "仅剩 ¥200.00 可开票", "必填"},
				{"en", "¥200.00", "required"},
			} {
				c.Header.Set("Accept-Language", lang.code)
				p := c.PostForm("/portal/invoices", form)
				c.Header.Del("Accept-Language")
				require.Equal(t, http.StatusUnprocessableEntity, p.Status, p.Body)
				require.Contains(t, p.TestID("error-items"), lang.items, lang.code)
				require.Contains(t, p.TestID("error-email"), lang.email, lang.code)
			}
		})
		invs, err := b.inv.ForAccount(ctx, u.AccountID)
		require.NoError(t, err)
		require.Empty(t, invs)
	})

	t.Run("TitlesCRUD", func(t *testing.T) {
		p := c.Get("/portal/invoices/titles")
		require.Equal(t, http.StatusOK, p.Status)
		p = c.PostForm("/portal/invoices/titles", specialTitle("", taxID))
		require.Equal(t, http.StatusUnprocessableEntity, p.Status)
		require.Contains(t, p.TestID("error-title.name"), "必填")
		p = c.PostForm("/portal/invoices/titles", specialTitle("深圳市星河智能科技有限公司", taxID))
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		require.Equal(t, 1, p.Doc.Find(`[data-testid="title-row"]`).Length())
		href := attr(p.Doc.Find(`[data-testid="title-edit"]`), "href")
		p = c.Get(href)
		require.Equal(t, "深圳市星河智能科技有限公司", val(p, "title.name"))
		p = c.PostForm(href, merge(specialTitle("深圳市星河智能科技股份有限公司", taxID)))
		require.Equal(t, http.StatusOK, p.Status)
		require.Contains(t, p.TestID("titles"), "股份有限公司")
		p = c.PostForm(href, merge(specialTitle("深圳市星河智能科技股份有限公司", "123")))
		require.Equal(t, http.StatusUnprocessableEntity, p.Status)
		require.NotEmpty(t, p.TestID("error-title.tax_id"))

		// Another customer cannot see or change it.
		other, _ := b.register(t, "invoices-other@example.com")
		require.Equal(t, http.StatusNotFound, other.Get(href).Status)
		require.Equal(t, http.StatusNotFound, other.PostForm(href+"/delete", nil).Status)

		p = c.PostForm(href+"/delete", nil)
		require.Equal(t, http.StatusOK, p.Status)
		require.Zero(t, p.Doc.Find(`[data-testid="title-row"]`).Length())
	})

	t.Run("RequestWithdrawAndPDFScopedToTheAccount", func(t *testing.T) {
		c.Get("/portal/invoices")
		p := c.PostForm("/portal/invoices", merge(url.Values{"kind": {"special"}, "title_id": {"new"}, "save_title": {"1"}, "email": {"finance@example.com"},
			"order": {order(o1.ID), order(o2.ID)}, "amount_" + order(o2.ID): {"150"}}, specialTitle("深圳市星河智能科技有限公司", taxID)))
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		require.NotEmpty(t, p.TestID("flash-success"))
		row := p.Doc.Find(`[data-testid="invoice-row"]`)
		require.Equal(t, 1, row.Length())
		require.Equal(t, "requested", attr(row, "data-state"))
		require.Equal(t, "¥650.00", row.Find(`[data-testid="invoice-amount"]`).Text())
		require.Equal(t, "¥50.00", p.Doc.Find(`[data-testid="invoiceable-row"][data-order="`+o2.OrderNo+`"] [data-testid="available"]`).Text())
		held := p.Doc.Find(`[data-testid="invoiceable-row"][data-order="` + o2.OrderNo + `"] [data-testid="invoiced"]`)
		require.True(t, strings.HasPrefix(strings.TrimSpace(held.Text()), "¥0.00"), "requested, not issued, is not 已开票: %q", held.Text())
		require.Contains(t, held.Find(`[data-testid="invoice-requested"]`).Text(), "¥150.00")
		require.Equal(t, 1, p.Doc.Find(`[data-testid="title-select"] option[value!="new"]`).Length(), "the title was saved")
		id, _ := strconv.ParseInt(attr(row, "data-id"), 10, 64)

		// Not issued yet: no PDF.
		require.Equal(t, http.StatusNotFound, c.Get("/portal/invoices/"+strconv.FormatInt(id, 10)+"/pdf").Status)
		_, _, err := b.inv.Issue(ctx, id, invoicing.IssueRequest{Number: "25440000000012345678"}, "test")
		require.NoError(t, err)
		p = c.Get("/portal/invoices/" + strconv.FormatInt(id, 10) + "/pdf")
		require.Equal(t, http.StatusOK, p.Status)
		require.Equal(t, "application/pdf", p.Header.Get("Content-Type"))
		require.Contains(t, pdfToText(t, []byte(p.Body)), "深圳市星河智能科技有限公司")
		other2, _ := b.register(t, "invoices-other-2@example.com")
		require.Equal(t, http.StatusNotFound, other2.Get("/portal/invoices/"+strconv.FormatInt(id, 10)+"/pdf").Status)
		p = c.Get("/portal/invoices")
		require.Equal(t, "issued", attr(p.Doc.Find(`[data-testid="invoice-row"]`), "data-state"))
		require.NotEmpty(t, p.Doc.Find(`[data-testid="invoice-pdf"]`).Nodes)

		// A new request over what is left, then withdrawn.
		p = c.PostForm("/portal/invoices", url.Values{"kind": {"ordinary"}, "title_id": {attr(p.Doc.Find(`[data-testid="title-select"] option[selected]`), "value")}, "email": {"finance@example.com"}, "order": {order(o2.ID)}})
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		cancel := attr(p.Doc.Find(`[data-testid="invoice-row"][data-state="requested"] form`), "action")
		require.NotEmpty(t, cancel)
		p = c.PostForm(cancel, nil)
		require.Equal(t, http.StatusOK, p.Status)
		require.Contains(t, p.Doc.Find(`[data-testid="invoice-row"][data-state="rejected"]`).Text(), "撤回")
	})
}

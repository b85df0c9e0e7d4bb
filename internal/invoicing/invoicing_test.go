package invoicing_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/invoicing"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
)

func TestTitles(t *testing.T) {
	t.Parallel()
	b := setup(t, invoicing.Options{})
	acct, _ := b.account()
	other, _ := b.account()

	in := company()
	in.TaxID = " ９１３１０１１５ma1k12345x " // full width and lower case are normalised
	tt, err := b.svc.SaveTitle(b.ctx, acct, 0, in)
	require.NoError(t, err)
	require.Equal(t, "91310115MA1K12345X", tt.TaxID)

	bad := company()
	bad.TaxID = "91310115MA1K12345Y"
	_, err = b.svc.SaveTitle(b.ctx, acct, 0, bad)
	require.Equal(t, "tax_id_checksum", inputCode(t, err, "title.tax_id"))
	bad.TaxID = ""
	_, err = b.svc.SaveTitle(b.ctx, acct, 0, bad)
	require.Equal(t, invoicing.CodeRequired, inputCode(t, err, "title.tax_id"))
	_, err = b.svc.SaveTitle(b.ctx, acct, 0, invoicing.TitleInput{Type: invoicing.TitleIndividual, Name: "张三", TaxID: "110101199003070011"})
	require.Equal(t, invoicing.CodeNotAllowed, inputCode(t, err, "title.tax_id"), "no ID numbers in titles")
	_, err = b.svc.SaveTitle(b.ctx, acct, 0, invoicing.TitleInput{Type: "robot", Name: ""})
	require.Equal(t, invoicing.CodeInvalid, inputCode(t, err, "title.type"))
	require.Equal(t, invoicing.CodeRequired, inputCode(t, err, "title.name"))

	ind, err := b.svc.SaveTitle(b.ctx, acct, 0, invoicing.TitleInput{Type: invoicing.TitleIndividual, Name: "张三"})
	require.NoError(t, err)

	in2 := company()
	in2.Name = "深圳市星河智能科技股份有限公司"
	updated, err := b.svc.SaveTitle(b.ctx, acct, tt.ID, in2)
	require.NoError(t, err)
	require.Equal(t, tt.ID, updated.ID)
	require.Equal(t, in2.Name, updated.Name)
	_, err = b.svc.SaveTitle(b.ctx, other, tt.ID, in2)
	require.ErrorIs(t, err, invoicing.ErrNotFound, "another account's title")
	require.ErrorIs(t, b.svc.DeleteTitle(b.ctx, other, tt.ID), invoicing.ErrNotFound)

	list, err := b.svc.Titles(b.ctx, acct)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.NoError(t, b.svc.DeleteTitle(b.ctx, acct, ind.ID))
	list, err = b.svc.Titles(b.ctx, acct)
	require.NoError(t, err)
	require.Len(t, list, 1)
}

// TestSpecialInvoiceRequirements: a 专票 needs a company with every field; a
// 普票 for a company needs its 税号; an individual may have a 普票.
func TestSpecialInvoiceRequirements(t *testing.T) {
	t.Parallel()
	b := setup(t, invoicing.Options{})
	acct, tops := b.account(10000)
	req := func(kind invoicing.Kind, title invoicing.TitleInput) error {
		_, err := b.svc.RequestInvoice(b.ctx, acct, invoicing.Request{Kind: kind, Title: &title, Email: "fin@example.com",
			Items: []invoicing.ItemRequest{{OrderID: tops[0].OrderID, AmountFen: 100}}})
		return err
	}
	err := req(invoicing.KindSpecial, invoicing.TitleInput{Type: invoicing.TitleIndividual, Name: "张三"})
	require.Equal(t, invoicing.CodeSpecialRequiresCompany, inputCode(t, err, "title.type"))

	for _, field := range []string{"address", "phone", "bank_name", "bank_account"} {
		c := company()
		switch field {
		case "address":
			c.Address = ""
		case "phone":
			c.Phone = ""
		case "bank_name":
			c.BankName = ""
		case "bank_account":
			c.BankAccount = ""
		}
		err := req(invoicing.KindSpecial, c)
		require.Equal(t, invoicing.CodeRequired, inputCode(t, err, "title."+field), field)
		require.NoError(t, req(invoicing.KindOrdinary, c), "a 普票 does not need %s", field)
	}
	c := company()
	c.TaxID = ""
	require.Equal(t, invoicing.CodeRequired, inputCode(t, req(invoicing.KindOrdinary, c), "title.tax_id"))
	c = company()
	c.BankAccount = "not-a-number"
	require.Equal(t, invoicing.CodeInvalid, inputCode(t, req(invoicing.KindSpecial, c), "title.bank_account"))
	require.NoError(t, req(invoicing.KindOrdinary, invoicing.TitleInput{Type: invoicing.TitleIndividual, Name: "张三"}))
	require.NoError(t, req(invoicing.KindSpecial, company()))

	// A saved title without bank details cannot be used for a 专票.
	c = company()
	c.BankName, c.BankAccount = "", ""
	saved, err := b.svc.SaveTitle(b.ctx, acct, 0, c)
	require.NoError(t, err)
	_, err = b.svc.RequestInvoice(b.ctx, acct, invoicing.Request{Kind: invoicing.KindSpecial, TitleID: saved.ID, Email: "fin@example.com",
		Items: []invoicing.ItemRequest{{OrderID: tops[0].OrderID, AmountFen: 100}}})
	require.Equal(t, invoicing.CodeRequired, inputCode(t, err, "title.bank_name"))

	// Email, kind and items are checked too.
	_, err = b.svc.RequestInvoice(b.ctx, acct, invoicing.Request{Kind: "vat", TitleID: saved.ID, Email: "not an email"})
	ie, ok := fielderr.As(err)
	require.True(t, ok)
	require.Equal(t, invoicing.CodeInvalid, ie.Code("kind"))
	require.Equal(t, invoicing.CodeInvalid, ie.Code("email"))
	require.Equal(t, invoicing.CodeRequired, ie.Code("items"))
}

// TestAmountLimits: an invoice never covers more than was paid and not yet
// invoiced or refunded.
func TestAmountLimits(t *testing.T) {
	t.Parallel()
	b := setup(t, invoicing.Options{})
	acct, tops := b.account(10000, 5000)
	b.src.refund(acct, tops[1].OrderID, 1000)
	title := company()
	request := func(items ...invoicing.ItemRequest) (invoicing.Invoice, error) {
		return b.svc.RequestInvoice(b.ctx, acct, invoicing.Request{Kind: invoicing.KindOrdinary, Title: &title, Email: "fin@example.com", Items: items})
	}

	inv, err := request(invoicing.ItemRequest{OrderID: tops[0].OrderID, AmountFen: 6000})
	require.NoError(t, err)
	require.Equal(t, int64(6000), inv.AmountFen)
	require.Equal(t, invoicing.StateRequested, inv.State)

	_, err = request(invoicing.ItemRequest{OrderID: tops[0].OrderID, AmountFen: 4001})
	var ex *invoicing.ExceedsError
	require.True(t, errors.As(err, &ex))
	require.ErrorIs(t, err, invoicing.ErrExceedsInvoiceable)
	require.Equal(t, int64(4000), ex.AvailableFen)
	require.Equal(t, "exceeds_invoiceable", invoicing.Code(err))

	_, err = request(invoicing.ItemRequest{OrderID: tops[1].OrderID, AmountFen: 4001})
	require.ErrorIs(t, err, invoicing.ErrExceedsInvoiceable, "refunded money cannot be invoiced")

	// AmountFen 0 takes all that is left of each top-up.
	inv2, err := request(invoicing.ItemRequest{OrderID: tops[0].OrderID}, invoicing.ItemRequest{OrderID: tops[1].OrderID})
	require.NoError(t, err)
	require.Equal(t, int64(4000+4000), inv2.AmountFen)
	require.Len(t, inv2.Items, 2)

	avail, err := b.svc.Invoiceable(b.ctx, acct)
	require.NoError(t, err)
	for _, a := range avail {
		require.Zero(t, a.AvailableFen)
	}
	_, err = request(invoicing.ItemRequest{OrderID: tops[0].OrderID})
	require.ErrorIs(t, err, invoicing.ErrExceedsInvoiceable)

	// Someone else's top-up.
	other, otherTops := b.account(10000)
	_ = other
	_, err = request(invoicing.ItemRequest{OrderID: otherTops[0].OrderID})
	require.ErrorIs(t, err, invoicing.ErrUnknownTopUp)
	_, err = request(invoicing.ItemRequest{OrderID: tops[0].OrderID, AmountFen: 1}, invoicing.ItemRequest{OrderID: tops[0].OrderID, AmountFen: 1})
	require.Equal(t, invoicing.CodeDuplicate, inputCode(t, err, "items"))

	// A rejected request frees its amount; a cancelled one too.
	_, err = b.svc.Reject(b.ctx, inv.ID, "", "finance:1")
	require.ErrorIs(t, err, invoicing.ErrReasonRequired)
	rej, err := b.svc.Reject(b.ctx, inv.ID, "税号与名称不符", "finance:1")
	require.NoError(t, err)
	require.Equal(t, invoicing.StateRejected, rej.State)
	require.Equal(t, "税号与名称不符", rej.Reason)
	_, err = b.svc.Cancel(b.ctx, other, inv2.ID, "user:x")
	require.ErrorIs(t, err, invoicing.ErrNotFound, "only the account cancels its request")
	_, err = b.svc.Cancel(b.ctx, acct, inv2.ID, "user:1")
	require.NoError(t, err)
	avail, err = b.svc.Invoiceable(b.ctx, acct)
	require.NoError(t, err)
	require.Equal(t, int64(10000), avail[0].AvailableFen)
	require.Equal(t, int64(4000), avail[1].AvailableFen)
}

// TestConcurrentRequestsCannotExceed: many simultaneous requests over the
// same top-up never add up to more than it.
func TestConcurrentRequestsCannotExceed(t *testing.T) {
	t.Parallel()
	b := setup(t, invoicing.Options{})
	acct, tops := b.account(10000)
	title := company()
	const n = 12
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = b.svc.RequestInvoice(b.ctx, acct, invoicing.Request{Kind: invoicing.KindOrdinary, Title: &title,
				Email: "fin@example.com", Items: []invoicing.ItemRequest{{OrderID: tops[0].OrderID, AmountFen: 3000}}})
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
			continue
		}
		require.ErrorIs(t, err, invoicing.ErrExceedsInvoiceable)
	}
	require.Equal(t, 3, ok)
	var total int64
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT coalesce(sum(i.amount_fen), 0) FROM invoice_items i JOIN invoices v ON v.id = i.invoice_id
		WHERE i.order_id = $1 AND v.state IN ('requested', 'issued')`, tops[0].OrderID).Scan(&total))
	require.Equal(t, int64(9000), total)
}

// TestIssueGeneratedPDF: an enterprise requests a 专票 for two top-ups,
// finance issues it with our own copy, the hook receives the PDF, and the
// customer downloads it; its text names the company and the amount.
func TestIssueGeneratedPDF(t *testing.T) {
	t.Parallel()
	type sent struct {
		inv invoicing.Invoice
		pdf []byte
	}
	var mu sync.Mutex
	var outbox []sent
	failHook := false
	b := setup(t, invoicing.Options{OnIssued: func(ctx context.Context, tx pgx.Tx, inv invoicing.Invoice, pdf []byte) error {
		if failHook {
			return errors.New("mail queue down")
		}
		var state string
		if err := tx.QueryRow(ctx, `SELECT state FROM invoices WHERE id = $1`, inv.ID).Scan(&state); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		outbox = append(outbox, sent{inv, pdf})
		return nil
	}})
	acct, tops := b.account(10000, 23456)
	saved, err := b.svc.SaveTitle(b.ctx, acct, 0, company())
	require.NoError(t, err)
	inv, err := b.svc.RequestInvoice(b.ctx, acct, invoicing.Request{Kind: invoicing.KindSpecial, TitleID: saved.ID, Email: "fin@xinghe.example.cn",
		Items: []invoicing.ItemRequest{{OrderID: tops[0].OrderID}, {OrderID: tops[1].OrderID}}, RequestedBy: "user:5"})
	require.NoError(t, err)
	require.Equal(t, int64(33456), inv.AmountFen)

	q, err := b.svc.Queue(b.ctx, "")
	require.NoError(t, err)
	require.True(t, contains(q, inv.ID))

	_, err = b.svc.PDF(b.ctx, acct, inv.ID)
	require.ErrorIs(t, err, invoicing.ErrNotFound, "no PDF before issue")

	_, _, err = b.svc.Issue(b.ctx, inv.ID, invoicing.IssueRequest{Number: "12AB"}, "finance:2")
	require.Equal(t, invoicing.CodeInvalid, inputCode(t, err, "number"))
	_, _, err = b.svc.Issue(b.ctx, inv.ID, invoicing.IssueRequest{Number: "25442000000123456789", PDF: []byte("<html>not a pdf</html>")}, "finance:2")
	require.Equal(t, invoicing.CodeNotPDF, inputCode(t, err, "pdf"))

	failHook = true
	_, _, err = b.svc.Issue(b.ctx, inv.ID, invoicing.IssueRequest{Number: "25442000000123456789"}, "finance:2")
	require.ErrorContains(t, err, "mail queue down")
	still, err := b.svc.Get(b.ctx, inv.ID)
	require.NoError(t, err)
	require.Equal(t, invoicing.StateRequested, still.State, "a failed hook rolls the issue back")
	failHook = false

	issued, doc, err := b.svc.Issue(b.ctx, inv.ID, invoicing.IssueRequest{Number: "25442000000123456789"}, "finance:2")
	require.NoError(t, err)
	require.Equal(t, invoicing.StateIssued, issued.State)
	require.Equal(t, "generated", issued.PDFSource)
	require.Equal(t, "25442000000123456789", issued.Number)
	require.Equal(t, "2025-06-01", issued.IssuedOn.Format("2006-01-02"))
	require.Len(t, outbox, 1)
	require.Equal(t, doc, outbox[0].pdf)
	require.Equal(t, "fin@xinghe.example.cn", outbox[0].inv.Email)
	require.Equal(t, invoicing.StateIssued, outbox[0].inv.State)

	text := pdfText(t, doc)
	for _, want := range []string{"增值税电子专用发票", "深圳市星河智能科技有限公司", "91310115MA1K12345X",
		"北京示例云计算有限公司", "¥334.56", "叁佰叁拾肆元伍角陆分", "25442000000123456789", tops[0].OrderNo} {
		require.Contains(t, text, want)
	}

	got, err := b.svc.PDF(b.ctx, acct, inv.ID)
	require.NoError(t, err)
	require.Equal(t, doc, got)
	other, _ := b.account()
	_, err = b.svc.PDF(b.ctx, other, inv.ID)
	require.ErrorIs(t, err, invoicing.ErrNotFound, "another account cannot download it")

	list, err := b.svc.ForAccount(b.ctx, acct)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.True(t, list[0].HasPDF)
	j, err := json.Marshal(list)
	require.NoError(t, err)
	require.NotContains(t, string(j), "%PDF", "listings carry no PDF bytes")

	_, _, err = b.svc.Issue(b.ctx, inv.ID, invoicing.IssueRequest{Number: "25442000000123456780"}, "finance:2")
	require.ErrorIs(t, err, invoicing.ErrWrongState, "issued once")

	// The platform's PDF is stored as given; invoice numbers are unique.
	inv2, err := b.svc.RequestInvoice(b.ctx, acct, invoicing.Request{Kind: invoicing.KindOrdinary, Title: &invoicing.TitleInput{Type: invoicing.TitleIndividual, Name: "张三"},
		Email: "a@example.com", Items: []invoicing.ItemRequest{{OrderID: tops[0].OrderID}}})
	require.ErrorIs(t, err, invoicing.ErrExceedsInvoiceable)
	_ = inv2
	acct2, tops2 := b.account(500)
	inv3, err := b.svc.RequestInvoice(b.ctx, acct2, invoicing.Request{Kind: invoicing.KindOrdinary, Title: &invoicing.TitleInput{Type: invoicing.TitleIndividual, Name: "张三"},
		Email: "a@example.com", Items: []invoicing.ItemRequest{{OrderID: tops2[0].OrderID}}})
	require.NoError(t, err)
	_, _, err = b.svc.Issue(b.ctx, inv3.ID, invoicing.IssueRequest{Number: "25442000000123456789"}, "finance:2")
	require.ErrorIs(t, err, invoicing.ErrDuplicateNumber)
	platform := []byte("%PDF-1.7\n% from the national platform\n%%EOF\n")
	issued3, doc3, err := b.svc.Issue(b.ctx, inv3.ID, invoicing.IssueRequest{Number: "25442000000123450001", PDF: platform}, "finance:2")
	require.NoError(t, err)
	require.Equal(t, "platform", issued3.PDFSource)
	require.Equal(t, platform, doc3)
}

// TestIssueWithoutSeller: our copy cannot be generated without the seller.
func TestIssueWithoutSeller(t *testing.T) {
	t.Parallel()
	b := setup(t, invoicing.Options{Seller: invoicing.Seller{Name: "x"}})
	acct, tops := b.account(100)
	inv, err := b.svc.RequestInvoice(b.ctx, acct, invoicing.Request{Kind: invoicing.KindOrdinary, Title: &invoicing.TitleInput{Type: invoicing.TitleIndividual, Name: "张三"},
		Email: "a@example.com", Items: []invoicing.ItemRequest{{OrderID: tops[0].OrderID}}})
	require.NoError(t, err)
	_, _, err = b.svc.Issue(b.ctx, inv.ID, invoicing.IssueRequest{Number: "12345678"}, "finance:1")
	require.ErrorIs(t, err, invoicing.ErrSellerNotConfigured)
}

// TestReversalAndReissue: an issued invoice blocks its top-up's refund until
// it is reversed; a reissue carries the same top-ups with a corrected title.
func TestReversalAndReissue(t *testing.T) {
	t.Parallel()
	b := setup(t, invoicing.Options{})
	acct, tops := b.account(8000, 2000)
	wrong := company()
	wrong.Name = "深圳市星河智能科技有限公"
	inv, err := b.svc.RequestInvoice(b.ctx, acct, invoicing.Request{Kind: invoicing.KindSpecial, Title: &wrong, Email: "fin@example.com",
		Items: []invoicing.ItemRequest{{OrderID: tops[0].OrderID, AmountFen: 5000}, {OrderID: tops[1].OrderID}}})
	require.NoError(t, err)

	gate, err := b.svc.RequiresReversalBeforeRefund(b.ctx, tops[0].OrderID)
	require.NoError(t, err)
	require.False(t, gate, "a request alone does not block a refund")
	invoiced, err := b.svc.InvoicedFen(b.ctx, []int64{tops[0].OrderID, tops[1].OrderID})
	require.NoError(t, err)
	require.Equal(t, map[int64]int64{tops[0].OrderID: 5000, tops[1].OrderID: 2000}, invoiced, "requested invoices are not refundable now")

	_, err = b.svc.Reverse(b.ctx, inv.ID, "wrong title", "finance:1")
	require.ErrorIs(t, err, invoicing.ErrWrongState, "only an issued invoice is reversed")
	_, _, err = b.svc.Issue(b.ctx, inv.ID, invoicing.IssueRequest{Number: "25442000000000000001"}, "finance:1")
	require.NoError(t, err)

	for _, o := range tops {
		gate, err = b.svc.RequiresReversalBeforeRefund(b.ctx, o.OrderID)
		require.NoError(t, err)
		require.True(t, gate)
	}

	_, err = b.svc.Reverse(b.ctx, inv.ID, " ", "finance:1")
	require.ErrorIs(t, err, invoicing.ErrReasonRequired)
	rev, err := b.svc.Reverse(b.ctx, inv.ID, "名称错误", "finance:1")
	require.NoError(t, err)
	require.Equal(t, invoicing.StateReversed, rev.State)
	gate, err = b.svc.RequiresReversalBeforeRefund(b.ctx, tops[0].OrderID)
	require.NoError(t, err)
	require.False(t, gate, "reversed: the refund may proceed")
	invoiced, err = b.svc.InvoicedFen(b.ctx, []int64{tops[0].OrderID})
	require.NoError(t, err)
	require.Empty(t, invoiced, "a reversed invoice no longer holds back its amount")

	fixed := company()
	_, err = b.svc.Reissue(b.ctx, inv.ID, invoicing.ReissueRequest{Kind: invoicing.KindSpecial, Title: &invoicing.TitleInput{Type: invoicing.TitleIndividual, Name: "张三"}}, "finance:1")
	require.Equal(t, invoicing.CodeSpecialRequiresCompany, inputCode(t, err, "title.type"))
	re, err := b.svc.Reissue(b.ctx, inv.ID, invoicing.ReissueRequest{Title: &fixed}, "finance:1")
	require.NoError(t, err)
	require.Equal(t, invoicing.StateRequested, re.State)
	require.Equal(t, fixed.Name, re.Buyer.Name)
	require.Equal(t, int64(7000), re.AmountFen)
	require.Equal(t, inv.ID, *re.ReissueOf)
	require.Len(t, re.Items, 2)
	old, err := b.svc.Get(b.ctx, inv.ID)
	require.NoError(t, err)
	require.Equal(t, invoicing.StateReissued, old.State)
	require.Equal(t, re.ID, *old.ReissuedAs)
	_, err = b.svc.Reissue(b.ctx, inv.ID, invoicing.ReissueRequest{}, "finance:1")
	require.ErrorIs(t, err, invoicing.ErrWrongState, "reissued once")

	avail, err := b.svc.Invoiceable(b.ctx, acct)
	require.NoError(t, err)
	require.Equal(t, int64(3000), avail[0].AvailableFen, "the reissue holds the same amounts")
	require.Zero(t, avail[1].AvailableFen)

	issued, doc, err := b.svc.Issue(b.ctx, re.ID, invoicing.IssueRequest{Number: "25442000000000000002"}, "finance:1")
	require.NoError(t, err)
	require.Contains(t, pdfText(t, doc), "深圳市星河智能科技有限公司")
	require.Equal(t, invoicing.StateIssued, issued.State)

	hist, err := b.svc.History(b.ctx, inv.ID)
	require.NoError(t, err)
	var states []string
	for _, e := range hist {
		states = append(states, string(e.ToState))
	}
	require.Equal(t, "requested issued reversed reissued", strings.Join(states, " "))
	_, err = b.pool.Exec(b.ctx, `DELETE FROM invoice_events WHERE invoice_id = $1`, inv.ID)
	require.ErrorContains(t, err, "append-only")
}

// TestIssueRechecksRefunds: a top-up refunded after the request cannot be
// invoiced for the refunded part.
func TestIssueRechecksRefunds(t *testing.T) {
	t.Parallel()
	b := setup(t, invoicing.Options{})
	acct, tops := b.account(10000)
	inv, err := b.svc.RequestInvoice(b.ctx, acct, invoicing.Request{Kind: invoicing.KindOrdinary, Title: &invoicing.TitleInput{Type: invoicing.TitleIndividual, Name: "张三"},
		Email: "a@example.com", Items: []invoicing.ItemRequest{{OrderID: tops[0].OrderID}}})
	require.NoError(t, err)
	b.src.refund(acct, tops[0].OrderID, 2500)
	_, _, err = b.svc.Issue(b.ctx, inv.ID, invoicing.IssueRequest{Number: "25442000000000000101"}, "finance:1")
	var ex *invoicing.ExceedsError
	require.True(t, errors.As(err, &ex))
	require.Equal(t, int64(7500), ex.AvailableFen)
	require.Equal(t, int64(10000), ex.RequestedFen)
}

func contains(list []invoicing.Invoice, id int64) bool {
	for _, i := range list {
		if i.ID == id {
			return true
		}
	}
	return false
}

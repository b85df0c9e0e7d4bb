package backoffice_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
)

// listed is a customer account made for the list tests: its name holds the
// test's token, so a query for the token sees only this test's accounts.
type listed struct {
	id    int64
	login string
}

type listOpts struct {
	kind     ledger.AccountKind
	parent   int64
	mode     ledger.Mode
	external string
	login    string // "" for an account without a user
	credit   string // paid credit to add
}

func (b *testBundle) listed(t *testing.T, name string, o listOpts) listed {
	t.Helper()
	if o.kind == "" {
		o.kind = ledger.AccountIndividual
	}
	acc, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: o.kind, ParentID: o.parent, Mode: o.mode, ExternalID: o.external, Name: name})
	require.NoError(t, err)
	if o.login != "" {
		err = db.InTx(b.ctx, b.pool, func(tx pgx.Tx) error {
			_, err := b.users.RegisterTx(b.ctx, tx, auth.RegisterRequest{Login: o.login, Password: "correct horse battery", Name: name + " user", AccountID: acc.ID})
			return err
		})
		require.NoError(t, err)
	}
	if o.credit != "" {
		b.credit(t, acc.ID, ledger.LotPaid, o.credit, nil)
	}
	return listed{id: acc.ID, login: o.login}
}

// verify records a verification submission of the account in state.
func (b *testBundle) verify(t *testing.T, accountID int64, state string) {
	t.Helper()
	_, err := b.pool.Exec(b.ctx, `INSERT INTO verifications (account_id, source, state, submitted_at) VALUES ($1, 'external', $2, now())`, accountID, state)
	require.NoError(t, err)
}

func ids(p backoffice.CustomerPage) []int64 {
	out := []int64{}
	for _, r := range p.Rows {
		out = append(out, r.AccountID)
	}
	return out
}

func TestListCustomersSearchesEachField(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	support := b.staff(t, auth.RoleSupport)
	tok := uniq("srch")
	email := tok + "-mail@example.com"
	phone := fmt.Sprintf("+86139%08d", seq.Add(1)%1e8)
	byMail := b.listed(t, "A "+tok, listOpts{login: email})
	byPhone := b.listed(t, "B "+tok, listOpts{login: phone})
	ext := uniq("ext-live-")
	byExt := b.listed(t, "C "+tok, listOpts{external: ext})
	testExt := uniq("ext-test-")
	inTest := b.listed(t, "D "+tok, listOpts{mode: ledger.ModeTest, external: testExt})
	orderNo := uniq("T")
	_, err := b.pool.Exec(b.ctx, `INSERT INTO payment_orders (order_no, account_id, amount_fen, credits, channel, state, expires_at, created_at, updated_at)
VALUES ($1, $2, 1000, 100, 'wechat', 'paid', now(), now(), now())`, orderNo, byPhone.id)
	require.NoError(t, err)

	company := b.listed(t, "E "+tok, listOpts{kind: ledger.AccountEnterprise})
	companyName := uniq("上海测试") + "智能有限公司"
	_, err = b.pool.Exec(b.ctx, `INSERT INTO verifications (account_id, source, subject, state, name_display, licence_sealed, legal_rep_sealed, licence_sha256, submitted_at)
VALUES ($1, 'external', 'enterprise', 'verified', $2, '\x00', '\x00', 'x', now())`, company.id, companyName)
	require.NoError(t, err)

	list := func(f backoffice.CustomerFilter) []int64 {
		t.Helper()
		p, err := b.svc.ListCustomers(b.ctx, support, f)
		require.NoError(t, err)
		return ids(p)
	}
	for _, c := range []struct {
		name  string
		query string
		want  []int64
	}{
		{"EmailPrefix", tok + "-MAIL", []int64{byMail.id}},
		{"FullEmail", email, []int64{byMail.id}},
		{"Phone", phone, []int64{byPhone.id}},
		{"PhoneWithoutCountryCode", phone[3:], []int64{byPhone.id}},
		{"AccountID", strconv.FormatInt(byExt.id, 10), []int64{byExt.id}},
		{"ExternalID", ext, []int64{byExt.id}},
		{"OrderNumber", orderNo, []int64{byPhone.id}},
		{"NamePart", "c " + tok, []int64{byExt.id}},
		{"UserDisplayName", "B " + tok + " user", []int64{byPhone.id}},
		{"VerifiedCompanyName", companyName[3:], []int64{company.id}},
		{"TestAccountNotInLive", testExt, []int64{}},
		{"WildcardsAreLiteral", tok + "%", []int64{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, list(backoffice.CustomerFilter{Query: c.query}))
		})
	}
	t.Run("EveryNameMatchNewestFirst", func(t *testing.T) {
		require.Equal(t, []int64{company.id, byExt.id, byPhone.id, byMail.id}, list(backoffice.CustomerFilter{Query: tok}))
	})
	t.Run("TestModeListsSandboxAccounts", func(t *testing.T) {
		require.Equal(t, []int64{inTest.id}, list(backoffice.CustomerFilter{Query: testExt, Mode: "test"}))
		require.Equal(t, []int64{inTest.id}, list(backoffice.CustomerFilter{Query: tok, Mode: "test"}))
	})
	t.Run("RowCarriesLoginAndDefaults", func(t *testing.T) {
		p, err := b.svc.ListCustomers(b.ctx, support, backoffice.CustomerFilter{Query: email})
		require.NoError(t, err)
		require.Len(t, p.Rows, 1)
		r := p.Rows[0]
		require.Equal(t, email, r.Login())
		require.Equal(t, "individual", r.Kind)
		require.Equal(t, "active", r.Status)
		require.Equal(t, backoffice.VerificationUnverified, r.Verification)
		require.Equal(t, "live", r.Mode)
		require.Empty(t, p.Next)
	})
}

func TestListCustomersFilters(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	finance := b.staff(t, auth.RoleFinance)
	tok := uniq("filt")
	plain := b.listed(t, tok+" plain", listOpts{})
	rich := b.listed(t, tok+" rich", listOpts{credit: "500"})
	ent := b.listed(t, tok+" ent", listOpts{kind: ledger.AccountEnterprise, credit: "900"})
	sub := b.listed(t, tok+" sub", listOpts{kind: ledger.AccountSub, parent: ent.id})
	frozen := b.listed(t, tok+" frozen", listOpts{})
	require.NoError(t, b.svc.Freeze(b.ctx, frozen.id, "fraud check", finance))
	pending := b.listed(t, tok+" pending", listOpts{})
	rejected := b.listed(t, tok+" rejected", listOpts{})
	b.verify(t, rich.id, "verified")
	b.verify(t, ent.id, "verified")
	b.verify(t, pending.id, "pending")
	b.verify(t, rejected.id, "rejected")

	list := func(f backoffice.CustomerFilter) []int64 {
		t.Helper()
		f.Query = tok
		p, err := b.svc.ListCustomers(b.ctx, finance, f)
		require.NoError(t, err)
		return ids(p)
	}
	for _, c := range []struct {
		name string
		f    backoffice.CustomerFilter
		want []int64
	}{
		{"Enterprise", backoffice.CustomerFilter{Kind: "enterprise"}, []int64{ent.id}},
		{"Individual", backoffice.CustomerFilter{Kind: "individual"}, []int64{rejected.id, pending.id, frozen.id, rich.id, plain.id}},
		{"Sub", backoffice.CustomerFilter{Kind: "sub"}, []int64{sub.id}},
		{"Frozen", backoffice.CustomerFilter{Status: "frozen"}, []int64{frozen.id}},
		{"Active", backoffice.CustomerFilter{Status: "active", Kind: "individual"}, []int64{rejected.id, pending.id, rich.id, plain.id}},
		// A sub-account has its enterprise's verification and spends its pool.
		{"Verified", backoffice.CustomerFilter{Verification: "verified"}, []int64{sub.id, ent.id, rich.id}},
		{"Pending", backoffice.CustomerFilter{Verification: "pending"}, []int64{pending.id}},
		{"Rejected", backoffice.CustomerFilter{Verification: "rejected"}, []int64{rejected.id}},
		{"Unverified", backoffice.CustomerFilter{Verification: "unverified"}, []int64{frozen.id, plain.id}},
		{"HasBalance", backoffice.CustomerFilter{HasBalance: true}, []int64{sub.id, ent.id, rich.id}},
		{"ByBalance", backoffice.CustomerFilter{Sort: backoffice.SortBalance, Kind: "individual", HasBalance: true}, []int64{rich.id}},
		{"Combined", backoffice.CustomerFilter{HasBalance: true, Verification: "verified", Kind: "individual"}, []int64{rich.id}},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, list(c.f))
		})
	}
	t.Run("BalanceIsAvailableCredit", func(t *testing.T) {
		p, err := b.svc.ListCustomers(b.ctx, finance, backoffice.CustomerFilter{Query: tok, Sort: backoffice.SortBalance})
		require.NoError(t, err)
		require.Equal(t, []int64{sub.id, ent.id, rich.id}, ids(p)[:3], "900, 900, 500, then the empty ones")
		requireDec(t, "900", p.Rows[0].Available)
		requireDec(t, "500", p.Rows[2].Available)
		require.Equal(t, "verified", p.Rows[0].Verification)
	})
	t.Run("UnknownValuesAreRefused", func(t *testing.T) {
		for _, f := range []backoffice.CustomerFilter{{Kind: "robot"}, {Status: "closed"}, {Verification: "maybe"},
			{Mode: "prod"}, {Sort: "name"}, {After: "nonsense"}, {After: "12_not-a-time"}, {Sort: backoffice.SortBalance, After: "12_x"}} {
			_, err := b.svc.ListCustomers(b.ctx, finance, f)
			require.ErrorIs(t, err, backoffice.ErrInvalidFilter, "%+v", f)
		}
	})
	t.Run("OnlyStaffWithARole", func(t *testing.T) {
		_, err := b.svc.ListCustomers(b.ctx, backoffice.Actor{User: auth.User{ID: 1}}, backoffice.CustomerFilter{})
		require.ErrorIs(t, err, backoffice.ErrForbidden)
		_, err = b.svc.CustomerOverview(b.ctx, backoffice.Actor{User: auth.User{ID: 1}}, plain.id)
		require.ErrorIs(t, err, backoffice.ErrForbidden)
		for _, r := range auth.AllRoles {
			_, err := b.svc.ListCustomers(b.ctx, b.staff(t, r), backoffice.CustomerFilter{Query: tok})
			require.NoError(t, err, r)
		}
	})
}

// Paging walks every match once, in order, whichever the sort, including
// across rows with equal sort keys.
func TestListCustomersPagesByKeyset(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	admin := b.staff(t, auth.RoleAdmin)
	tok := uniq("page")
	var made []int64
	credits := []string{"", "10", "10", "30", "", "20", "10"}
	for i, c := range credits {
		made = append(made, b.listed(t, fmt.Sprintf("%s %d", tok, i), listOpts{credit: c}).id)
	}
	walk := func(sort string) []int64 {
		t.Helper()
		var all []int64
		f := backoffice.CustomerFilter{Query: tok, Sort: sort, Limit: 2}
		for pages := 0; ; pages++ {
			require.Less(t, pages, 10, "paging does not end")
			p, err := b.svc.ListCustomers(b.ctx, admin, f)
			require.NoError(t, err)
			require.LessOrEqual(t, len(p.Rows), 2)
			all = append(all, ids(p)...)
			if p.Next == "" {
				return all
			}
			f.After = p.Next
		}
	}
	newest := []int64{}
	for i := len(made) - 1; i >= 0; i-- {
		newest = append(newest, made[i])
	}
	require.Equal(t, newest, walk(backoffice.SortNewest))
	// 30, 20, then the three 10s and the two empty ones, newest id first.
	require.Equal(t, []int64{made[3], made[5], made[6], made[2], made[1], made[4], made[0]}, walk(backoffice.SortBalance))

	p, err := b.svc.ListCustomers(b.ctx, admin, backoffice.CustomerFilter{Query: tok, Limit: 500})
	require.NoError(t, err)
	require.Len(t, p.Rows, len(made), "a limit over the page size is capped, not refused")
	require.Equal(t, 50, backoffice.CustomerPageSize)
}

// Without a query the list shows individuals and enterprises, never their
// sub-accounts (they are on their enterprise's page). Not parallel: it reads
// the newest accounts of the whole database.
func TestListCustomersHidesSubAccountsUnlessSearched(t *testing.T) {
	b := setup(t, setupOpts{})
	support := b.staff(t, auth.RoleSupport)
	tok := uniq("subs")
	ent := b.listed(t, tok+" ent", listOpts{kind: ledger.AccountEnterprise})
	sub := b.listed(t, tok+" sub", listOpts{kind: ledger.AccountSub, parent: ent.id})
	p, err := b.svc.ListCustomers(b.ctx, support, backoffice.CustomerFilter{})
	require.NoError(t, err)
	require.Contains(t, ids(p), ent.id)
	require.NotContains(t, ids(p), sub.id)
	p, err = b.svc.ListCustomers(b.ctx, support, backoffice.CustomerFilter{Query: strconv.FormatInt(sub.id, 10)})
	require.NoError(t, err)
	require.Equal(t, []int64{sub.id}, ids(p))
	require.Equal(t, "sub", p.Rows[0].Kind)
}

func TestCustomerOverview(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	support := b.staff(t, auth.RoleSupport)
	tok := uniq("ovw")
	ent := b.listed(t, tok+" ent", listOpts{kind: ledger.AccountEnterprise, credit: "1000"})
	capped := b.listed(t, tok+" capped", listOpts{kind: ledger.AccountSub, parent: ent.id})
	free := b.listed(t, tok+" free", listOpts{kind: ledger.AccountSub, parent: ent.id})
	alloc := d("250")
	require.NoError(t, b.l.SetAllocation(b.ctx, capped.id, &alloc, "test", "test"))

	t.Run("EmptyAccount", func(t *testing.T) {
		o, err := b.svc.CustomerOverview(b.ctx, support, free.id)
		require.NoError(t, err)
		require.Empty(t, o.Orders)
		require.Empty(t, o.Invoices)
		require.Empty(t, o.Subs)
		require.Equal(t, backoffice.VerificationUnverified, o.Verification.State)
		require.Zero(t, o.Verification.Submissions)
	})

	base := time.Now().Add(-time.Hour)
	for i := 0; i < 12; i++ {
		_, err := b.pool.Exec(b.ctx, `INSERT INTO payment_orders (order_no, account_id, amount_fen, credits, channel, state, expires_at, created_at, updated_at)
VALUES ($1, $2, $3, 100, 'alipay', 'paid', $4, $4, $4)`, fmt.Sprintf("%s-%02d", tok, i), ent.id, 1000+i, base.Add(time.Duration(i)*time.Minute))
		require.NoError(t, err)
	}
	_, err := b.pool.Exec(b.ctx, `INSERT INTO invoices (account_id, kind, state, amount_fen, buyer_type, buyer_name, email, requested_at)
VALUES ($1, 'ordinary', 'requested', 12345, 'company', 'ACME', 'a@example.com', now())`, ent.id)
	require.NoError(t, err)
	b.verify(t, ent.id, "rejected")
	_, err = b.pool.Exec(b.ctx, `UPDATE verifications SET decided_at = now() WHERE account_id = $1`, ent.id)
	require.NoError(t, err)
	b.verify(t, ent.id, "verified")

	o, err := b.svc.CustomerOverview(b.ctx, support, ent.id)
	require.NoError(t, err)
	require.Len(t, o.Orders, 10, "the page shows the latest ten")
	require.Equal(t, tok+"-11", o.Orders[0].OrderNo, "newest first")
	requireDec(t, "10.11", o.Orders[0].AmountRMB)
	require.Equal(t, "alipay", o.Orders[0].Channel)
	require.Equal(t, "paid", o.Orders[0].State)
	require.Len(t, o.Invoices, 1)
	requireDec(t, "123.45", o.Invoices[0].AmountRMB)
	require.Equal(t, "requested", o.Invoices[0].State)
	require.Empty(t, o.Invoices[0].Number)
	require.Equal(t, backoffice.VerificationVerified, o.Verification.State, "the latest submission counts")
	require.Equal(t, 2, o.Verification.Submissions)
	require.Len(t, o.Subs, 2)
	require.Equal(t, capped.id, o.Subs[0].AccountID)
	requireNullDec(t, "250", o.Subs[0].Allocation)
	requireDec(t, "250", o.Subs[0].Available)
	require.False(t, o.Subs[1].Allocation.Valid)
	requireDec(t, "1000", o.Subs[1].Available, "no allocation: the whole pool")

	sub, err := b.svc.CustomerOverview(b.ctx, support, capped.id)
	require.NoError(t, err)
	require.Equal(t, backoffice.VerificationVerified, sub.Verification.State, "a sub-account follows its enterprise")
}

// 64 staff members listing at once each get one capped page, the same one.
func TestListCustomersConcurrentReadsKeepThePageCap(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	support := b.staff(t, auth.RoleSupport)
	tok := uniq("conc")
	for i := 0; i < 3; i++ {
		b.listed(t, fmt.Sprintf("%s %d", tok, i), listOpts{})
	}
	want, err := b.svc.ListCustomers(b.ctx, support, backoffice.CustomerFilter{Query: tok})
	require.NoError(t, err)
	require.Len(t, want.Rows, 3)
	errs := make(chan error, 64)
	pages := make(chan backoffice.CustomerPage, 64)
	for i := 0; i < 64; i++ {
		go func() {
			p, err := b.svc.ListCustomers(b.ctx, support, backoffice.CustomerFilter{Query: tok, Limit: 1000})
			errs <- err
			pages <- p
		}()
	}
	for i := 0; i < 64; i++ {
		require.NoError(t, <-errs)
		p := <-pages
		require.LessOrEqual(t, len(p.Rows), backoffice.CustomerPageSize)
		require.Equal(t, ids(want), ids(p))
	}
}

// TestBillOrdersNameTheirBill: a credit line bill paid by a QR order. The
// customer page's order list and the refund queue both return that order
// with the bill it pays (its id and period), so staff see a bill payment
// and not a credit top-up; a top-up beside it names no bill.
func TestBillOrdersNameTheirBill(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	support := b.staff(t, auth.RoleSupport)
	tok := uniq("billord")
	ent := b.listed(t, tok+" ent", listOpts{kind: ledger.AccountEnterprise})
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.FixedZone("CST", 8*3600))
	end := start.AddDate(0, 1, 0)
	var billID int64
	require.NoError(t, b.pool.QueryRow(b.ctx, `INSERT INTO credit_bills (account_id, period_start, period_end, credits, amount_fen, issued_at,
	due_at, grace_until, status, reference_code, paid_at) VALUES ($1, $2, $3, 12345, 1235, $3, $3, $3, 'paid', $4, now()) RETURNING id`,
		ent.id, start, end, tok).Scan(&billID))
	now := time.Now()
	_, err := b.pool.Exec(b.ctx, `INSERT INTO payment_orders (order_no, account_id, amount_fen, credits, channel, state, expires_at, created_at,
	updated_at, purpose, bill_id) VALUES ($1, $2, 1235, 0, 'wechat', 'paid', $3, $3, $3, 'bill', $4)`, tok+"-bill", ent.id, now, billID)
	require.NoError(t, err)
	_, err = b.pool.Exec(b.ctx, `INSERT INTO payment_orders (order_no, account_id, amount_fen, credits, channel, state, expires_at, created_at,
	updated_at) VALUES ($1, $2, 1000, 10000, 'alipay', 'paid', $3, $3, $3)`, tok+"-topup", ent.id, now.Add(-time.Minute))
	require.NoError(t, err)

	o, err := b.svc.CustomerOverview(b.ctx, support, ent.id)
	require.NoError(t, err)
	require.Len(t, o.Orders, 2)
	require.Equal(t, tok+"-bill", o.Orders[0].OrderNo)
	require.Equal(t, &backoffice.OrderBill{ID: billID, PeriodStart: start.UTC(), PeriodEnd: end.UTC()}, o.Orders[0].Bill)
	require.Equal(t, tok+"-topup", o.Orders[1].OrderNo)
	require.Nil(t, o.Orders[1].Bill, "a top-up pays no bill")

	// Neither way of filing a refund request takes the bill order: it
	// bought no credit. Nothing is written, not even an audit row.
	for name, request := range map[string]func() (backoffice.RefundRequest, error){
		"RequestOrderRefund": func() (backoffice.RefundRequest, error) {
			return b.svc.RequestOrderRefund(b.ctx, ent.id, tok+"-bill", d("12.35"), "paid twice?", "127.0.0.1")
		},
		"RequestRefund": func() (backoffice.RefundRequest, error) {
			return b.svc.RequestRefund(b.ctx, ent.id, " "+tok+"-bill ", d("12.35"), "paid twice?", "127.0.0.1")
		},
	} {
		_, err := request()
		require.ErrorIs(t, err, backoffice.ErrNotRefundable, name)
		require.Equal(t, "bill_not_refundable", backoffice.Code(err), name)
	}
	var written int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT (SELECT count(*) FROM refund_requests WHERE account_id = $1)
	+ (SELECT count(*) FROM admin_audit_log WHERE account_id = $1 AND action = $2)`, ent.id, backoffice.ActionRefundRequested).Scan(&written))
	require.Zero(t, written)

	// A request filed before that rule (written here directly): the queue
	// still shows what the order paid.
	var rid int64
	require.NoError(t, b.pool.QueryRow(b.ctx, `INSERT INTO refund_requests (account_id, order_no, amount, reason, requested_at)
	VALUES ($1, $2, 12.35, 'paid twice?', now()) RETURNING id`, ent.id, tok+"-bill").Scan(&rid))
	reqs, err := b.svc.RefundRequests(b.ctx, backoffice.RefundFilter{AccountID: ent.id})
	require.NoError(t, err)
	require.Len(t, reqs, 1)
	require.Equal(t, rid, reqs[0].ID)
	require.Equal(t, &backoffice.OrderBill{ID: billID, PeriodStart: start.UTC(), PeriodEnd: end.UTC()}, reqs[0].Bill)
}

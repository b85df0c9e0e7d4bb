package backoffice

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/refcode"
)

// CustomerPageSize is how many customers one page of the list shows (and
// the most a caller may ask for).
const CustomerPageSize = 50

// Customer list orders.
const (
	SortNewest  = "newest"  // sign-up time, newest first
	SortBalance = "balance" // available credit, largest first
)

// Verification states of a customer as the list filters them; an account
// without any submission is "unverified".
const (
	VerificationUnverified = "unverified"
	VerificationPending    = "pending"
	VerificationVerified   = "verified"
	VerificationRejected   = "rejected"
)

// CustomerFilter selects and orders the customer list. Zero values select
// everything live, newest first.
type CustomerFilter struct {
	// Query matches an account id or external id exactly, an email by its
	// beginning, a mobile number, an order number or transfer reference
	// code exactly, or part of the account's or user's name or of its
	// verified company name (unless the query is all digits). With a query,
	// sub-accounts are listed too; without one, only individuals and
	// enterprises.
	Query string
	// Kind is "individual", "enterprise" or "sub" ("" for every kind).
	Kind string
	// Verification is one of the Verification* states ("" for any); a
	// sub-account has its enterprise's.
	Verification string
	// Status is "active" or "frozen" ("" for either).
	Status string
	// HasBalance keeps only accounts with available credit.
	HasBalance bool
	// Mode is "live" (the default) or "test" (the gateway's sandbox accounts).
	Mode string
	// Sort is SortNewest (the default) or SortBalance.
	Sort string
	// After is the Next of the previous page ("" for the first page).
	After string
	// Limit is the page size: CustomerPageSize when zero or larger.
	Limit int
}

// CustomerListRow is one customer in the list.
type CustomerListRow struct {
	AccountID    int64           `db:"id"`
	PoolID       int64           `db:"pool_id"` // itself, or a sub-account's enterprise
	Kind         string          `db:"kind"`
	Mode         string          `db:"mode"`
	ExternalID   string          `db:"external_id"`
	Name         string          `db:"name"`
	Status       string          `db:"status"`
	CreatedAt    time.Time       `db:"created_at"`
	Available    decimal.Decimal `db:"available"`
	Email        string          `db:"email"`
	Phone        string          `db:"phone"`
	DisplayName  string          `db:"display_name"`
	Verification string          `db:"verification"`
}

// Login is how the customer signs in (email, else phone; "" without a user).
func (r CustomerListRow) Login() string {
	if r.Email != "" {
		return r.Email
	}
	return r.Phone
}

// CustomerPage is one page of the customer list; Next is the After of the
// following page, "" on the last one.
type CustomerPage struct {
	Rows []CustomerListRow
	Next string
}

// The customer list's query: customersWith reads accounts with their user
// and available credit (a sub-account's is its pool's, capped by its
// allocation: a subquery run only for sub-accounts); customersWhere filters
// them; each order adds its keyset condition and order; the latest
// verification state is read for the page's rows only (or, when the list is
// filtered by it, for the rows the filter looks at). The newest-first order
// reads ledger_accounts_mode_created_idx and stops after a page.
const (
	customersWith = `
WITH c AS (
  SELECT a.id, a.pool_id, a.kind::text AS kind, a.mode::text AS mode, coalesce(a.external_id, '') AS external_id,
         a.name, a.status::text AS status, a.created_at,
         CASE WHEN a.kind = 'sub'
              THEN (SELECT least(p.balance, coalesce(a.allocation, p.balance)) FROM ledger_account_view p WHERE p.id = a.pool_id)
              ELSE a.balance END AS available,
         coalesce(u.email, '') AS email, coalesce(u.phone, '') AS phone, coalesce(u.display_name, '') AS display_name
  FROM ledger_account_view a
  LEFT JOIN users u ON u.account_id = a.id AND u.kind = 'customer'
  WHERE a.mode = @mode
)`
	customersWhere = `
SELECT * FROM c
WHERE (@q = '' AND kind <> 'sub'
       OR @q <> '' AND (id::text = @q OR external_id = @q OR email LIKE @email_prefix OR phone = nullif(@phone, '')
                        OR @part <> '' AND (name ILIKE @part OR display_name ILIKE @part
                                            OR id IN (SELECT account_id FROM verifications WHERE state = 'verified'
                                                      AND subject = 'enterprise' AND name_display ILIKE @part))
                        OR id IN (SELECT account_id FROM payment_orders WHERE order_no = @q OR reference_code = nullif(@code, ''))))
  AND (@kind = '' OR kind = @kind)
  AND (@verification = '' OR @verification = ` + customerVerificationExpr + `)
  AND (@status = '' OR status = @status)
  AND (NOT @has_balance OR available > 0)`
	// customerVerificationExpr is the latest verification state of the
	// account's pool (a sub-account has its enterprise's).
	customerVerificationExpr = `coalesce((SELECT v.state FROM verifications v WHERE v.account_id = c.pool_id ORDER BY v.id DESC LIMIT 1), 'unverified')`

	customersNewestAfter  = ` AND (@after_id::bigint IS NULL OR (created_at, id) < (@after_at::timestamptz, @after_id::bigint))`
	customersNewestOrder  = ` ORDER BY created_at DESC, id DESC`
	customersBalanceAfter = ` AND (@after_id::bigint IS NULL OR (available, id) < (@after_balance::numeric, @after_id::bigint))`
	customersBalanceOrder = ` ORDER BY available DESC, id DESC`
)

// customersSQL is the list's statement for one order.
func customersSQL(after, order string) string {
	return customersWith + `
SELECT c.*, ` + customerVerificationExpr + ` AS verification
FROM (` + customersWhere + after + order + ` LIMIT @limit) c` + order
}

// ListCustomers is the back office's customer list: one page of accounts
// matching f, in f.Sort order, keyset-paged. Every staff role may read it.
// Errors: ErrForbidden; *Error "invalid_filter" for an unknown filter value
// or a malformed After.
func (s *Service) ListCustomers(ctx context.Context, actor Actor, f CustomerFilter) (CustomerPage, error) {
	if err := actor.require(auth.RoleSupport, auth.RoleFinance, auth.RoleAdmin); err != nil {
		return CustomerPage{}, err
	}
	if err := f.normalize(); err != nil {
		return CustomerPage{}, err
	}
	q := strings.TrimSpace(f.Query)
	args := pgx.NamedArgs{
		"mode": f.Mode, "q": q, "email_prefix": escapeLike(strings.ToLower(q)) + "%", "phone": phoneOf(q),
		"part": namePart(q), "code": refcode.Normalize(q),
		"kind": f.Kind, "verification": f.Verification, "status": f.Status, "has_balance": f.HasBalance,
		"limit": f.Limit + 1, "after_id": nil, "after_at": nil, "after_balance": nil,
	}
	sql := customersSQL(customersNewestAfter, customersNewestOrder)
	if f.Sort == SortBalance {
		sql = customersSQL(customersBalanceAfter, customersBalanceOrder)
	}
	if f.After != "" {
		id, key, err := parseCustomerCursor(f.After)
		if err != nil {
			return CustomerPage{}, err
		}
		args["after_id"] = id
		if f.Sort == SortBalance {
			b, err := decimal.NewFromString(key)
			if err != nil {
				return CustomerPage{}, invalidFilter()
			}
			args["after_balance"] = b
		} else {
			at, err := time.Parse(time.RFC3339Nano, key)
			if err != nil {
				return CustomerPage{}, invalidFilter()
			}
			args["after_at"] = at
		}
	}
	rows, _ := s.pool.Query(ctx, sql, args)
	list, err := pgx.CollectRows(rows, pgx.RowToStructByName[CustomerListRow])
	if err != nil {
		return CustomerPage{}, fmt.Errorf("backoffice: list customers: %w", err)
	}
	page := CustomerPage{Rows: list}
	if len(list) > f.Limit {
		page.Rows = list[:f.Limit]
		last := page.Rows[f.Limit-1]
		key := last.CreatedAt.UTC().Format(time.RFC3339Nano)
		if f.Sort == SortBalance {
			key = last.Available.String()
		}
		page.Next = strconv.FormatInt(last.AccountID, 10) + "_" + key
	}
	return page, nil
}

// normalize fills defaults and refuses values the list does not know.
func (f *CustomerFilter) normalize() error {
	if f.Mode == "" {
		f.Mode = "live"
	}
	if f.Sort == "" {
		f.Sort = SortNewest
	}
	if f.Limit <= 0 || f.Limit > CustomerPageSize {
		f.Limit = CustomerPageSize
	}
	ok := oneOf(f.Mode, "live", "test") && oneOf(f.Sort, SortNewest, SortBalance) &&
		oneOf(f.Kind, "", "individual", "enterprise", "sub") && oneOf(f.Status, "", "active", "frozen") &&
		oneOf(f.Verification, "", VerificationUnverified, VerificationPending, VerificationVerified, VerificationRejected) &&
		strings.IndexByte(f.Query, 0) < 0 // PostgreSQL text cannot hold NUL: no account matches it
	if !ok {
		return invalidFilter()
	}
	return nil
}

func invalidFilter() error { return ErrInvalidFilter }

func oneOf(v string, allowed ...string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}

// parseCustomerCursor splits "<account id>_<sort key>".
func parseCustomerCursor(s string) (int64, string, error) {
	idText, key, ok := strings.Cut(s, "_")
	id, err := strconv.ParseInt(idText, 10, 64)
	if !ok || err != nil || key == "" {
		return 0, "", invalidFilter()
	}
	return id, key, nil
}

// namePart is the ILIKE pattern matching q inside a name; "" for a query of
// digits only (an account id, a phone or an order number, which would
// otherwise also match every name that happens to hold those digits).
func namePart(q string) string {
	if _, err := strconv.ParseUint(q, 10, 64); err == nil {
		return ""
	}
	return "%" + escapeLike(q) + "%"
}

// phoneOf is q as a stored mobile number when it reads as one, else "".
func phoneOf(q string) string {
	p, err := auth.NormalizePhone(q)
	if err != nil {
		return ""
	}
	return p
}

// escapeLike escapes LIKE wildcards so q matches literally.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// How many rows of each list the customer page shows.
const customerRecentLimit = 10

// CustomerOrder is one of a customer's recent payment orders.
type CustomerOrder struct {
	OrderNo   string          `db:"order_no"`
	AmountRMB decimal.Decimal `db:"amount_rmb"`
	Channel   string          `db:"channel"`
	State     string          `db:"state"`
	CreatedAt time.Time       `db:"created_at"`
	PaidAt    *time.Time      `db:"paid_at"`
	// Bill is the credit line bill a bill payment order pays (nil for
	// any other order): staff must not take it for a credit top-up.
	Bill *OrderBill `db:"-"`
}

// OrderBill is the credit line bill (credit_bills) a bill payment order
// (payment purpose bill) pays, with its billing period [PeriodStart,
// PeriodEnd).
type OrderBill struct {
	ID                     int64
	PeriodStart, PeriodEnd time.Time
}

// orderBillColumns are a bill payment order's bill, NULL for other
// orders, read from credit_bills b joined on the order's bill_id.
const orderBillColumns = `b.id AS bill_id, b.period_start AS bill_period_start, b.period_end AS bill_period_end`

// orderBillRow scans orderBillColumns.
type orderBillRow struct {
	BillID          *int64     `db:"bill_id"`
	BillPeriodStart *time.Time `db:"bill_period_start"`
	BillPeriodEnd   *time.Time `db:"bill_period_end"`
}

// bill is the row's bill, nil when the order pays none.
func (r orderBillRow) bill() *OrderBill {
	if r.BillID == nil {
		return nil
	}
	return &OrderBill{ID: *r.BillID, PeriodStart: r.BillPeriodStart.UTC(), PeriodEnd: r.BillPeriodEnd.UTC()}
}

// CustomerInvoice is one of a customer's recent invoice requests.
type CustomerInvoice struct {
	ID          int64           `db:"id"`
	Number      string          `db:"number"`
	Kind        string          `db:"kind"`
	State       string          `db:"state"`
	AmountRMB   decimal.Decimal `db:"amount_rmb"`
	RequestedAt time.Time       `db:"requested_at"`
}

// CustomerSub is one sub-account of an enterprise with what it may spend.
type CustomerSub struct {
	AccountID  int64               `db:"id"`
	Name       string              `db:"name"`
	Status     string              `db:"status"`
	Allocation decimal.NullDecimal `db:"allocation"` // NULL: no limit
	Available  decimal.Decimal     `db:"available"`
}

// CustomerVerification is where the account (or, for a sub-account, its
// enterprise) stands in real-name verification.
type CustomerVerification struct {
	State       string // one of the Verification* states
	Subject     string // "individual", "enterprise" or "" (vouched for by a gateway client)
	SubmittedAt *time.Time
	DecidedAt   *time.Time
	// Submissions counts every submission, rejected ones included.
	Submissions int
}

// CustomerOverview is what the customer page shows beside the ledger:
// recent orders and invoices (newest first, at most 10 each), the
// verification state and an enterprise's sub-accounts.
type CustomerOverview struct {
	Orders       []CustomerOrder
	Invoices     []CustomerInvoice
	Verification CustomerVerification
	Subs         []CustomerSub
}

const (
	customerOrdersSQL = `
SELECT o.order_no, o.amount_fen::numeric / 100 AS amount_rmb, o.channel, o.state, o.created_at, o.paid_at, ` + orderBillColumns + `
FROM payment_orders o LEFT JOIN credit_bills b ON b.id = o.bill_id
WHERE o.account_id = $1 ORDER BY o.created_at DESC, o.id DESC LIMIT $2`
	customerInvoicesSQL = `
SELECT id, coalesce(number, '') AS number, kind, state, amount_fen::numeric / 100 AS amount_rmb, requested_at
FROM invoices WHERE account_id = $1 ORDER BY id DESC LIMIT $2`
	customerSubsSQL = `
SELECT a.id, a.name, a.status::text AS status, a.allocation,
       least(p.balance, coalesce(a.allocation, p.balance)) AS available
FROM ledger_account_view a JOIN ledger_account_view p ON p.id = a.pool_id
WHERE a.parent_id = $1 ORDER BY a.id LIMIT 200`
	customerVerificationSQL = `
SELECT v.state, coalesce(v.subject, ''), v.submitted_at, v.decided_at,
       (SELECT count(*) FROM verifications WHERE account_id = a.pool_id)::int
FROM ledger_account_view a
JOIN verifications v ON v.account_id = a.pool_id
WHERE a.id = $1 ORDER BY v.id DESC LIMIT 1`
)

// CustomerOverview reads the customer page's lists for accountID. Every
// staff role may read it. Errors: ErrForbidden.
func (s *Service) CustomerOverview(ctx context.Context, actor Actor, accountID int64) (CustomerOverview, error) {
	if err := actor.require(auth.RoleSupport, auth.RoleFinance, auth.RoleAdmin); err != nil {
		return CustomerOverview{}, err
	}
	var o CustomerOverview
	var err error
	rows, _ := s.pool.Query(ctx, customerOrdersSQL, accountID, customerRecentLimit)
	orders, err := pgx.CollectRows(rows, pgx.RowToStructByName[struct {
		CustomerOrder
		orderBillRow
	}])
	if err != nil {
		return o, fmt.Errorf("backoffice: customer orders: %w", err)
	}
	for _, r := range orders {
		r.CustomerOrder.Bill = r.bill()
		o.Orders = append(o.Orders, r.CustomerOrder)
	}
	rows, _ = s.pool.Query(ctx, customerInvoicesSQL, accountID, customerRecentLimit)
	if o.Invoices, err = pgx.CollectRows(rows, pgx.RowToStructByName[CustomerInvoice]); err != nil {
		return o, fmt.Errorf("backoffice: customer invoices: %w", err)
	}
	rows, _ = s.pool.Query(ctx, customerSubsSQL, accountID)
	if o.Subs, err = pgx.CollectRows(rows, pgx.RowToStructByName[CustomerSub]); err != nil {
		return o, fmt.Errorf("backoffice: customer sub-accounts: %w", err)
	}
	v := &o.Verification
	err = s.pool.QueryRow(ctx, customerVerificationSQL, accountID).Scan(&v.State, &v.Subject, &v.SubmittedAt, &v.DecidedAt, &v.Submissions)
	switch {
	case err == pgx.ErrNoRows:
		v.State = VerificationUnverified
	case err != nil:
		return o, fmt.Errorf("backoffice: customer verification: %w", err)
	}
	return o, nil
}

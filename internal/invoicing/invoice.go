package invoicing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/identity"
	"github.com/seed75218f88/credits/internal/invoicing/pdf"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
)

// Item is one top-up an invoice covers, and how much of it.
type Item struct {
	OrderID   int64  `json:"order_id" db:"order_id"`
	OrderNo   string `json:"order_no" db:"order_no"`
	AmountFen int64  `json:"amount_fen" db:"amount_fen"`
}

// Invoice is an invoice request and, once issued, the invoice (without its
// PDF bytes: see PDF).
type Invoice struct {
	ID          int64      `json:"id"`
	AccountID   int64      `json:"account_id"`
	Kind        Kind       `json:"kind"`
	State       State      `json:"state"`
	AmountFen   int64      `json:"amount_fen"`
	TitleID     *int64     `json:"title_id,omitempty"` // the saved title it was requested with, if still there
	Buyer       TitleInput `json:"buyer"`              // copied at request time
	Email       string     `json:"email"`
	Number      string     `json:"number,omitempty"`
	IssuedOn    *time.Time `json:"issued_on,omitempty"`  // the invoice date (a date; midnight UTC)
	PDFSource   string     `json:"pdf_source,omitempty"` // "platform" (uploaded) or "generated" (our copy)
	HasPDF      bool       `json:"has_pdf"`
	Reason      string     `json:"reason,omitempty"` // why it was rejected or reversed
	RequestedAt time.Time  `json:"requested_at"`
	IssuedAt    *time.Time `json:"issued_at,omitempty"`
	IssuedBy    string     `json:"issued_by,omitempty"`
	ClosedAt    *time.Time `json:"closed_at,omitempty"` // rejected, reversed or reissued at
	ClosedBy    string     `json:"closed_by,omitempty"`
	ReissueOf   *int64     `json:"reissue_of,omitempty"`  // the reversed invoice this one replaces
	ReissuedAs  *int64     `json:"reissued_as,omitempty"` // the request that replaced this one
	Items       []Item     `json:"items"`
	// Month is the Shanghai month ("2026-11") whose consumption the invoice
	// covers (an account invoiced by consumption); empty for top-ups.
	Month string `json:"month,omitempty"`
	// BillID is the paid credit line bill the invoice covers (bills.go).
	BillID *int64 `json:"bill_id,omitempty"`
}

type invoiceRow struct {
	ID               int64      `db:"id"`
	AccountID        int64      `db:"account_id"`
	Kind             Kind       `db:"kind"`
	State            State      `db:"state"`
	AmountFen        int64      `db:"amount_fen"`
	TitleID          *int64     `db:"title_id"`
	BuyerType        TitleType  `db:"buyer_type"`
	BuyerName        string     `db:"buyer_name"`
	BuyerTaxID       string     `db:"buyer_tax_id"`
	BuyerAddress     string     `db:"buyer_address"`
	BuyerPhone       string     `db:"buyer_phone"`
	BuyerBankName    string     `db:"buyer_bank_name"`
	BuyerBankAccount string     `db:"buyer_bank_account"`
	Email            string     `db:"email"`
	Number           *string    `db:"number"`
	IssuedOn         *time.Time `db:"issued_on"`
	PDFSource        *string    `db:"pdf_source"`
	HasPDF           bool       `db:"has_pdf"`
	Reason           string     `db:"reason"`
	RequestedAt      time.Time  `db:"requested_at"`
	IssuedAt         *time.Time `db:"issued_at"`
	IssuedBy         string     `db:"issued_by"`
	ClosedAt         *time.Time `db:"closed_at"`
	ClosedBy         string     `db:"closed_by"`
	ReissueOf        *int64     `db:"reissue_of"`
	ReissuedAs       *int64     `db:"reissued_as"`
	Month            *time.Time `db:"month"`
	BillID           *int64     `db:"bill_id"`
}

func (r invoiceRow) invoice() Invoice {
	inv := Invoice{
		ID: r.ID, AccountID: r.AccountID, Kind: r.Kind, State: r.State, AmountFen: r.AmountFen, TitleID: r.TitleID,
		Buyer: TitleInput{Type: r.BuyerType, Name: r.BuyerName, TaxID: r.BuyerTaxID, Address: r.BuyerAddress,
			Phone: r.BuyerPhone, BankName: r.BuyerBankName, BankAccount: r.BuyerBankAccount},
		Email: r.Email, IssuedOn: r.IssuedOn, HasPDF: r.HasPDF, Reason: r.Reason, RequestedAt: r.RequestedAt,
		IssuedAt: r.IssuedAt, IssuedBy: r.IssuedBy, ClosedAt: r.ClosedAt, ClosedBy: r.ClosedBy,
		ReissueOf: r.ReissueOf, ReissuedAs: r.ReissuedAs, Items: []Item{}, BillID: r.BillID,
	}
	if r.Number != nil {
		inv.Number = *r.Number
	}
	if r.PDFSource != nil {
		inv.PDFSource = *r.PDFSource
	}
	if r.Month != nil {
		inv.Month = r.Month.Format("2006-01")
	}
	return inv
}

const invoiceColumns = `v.id, v.account_id, v.kind, v.state, v.amount_fen, v.title_id, v.buyer_type, v.buyer_name,
	v.buyer_tax_id, v.buyer_address, v.buyer_phone, v.buyer_bank_name, v.buyer_bank_account, v.email, v.number,
	v.issued_on, v.pdf_source, v.pdf IS NOT NULL AS has_pdf, v.reason, v.requested_at, v.issued_at, v.issued_by,
	v.closed_at, v.closed_by, v.reissue_of, (SELECT r.id FROM invoices r WHERE r.reissue_of = v.id) AS reissued_as, v.month, v.bill_id`

const sqlItems = `SELECT invoice_id, order_id, order_no, amount_fen FROM invoice_items WHERE invoice_id = ANY($1) ORDER BY invoice_id, order_id`

// list runs a query over invoices v and attaches their items.
func (s *Service) list(ctx context.Context, q db.DBTX, where string, args ...any) ([]Invoice, error) {
	rows, _ := q.Query(ctx, `SELECT `+invoiceColumns+` FROM invoices v `+where, args...)
	rs, err := pgx.CollectRows(rows, pgx.RowToStructByName[invoiceRow])
	if err != nil {
		return nil, err
	}
	out := make([]Invoice, len(rs))
	ids := make([]int64, len(rs))
	byID := make(map[int64]*Invoice, len(rs))
	for i, r := range rs {
		out[i] = r.invoice()
		ids[i] = r.ID
		byID[r.ID] = &out[i]
	}
	if len(ids) == 0 {
		return out, nil
	}
	irows, _ := q.Query(ctx, sqlItems, ids)
	type itemRow struct {
		InvoiceID int64 `db:"invoice_id"`
		Item
	}
	items, err := pgx.CollectRows(irows, func(row pgx.CollectableRow) (itemRow, error) {
		var it itemRow
		err := row.Scan(&it.InvoiceID, &it.OrderID, &it.OrderNo, &it.AmountFen)
		return it, err
	})
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		inv := byID[it.InvoiceID]
		inv.Items = append(inv.Items, it.Item)
	}
	return out, nil
}

func (s *Service) get(ctx context.Context, q db.DBTX, invoiceID int64) (Invoice, error) {
	invs, err := s.list(ctx, q, `WHERE v.id = $1`, invoiceID)
	if err != nil {
		return Invoice{}, err
	}
	if len(invs) == 0 {
		return Invoice{}, ErrNotFound
	}
	return invs[0], nil
}

// Get returns one invoice with its items (for staff). Errors: ErrNotFound.
func (s *Service) Get(ctx context.Context, invoiceID int64) (Invoice, error) {
	inv, err := s.get(ctx, s.pool, invoiceID)
	if err != nil {
		return Invoice{}, fmt.Errorf("invoicing: get: %w", err)
	}
	return inv, nil
}

// Queue lists invoices in state (requested when empty), oldest request first:
// finance's work queue.
func (s *Service) Queue(ctx context.Context, state State) ([]Invoice, error) {
	if state == "" {
		state = StateRequested
	}
	invs, err := s.list(ctx, s.pool, `WHERE v.state = $1 ORDER BY v.requested_at, v.id`, state)
	if err != nil {
		return nil, fmt.Errorf("invoicing: queue: %w", err)
	}
	return invs, nil
}

// ForAccount lists the account's invoices, newest first.
func (s *Service) ForAccount(ctx context.Context, accountID int64) ([]Invoice, error) {
	invs, err := s.list(ctx, s.pool, `WHERE v.account_id = $1 ORDER BY v.id DESC`, accountID)
	if err != nil {
		return nil, fmt.Errorf("invoicing: for account: %w", err)
	}
	return invs, nil
}

// PDF returns the PDF of the account's invoice (scoped: another account's
// invoice is not found). Errors: ErrNotFound (also before it is issued).
func (s *Service) PDF(ctx context.Context, accountID, invoiceID int64) ([]byte, error) {
	var b []byte
	err := s.pool.QueryRow(ctx, `SELECT pdf FROM invoices WHERE id = $1 AND account_id = $2 AND pdf IS NOT NULL`, invoiceID, accountID).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("invoicing: pdf: %w", err)
	}
	return b, nil
}

// StaffPDF returns any invoice's PDF, for the back office. Errors: ErrNotFound.
func (s *Service) StaffPDF(ctx context.Context, invoiceID int64) ([]byte, error) {
	var b []byte
	err := s.pool.QueryRow(ctx, `SELECT pdf FROM invoices WHERE id = $1 AND pdf IS NOT NULL`, invoiceID).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("invoicing: pdf: %w", err)
	}
	return b, nil
}

const sqlIssuedForOrder = `SELECT EXISTS (SELECT 1 FROM invoice_items i JOIN invoices v ON v.id = i.invoice_id
WHERE i.order_id = $1 AND v.state = 'issued')`

// RequiresReversalBeforeRefund reports whether a top-up is covered by an
// issued invoice, which must be reversed (Reverse) before the top-up is
// refunded (the portal's refund offer asks it). A merely requested invoice
// does not block a refund; Issue checks the amounts again and refuses then.
func (s *Service) RequiresReversalBeforeRefund(ctx context.Context, orderID int64) (bool, error) {
	var ok bool
	if err := s.pool.QueryRow(ctx, sqlIssuedForOrder, orderID).Scan(&ok); err != nil {
		return false, fmt.Errorf("invoicing: refund gate: %w", err)
	}
	return ok, nil
}

// CheckRefundTx is the refund gate, run on the refund's own transaction tx
// under the account's invoicing lock (the lock Issue takes), before a
// top-up is refunded by amountFen (0 for an order that is not a top-up):
// an order an issued invoice covers, or a refund that would leave the
// account's issued invoices above what was paid and not refunded (its
// month invoices, by consumption, name no order), is refused with
// ErrRefundNeedsReversal. Because both hold the lock, an invoice issued
// while a refund runs is either seen here or, issued after, sees the
// refunded amount and refuses itself.
func (s *Service) CheckRefundTx(ctx context.Context, tx pgx.Tx, accountID, orderID, amountFen int64) error {
	if err := lockAccount(ctx, tx, accountID); err != nil {
		return fmt.Errorf("invoicing: refund gate: %w", err)
	}
	var issued bool
	if err := tx.QueryRow(ctx, sqlIssuedForOrder, orderID).Scan(&issued); err != nil {
		return fmt.Errorf("invoicing: refund gate: %w", err)
	}
	if issued {
		return ErrRefundNeedsReversal
	}
	if amountFen <= 0 {
		return nil
	}
	tops, err := s.source.PaidTopUps(ctx, tx, accountID)
	if err != nil {
		return fmt.Errorf("invoicing: refund gate: %w", err)
	}
	var paid, issuedFen int64
	for _, t := range tops {
		paid += t.AmountFen - t.RefundedFen
	}
	bills, err := s.paidBills(ctx, tx, accountID)
	if err != nil {
		return fmt.Errorf("invoicing: refund gate: %w", err)
	}
	for _, b := range bills {
		paid += b.AmountFen
	}
	if err := tx.QueryRow(ctx, `SELECT coalesce(sum(amount_fen), 0)::bigint FROM invoices WHERE account_id = $1 AND state = 'issued'`,
		accountID).Scan(&issuedFen); err != nil {
		return fmt.Errorf("invoicing: refund gate: %w", err)
	}
	if issuedFen > paid-amountFen {
		return ErrRefundNeedsReversal
	}
	return nil
}

// Event is one state change of an invoice.
type Event struct {
	ID        int64     `json:"id" db:"id"`
	InvoiceID int64     `json:"invoice_id" db:"invoice_id"`
	FromState string    `json:"from_state" db:"from_state"` // "" for the request itself
	ToState   State     `json:"to_state" db:"to_state"`
	Reason    string    `json:"reason" db:"reason"`
	Actor     string    `json:"actor" db:"actor"`
	At        time.Time `json:"at" db:"at"`
}

// History lists an invoice's state changes, oldest first.
func (s *Service) History(ctx context.Context, invoiceID int64) ([]Event, error) {
	rows, _ := s.pool.Query(ctx, `SELECT id, invoice_id, from_state, to_state, reason, actor, at FROM invoice_events WHERE invoice_id = $1 ORDER BY id`, invoiceID)
	ev, err := pgx.CollectRows(rows, pgx.RowToStructByName[Event])
	if err != nil {
		return nil, fmt.Errorf("invoicing: history: %w", err)
	}
	return ev, nil
}

func (s *Service) event(ctx context.Context, tx pgx.Tx, invoiceID int64, from, to State, reason, actor string) error {
	_, err := tx.Exec(ctx, `INSERT INTO invoice_events (invoice_id, from_state, to_state, reason, actor, at) VALUES ($1, $2, $3, $4, $5, $6)`,
		invoiceID, from, to, reason, actor, s.now())
	return err
}

// InvoiceableTopUp is a paid top-up with what is already invoiced and what
// can still be invoiced (paid − refunded − invoiced, never negative).
type InvoiceableTopUp struct {
	TopUp
	// InvoicedFen is what invoices hold: issued (IssuedFen) and requested
	// but not yet issued (the rest).
	InvoicedFen  int64
	IssuedFen    int64
	AvailableFen int64
}

const sqlInvoiced = `SELECT i.order_id, sum(i.amount_fen)::bigint, coalesce(sum(i.amount_fen) FILTER (WHERE v.state = 'issued'), 0)::bigint
FROM invoice_items i JOIN invoices v ON v.id = i.invoice_id
WHERE v.account_id = $1 AND v.state IN ('requested', 'issued') AND v.id <> $2 GROUP BY i.order_id`

// invoiceable computes, for each paid top-up of the account, what invoices
// other than excludeID hold, and what is left.
func (s *Service) invoiceable(ctx context.Context, q db.DBTX, accountID, excludeID int64) ([]InvoiceableTopUp, error) {
	tops, err := s.source.PaidTopUps(ctx, q, accountID)
	if err != nil {
		return nil, fmt.Errorf("top-ups: %w", err)
	}
	rows, _ := q.Query(ctx, sqlInvoiced, accountID, excludeID)
	invoiced, issued := map[int64]int64{}, map[int64]int64{}
	var id, fen, issuedFen int64
	_, err = pgx.ForEachRow(rows, []any{&id, &fen, &issuedFen}, func() error { invoiced[id], issued[id] = fen, issuedFen; return nil })
	if err != nil {
		return nil, err
	}
	basis, err := basisAt(ctx, q, accountID, s.now())
	if err != nil {
		return nil, err
	}
	// Invoices of months count against what was paid too: a top-up is
	// never invoiceable beyond what is left account-wide.
	var monthsFen int64
	if err := q.QueryRow(ctx, `SELECT coalesce(sum(amount_fen), 0)::bigint FROM invoices WHERE account_id = $1
		AND month IS NOT NULL AND state IN ('requested', 'issued') AND id <> $2`, accountID, excludeID).Scan(&monthsFen); err != nil {
		return nil, err
	}
	out := make([]InvoiceableTopUp, len(tops))
	for i, t := range tops {
		out[i] = InvoiceableTopUp{TopUp: t, InvoicedFen: invoiced[t.OrderID], IssuedFen: issued[t.OrderID]}
		if basis == BasisConsumption {
			continue // invoiced by month instead
		}
		// the months' invoices are set against the oldest top-ups first
		left := max(0, t.AmountFen-t.RefundedFen-out[i].InvoicedFen)
		used := min(left, monthsFen)
		monthsFen -= used
		out[i].AvailableFen = left - used
	}
	return out, nil
}

// Invoiceable lists the account's paid top-ups with what can still be
// invoiced, for the request form.
func (s *Service) Invoiceable(ctx context.Context, accountID int64) ([]InvoiceableTopUp, error) {
	out, err := s.invoiceable(ctx, s.pool, accountID, 0)
	if err != nil {
		return nil, fmt.Errorf("invoicing: invoiceable: %w", err)
	}
	return out, nil
}

// covers is what an invoice without items is of: a month (as a date) or a
// paid bill; zero for an invoice of top-ups.
type covers struct {
	month  *string
	billID *int64
}

// recheck checks an invoice's amounts again (Issue, Reissue), leaving out
// invoice excludeID: its top-ups' items, its month or its bill. It returns
// the items, the total and what else it covers, to store.
func (s *Service) recheck(ctx context.Context, tx pgx.Tx, inv Invoice, excludeID int64) ([]Item, int64, covers, error) {
	if inv.BillID != nil {
		total, err := s.checkBill(ctx, tx, inv.AccountID, *inv.BillID, inv.AmountFen, excludeID)
		return nil, total, covers{billID: inv.BillID}, err
	}
	if inv.Month != "" {
		m, err := ParseMonth(inv.Month)
		if err != nil {
			return nil, 0, covers{}, err
		}
		total, err := s.checkMonth(ctx, tx, inv.AccountID, m, inv.AmountFen, excludeID)
		label := m.Format("2006-01-02")
		return nil, total, covers{month: &label}, err
	}
	avail, err := s.invoiceable(ctx, tx, inv.AccountID, excludeID)
	if err != nil {
		return nil, 0, covers{}, err
	}
	req := make([]ItemRequest, len(inv.Items))
	for i, it := range inv.Items {
		req[i] = ItemRequest{OrderID: it.OrderID, AmountFen: it.AmountFen}
	}
	items, total, err := checkItems(avail, req)
	return items, total, covers{}, err
}

// checkItems resolves the requested items against what is invoiceable:
// AmountFen 0 takes all that is left. Errors: ErrUnknownTopUp, *ExceedsError.
func checkItems(avail []InvoiceableTopUp, req []ItemRequest) ([]Item, int64, error) {
	items := make([]Item, 0, len(req))
	var total int64
	for _, r := range req {
		i := slices.IndexFunc(avail, func(a InvoiceableTopUp) bool { return a.OrderID == r.OrderID })
		if i < 0 {
			return nil, 0, fmt.Errorf("%w: order %d", ErrUnknownTopUp, r.OrderID)
		}
		a := avail[i]
		amount := r.AmountFen
		if amount == 0 {
			amount = a.AvailableFen
		}
		if amount == 0 || amount > a.AvailableFen {
			return nil, 0, &ExceedsError{OrderID: a.OrderID, OrderNo: a.OrderNo, RequestedFen: amount, AvailableFen: a.AvailableFen}
		}
		items = append(items, Item{OrderID: a.OrderID, OrderNo: a.OrderNo, AmountFen: amount})
		total += amount
	}
	return items, total, nil
}

// ItemRequest asks to invoice AmountFen of a top-up (0: all that is left).
type ItemRequest struct {
	OrderID   int64
	AmountFen int64
}

// Request is a customer's invoice request. Give TitleID (a saved title) or
// Title (entered for this request; SaveTitle stores it for reuse).
type Request struct {
	Kind    Kind
	TitleID int64
	Title   *TitleInput
	Email   string
	Items   []ItemRequest
	// Month ("2026-11"), instead of Items, asks for an invoice of that
	// closed month's consumption (an account invoiced by consumption), of
	// AmountFen (0: all that is left).
	Month string
	// BillID, instead of Items, asks for an invoice of that paid credit
	// line bill, of AmountFen (0: all that is left).
	BillID      int64
	AmountFen   int64
	RequestedBy string // who asked, for the history (e.g. "user:42")
}

const sqlInsertInvoice = `INSERT INTO invoices (account_id, kind, state, amount_fen, title_id, buyer_type, buyer_name, buyer_tax_id,
	buyer_address, buyer_phone, buyer_bank_name, buyer_bank_account, email, requested_at, reissue_of, month, bill_id)
VALUES ($1, $2, 'requested', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::date, $16) RETURNING id`

// insertRequest stores a requested invoice with its items and history line.
func (s *Service) insertRequest(ctx context.Context, tx pgx.Tx, accountID int64, kind Kind, titleID *int64, b TitleInput, email string,
	items []Item, total int64, reissueOf *int64, of covers, actor string) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, sqlInsertInvoice, accountID, kind, total, titleID, b.Type, b.Name, b.TaxID, b.Address, b.Phone,
		b.BankName, b.BankAccount, email, s.now(), reissueOf, of.month, of.billID).Scan(&id)
	if err != nil {
		return 0, err
	}
	for _, it := range items {
		if _, err := tx.Exec(ctx, `INSERT INTO invoice_items (invoice_id, order_id, order_no, amount_fen) VALUES ($1, $2, $3, $4)`,
			id, it.OrderID, it.OrderNo, it.AmountFen); err != nil {
			return 0, err
		}
	}
	return id, s.event(ctx, tx, id, "", StateRequested, "", actor)
}

// RequestInvoice records a customer's request for an invoice of kind over
// some paid top-ups. The title must suit the kind (a 专票 needs a company
// with 税号, address, phone, bank and account); the amounts may not exceed
// what is paid and not yet invoiced or refunded, checked under a per-account
// lock so concurrent requests cannot together exceed it. Errors: *fielderr.Errors,
// ErrNotFound (TitleID), ErrUnknownTopUp, *ExceedsError (ErrExceedsInvoiceable).
func (s *Service) RequestInvoice(ctx context.Context, accountID int64, r Request) (Invoice, error) {
	fields := fielderr.New("invoicing")
	if r.Kind != KindSpecial && r.Kind != KindOrdinary {
		fields.Add("kind", CodeInvalid)
	}
	r.Email = strings.TrimSpace(r.Email)
	checkEmail(fields, r.Email)
	var month time.Time
	if r.BillID != 0 {
		if r.Month != "" || len(r.Items) > 0 || r.AmountFen < 0 {
			fields.Add("items", CodeInvalid)
		}
	} else if r.Month != "" {
		var err error
		if month, err = ParseMonth(r.Month); err != nil {
			fields.Add("month", "month_not_invoiceable")
		}
		if len(r.Items) > 0 || r.AmountFen < 0 {
			fields.Add("items", CodeInvalid)
		}
	} else if len(r.Items) == 0 {
		fields.Add("items", CodeRequired)
	}
	seen := map[int64]bool{}
	for _, it := range r.Items {
		switch {
		case seen[it.OrderID]:
			fields.Add("items", CodeDuplicate)
		case it.AmountFen < 0:
			fields.Add("items", CodeInvalid)
		}
		seen[it.OrderID] = true
	}
	if r.TitleID == 0 && r.Title == nil {
		fields.Add("title_id", CodeRequired)
	}
	var buyer TitleInput
	if r.Title != nil && r.TitleID == 0 {
		buyer = r.Title.normalize()
		fields.Merge(buyer.validate(r.Kind).Err())
	}
	if !fields.Empty() {
		if fields.Code("items") == "" && r.BillID == 0 && r.Month == "" {
			// The top-ups read well but another field failed: say now too
			// whether their amounts can be invoiced (checked again, under
			// the lock, once the form is right), so every failure shows at once.
			if avail, err := s.invoiceable(ctx, s.pool, accountID, 0); err == nil {
				if _, _, err := checkItems(avail, r.Items); err != nil {
					fields.Merge(err)
				}
			}
		}
		return Invoice{}, fmt.Errorf("invoicing: request: %w", fields)
	}
	var id int64
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var titleID *int64
		if r.TitleID != 0 {
			t, err := s.title(ctx, tx, accountID, r.TitleID)
			if err != nil {
				return err
			}
			if f := t.TitleInput.validate(r.Kind); !f.Empty() {
				return f
			}
			buyer, titleID = t.TitleInput, &t.ID
		}
		if err := lockAccount(ctx, tx, accountID); err != nil {
			return err
		}
		if r.BillID != 0 {
			total, err := s.checkBill(ctx, tx, accountID, r.BillID, r.AmountFen, 0)
			if err != nil {
				return err
			}
			id, err = s.insertRequest(ctx, tx, accountID, r.Kind, titleID, buyer, r.Email, nil, total, nil, covers{billID: &r.BillID}, r.RequestedBy)
			return err
		}
		if r.Month != "" {
			total, err := s.checkMonth(ctx, tx, accountID, month, r.AmountFen, 0)
			if err != nil {
				return err
			}
			label := month.Format("2006-01-02")
			id, err = s.insertRequest(ctx, tx, accountID, r.Kind, titleID, buyer, r.Email, nil, total, nil, covers{month: &label}, r.RequestedBy)
			return err
		}
		avail, err := s.invoiceable(ctx, tx, accountID, 0)
		if err != nil {
			return err
		}
		items, total, err := checkItems(avail, r.Items)
		if err != nil {
			return err
		}
		id, err = s.insertRequest(ctx, tx, accountID, r.Kind, titleID, buyer, r.Email, items, total, nil, covers{}, r.RequestedBy)
		return err
	})
	if err != nil {
		return Invoice{}, fmt.Errorf("invoicing: request: %w", err)
	}
	return s.Get(ctx, id)
}

// transition runs fn on an invoice in state from, under the account's lock
// and the row's lock, and returns the invoice afterwards (read in the same
// transaction). Errors: ErrNotFound, ErrWrongState, and fn's.
func (s *Service) transition(ctx context.Context, invoiceID int64, accountID int64, from State, fn func(tx pgx.Tx, inv Invoice) error) (Invoice, error) {
	var accID int64
	q := `SELECT account_id FROM invoices WHERE id = $1`
	args := []any{invoiceID}
	if accountID != 0 {
		q += ` AND account_id = $2`
		args = append(args, accountID)
	}
	if err := s.pool.QueryRow(ctx, q, args...).Scan(&accID); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return Invoice{}, ErrNotFound
		}
		return Invoice{}, err
	}
	var out Invoice
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockAccount(ctx, tx, accID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT 1 FROM invoices WHERE id = $1 FOR UPDATE`, invoiceID); err != nil {
			return err
		}
		inv, err := s.get(ctx, tx, invoiceID)
		if err != nil {
			return err
		}
		if inv.State != from {
			return fmt.Errorf("%w: invoice is %s, not %s", ErrWrongState, inv.State, from)
		}
		if err := fn(tx, inv); err != nil {
			return err
		}
		out, err = s.get(ctx, tx, invoiceID)
		return err
	})
	return out, err
}

const sqlClose = `UPDATE invoices SET state = $2, reason = $3, closed_at = $4, closed_by = $5 WHERE id = $1`

func (s *Service) close(ctx context.Context, invoiceID int64, accountID int64, from, to State, reason, actor, op string) (Invoice, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return Invoice{}, fmt.Errorf("invoicing: %s: %w", op, ErrReasonRequired)
	}
	inv, err := s.transition(ctx, invoiceID, accountID, from, func(tx pgx.Tx, inv Invoice) error {
		if _, err := tx.Exec(ctx, sqlClose, invoiceID, to, reason, s.now(), actor); err != nil {
			return err
		}
		return s.event(ctx, tx, invoiceID, from, to, reason, actor)
	})
	if err != nil {
		return Invoice{}, fmt.Errorf("invoicing: %s: %w", op, err)
	}
	return inv, nil
}

// Reject refuses a requested invoice with a reason shown to the customer;
// its top-ups can be requested again. Errors: ErrReasonRequired, ErrNotFound,
// ErrWrongState.
func (s *Service) Reject(ctx context.Context, invoiceID int64, reason, actor string) (Invoice, error) {
	return s.close(ctx, invoiceID, 0, StateRequested, StateRejected, reason, actor, "reject")
}

// ReasonCancelled is the reason of a request the customer withdrew.
const ReasonCancelled = "cancelled"

// Cancel withdraws the account's own requested invoice (state rejected,
// reason ReasonCancelled). Errors: ErrNotFound (also another account's),
// ErrWrongState.
func (s *Service) Cancel(ctx context.Context, accountID, invoiceID int64, actor string) (Invoice, error) {
	return s.close(ctx, invoiceID, accountID, StateRequested, StateRejected, ReasonCancelled, actor, "cancel")
}

// Reverse records the red-letter reversal (红字冲销) of an issued invoice:
// its top-ups can then be invoiced again (Reissue) or refunded. Errors:
// ErrReasonRequired, ErrNotFound, ErrWrongState.
func (s *Service) Reverse(ctx context.Context, invoiceID int64, reason, actor string) (Invoice, error) {
	return s.close(ctx, invoiceID, 0, StateIssued, StateReversed, reason, actor, "reverse")
}

// ReissueRequest changes what a reissued invoice carries; empty fields keep
// the reversed invoice's.
type ReissueRequest struct {
	Kind  Kind
	Title *TitleInput
	Email string
}

// Reissue replaces a reversed invoice by a new request over the same top-ups
// and amounts, with the corrections in r (typically a corrected title); the
// reversed invoice becomes reissued and points to it. Finance then issues the
// new request with Issue. It returns the new request. Errors: *fielderr.Errors,
// ErrNotFound, ErrWrongState, *ExceedsError (a top-up was invoiced or refunded
// meanwhile).
func (s *Service) Reissue(ctx context.Context, invoiceID int64, r ReissueRequest, actor string) (Invoice, error) {
	var newID int64
	_, err := s.transition(ctx, invoiceID, 0, StateReversed, func(tx pgx.Tx, old Invoice) error {
		kind, buyer, email := old.Kind, old.Buyer, old.Email
		fields := fielderr.New("invoicing")
		if r.Kind != "" {
			if r.Kind != KindSpecial && r.Kind != KindOrdinary {
				fields.Add("kind", CodeInvalid)
			}
			kind = r.Kind
		}
		if r.Title != nil {
			buyer = r.Title.normalize()
		}
		if r.Email != "" {
			email = strings.TrimSpace(r.Email)
			checkEmail(fields, email)
		}
		fields.Merge(buyer.validate(kind).Err())
		if !fields.Empty() {
			return fields
		}
		items, total, of, err := s.recheck(ctx, tx, old, 0)
		if err != nil {
			return err
		}
		titleID := old.TitleID
		if r.Title != nil {
			titleID = nil
		}
		if _, err := tx.Exec(ctx, sqlClose, invoiceID, StateReissued, old.Reason, s.now(), actor); err != nil {
			return err
		}
		if err := s.event(ctx, tx, invoiceID, StateReversed, StateReissued, "", actor); err != nil {
			return err
		}
		newID, err = s.insertRequest(ctx, tx, old.AccountID, kind, titleID, buyer, email, items, total, &invoiceID, of, actor)
		return err
	})
	if err != nil {
		return Invoice{}, fmt.Errorf("invoicing: reissue: %w", err)
	}
	return s.Get(ctx, newID)
}

// IssueRequest is what finance records when issuing: the invoice number and
// date from the national e-invoice platform, and optionally its PDF. Without
// a PDF, Issue renders our own copy (package pdf) with Options.Seller.
type IssueRequest struct {
	Number string    // 8 to 20 digits (20 for fully digitised e-invoices, 全电发票)
	Date   time.Time // the invoice date; zero means now (its Asia/Shanghai date is kept)
	PDF    []byte    // the platform's PDF; must be a PDF by content
	// Record, when set, runs inside the issuing transaction with the issued
	// invoice (the back office writes its audit row there, so the issue and
	// its record commit together or not at all).
	Record func(ctx context.Context, tx pgx.Tx, inv Invoice) error
}

// Issue records a requested invoice as issued with its number, date and PDF
// (the platform's, or our generated copy), then runs Options.OnIssued in the
// same transaction (to email the PDF). The amounts are checked again, so a
// top-up refunded since the request is not over-invoiced. It returns the
// invoice and the stored PDF. Errors: *fielderr.Errors, ErrNotFound,
// ErrWrongState, *ExceedsError, ErrDuplicateNumber, ErrSellerNotConfigured,
// and the hook's.
func (s *Service) Issue(ctx context.Context, invoiceID int64, r IssueRequest, actor string) (Invoice, []byte, error) {
	fields := fielderr.New("invoicing")
	r.Number = identity.Normalize(r.Number)
	if r.Number == "" {
		fields.Add("number", CodeRequired)
	} else if !isDigits(r.Number) || len(r.Number) < 8 || len(r.Number) > 20 {
		fields.Add("number", CodeInvalid)
	}
	if r.Date.IsZero() {
		r.Date = s.now()
	}
	if len(r.PDF) > 0 {
		if len(r.PDF) > s.opts.MaxPDFBytes {
			fields.Add("pdf", CodeFileTooLarge)
		} else if !strings.HasPrefix(http.DetectContentType(r.PDF), "application/pdf") {
			fields.Add("pdf", CodeNotPDF)
		}
	}
	if !fields.Empty() {
		return Invoice{}, nil, fmt.Errorf("invoicing: issue: %w", fields)
	}
	y, m, d := r.Date.In(identity.Shanghai).Date()
	issuedOn := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	var doc []byte
	inv, err := s.transition(ctx, invoiceID, 0, StateRequested, func(tx pgx.Tx, inv Invoice) error {
		_, _, _, err := s.recheck(ctx, tx, inv, invoiceID)
		if err != nil {
			return err
		}
		source := "platform"
		doc = r.PDF
		if len(doc) == 0 {
			source = "generated"
			if doc, err = s.render(inv, r.Number, r.Date, actor); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `UPDATE invoices SET state = 'issued', number = $2, issued_on = $3, pdf = $4, pdf_source = $5,
			issued_at = $6, issued_by = $7 WHERE id = $1`, invoiceID, r.Number, issuedOn, doc, source, s.now(), actor)
		if db.IsUniqueViolation(err, "invoices_number_key") {
			return ErrDuplicateNumber
		}
		if err != nil {
			return err
		}
		if err := s.event(ctx, tx, invoiceID, StateRequested, StateIssued, "", actor); err != nil {
			return err
		}
		if s.opts.OnIssued == nil && r.Record == nil {
			return nil
		}
		issued, err := s.get(ctx, tx, invoiceID)
		if err != nil {
			return err
		}
		if r.Record != nil {
			if err := r.Record(ctx, tx, issued); err != nil {
				return fmt.Errorf("record: %w", err)
			}
		}
		if s.opts.OnIssued == nil {
			return nil
		}
		if err := s.opts.OnIssued(ctx, tx, issued, doc); err != nil {
			return fmt.Errorf("on issued: %w", err)
		}
		return nil
	})
	if err != nil {
		return Invoice{}, nil, fmt.Errorf("invoicing: issue: %w", err)
	}
	return inv, doc, nil
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// render draws our PDF copy of inv: one line per top-up, split into amount
// and tax at Options.TaxRate, the order numbers in the remarks.
func (s *Service) render(inv Invoice, number string, date time.Time, actor string) ([]byte, error) {
	seller := s.opts.Seller
	if !s.CanGenerate() {
		return nil, ErrSellerNotConfigured
	}
	items := make([]pdf.Item, len(inv.Items))
	nos := make([]string, len(inv.Items))
	for i, it := range inv.Items {
		items[i] = pdf.ItemFromGross(s.opts.ItemName, decimal.New(it.AmountFen, -2), s.opts.TaxRate)
		nos[i] = it.OrderNo
	}
	remarks := "充值单号 " + strings.Join(nos, "、")
	if inv.Month != "" {
		items = []pdf.Item{pdf.ItemFromGross(s.opts.ItemName, decimal.New(inv.AmountFen, -2), s.opts.TaxRate)}
		remarks = "消费月份 " + inv.Month
	}
	if inv.BillID != nil {
		items = []pdf.Item{pdf.ItemFromGross(s.opts.ItemName, decimal.New(inv.AmountFen, -2), s.opts.TaxRate)}
		remarks = "授信账单 #" + strconv.FormatInt(*inv.BillID, 10)
	}
	issuer := seller.Issuer
	if issuer == "" {
		issuer = actor
	}
	b := inv.Buyer
	return pdf.Render(pdf.Invoice{
		Kind: pdf.Kind(inv.Kind), Number: number, Date: date,
		Buyer:  pdf.Party{Name: b.Name, TaxID: b.TaxID, AddressPhone: join(b.Address, b.Phone), BankAccount: join(b.BankName, b.BankAccount)},
		Seller: pdf.Party{Name: seller.Name, TaxID: seller.TaxID, AddressPhone: seller.AddressPhone, BankAccount: seller.BankAccount},
		Items:  items, Remarks: remarks,
		Issuer: issuer, Payee: seller.Payee, Reviewer: seller.Reviewer,
	})
}

func join(a, b string) string { return strings.TrimSpace(a + " " + b) }

const sqlInvoicedFen = `SELECT i.order_id, sum(i.amount_fen)::bigint FROM invoice_items i JOIN invoices v ON v.id = i.invoice_id
WHERE i.order_id = ANY ($1) AND v.state IN ('requested', 'issued') GROUP BY 1`

// InvoicedFen returns, for each of orderIDs that has any, the fen covered by
// invoices requested or issued (not rejected or reversed): what a customer
// cannot ask back without reversing an invoice first.
func (s *Service) InvoicedFen(ctx context.Context, orderIDs []int64) (map[int64]int64, error) {
	out := map[int64]int64{}
	rows, _ := s.pool.Query(ctx, sqlInvoicedFen, orderIDs)
	var id, fen int64
	if _, err := pgx.ForEachRow(rows, []any{&id, &fen}, func() error { out[id] = fen; return nil }); err != nil {
		return nil, fmt.Errorf("invoicing: invoiced fen: %w", err)
	}
	return out, nil
}

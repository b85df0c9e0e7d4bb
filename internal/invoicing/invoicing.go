// Package invoicing issues VAT invoices (增值税发票) for paid top-ups: invoices
// follow top-ups, not consumption. A customer saves buyer titles (发票抬头) and
// requests a 专票 (special; companies only, every title field required) or a
// 普票 (ordinary) for one or more top-ups; the amount never exceeds what was
// paid and not yet invoiced or refunded, enforced under a per-account lock and
// checked again when finance issues. Finance issues (number, date, and the
// national platform's PDF or our own copy rendered by package pdf), rejects,
// reverses (红字冲销) and reissues; an issued invoice must be reversed before
// its top-up is refunded (RequiresReversalBeforeRefund).
//
// Amounts are whole fen (int64), as payments records them.
package invoicing

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/platform/db"
)

// Kind is the invoice type.
type Kind string

// Kinds.
const (
	KindSpecial  Kind = "special"  // 增值税专用发票 (专票)
	KindOrdinary Kind = "ordinary" // 增值税普通发票 (普票)
)

// TitleType says whether a buyer title is a company's or an individual's.
type TitleType string

// Title types.
const (
	TitleCompany    TitleType = "company"
	TitleIndividual TitleType = "individual"
)

// State is where an invoice stands.
type State string

// States.
const (
	StateRequested State = "requested"
	StateIssued    State = "issued"
	StateReversed  State = "reversed" // red-letter reversal; its top-ups can be invoiced or refunded again
	StateReissued  State = "reissued" // reversed, then replaced by a new request (Invoice.ReissuedAs)
	StateRejected  State = "rejected" // by finance, or cancelled by the customer
)

// TopUp is a paid top-up as payments records it.
type TopUp struct {
	OrderID     int64
	OrderNo     string
	AmountFen   int64
	RefundedFen int64
	PaidAt      time.Time
}

// TopUpSource lists an account's paid top-ups (payments satisfies it through
// an adapter). Refunded amounts must be current: they cap what can be invoiced.
// It reads on q, the caller's transaction when there is one: a request reads
// its top-ups in the transaction that holds the account's lock, with no
// second connection from the pool (64 requests waiting on one account's
// lock must not starve the one holding it).
type TopUpSource interface {
	PaidTopUps(ctx context.Context, q db.DBTX, accountID int64) ([]TopUp, error)
}

// TopUpSourceFunc adapts a function to TopUpSource.
type TopUpSourceFunc func(ctx context.Context, q db.DBTX, accountID int64) ([]TopUp, error)

// PaidTopUps implements TopUpSource.
func (f TopUpSourceFunc) PaidTopUps(ctx context.Context, q db.DBTX, accountID int64) ([]TopUp, error) {
	return f(ctx, q, accountID)
}

// Seller is our company as printed on invoices (销售方) and the people named
// at the bottom of the copy.
type Seller struct {
	Name         string
	TaxID        string
	AddressPhone string // 地址、电话
	BankAccount  string // 开户行及账号
	Issuer       string // 开票人 (the issuing actor when empty)
	Payee        string // 收款人
	Reviewer     string // 复核
}

// Defaults.
const (
	// DefaultItemName is the goods/service line printed on our PDF copy.
	DefaultItemName = "*信息技术服务*AI 模型调用预付费"
	// DefaultMaxPDFBytes caps an uploaded platform PDF (10 MiB).
	DefaultMaxPDFBytes = 10 << 20
)

// DefaultTaxRate is the VAT rate of information technology services (6%).
var DefaultTaxRate = decimal.New(6, -2)

// Options configures a Service.
type Options struct {
	// Now is the clock (time.Now by default).
	Now func() time.Time
	// Seller is printed on generated PDF copies; Issue refuses to generate
	// without Seller.Name and Seller.TaxID.
	Seller Seller
	// TaxRate splits each top-up into amount and tax on our copy (DefaultTaxRate).
	TaxRate decimal.Decimal
	// ItemName is the printed item (DefaultItemName).
	ItemName string
	// MaxPDFBytes caps an uploaded PDF (DefaultMaxPDFBytes).
	MaxPDFBytes int
	// ConsumedFen values a month's consumption for accounts invoiced by
	// consumption (BasisConsumption); without it no month is invoiceable.
	ConsumedFen ConsumedFenFunc
	// PaidBills lists an account's paid credit line bills (bills.go): each
	// is invoiceable, and counts as paid money under the account-wide cap;
	// nil: the account has none.
	PaidBills PaidBillsFunc
	// OnIssued runs inside Issue's transaction after the invoice is stored,
	// e.g. to enqueue the email with the PDF; an error rolls the issue back.
	OnIssued func(ctx context.Context, tx pgx.Tx, inv Invoice, pdf []byte) error
}

// Service runs invoicing. It is safe for concurrent use.
type Service struct {
	pool   db.Querier
	source TopUpSource
	opts   Options
}

// New returns a Service over pool, reading paid top-ups from source.
func New(pool db.Querier, source TopUpSource, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TaxRate.IsZero() {
		opts.TaxRate = DefaultTaxRate
	}
	if opts.ItemName == "" {
		opts.ItemName = DefaultItemName
	}
	if opts.MaxPDFBytes <= 0 {
		opts.MaxPDFBytes = DefaultMaxPDFBytes
	}
	return &Service{pool: pool, source: source, opts: opts}
}

func (s *Service) now() time.Time { return s.opts.Now().UTC() }

// lockAccount serialises invoice writes of one account until tx ends, so
// concurrent requests cannot together exceed what was paid.
func lockAccount(ctx context.Context, tx pgx.Tx, accountID int64) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('invoicing/' || $1::bigint::text, 0))`, accountID)
	return err
}

// SellerName is our company's name as configured for invoices; empty
// until finance configures the seller.
func (s *Service) SellerName() string { return s.opts.Seller.Name }

// CanGenerate reports whether the seller is configured well enough to draw
// our own PDF copy (its name and tax id); otherwise only the platform's PDF
// can be uploaded.
func (s *Service) CanGenerate() bool { return s.opts.Seller.Name != "" && s.opts.Seller.TaxID != "" }

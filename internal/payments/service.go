package payments

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
)

// Sentinel errors of the payments service; test with errors.Is. Each
// operation's doc comment lists the ones it can return.
var (
	// ErrNotFound: no such order (or it belongs to another account).
	ErrNotFound = errors.New("payments: order not found")
	// ErrAmountOutOfRange: the amount is not a tier and outside the custom limits (see *AmountError).
	ErrAmountOutOfRange = errors.New("payments: amount out of range")
	// ErrChannelUnavailable: the channel is not configured.
	ErrChannelUnavailable = errors.New("payments: channel not available")
	// ErrChannel: the channel refused or failed a call (create, refund).
	ErrChannel = errors.New("payments: channel error")
	// ErrBadSignature: a notify did not verify (signature, key serial,
	// timestamp or decryption); answer 401, nothing changed.
	ErrBadSignature = errors.New("payments: notify signature does not verify")
	// ErrMalformedNotify: a notify could not be read; answer 400, nothing changed.
	ErrMalformedNotify = errors.New("payments: malformed notify")
	// ErrInvalidTransition: the order's state does not allow the change (see *TransitionError).
	ErrInvalidTransition = errors.New("payments: invalid state transition")
	// ErrNotTransferOrder: the order is not a bank transfer order.
	ErrNotTransferOrder = errors.New("payments: not a bank transfer order")
	// ErrAlreadyPaid: a bank transfer order was already completed by another statement line.
	ErrAlreadyPaid = errors.New("payments: order already paid")
	// ErrNotRefundable: the order is not paid (or fully refunded).
	ErrNotRefundable = errors.New("payments: order is not refundable")
	// ErrRefundExceedsOrder: the refund is larger than what is left of the order's amount.
	ErrRefundExceedsOrder = errors.New("payments: refund exceeds the order's unrefunded amount")
	// ErrIdempotencyConflict: a refund idempotency key was reused with another amount.
	ErrIdempotencyConflict = errors.New("payments: idempotency key reused with different arguments")
	// ErrInvalidArgument: a required field is missing or malformed.
	ErrInvalidArgument = errors.New("payments: invalid argument")
)

// TransitionError says which state change was refused; it matches ErrInvalidTransition.
type TransitionError struct {
	OrderNo  string
	From, To State
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("payments: order %s cannot go from %s to %s", e.OrderNo, e.From, e.To)
}

// Is matches ErrInvalidTransition.
func (e *TransitionError) Is(target error) bool { return target == ErrInvalidTransition }

// Code returns the stable error code of a payments error for API bodies and
// i18n keys (error.payments.<code>), or "" for other errors. Ledger errors
// keep their ledger.Code.
func Code(err error) string {
	for _, c := range []struct {
		err  error
		code string
	}{
		{ErrNotFound, "not_found"}, {ErrAmountOutOfRange, "amount_out_of_range"}, {ErrChannelUnavailable, "channel_unavailable"},
		{ErrChannel, "channel_error"}, {ErrBadSignature, "bad_signature"}, {ErrMalformedNotify, "malformed_notify"},
		{ErrInvalidTransition, "invalid_transition"}, {ErrNotTransferOrder, "not_transfer_order"}, {ErrAlreadyPaid, "already_paid"},
		{ErrNotRefundable, "not_refundable"}, {ErrRefundExceedsOrder, "refund_exceeds_order"},
		{ErrIdempotencyConflict, "idempotency_conflict"}, {ErrInvalidArgument, "invalid_argument"},
		{ErrPlanInForce, "plan_in_force"}, {ErrNoPlanCheckout, "no_plan_checkout"},
		{ErrRenewalSettled, "renewal_settled"}, {ErrNoRenewalDue, "no_renewal_due"},
	} {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return ledger.Code(err)
}

// Channels are the QR channels; a nil one is unavailable.
type Channels struct {
	WeChat QRChannel
	Alipay QRChannel
}

// BankAccount is the platform's corporate account shown on the transfer page.
type BankAccount struct {
	Name   string // 户名
	Bank   string // 开户行
	Branch string // 支行 (optional)
	Number string // 账号
}

// Configured reports whether customers can be told where to transfer: a
// name, a bank and a number. Without them bank transfer is not offered.
func (b BankAccount) Configured() bool {
	return strings.TrimSpace(b.Name) != "" && strings.TrimSpace(b.Bank) != "" && strings.TrimSpace(b.Number) != ""
}

// DemoBankAccount is what development uses when BANK_* is unset: clearly
// not an account anyone should pay into.
var DemoBankAccount = BankAccount{Name: "演示科技有限公司（演示账户，请勿转账）", Bank: "示例银行", Branch: "演示支行",
	Number: "6200 0000 0000 0000 000"}

// Options configures the service. The zero value gets the defaults.
type Options struct {
	// Now is the clock (time.Now by default); tests move it.
	Now func() time.Time
	// Tiers are the offered amounts in fen (DefaultTiers).
	Tiers []int64
	// Bonus maps a tier (fen) to its bonus percent (DefaultBonus when nil;
	// an empty map for none).
	Bonus map[int64]decimal.Decimal
	// BonusValidity is how long a bonus promo lot lasts after payment
	// (DefaultBonusValidity when 0; negative: it never expires).
	BonusValidity time.Duration
	// MinFen and MaxFen bound a custom QR top-up (DefaultMinFen, DefaultMaxFen).
	MinFen, MaxFen int64
	// TransferMaxFen bounds a bank transfer order (DefaultTransferMaxFen).
	TransferMaxFen int64
	// CreditPriceRMB is the price of one credit in yuan (ledger.DefaultCreditPriceRMB).
	CreditPriceRMB decimal.Decimal
	// BankAccount is shown on the transfer page.
	BankAccount BankAccount
	// OrderTTL is how long a QR order can be paid (DefaultOrderTTL).
	OrderTTL time.Duration
	// TransferTTL is how long a transfer order stays open (DefaultTransferTTL).
	TransferTTL time.Duration
	// SyncDelay: SyncPending leaves QR orders younger than this to their
	// notify (default 1 minute).
	SyncDelay time.Duration
	// Subject is the order title the payer sees, followed by the amount
	// (default "账户充值").
	Subject string
	// PlanSubject starts a plan order's title, followed by the plan code,
	// the cycle and the amount (default "套餐").
	PlanSubject string
	// BeforeRefund runs inside the refund's transaction, with the order
	// locked, before anything is refunded, with the fen to pay back; an
	// error stops the refund and is returned as is (invoicing demands a
	// red-letter reversal first).
	BeforeRefund func(ctx context.Context, tx pgx.Tx, o Order, amountFen int64) error
	// OnRefunded runs after a channel accepted a refund and it was recorded
	// (outside any transaction; it must be idempotent): the back office
	// closes the refund request it came from.
	OnRefunded func(ctx context.Context, refundNo string) error
	// PlanOffer prices plan code for an account about to buy it for one
	// cycle (internal/plans, wired in app.Build): the version and the price
	// in fen. It returns ErrPlanInForce when the account has a plan in force.
	PlanOffer func(ctx context.Context, accountID int64, code, cycle string) (PlanOffer, error)
	// PlanPaid runs inside the transaction that marks a plan order paid,
	// with the order locked: it starts the order's subscription and grants
	// its first month. ErrPlanInForce sends the order to review; any other
	// error rolls the payment back (the channel reports it again).
	PlanPaid func(ctx context.Context, tx pgx.Tx, o Order) error
	// RenewalOffer is the renewal the account can pay now (internal/plans):
	// the plan, version, cycle and price of its subscription's next period,
	// with SubscriptionID and PeriodStart. It returns ErrNoRenewalDue when
	// there is none. PlanPaid renews a paid renewal order, returning
	// ErrRenewalSettled (review) when its period was renewed already.
	RenewalOffer func(ctx context.Context, accountID int64) (PlanOffer, error)
	// PlanChange changes the account's plan to code in cycle
	// (internal/plans): it makes a change that needs no payment itself
	// (PriceFen 0), or prices an upgrade to be paid (PriceFen > 0, with
	// SubscriptionID and FromPlanCode/FromPlanVersion). PlanPaid applies a
	// paid upgrade order, returning ErrUpgradeSuperseded (review) when the
	// subscription changed since it was priced.
	PlanChange func(ctx context.Context, accountID int64, code, cycle string) (PlanOffer, error)
	// PlanRefund refunds the yearly plan a plan or renewal order paid,
	// inside the refund's transaction with the order locked (internal/plans:
	// the yearly refund rule applied now, the remaining plan lots revoked,
	// the subscription ended): it returns the fen to pay back (at most
	// maxFen) and the ledger operation. For an upgrade order it applies the
	// upgrade refund rule and puts the subscription back on the plan it
	// came from. Nil: plan orders are not refundable.
	PlanRefund func(ctx context.Context, tx pgx.Tx, o Order, maxFen int64, actor, reason string) (PlanRefunded, error)
	// TopUpPaid runs inside the transaction that marks a top-up order paid
	// (any channel: a notify, the sync job, a bank statement line, a review
	// accepted), with the order locked and its lots credited: referrals
	// reward the inviter there. An error rolls the payment back (the
	// channel reports it again).
	TopUpPaid func(ctx context.Context, tx pgx.Tx, o Order) error
	// TopUpRefunded runs inside the transaction of a top-up's refund, after
	// the ledger refund, with the order locked: refunded says how much of
	// the order's paid credits all its refunds have removed, before this one
	// and with it. Referrals take back the same share of the inviter's
	// reward there. An error rolls the refund back.
	TopUpRefunded func(ctx context.Context, tx pgx.Tx, o Order, refundNo string, refunded RefundedCredits) error
	// ProductOffer prices one-time product code for an account about to buy
	// it (internal/products, wired in app.Build): the version sold now, its
	// price, a model pack's credits and lot validity, and the refund window.
	ProductOffer func(ctx context.Context, accountID int64, code string) (ProductOffer, error)
	// ProductPaid runs inside the transaction that marks a product order
	// paid, with the order locked and a model pack's paid lot credited
	// (o.PaidLotID): it delivers the entitlement. An error rolls the
	// payment back (the channel reports it again).
	ProductPaid func(ctx context.Context, tx pgx.Tx, o Order) error
	// ProductRefunded runs inside the transaction of a product order's
	// refund: it revokes the order's entitlement.
	ProductRefunded func(ctx context.Context, tx pgx.Tx, o Order, refundNo string) error
	// BillOffer is a credit line bill of the account as it can be paid now
	// (internal/creditline, wired in app.Build): its id and amount in fen.
	// It returns ErrBillSettled when the bill is paid already.
	BillOffer func(ctx context.Context, accountID, billID int64) (BillOffer, error)
	// BillPaid runs inside the transaction that marks a bill order paid,
	// with the order locked: it pays the bill (the line restored, the
	// account unfrozen as the line's rules say). ErrBillSettled (the bill
	// was paid by another payment) sends the order to review, to be
	// refunded; any other error rolls the payment back.
	BillPaid func(ctx context.Context, tx pgx.Tx, o Order) error
	// BillLabel names a bill of the account on its payment's receipt (its
	// period and reference code; internal/creditline, wired in app.Build).
	// Nil prints the bill's number alone.
	BillLabel func(ctx context.Context, accountID, billID int64) (string, error)
	// Logger receives what the sync job could not do (discarded by default).
	Logger *slog.Logger
	// Current, when set, gives the products in force for each operation
	// (the back office's settings screen, internal/settings): it replaces
	// Tiers, Bonus, BonusValidity and BankAccount, and its zero fields take
	// the same defaults.
	Current func() Products
}

// Products are the top-up settings an admin may change while the process
// runs: the offered tiers (fen), the bonus per tier (percent), how long a
// bonus lot lasts (negative: never expires) and the receiving bank account.
type Products struct {
	Tiers         []int64
	Bonus         map[int64]decimal.Decimal
	BonusValidity time.Duration
	BankAccount   BankAccount
}

// withDefaults fills what is unset as New does for Options.
func (p Products) withDefaults() Products {
	if p.Tiers == nil {
		p.Tiers = DefaultTiers
	}
	if p.Bonus == nil {
		p.Bonus = DefaultBonus
	}
	if p.BonusValidity == 0 {
		p.BonusValidity = DefaultBonusValidity
	}
	return p
}

// Service runs top-up orders: products, QR and bank transfer orders,
// channel notifies, the sync job and refunds. It is safe for concurrent use.
type Service struct {
	pool     db.Querier
	ledger   *ledger.Ledger
	channels Channels
	opts     Options
}

// New returns the payments service over pool and the ledger.
func New(pool db.Querier, l *ledger.Ledger, ch Channels, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	p := Products{Tiers: opts.Tiers, Bonus: opts.Bonus, BonusValidity: opts.BonusValidity, BankAccount: opts.BankAccount}.withDefaults()
	opts.Tiers, opts.Bonus, opts.BonusValidity = p.Tiers, p.Bonus, p.BonusValidity
	if opts.MinFen <= 0 {
		opts.MinFen = DefaultMinFen
	}
	if opts.MaxFen <= 0 {
		opts.MaxFen = DefaultMaxFen
	}
	if opts.TransferMaxFen <= 0 {
		opts.TransferMaxFen = DefaultTransferMaxFen
	}
	if !opts.CreditPriceRMB.IsPositive() {
		opts.CreditPriceRMB = ledger.DefaultCreditPriceRMB
	}
	if opts.OrderTTL <= 0 {
		opts.OrderTTL = DefaultOrderTTL
	}
	if opts.TransferTTL <= 0 {
		opts.TransferTTL = DefaultTransferTTL
	}
	if opts.SyncDelay <= 0 {
		opts.SyncDelay = time.Minute
	}
	if opts.Subject == "" {
		opts.Subject = "账户充值"
	}
	if opts.PlanSubject == "" {
		opts.PlanSubject = "套餐"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{pool: pool, ledger: l, channels: ch, opts: opts}
}

// BankAccount returns the corporate account for the transfer page.
func (s *Service) BankAccount() BankAccount { return s.products().BankAccount }

// products are the products in force now: Options.Current's when set.
func (s *Service) products() Products {
	if s.opts.Current != nil {
		return s.opts.Current().withDefaults()
	}
	return Products{Tiers: s.opts.Tiers, Bonus: s.opts.Bonus, BonusValidity: s.opts.BonusValidity, BankAccount: s.opts.BankAccount}
}

// Available reports whether a channel can take orders now.
func (s *Service) Available(c Channel) bool {
	if c == ChannelBankTransfer {
		return s.products().BankAccount.Configured()
	}
	_, err := s.channel(c)
	return err == nil
}

func (s *Service) now() time.Time { return s.opts.Now().UTC() }

// channel returns the configured QR channel c.
func (s *Service) channel(c Channel) (QRChannel, error) {
	var ch QRChannel
	switch c {
	case ChannelWeChat:
		ch = s.channels.WeChat
	case ChannelAlipay:
		ch = s.channels.Alipay
	}
	if ch == nil {
		return nil, fmt.Errorf("%w: %q", ErrChannelUnavailable, c)
	}
	return ch, nil
}

// PlanRefunded is what Options.PlanRefund did: the fen to pay back, the
// plan credit revoked and the ledger operation of the revocation (0 when
// no plan credit was left).
type PlanRefunded struct {
	Fen     int64
	Revoked decimal.Decimal
	OpID    int64
}

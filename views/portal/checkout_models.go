package portal

import (
	"time"

	"github.com/shopspring/decimal"
)

// Tier is one offered top-up amount with the bonus promo credit it earns.
type Tier struct {
	Value        string          // the form value: the amount in fen
	Amount       decimal.Decimal // RMB
	Credits      decimal.Decimal
	BonusPercent decimal.Decimal // 0: no bonus
	Bonus        decimal.Decimal // promo credits
	BonusDays    int             // lifetime of the bonus lot in days (0: never expires)
}

// PayChannel is one way to pay offered on the top-up form.
type PayChannel struct {
	Value     string // wechat, alipay, bank_transfer
	Available bool
}

// TopUpForm is the top-up form as submitted, with its errors by field
// (tier, custom, channel, mode, form).
type TopUpForm struct {
	Tier    string // a tier's fen value or "custom"
	Custom  string // the custom amount in yuan
	Channel string
	// Mode is how WeChat Pay or Alipay is paid: "phone" (open the app from
	// this browser: H5 / WAP) or "qr" (scan a code).
	Mode   string
	Errors map[string]string
}

// Pay modes of the top-up form.
const (
	ModePhone = "phone"
	ModeQR    = "qr"
)

// TopUpView is the top-up page: tiers, custom amount, channel choice.
type TopUpView struct {
	Frame
	Price      decimal.Decimal // RMB per credit
	Tiers      []Tier
	Min, Max   decimal.Decimal // custom amount limits in RMB (QR channels)
	Channels   []PayChannel
	Form       TopUpForm
	Verified   bool // unverified accounts are sent to verification first
	SubAccount bool // a department cannot top up; the enterprise does
	OrdersURL  string
	// PhoneModes offers the choice between paying on this phone and
	// scanning a code (a channel that can be paid on a phone is configured).
	PhoneModes bool
}

// OrderStatus is the part of the checkout page htmx polls: the QR code while
// the order is open, then the outcome.
type OrderStatus struct {
	OrderNo   string
	Channel   string
	State     string // payments.State
	Amount    decimal.Decimal
	Credits   decimal.Decimal
	Bonus     decimal.Decimal
	ExpiresAt time.Time
	Remaining string // mm:ss left to pay, "" when expired or settled
	Expired   bool   // open but past its expiry (the sync job closes it)
	QRURL     string // the PNG of the code
	CodeURL   string // the code's content: a link that opens the payment app on a phone
	Mobile    bool
	// Phone: the order is paid in the app opened from this browser (WeChat
	// Pay H5, Alipay WAP); PayURL is the link that opens it (again).
	Phone     bool
	PayURL    string
	StatusURL string
	CloseURL  string
	Balance   decimal.Decimal // available credit after payment
	TopUpURL  string          // where to buy again (the plans page for a plan order)
	// Plan: the order buys a plan; paying it starts the plan (PlansURL
	// shows it) instead of crediting a top-up.
	Plan     bool
	PlansURL string
	// Product names the one-time product a product order buys ("" for
	// other orders); paying it delivers the entitlement (ProductsURL).
	Product     string
	ProductsURL string
	// Upgrade: the plan order pays an upgrade (plan_upgrade).
	Upgrade bool
	// BillURL is the credit line bill a bill order pays ("" for other
	// orders); paying it pays the bill instead of crediting a top-up.
	BillURL string
}

// Open reports whether the order still awaits payment.
func (s OrderStatus) Open() bool { return s.State == "created" || s.State == "pending" }

// Paid reports whether the order was paid (refunds may have followed).
func (s OrderStatus) Paid() bool {
	return s.State == "paid" || s.State == "partially_refunded" || s.State == "refunded"
}

// CheckoutView is the QR checkout page.
type CheckoutView struct {
	Frame
	Status OrderStatus
}

// BankAccount is the platform's corporate account.
type BankAccount struct {
	Name, Bank, Branch, Number string
}

// TransferView is a bank transfer order's page.
type TransferView struct {
	Frame
	OrderNo   string
	State     string
	Amount    decimal.Decimal
	Credits   decimal.Decimal
	Bonus     decimal.Decimal
	Reference string // formatted for the memo, e.g. K7Q2-M9XW3
	ExpiresAt time.Time
	CreatedAt time.Time
	Account   BankAccount
	OrdersURL string
	// Plan names what a plan order buys, e.g. "基础版（按年）"; empty for a top-up.
	Plan string
	// Product names the product a product order buys ("" otherwise).
	Product string
}

// ReceivedTransferView is the page of a bank transfer we received without
// an order of the customer's (or without its reference code), which
// finance credited from the bank statement: what arrived, from whom, and
// what it credited.
type ReceivedTransferView struct {
	Frame
	OrderNo      string
	State        string
	Amount       decimal.Decimal
	Refunded     decimal.Decimal
	Credits      decimal.Decimal
	Serial       string // the bank's serial number of the statement line
	PayerName    string
	PayerAccount string // masked: the last 4 digits
	PaidAt       time.Time
	OrdersURL    string
}

// OrderRow is one order on the orders page.
type OrderRow struct {
	OrderNo string
	// Plan names what a plan order buys ("" for a top-up).
	Plan string
	// Product names the product a product order buys ("" otherwise).
	Product string
	// BillURL is the credit line bill a bill order pays ("" otherwise).
	BillURL string
	// Channel is how it was paid, the suffix of its label's key
	// (pay.channel.*): wechat, alipay, bank_transfer, or bank_line for a
	// transfer finance credited from the bank statement.
	Channel   string
	State     string
	Amount    decimal.Decimal
	Refunded  decimal.Decimal
	Reference string
	// Serial and Payer are the bank's, for a bank_line order.
	Serial    string
	Payer     string
	CreatedAt time.Time
	PaidAt    *time.Time
	URL       string
	// ReceiptURL is the receipt PDF's address, for a paid order; empty otherwise.
	ReceiptURL string
}

// OrdersView is the orders page: the orders, the paid top-ups the
// customer may ask to refund, and their refund requests.
type OrdersView struct {
	Frame
	Orders   []OrderRow
	TopUpURL string
	// Offers are the paid top-ups with unspent credit, newest first.
	Offers []RefundOffer
	// Refunds are the account's refund requests, newest first.
	Refunds []RefundRow
	// Flash is a localized message about the last action ("" for none).
	Flash string
	// RefundError is why a refund request was refused when its top-up has
	// no offer to show it on (nothing left to refund).
	RefundError string
	InvoicesURL string
}

// RefundForm is a refund request form as submitted, with its errors by
// field (amount, reason, form).
type RefundForm struct {
	OrderNo string
	Amount  string // yuan, as typed
	Reason  string
	Errors  map[string]string
}

// RefundOffer is a paid top-up the customer may ask to refund.
type RefundOffer struct {
	OrderNo  string
	Channel  string          // as OrderRow.Channel
	Amount   decimal.Decimal // paid
	Refunded decimal.Decimal
	Max      decimal.Decimal // refundable now: the unspent part of its paid lot
	// NeedsReversal: an issued invoice covers it; it must be reversed
	// (red-letter) before a refund, so no form is offered.
	NeedsReversal bool
	// Open is the state of its refund request still under way
	// ("requested", "approved"), "" when none: no second request meanwhile.
	Open string
	URL  string // the form's action
	// Form holds what was typed and the errors when this offer's form was
	// just submitted.
	Form RefundForm
	// Bonus is the bonus credit granted with the top-up (zero: none). A
	// refund of Max takes back BonusRevoked unspent bonus credits and
	// deducts BonusDeduction (yuan, already out of Max) for BonusCharged
	// bonus credits already spent.
	Bonus          decimal.Decimal
	BonusRevoked   decimal.Decimal
	BonusCharged   decimal.Decimal
	BonusDeduction decimal.Decimal
	// Product names the one-time product of a product order ("" for a
	// top-up): it is refunded whole, until RefundUntil (its window's end);
	// WindowClosed says that has passed, so no form is offered.
	Product      string
	RefundUntil  *time.Time
	WindowClosed bool
}

// RefundRow is one of the customer's refund requests.
type RefundRow struct {
	ID             int64
	OrderNo        string
	Amount         decimal.Decimal
	Reason         string
	State          string // requested, approved, rejected, done
	RequestedAt    time.Time
	DecidedAt      *time.Time
	DecisionReason string
	RefundRef      string // the refund number once approved
	// ByBank: a bank transfer top-up, paid back by finance by bank transfer.
	ByBank bool
}

// bonusAtMaxKey names the sentence saying what refunding o.Max does to the
// bonus ("" when nothing: the bonus expired unused).
func bonusAtMaxKey(o RefundOffer) string {
	switch revoked, charged := o.BonusRevoked.IsPositive(), o.BonusCharged.IsPositive(); {
	case revoked && charged:
		return "pay.refund.bonus_at_max"
	case revoked:
		return "pay.refund.bonus_at_max_revoke"
	case charged:
		return "pay.refund.bonus_at_max_charge"
	}
	return ""
}

// checkoutTitle is the checkout page's title key: a phone order is not
// paid by scanning.
func checkoutTitle(s OrderStatus) string {
	if s.Phone {
		return "page.checkout.phone_title"
	}
	return "page.checkout.title"
}

// PhoneHandoffView is the page that sends the browser on to WeChat Pay H5
// or Alipay WAP.
type PhoneHandoffView struct {
	Frame
	Channel  string
	OrderNo  string
	Amount   decimal.Decimal
	PayURL   string // the channel's URL (h5_url with redirect_url, or the signed WAP request)
	OrderURL string
}

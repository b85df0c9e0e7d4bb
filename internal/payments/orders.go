package payments

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/refcode"
)

// Order is a top-up payment order.
type Order struct {
	ID        int64  `db:"id"`
	OrderNo   string `db:"order_no"` // merchant order number (out_trade_no), e.g. T20261121K7Q2M9XW3P
	AccountID int64  `db:"account_id"`
	AmountFen int64  `db:"amount_fen"`
	// Credits and BonusCredits are what paying it credits (paid and promo lots).
	Credits           decimal.Decimal `db:"credits"`
	BonusCredits      decimal.Decimal `db:"bonus_credits"`
	BonusValidSeconds int64           `db:"bonus_valid_secs"` // 0: the bonus never expires
	Channel           Channel         `db:"channel"`
	State             State           `db:"state"`
	ChannelTradeNo    string          `db:"channel_trade_no"` // transaction_id / trade_no / bank statement reference
	// QRCode is the text to render as a QR code (WeChat code_url, Alipay
	// qr_code); empty for phone orders.
	QRCode string `db:"qr_code"`
	// PayMode is how a WeChat Pay or Alipay order is paid: by QR code or
	// from the phone browser (H5 / WAP).
	PayMode PayMode `db:"pay_mode"`
	// ReferenceCode is the bank transfer memo code (unformatted; see ReferenceDisplay).
	ReferenceCode string     `db:"reference_code"`
	ExpiresAt     time.Time  `db:"expires_at"`
	PaidAt        *time.Time `db:"paid_at"`
	PaidFen       *int64     `db:"paid_fen"` // what the channel or bank reported
	RefundedFen   int64      `db:"refunded_fen"`
	PaidLotID     *int64     `db:"paid_lot_id"`
	PromoLotID    *int64     `db:"promo_lot_id"`
	ReviewReason  string     `db:"review_reason"`
	CreatedAt     time.Time  `db:"created_at"`
	UpdatedAt     time.Time  `db:"updated_at"`

	// BonusDeductedFen is what refunds kept back for bonus credit already
	// spent (README, "Refunds and bonus"); RefundedFen is what they paid
	// back. Together they are the part of AmountFen refunds have undone.
	BonusDeductedFen int64 `db:"bonus_deducted_fen"`
	// BankLineID is the bank statement line a bank-transfer order was
	// recorded from when finance credited the line itself (no reference
	// code: the customer never made the order); nil for every other order.
	// StatementSerial, PayerName and PayerAccount are that line's, as the
	// bank reported them.
	BankLineID      *int64 `db:"bank_line_id"`
	StatementSerial string `db:"statement_serial"`
	PayerName       string `db:"payer_name"`
	PayerAccount    string `db:"payer_account"`
	// Purpose is what the order buys: a top-up's credits, or a plan
	// (PlanCode, PlanVersion and PlanCycle; empty for a top-up).
	Purpose     Purpose `db:"purpose"`
	PlanCode    string  `db:"plan_code"`
	PlanVersion int     `db:"plan_version"`
	PlanCycle   string  `db:"plan_cycle"`
	// SubscriptionID and PeriodStart are the subscription and the period a
	// renewal order pays (zero otherwise).
	SubscriptionID int64      `db:"subscription_id"`
	PeriodStart    *time.Time `db:"period_start"`
	// FromPlanCode and FromPlanVersion are the plan an upgrade order
	// (purpose plan_upgrade, with SubscriptionID) upgrades from.
	FromPlanCode    string `db:"from_plan_code"`
	FromPlanVersion int    `db:"from_plan_version"`
	// ProductCode and ProductVersion are the one-time product a product
	// order buys; ProductRefundDays its refund window after payment and
	// ProductLotDays a model pack lot's validity (0: none), copied from the
	// version when the order was made (zero for other orders).
	ProductCode       string `db:"product_code"`
	ProductVersion    int    `db:"product_version"`
	ProductRefundDays int    `db:"product_refund_days"`
	ProductLotDays    int    `db:"product_lot_days"`
	// BillID is the credit line bill a bill order pays (zero otherwise).
	BillID int64 `db:"bill_id"`
}

// FromStatement reports whether the order was recorded from a bank
// statement line finance credited (RecordStatementPaymentTx) rather than
// made by the customer.
func (o Order) FromStatement() bool { return o.BankLineID != nil }

// AmountYuan is the amount in yuan (two places).
func (o Order) AmountYuan() decimal.Decimal { return decimal.New(o.AmountFen, -2) }

// RefundableFen is what of the order's amount refunds have not undone yet,
// in fen (before the paid lot's remainder and the bonus are considered).
func (o Order) RefundableFen() int64 {
	if (o.State != StatePaid && o.State != StatePartiallyRefunded) || o.IsPlan() || o.Purpose == PurposeBill {
		return 0 // a plan or bill order is not refunded as a top-up
	}
	return o.AmountFen - o.RefundedFen - o.BonusDeductedFen
}

// ReferenceDisplay is the reference code as shown to customers, "XXXX-XXXXX".
func (o Order) ReferenceDisplay() string {
	if o.ReferenceCode == "" {
		return ""
	}
	return refcode.Format(o.ReferenceCode)
}

// Expired reports whether an open order is past its expiry at now.
func (o Order) Expired(now time.Time) bool { return o.State.Open() && !now.Before(o.ExpiresAt) }

// Transition is one recorded state change of an order.
type Transition struct {
	ID      int64           `db:"id"`
	OrderID int64           `db:"order_id"`
	From    *State          `db:"from_state"` // nil when the order was made
	To      State           `db:"to_state"`
	Cause   string          `db:"cause"`
	Detail  json.RawMessage `db:"detail"`
	At      time.Time       `db:"at"`
}

const orderColumns = `id, order_no, account_id, amount_fen, credits, bonus_credits, bonus_valid_secs, channel, state,
	channel_trade_no, qr_code, coalesce(reference_code, '') AS reference_code, expires_at, paid_at, paid_fen,
	refunded_fen, paid_lot_id, promo_lot_id, review_reason, created_at, updated_at, bonus_deducted_fen,
	bank_line_id, statement_serial, payer_name, payer_account, pay_mode, purpose,
	coalesce(plan_code, '') AS plan_code, coalesce(plan_version, 0) AS plan_version, coalesce(plan_cycle, '') AS plan_cycle,
	coalesce(subscription_id, 0) AS subscription_id, period_start,
	coalesce(from_plan_code, '') AS from_plan_code, coalesce(from_plan_version, 0) AS from_plan_version,
	coalesce(product_code, '') AS product_code, coalesce(product_version, 0) AS product_version,
	coalesce(product_refund_days, 0) AS product_refund_days, coalesce(product_lot_days, 0) AS product_lot_days,
	coalesce(bill_id, 0) AS bill_id`

const (
	sqlInsertOrder = `
INSERT INTO payment_orders (order_no, account_id, amount_fen, credits, bonus_credits, bonus_valid_secs, channel, state,
                            reference_code, expires_at, created_at, updated_at, pay_mode,
                            purpose, plan_code, plan_version, plan_cycle, subscription_id, period_start,
                            from_plan_code, from_plan_version, product_code, product_version, product_refund_days,
                            product_lot_days, bill_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)
RETURNING ` + orderColumns
	sqlInsertTransition = `
INSERT INTO payment_order_transitions (order_id, from_state, to_state, cause, detail, at) VALUES ($1, $2, $3, $4, $5, $6)`
	sqlSetState          = `UPDATE payment_orders SET state = $2, updated_at = $3 WHERE id = $1`
	sqlOrderByNo         = `SELECT ` + orderColumns + ` FROM payment_orders WHERE order_no = $1`
	sqlOrderByNoAccount  = `SELECT ` + orderColumns + ` FROM payment_orders WHERE order_no = $1 AND account_id = $2`
	sqlOrderByReference  = `SELECT ` + orderColumns + ` FROM payment_orders WHERE reference_code = $1`
	sqlLockOrderByNo     = sqlOrderByNo + ` FOR UPDATE`
	sqlLockOrderByID     = `SELECT ` + orderColumns + ` FROM payment_orders WHERE id = $1 FOR UPDATE`
	sqlOrdersOfAccount   = `SELECT ` + orderColumns + ` FROM payment_orders WHERE account_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`
	sqlTransitionsOfOrdr = `SELECT id, order_id, from_state, to_state, cause, detail, at FROM payment_order_transitions WHERE order_id = $1 ORDER BY id`
)

// scanOrder reads one order, translating no rows into ErrNotFound.
func scanOrder(rows pgx.Rows, err error) (Order, error) {
	if err != nil {
		return Order{}, err
	}
	o, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Order])
	if errors.Is(err, pgx.ErrNoRows) {
		return Order{}, ErrNotFound
	}
	return o, err
}

func queryOrder(ctx context.Context, q db.DBTX, sql string, args ...any) (Order, error) {
	rows, err := q.Query(ctx, sql, args...)
	return scanOrder(rows, err)
}

// transition moves o to state to, recording cause and detail (any JSON
// value; nil for none). Errors: *TransitionError.
func (s *Service) transition(ctx context.Context, tx pgx.Tx, o *Order, to State, cause string, detail any) error {
	if !CanTransition(o.State, to) {
		return &TransitionError{OrderNo: o.OrderNo, From: o.State, To: to}
	}
	now := s.now()
	if _, err := tx.Exec(ctx, sqlSetState, o.ID, to, now); err != nil {
		return err
	}
	from := o.State
	if err := s.record(ctx, tx, o.ID, &from, to, cause, detail); err != nil {
		return err
	}
	o.State, o.UpdatedAt = to, now
	return nil
}

func (s *Service) record(ctx context.Context, tx pgx.Tx, orderID int64, from *State, to State, cause string, detail any) error {
	if detail == nil {
		detail = map[string]any{}
	}
	b, err := json.Marshal(detail)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, sqlInsertTransition, orderID, from, to, cause, b, s.now())
	return err
}

// newOrderNo makes a merchant order number: "T", the date in Beijing time
// and 10 random digits, e.g. T202611210123456789 (19 characters, within
// WeChat Pay's 6–32 and Alipay's 64, digits and letters only).
func (s *Service) newOrderNo() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1e10))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return fmt.Sprintf("T%s%010d", s.now().In(chinaTime).Format("20060102"), n.Int64())
}

var chinaTime = time.FixedZone("CST", 8*3600)

func isForeignKeyViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}

// insertOrder stores a new order in state (created or pending) with its
// first transition, retrying on an order number or reference code clash. A
// plan order (plan not nil) credits nothing: q carries only its price.
func (s *Service) insertOrder(ctx context.Context, accountID int64, q Quote, plan *PlanOffer, ch Channel, mode PayMode, state State, ttl time.Duration) (Order, error) {
	return s.insertPurposeOrder(ctx, accountID, q, plan, nil, ch, mode, state, ttl)
}

// insertPurposeOrder is insertOrder for a plan (plan not nil), a product
// (product not nil: q carries its price and a model pack's credits) or a
// top-up (both nil).
func (s *Service) insertPurposeOrder(ctx context.Context, accountID int64, q Quote, plan *PlanOffer, product *ProductOffer, ch Channel,
	mode PayMode, state State, ttl time.Duration) (Order, error) {
	return s.insertOrderFor(ctx, accountID, q, plan, product, nil, ch, mode, state, ttl)
}

// insertOrderFor is insertPurposeOrder that may also pay a bill (bill not
// nil: q carries its amount and no credits).
func (s *Service) insertOrderFor(ctx context.Context, accountID int64, q Quote, plan *PlanOffer, product *ProductOffer, bill *BillOffer,
	ch Channel, mode PayMode, state State, ttl time.Duration) (Order, error) {
	purpose := PurposeTopUp
	var billID *int64
	if bill != nil {
		purpose, billID = PurposeBill, &bill.BillID
	}
	var productCode *string
	var productVersion, productRefundDays, productLotDays *int
	if product != nil {
		purpose, productCode, productVersion, productRefundDays = PurposeProduct, &product.Code, &product.Version, &product.RefundDays
		if product.CreditDays > 0 {
			productLotDays = &product.CreditDays
		}
	}
	var planCode, planCycle *string
	var planVersion *int
	var subscriptionID *int64
	var periodStart *time.Time
	var fromCode *string
	var fromVersion *int
	if plan != nil {
		purpose, planCode, planVersion, planCycle = PurposePlan, &plan.Code, &plan.Version, &plan.Cycle
		switch {
		case plan.FromPlanCode != "":
			purpose, subscriptionID, fromCode, fromVersion = PurposePlanUpgrade, &plan.SubscriptionID, &plan.FromPlanCode, &plan.FromPlanVersion
		case plan.SubscriptionID != 0:
			purpose, subscriptionID, periodStart = PurposePlanRenewal, &plan.SubscriptionID, &plan.PeriodStart
		}
	}
	validity := int64(0)
	if q.HasBonus() && q.BonusValidity > 0 { // the quote carries the validity in force
		validity = int64(q.BonusValidity / time.Second)
	}
	for attempt := 0; ; attempt++ {
		var ref *string
		if ch == ChannelBankTransfer {
			code := refcode.Generate()
			ref = &code
		}
		var o Order
		now := s.now()
		err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
			var err error
			o, err = queryOrder(ctx, tx, sqlInsertOrder, s.newOrderNo(), accountID, q.AmountFen, q.Credits, q.BonusCredits, validity,
				ch, state, ref, now.Add(ttl), now, mode, purpose, planCode, planVersion, planCycle, subscriptionID, periodStart,
				fromCode, fromVersion, productCode, productVersion, productRefundDays, productLotDays, billID)
			if err != nil {
				return err
			}
			return s.record(ctx, tx, o.ID, nil, state, CauseCreate, map[string]any{"amount_fen": q.AmountFen, "channel": ch})
		})
		if err != nil && attempt < 5 && (db.IsUniqueViolation(err, "payment_orders_order_no_key") || db.IsUniqueViolation(err, "payment_orders_reference_code_key")) {
			continue
		}
		if isForeignKeyViolation(err) {
			return Order{}, fmt.Errorf("%w: no account %d", ErrInvalidArgument, accountID)
		}
		return o, err
	}
}

// CreateQROrder makes a WeChat Pay or Alipay order of amountFen for the
// account and places it at the channel; the returned order is pending with
// its QRCode to show, expiring after OrderTTL. When the channel refuses, the
// order is recorded as failed and returned with the error. Errors:
// *AmountError (ErrAmountOutOfRange), ErrChannelUnavailable, ErrChannel,
// ErrInvalidArgument (no such account).
func (s *Service) CreateQROrder(ctx context.Context, accountID int64, amountFen int64, channel Channel) (Order, error) {
	ch, err := s.channel(channel)
	if err != nil {
		if errors.Is(err, ErrChannelUnavailable) {
			err = fmt.Errorf("%w: %w", err, fielderr.One("payments", "channel", "topup_channel_unavailable"))
		}
		return Order{}, fmt.Errorf("payments: create order: %w", err)
	}
	q, err := s.Quote(amountFen)
	if err != nil {
		return Order{}, fmt.Errorf("payments: create order: %w", err)
	}
	o, _, err := s.createChannelOrder(ctx, accountID, q, nil, channel, PayModeQR, qrPlacer(ctx, ch, s))
	return o, err
}

// PhonePayer is who pays a phone order: the customer's address (WeChat
// Pay's payer_client_ip) and the page the channel sends them back to.
type PhonePayer struct {
	ClientIP string
	// ReturnURL is the order page of an order number.
	ReturnURL func(orderNo string) string
}

// CreatePhoneOrder makes a WeChat Pay (H5) or Alipay (WAP) order of
// amountFen to pay in the payment app from a phone browser, and returns it,
// pending, with the URL to send the browser to. Notifies, the sync job and
// refunds treat it like a QR order. When the channel refuses, the order is
// recorded as failed. Errors: as CreateQROrder.
func (s *Service) CreatePhoneOrder(ctx context.Context, accountID int64, amountFen int64, channel Channel, payer PhonePayer) (Order, string, error) {
	ch, err := s.phoneChannel(channel)
	if err != nil {
		if errors.Is(err, ErrChannelUnavailable) {
			err = fmt.Errorf("%w: %w", err, fielderr.One("payments", "channel", "topup_channel_unavailable"))
		}
		return Order{}, "", fmt.Errorf("payments: create phone order: %w", err)
	}
	q, err := s.Quote(amountFen)
	if err != nil {
		return Order{}, "", fmt.Errorf("payments: create phone order: %w", err)
	}
	return s.createChannelOrder(ctx, accountID, q, nil, channel, PayModePhone, phonePlacer(ctx, ch, s, payer))
}

// PhonePayURL places the account's open phone order at its channel again
// and returns a fresh URL to pay it (WeChat Pay's h5_url lasts five
// minutes; a customer who came back unpaid opens the payment again).
// Errors: ErrNotFound, ErrInvalidArgument (a QR order, or no longer open),
// ErrChannelUnavailable, ErrChannel.
func (s *Service) PhonePayURL(ctx context.Context, accountID int64, orderNo string, payer PhonePayer) (string, error) {
	o, err := s.Order(ctx, accountID, orderNo)
	if err != nil {
		return "", err
	}
	if o.PayMode != PayModePhone || o.State != StatePending || o.Expired(s.now()) {
		return "", fmt.Errorf("payments: pay %s on the phone: %w: %s order, state %s", orderNo, ErrInvalidArgument, o.PayMode, o.State)
	}
	ch, err := s.phoneChannel(o.Channel)
	if err != nil {
		return "", fmt.Errorf("payments: pay %s on the phone: %w", orderNo, err)
	}
	u, err := ch.PayURL(ctx, s.phoneOrder(o, payer))
	if err != nil {
		return "", fmt.Errorf("payments: pay %s on the phone: %w: %w", orderNo, ErrChannel, err)
	}
	return u, nil
}

// PhoneAvailable reports whether a channel can be paid from a phone
// browser now.
func (s *Service) PhoneAvailable(c Channel) bool {
	_, err := s.phoneChannel(c)
	return err == nil
}

func (s *Service) phoneChannel(c Channel) (PhoneChannel, error) {
	ch, err := s.channel(c)
	if err != nil {
		return nil, err
	}
	pc, ok := ch.(PhoneChannel)
	if !ok {
		return nil, fmt.Errorf("%w: %q cannot be paid on a phone", ErrChannelUnavailable, c)
	}
	return pc, nil
}

// qrPlacer places an order at a QR channel.
func qrPlacer(ctx context.Context, ch QRChannel, s *Service) func(Order) (string, string, error) {
	return func(o Order) (string, string, error) {
		code, err := ch.CreateQR(ctx, s.qrOrder(o))
		return code, "", err
	}
}

// phonePlacer places an order at a channel paid from a phone browser.
func phonePlacer(ctx context.Context, ch PhoneChannel, s *Service, payer PhonePayer) func(Order) (string, string, error) {
	return func(o Order) (string, string, error) {
		u, err := ch.PayURL(ctx, s.phoneOrder(o, payer))
		return "", u, err
	}
}

// qrOrder is what the channel is told about o; the subject names what is
// bought and the amount.
func (s *Service) qrOrder(o Order) QROrder {
	return QROrder{OutTradeNo: o.OrderNo, AmountFen: o.AmountFen, Subject: s.subject(o), ExpiresAt: o.ExpiresAt}
}

// subject is the order's title in the payer's payment app: "账户充值 ¥100.00",
// or for a plan "套餐 basic 月付 ¥29.00".
func (s *Service) subject(o Order) string {
	what := s.opts.Subject
	if o.IsPlan() {
		what = s.planPurchase(o)
	}
	if o.Purpose == PurposeProduct {
		what = productPurchase(o)
	}
	if o.Purpose == PurposeBill {
		what = billPayment
	}
	return fmt.Sprintf("%s ¥%s", what, o.AmountYuan().StringFixed(2))
}

// planPurchase names what a plan order buys: "套餐 basic 月付".
func (s *Service) planPurchase(o Order) string {
	cycle := map[string]string{"monthly": "月付", "yearly": "年付"}[o.PlanCycle]
	if o.Purpose == PurposePlanUpgrade {
		cycle = "升级 " + cycle
	}
	return strings.Join(strings.Fields(s.opts.PlanSubject+" "+o.PlanCode+" "+cycle), " ")
}

func (s *Service) phoneOrder(o Order, payer PhonePayer) PhoneOrder {
	p := PhoneOrder{QROrder: s.qrOrder(o), ClientIP: payer.ClientIP}
	if payer.ReturnURL != nil {
		p.ReturnURL = payer.ReturnURL(o.OrderNo)
	}
	return p
}

// createChannelOrder stores a new order, places it with place (which
// returns the QR code to keep, or the URL to pay at) and records the
// outcome: pending, or failed when the channel refused.
func (s *Service) createChannelOrder(ctx context.Context, accountID int64, q Quote, plan *PlanOffer, channel Channel, mode PayMode,
	place func(Order) (code, payURL string, err error)) (Order, string, error) {
	return s.placeOrder(ctx, func() (Order, error) {
		return s.insertOrder(ctx, accountID, q, plan, channel, mode, StateCreated, s.opts.OrderTTL)
	}, mode, place)
}

// placeOrder is createChannelOrder for an order insert stores (created).
func (s *Service) placeOrder(ctx context.Context, insert func() (Order, error), mode PayMode,
	place func(Order) (code, payURL string, err error)) (Order, string, error) {
	o, err := insert()
	if err != nil {
		return Order{}, "", fmt.Errorf("payments: create order: %w", err)
	}
	code, payURL, placeErr := place(o)
	err = db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		cur, err := queryOrder(ctx, tx, sqlLockOrderByID, o.ID)
		if err != nil {
			return err
		}
		if cur.State != StateCreated { // a notify overtook us: keep what it did
			o = cur
			return nil
		}
		if placeErr != nil {
			if err := s.transition(ctx, tx, &cur, StateFailed, CauseChannelError, map[string]string{"error": placeErr.Error()}); err != nil {
				return err
			}
			o = cur
			return nil
		}
		if code != "" {
			if _, err := tx.Exec(ctx, `UPDATE payment_orders SET qr_code = $2 WHERE id = $1`, cur.ID, code); err != nil {
				return err
			}
			cur.QRCode = code
		}
		if err := s.transition(ctx, tx, &cur, StatePending, CauseQRCreated, map[string]string{"mode": string(mode)}); err != nil {
			return err
		}
		o = cur
		return nil
	})
	if err != nil {
		return o, "", fmt.Errorf("payments: create order %s: %w", o.OrderNo, err)
	}
	if placeErr != nil {
		return o, "", fmt.Errorf("payments: create order %s: %w: %w: %w", o.OrderNo, ErrChannel, fielderr.One("payments", "", "topup_channel_failed"), placeErr)
	}
	return o, payURL, nil
}

// CreateTransferOrder makes a bank transfer (对公转账) order of amountFen: a
// pending order with a unique ReferenceCode for the transfer memo, open for
// TransferTTL. Show it with BankAccount. Errors: *AmountError
// (ErrAmountOutOfRange), ErrInvalidArgument (no such account),
// ErrChannelUnavailable (no receiving account configured).
func (s *Service) CreateTransferOrder(ctx context.Context, accountID int64, amountFen int64) (Order, error) {
	if !s.BankAccount().Configured() {
		return Order{}, fmt.Errorf("payments: create transfer order: %w: no receiving bank account", ErrChannelUnavailable)
	}
	q, err := s.quoteTransfer(amountFen)
	if err != nil {
		return Order{}, fmt.Errorf("payments: create transfer order: %w", err)
	}
	o, err := s.insertOrder(ctx, accountID, q, nil, ChannelBankTransfer, PayModeQR, StatePending, s.opts.TransferTTL)
	if err != nil {
		return Order{}, fmt.Errorf("payments: create transfer order: %w", err)
	}
	return o, nil
}

// Order returns the account's order orderNo; another account's order is
// ErrNotFound. Errors: ErrNotFound.
func (s *Service) Order(ctx context.Context, accountID int64, orderNo string) (Order, error) {
	o, err := queryOrder(ctx, s.pool, sqlOrderByNoAccount, orderNo, accountID)
	if err != nil {
		return Order{}, fmt.Errorf("payments: order %s: %w", orderNo, err)
	}
	return o, nil
}

// OrderByNo returns any account's order (for staff). Errors: ErrNotFound.
func (s *Service) OrderByNo(ctx context.Context, orderNo string) (Order, error) {
	o, err := queryOrder(ctx, s.pool, sqlOrderByNo, orderNo)
	if err != nil {
		return Order{}, fmt.Errorf("payments: order %s: %w", orderNo, err)
	}
	return o, nil
}

// OrderByReference returns the bank transfer order with a reference code,
// as read from a statement memo (normalized first; a code whose check
// character is wrong is ErrNotFound). Errors: ErrNotFound.
func (s *Service) OrderByReference(ctx context.Context, code string) (Order, error) {
	code = refcode.Normalize(code)
	if !refcode.Valid(code) {
		return Order{}, fmt.Errorf("payments: reference %q: %w", code, ErrNotFound)
	}
	o, err := queryOrder(ctx, s.pool, sqlOrderByReference, code)
	if err != nil {
		return Order{}, fmt.Errorf("payments: reference %s: %w", code, err)
	}
	return o, nil
}

// Orders lists the account's orders, newest first, at most limit (1–200).
func (s *Service) Orders(ctx context.Context, accountID int64, limit int) ([]Order, error) {
	limit = min(max(limit, 1), 200)
	rows, err := s.pool.Query(ctx, sqlOrdersOfAccount, accountID, limit)
	if err != nil {
		return nil, fmt.Errorf("payments: orders: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Order])
	if err != nil {
		return nil, fmt.Errorf("payments: orders: %w", err)
	}
	return out, nil
}

// Transitions lists an order's recorded state changes, oldest first.
func (s *Service) Transitions(ctx context.Context, orderID int64) ([]Transition, error) {
	rows, err := s.pool.Query(ctx, sqlTransitionsOfOrdr, orderID)
	if err != nil {
		return nil, fmt.Errorf("payments: transitions: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Transition])
	if err != nil {
		return nil, fmt.Errorf("payments: transitions: %w", err)
	}
	return out, nil
}

// TopUp is a paid top-up, for invoicing.
type TopUp struct {
	OrderID     int64     `db:"id"`
	OrderNo     string    `db:"order_no"`
	Channel     Channel   `db:"channel"`
	AmountFen   int64     `db:"amount_fen"`
	RefundedFen int64     `db:"refunded_fen"`
	PaidAt      time.Time `db:"paid_at"`
}

// PaidTopUps lists the account's paid top-ups (refunded ones included, with
// RefundedFen), oldest first.
func (s *Service) PaidTopUps(ctx context.Context, accountID int64) ([]TopUp, error) {
	return paidTopUps(ctx, s.pool, accountID)
}

// paidTopUps is PaidTopUps read on q.
func paidTopUps(ctx context.Context, q db.DBTX, accountID int64) ([]TopUp, error) {
	// A bill order pays for consumption already made on the credit line:
	// it is not a top-up and is not invoiced as one.
	const sql = `SELECT id, order_no, channel, amount_fen, refunded_fen, paid_at FROM payment_orders
WHERE account_id = $1 AND state IN ('paid', 'partially_refunded', 'refunded') AND purpose <> 'bill' ORDER BY paid_at, id`
	rows, err := q.Query(ctx, sql, accountID)
	if err != nil {
		return nil, fmt.Errorf("payments: paid top-ups: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[TopUp])
	if err != nil {
		return nil, fmt.Errorf("payments: paid top-ups: %w", err)
	}
	return out, nil
}

package payments

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/payments/alipay"
	"github.com/seed75218f88/credits/internal/payments/wechatpay"
	"github.com/seed75218f88/credits/internal/platform/db"
)

// Agreement payments (WeChat Pay 委托代扣, Alipay 商家扣款): the customer signs
// once, then orders are debited without them. An agreement order is an
// ordinary payment order (same states, same crediting of the paid lot and
// bonus, invoiceable and refundable like a QR top-up) with pay_mode
// "agreement": it is never shown as a QR code; it is debited against the
// agreement with its order number as out_trade_no, so the channel debits it
// at most once however often we ask. internal/autotopup decides when.

// PayModeAgreement: the order is debited against a signed agreement.
const PayModeAgreement PayMode = "agreement"

// CauseAgreementDebit is the transition cause of an agreement debit's
// outcome (the synchronous answer of Alipay's trade.pay, or a failure).
const CauseAgreementDebit = "agreement_debit"

// Errors of agreement debits, so that the caller knows whether to retry.
var (
	// ErrDebitInsufficientFunds: the payer could not cover the debit (retry later).
	ErrDebitInsufficientFunds = errors.New("payments: agreement debit: insufficient funds")
	// ErrDebitRevoked: the agreement is no longer in force at the channel (never retry).
	ErrDebitRevoked = errors.New("payments: agreement debit: agreement revoked")
	// ErrDebitLimit: a channel limit (per debit, daily, monthly) refused it.
	ErrDebitLimit = errors.New("payments: agreement debit: limit exceeded")
)

// AgreementSign asks a channel for a signing page.
type AgreementSign struct {
	AgreementNo string // ours: out_contract_code / external_agreement_no
	AccountID   int64
	Display     string // the account as the signing page shows it
	ClientIP    string
	ReturnURL   string
}

// AgreementEvent is a verified signing or termination notify.
type AgreementEvent struct {
	Channel     Channel
	AgreementNo string // ours
	ContractID  string // the channel's contract_id / agreement_no
	Signed      bool   // signed (true) or terminated (false)
	// ByCustomer: a termination the customer made at the channel (or the
	// channel itself), as opposed to one we asked for.
	ByCustomer bool
	At         time.Time
}

// AgreementChannel signs and debits agreements at one channel.
type AgreementChannel interface {
	Name() Channel
	// SignURL starts a signing session and returns the URL to render as a
	// QR code (and open on a phone).
	SignURL(ctx context.Context, s AgreementSign) (string, error)
	// Debit asks the channel to debit the order. paid is the payment when
	// the channel answers synchronously (Alipay); nil means the outcome
	// comes by notify or query (WeChat Pay). Errors: ErrDebitInsufficientFunds,
	// ErrDebitRevoked, ErrDebitLimit, or another channel error.
	Debit(ctx context.Context, contractID string, o QROrder) (paid *ChannelPayment, err error)
	// Terminate ends the agreement from our side: agreementNo is ours (the
	// contract's name at WeChat Pay: out_contract_code), contractID the
	// channel's (Alipay's agreement_no).
	Terminate(ctx context.Context, agreementNo, contractID string) error
	// PreDebitNotice tells the payer of an upcoming debit where the channel
	// requires it (WeChat Pay's 预扣费通知 for periodic debits); a no-op
	// elsewhere.
	PreDebitNotice(ctx context.Context, contractID string, amountFen int64) error
	// ParseAgreementNotify verifies a signing or termination notify.
	// Errors: ErrBadSignature, ErrMalformedNotify.
	ParseAgreementNotify(h http.Header, body []byte) (AgreementEvent, error)
}

// AgreementChannel returns the agreement side of a configured channel.
// Errors: ErrChannelUnavailable (not configured, or WeChat Pay without a
// papay template id).
func (s *Service) AgreementChannel(c Channel) (AgreementChannel, error) {
	ch, err := s.channel(c)
	if err != nil {
		return nil, err
	}
	ac, ok := ch.(AgreementChannel)
	if !ok {
		return nil, fmt.Errorf("%w: %q has no agreement payments", ErrChannelUnavailable, c)
	}
	if w, isWx := ch.(wechatChannel); isWx && w.c.PapayPlanID <= 0 {
		return nil, fmt.Errorf("%w: WECHATPAY_PAPAY_PLAN_ID is not set", ErrChannelUnavailable)
	}
	return ac, nil
}

// CreateAgreementOrderTx makes a top-up order of amountFen to be debited
// against an agreement at channel, inside the caller's transaction (the one
// deciding that a top-up is due, so the decision and the order commit
// together). The order is pending and open for ttl. Errors: *AmountError,
// ErrInvalidArgument (no such account), database errors.
func (s *Service) CreateAgreementOrderTx(ctx context.Context, tx pgx.Tx, accountID, amountFen int64, channel Channel, ttl time.Duration) (Order, error) {
	q, err := s.Quote(amountFen)
	if err != nil {
		return Order{}, fmt.Errorf("payments: agreement order: %w", err)
	}
	return s.insertAgreementOrderTx(ctx, tx, accountID, q, nil, channel, ttl)
}

// CreateAgreementPlanOrderTx makes a plan renewal order for offer (its
// SubscriptionID and PeriodStart set) to be debited against an agreement at
// channel, inside the caller's transaction; paying it renews the
// subscription through the PlanPaid hook, as a renewal paid at the checkout
// does. Errors: ErrNoPlanCheckout, ErrInvalidArgument (free, not a renewal,
// no such account), database errors.
func (s *Service) CreateAgreementPlanOrderTx(ctx context.Context, tx pgx.Tx, accountID int64, offer PlanOffer, channel Channel, ttl time.Duration) (Order, error) {
	if s.opts.PlanPaid == nil {
		return Order{}, fmt.Errorf("payments: agreement renewal order: %w", ErrNoPlanCheckout)
	}
	if offer.PriceFen <= 0 || offer.SubscriptionID == 0 || offer.PeriodStart.IsZero() {
		return Order{}, fmt.Errorf("payments: agreement renewal order: %w: not a priced renewal", ErrInvalidArgument)
	}
	q := Quote{AmountFen: offer.PriceFen, Credits: decimal.Zero, BonusCredits: decimal.Zero}
	return s.insertAgreementOrderTx(ctx, tx, accountID, q, &offer, channel, ttl)
}

// insertAgreementOrderTx stores a pending agreement order in tx, retrying
// an order number clash inside a savepoint.
func (s *Service) insertAgreementOrderTx(ctx context.Context, tx pgx.Tx, accountID int64, q Quote, plan *PlanOffer, channel Channel, ttl time.Duration) (Order, error) {
	purpose := PurposeTopUp
	var planCode, planCycle *string
	var planVersion *int
	var subscriptionID *int64
	var periodStart *time.Time
	if plan != nil {
		purpose, planCode, planVersion, planCycle = PurposePlanRenewal, &plan.Code, &plan.Version, &plan.Cycle
		subscriptionID, periodStart = &plan.SubscriptionID, &plan.PeriodStart
	}
	validity := int64(0)
	if q.HasBonus() && q.BonusValidity > 0 {
		validity = int64(q.BonusValidity / time.Second)
	}
	now := s.now()
	for attempt := 0; ; attempt++ {
		var o Order
		// A savepoint, so an order number clash can be retried inside tx.
		err := pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
			var err error
			o, err = queryOrder(ctx, sp, sqlInsertOrder, s.newOrderNo(), accountID, q.AmountFen, q.Credits, q.BonusCredits, validity,
				channel, StatePending, nil, now.Add(ttl), now, PayModeAgreement, purpose, planCode, planVersion, planCycle, subscriptionID, periodStart,
				nil, nil, nil, nil, nil, nil, nil)
			if err != nil {
				return err
			}
			return s.record(ctx, sp, o.ID, nil, StatePending, CauseCreate, map[string]any{"amount_fen": q.AmountFen, "channel": channel, "mode": PayModeAgreement})
		})
		if err != nil && attempt < 5 && db.IsUniqueViolation(err, "payment_orders_order_no_key") {
			continue
		}
		if isForeignKeyViolation(err) {
			return Order{}, fmt.Errorf("payments: agreement order: %w: no account %d", ErrInvalidArgument, accountID)
		}
		if err != nil {
			return Order{}, fmt.Errorf("payments: agreement order: %w", err)
		}
		return o, nil
	}
}

// DebitAgreementOrder debits an open agreement order against contractID.
// A synchronous payment (Alipay) is applied at once, as a notify would be;
// otherwise the order stays pending until the notify or the sync job. The
// same order debited again is the same debit at the channel. It returns the
// order afterwards. Errors: ErrNotFound, ErrInvalidArgument (not an open
// agreement order), ErrChannelUnavailable, ErrDebitInsufficientFunds,
// ErrDebitRevoked, ErrDebitLimit, ErrChannel.
func (s *Service) DebitAgreementOrder(ctx context.Context, orderNo, contractID string) (Order, error) {
	o, err := s.OrderByNo(ctx, orderNo)
	if err != nil {
		return o, fmt.Errorf("payments: debit %s: %w", orderNo, err)
	}
	if o.PayMode != PayModeAgreement {
		return o, fmt.Errorf("payments: debit %s: %w: a %s order", orderNo, ErrInvalidArgument, o.PayMode)
	}
	if !o.State.Open() {
		return o, nil // already settled (a notify overtook a retry)
	}
	ch, err := s.AgreementChannel(o.Channel)
	if err != nil {
		return o, fmt.Errorf("payments: debit %s: %w", orderNo, err)
	}
	paid, err := ch.Debit(ctx, contractID, s.qrOrder(o))
	switch {
	case errors.Is(err, ErrDebitInsufficientFunds), errors.Is(err, ErrDebitRevoked), errors.Is(err, ErrDebitLimit):
		return o, fmt.Errorf("payments: debit %s: %w", orderNo, err)
	case err != nil:
		return o, fmt.Errorf("payments: debit %s: %w: %w", orderNo, ErrChannel, err)
	case paid == nil:
		return o, nil
	}
	if _, err := s.ApplyChannelPayment(ctx, *paid, CauseAgreementDebit); err != nil {
		return o, err
	}
	return s.OrderByNo(ctx, orderNo)
}

// FailAgreementOrder gives up an open agreement order: it goes to failed
// with reason recorded. A settled order is left alone. Errors: ErrNotFound,
// database errors.
func (s *Service) FailAgreementOrder(ctx context.Context, orderNo, reason string) (Order, error) {
	var o Order
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if o, err = queryOrder(ctx, tx, sqlLockOrderByNo, orderNo); err != nil {
			return err
		}
		if !o.State.Open() || o.PayMode != PayModeAgreement {
			return nil
		}
		return s.transition(ctx, tx, &o, StateFailed, CauseAgreementDebit, map[string]string{"reason": reason})
	})
	if err != nil {
		return o, fmt.Errorf("payments: fail agreement order %s: %w", orderNo, err)
	}
	return o, nil
}

// --- WeChat Pay 委托代扣 ---

func (w wechatChannel) SignURL(ctx context.Context, s AgreementSign) (string, error) {
	res, err := w.c.PreEntrustSign(ctx, wechatpay.PreSign{PlanID: w.c.PapayPlanID, OutContractNo: s.AgreementNo, DisplayAccount: s.Display,
		OutUserCode: fmt.Sprint(s.AccountID), ClientIP: s.ClientIP, ReturnURL: s.ReturnURL})
	if err != nil {
		return "", err
	}
	return res.RedirectURL, nil
}

func (w wechatChannel) Debit(ctx context.Context, contractID string, o QROrder) (*ChannelPayment, error) {
	err := w.c.ApplyDeduction(ctx, wechatpay.Deduction{ContractID: contractID, OutTradeNo: o.OutTradeNo, Description: o.Subject, AmountFen: o.AmountFen})
	var ae *wechatpay.APIError
	switch {
	case errors.Is(err, wechatpay.ErrInsufficientFunds):
		return nil, fmt.Errorf("%w: %w", ErrDebitInsufficientFunds, err)
	case errors.Is(err, wechatpay.ErrContractRevoked):
		return nil, fmt.Errorf("%w: %w", ErrDebitRevoked, err)
	case errors.Is(err, wechatpay.ErrLimitExceeded):
		return nil, fmt.Errorf("%w: %w", ErrDebitLimit, err)
	case errors.As(err, &ae) && ae.Code == "ORDERPAID":
		return nil, nil // debited before; the notify or the sync job settles it
	}
	return nil, err
}

func (w wechatChannel) PreDebitNotice(ctx context.Context, contractID string, amountFen int64) error {
	return w.c.PreDebitNotice(ctx, contractID, amountFen)
}

func (w wechatChannel) Terminate(ctx context.Context, agreementNo, _ string) error {
	err := w.c.TerminateContract(ctx, agreementNo, "customer unsigned in the portal")
	if errors.Is(err, wechatpay.ErrContractRevoked) {
		return nil // already ended at the channel
	}
	return err
}

func (w wechatChannel) ParseAgreementNotify(h http.Header, body []byte) (AgreementEvent, error) {
	ct, err := w.c.ParseContractNotify(h, body)
	switch {
	case errors.Is(err, wechatpay.ErrBadSignature), errors.Is(err, wechatpay.ErrUnknownSerial),
		errors.Is(err, wechatpay.ErrStaleNotify), errors.Is(err, wechatpay.ErrDecrypt):
		return AgreementEvent{}, fmt.Errorf("%w: %w", ErrBadSignature, err)
	case err != nil:
		return AgreementEvent{}, fmt.Errorf("%w: %w", ErrMalformedNotify, err)
	}
	ev := AgreementEvent{Channel: ChannelWeChat, AgreementNo: ct.OutContractCode, ContractID: ct.ContractID,
		Signed: ct.ContractState == wechatpay.ContractSigned}
	at := ct.ContractSignedTime
	if !ev.Signed && ct.Terminated != nil {
		// anything but our own API call ended it at the channel
		at, ev.ByCustomer = ct.Terminated.At, ct.Terminated.Mode != wechatpay.TerminatedByAPI
	}
	ev.At, _ = time.Parse(time.RFC3339, at)
	return ev, nil
}

// --- Alipay 商家扣款 ---

func (a alipayChannel) SignURL(_ context.Context, s AgreementSign) (string, error) {
	return a.c.AgreementSignURL(alipay.AgreementSign{ExternalAgreementNo: s.AgreementNo, ExternalLogonID: fmt.Sprint(s.AccountID), ReturnURL: s.ReturnURL})
}

func (a alipayChannel) Debit(ctx context.Context, contractID string, o QROrder) (*ChannelPayment, error) {
	t, err := a.c.PayWithAgreement(ctx, alipay.AgreementDebit{AgreementNo: contractID, OutTradeNo: o.OutTradeNo,
		TotalAmount: decimal.New(o.AmountFen, -2), Subject: o.Subject})
	switch {
	case errors.Is(err, alipay.ErrInsufficientFunds):
		return nil, fmt.Errorf("%w: %w", ErrDebitInsufficientFunds, err)
	case errors.Is(err, alipay.ErrAgreementRevoked):
		return nil, fmt.Errorf("%w: %w", ErrDebitRevoked, err)
	case errors.Is(err, alipay.ErrLimitExceeded):
		return nil, fmt.Errorf("%w: %w", ErrDebitLimit, err)
	case err != nil:
		return nil, err
	}
	fen, err := toFen(t.TotalAmount)
	if err != nil {
		return nil, err
	}
	state := alipayState(t.TradeStatus, true)
	if t.TradeStatus == "" { // trade.pay answers without trade_status when paid at once
		state = ChannelPaid
	}
	p := ChannelPayment{Channel: ChannelAlipay, OutTradeNo: o.OutTradeNo, ChannelTradeNo: t.TradeNo, RawState: t.TradeStatus,
		State: state, AmountFen: fen, MerchantID: a.sellerID, AppID: a.c.AppID}
	return &p, nil
}

// PreDebitNotice: Alipay notifies the payer of agreement debits itself.
func (alipayChannel) PreDebitNotice(context.Context, string, int64) error { return nil }

func (a alipayChannel) Terminate(ctx context.Context, _, contractID string) error {
	err := a.c.Unsign(ctx, contractID)
	var ae *alipay.APIError
	if errors.As(err, &ae) && (ae.SubCode == "USER_AGREEMENT_ALREADY_UNSIGN" || ae.SubCode == "USER_AGREEMENT_NOT_EXIST") {
		return nil
	}
	return err
}

func (a alipayChannel) ParseAgreementNotify(_ http.Header, body []byte) (AgreementEvent, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return AgreementEvent{}, fmt.Errorf("%w: %w", ErrMalformedNotify, err)
	}
	n, err := a.c.ParseAgreementNotify(form)
	switch {
	case errors.Is(err, alipay.ErrBadSignature):
		return AgreementEvent{}, fmt.Errorf("%w: %w", ErrBadSignature, err)
	case err != nil:
		return AgreementEvent{}, fmt.Errorf("%w: %w", ErrMalformedNotify, err)
	}
	ev := AgreementEvent{Channel: ChannelAlipay, AgreementNo: n.ExternalAgreementNo, ContractID: n.AgreementNo,
		Signed: n.NotifyType == alipay.NotifyTypeSign && n.Status == alipay.AgreementNormal, ByCustomer: true, At: n.SignTime}
	if !ev.Signed {
		if v := form.Get("unsign_time"); v != "" {
			ev.At, _ = time.ParseInLocation(alipay.TimeLayout, v, alipay.ChinaTime)
		}
	}
	return ev, nil
}

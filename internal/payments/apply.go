package payments

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments/alipay"
	"github.com/seed75218f88/credits/internal/payments/wechatpay"
	"github.com/seed75218f88/credits/internal/platform/db"
)

// Result says what a channel's report of a payment did to its order.
type Result string

// Results of ApplyChannelPayment.
const (
	ResultCredited     Result = "credited"      // the order is now paid and its lots credited
	ResultDuplicate    Result = "duplicate"     // already paid or under review: acknowledged without effect
	ResultNeedsReview  Result = "needs_review"  // amount/merchant mismatch or paid after closing: nothing credited
	ResultClosed       Result = "closed"        // the channel closed the order unpaid
	ResultFailed       Result = "failed"        // the channel reports the payment failed
	ResultNoChange     Result = "no_change"     // nothing to do (still awaiting payment)
	ResultUnknownOrder Result = "unknown_order" // no order with that number: acknowledged, nothing changed
	ResultIgnored      Result = "ignored"       // a verified notify we do not act on (e.g. a refund event)
)

// NotifyOutcome is what a verified notify (or a query by the sync job) did.
// Answer the channel with success whenever the error is nil.
type NotifyOutcome struct {
	OrderNo string
	Result  Result
	State   State // the order's state afterwards ("" when unknown)
}

// MerchantIdentity is who a channel's payments must be paid to: WeChat Pay
// mchid and appid, or Alipay seller_id and app_id. Empty fields are not checked.
type MerchantIdentity struct {
	MerchantID string
	AppID      string
}

// IdentifiedChannel is a QRChannel that knows its merchant identity; the
// adapters of channel.go implement it, so payments addressed to another
// merchant or app go to review.
type IdentifiedChannel interface {
	Identity() MerchantIdentity
}

// Identity returns the client's mchid and appid.
func (w wechatChannel) Identity() MerchantIdentity {
	return MerchantIdentity{MerchantID: w.c.MchID, AppID: w.c.AppID}
}

// Identity returns the configured seller id and the client's app id.
func (a alipayChannel) Identity() MerchantIdentity {
	return MerchantIdentity{MerchantID: a.sellerID, AppID: a.c.AppID}
}

// HandleWeChatNotify verifies and applies a WeChat Pay payment notify (the
// raw body and headers of POST /pay/notify/wechat). Answer 204 when err is
// nil (wechatpay.AnswerSuccess), 401 for ErrBadSignature, 400 for
// ErrMalformedNotify, 500 otherwise so that WeChat Pay retries. Errors:
// ErrBadSignature, ErrMalformedNotify, ErrChannelUnavailable, and database
// errors.
func (s *Service) HandleWeChatNotify(ctx context.Context, header http.Header, body []byte) (NotifyOutcome, error) {
	return s.handleNotify(ctx, ChannelWeChat, header, body)
}

// HandleAlipayNotify verifies and applies an Alipay async notify (the form
// of POST /pay/notify/alipay, r.PostForm after ParseForm). Answer "success"
// when err is nil (alipay.AnswerSuccess), otherwise as HandleWeChatNotify.
// Errors: as HandleWeChatNotify.
func (s *Service) HandleAlipayNotify(ctx context.Context, form url.Values) (NotifyOutcome, error) {
	return s.handleNotify(ctx, ChannelAlipay, nil, []byte(form.Encode()))
}

func (s *Service) handleNotify(ctx context.Context, c Channel, header http.Header, body []byte) (NotifyOutcome, error) {
	ch, err := s.channel(c)
	if err != nil {
		return NotifyOutcome{}, fmt.Errorf("payments: %s notify: %w", c, err)
	}
	p, err := ch.ParseNotify(header, body)
	switch {
	case errors.Is(err, wechatpay.ErrWrongResource):
		return NotifyOutcome{Result: ResultIgnored}, nil
	case errors.Is(err, wechatpay.ErrBadSignature), errors.Is(err, wechatpay.ErrUnknownSerial),
		errors.Is(err, wechatpay.ErrStaleNotify), errors.Is(err, wechatpay.ErrDecrypt), errors.Is(err, alipay.ErrBadSignature):
		return NotifyOutcome{}, fmt.Errorf("payments: %s notify: %w: %w", c, ErrBadSignature, err)
	case err != nil:
		return NotifyOutcome{}, fmt.Errorf("payments: %s notify: %w: %w", c, ErrMalformedNotify, err)
	}
	if p.Channel != c {
		return NotifyOutcome{}, fmt.Errorf("payments: %s notify: %w: reported channel %s", c, ErrMalformedNotify, p.Channel)
	}
	return s.ApplyChannelPayment(ctx, p, CauseNotify)
}

// ApplyChannelPayment applies a payment as a channel reported it (a verified
// notify, or a query), with cause recorded on the transition. It locks the
// order row, so concurrent and repeated reports of one payment credit once:
// an open order whose amount, channel, merchant and app match is marked paid
// and its paid lot (and bonus promo lot) credited in the same transaction;
// a mismatch, or a payment for a closed or failed order, marks it
// needs_review and credits nothing; an order already paid or under review
// is left alone. Errors: ErrInvalidArgument (no order number), ledger
// errors, database errors.
func (s *Service) ApplyChannelPayment(ctx context.Context, p ChannelPayment, cause string) (NotifyOutcome, error) {
	out := NotifyOutcome{OrderNo: p.OutTradeNo}
	if p.OutTradeNo == "" {
		return out, fmt.Errorf("payments: apply payment: %w: no order number", ErrInvalidArgument)
	}
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		o, err := queryOrder(ctx, tx, sqlLockOrderByNo, p.OutTradeNo)
		if errors.Is(err, ErrNotFound) {
			out.Result, out.State = ResultUnknownOrder, ""
			return nil
		}
		if err != nil {
			return err
		}
		out.Result, err = s.apply(ctx, tx, &o, p, cause)
		out.State = o.State
		return err
	})
	if err != nil {
		return out, fmt.Errorf("payments: apply payment %s: %w", p.OutTradeNo, err)
	}
	if out.Result == ResultUnknownOrder {
		s.opts.Logger.Warn("payments: payment for an unknown order", "channel", p.Channel, "order_no", p.OutTradeNo, "cause", cause)
	}
	return out, nil
}

func (s *Service) apply(ctx context.Context, tx pgx.Tx, o *Order, p ChannelPayment, cause string) (Result, error) {
	detail := map[string]any{"channel_state": p.RawState, "trade_no": p.ChannelTradeNo, "amount_fen": p.AmountFen}
	switch p.State {
	case ChannelPaid:
		switch {
		case o.State.Paid(), o.State == StateNeedsReview:
			return ResultDuplicate, nil
		case o.State.Open():
			if reasons := s.mismatch(*o, p); len(reasons) > 0 {
				detail["mismatch"] = reasons
				return ResultNeedsReview, s.review(ctx, tx, o, p, CauseMismatch, fmt.Sprintf("%s: %v", CauseMismatch, reasons), detail)
			}
			detail["via"] = cause
			err := s.markPaid(ctx, tx, o, p.ChannelTradeNo, p.AmountFen, "payments:"+string(o.Channel), cause, detail)
			if o.State == StateNeedsReview { // a plan order for an account with a plan in force by now, a bill paid already
				return ResultNeedsReview, err
			}
			return ResultCredited, err
		case o.State == StateClosed && o.PaidFen != nil: // a rejected review, refunded
			return ResultDuplicate, nil
		default: // closed or failed: the money arrived anyway
			detail["was"] = o.State
			return ResultNeedsReview, s.review(ctx, tx, o, p, CausePaidAfterClosed, CausePaidAfterClosed, detail)
		}
	case ChannelClosed:
		if o.State.Open() {
			return ResultClosed, s.transition(ctx, tx, o, StateClosed, cause, detail)
		}
	case ChannelFailed:
		if o.State.Open() {
			return ResultFailed, s.transition(ctx, tx, o, StateFailed, cause, detail)
		}
	}
	return ResultNoChange, nil
}

// mismatch lists how a reported payment differs from the order.
func (s *Service) mismatch(o Order, p ChannelPayment) []string {
	var reasons []string
	if p.Channel != o.Channel {
		reasons = append(reasons, "channel")
	}
	if p.AmountFen != o.AmountFen {
		reasons = append(reasons, "amount")
	}
	if ch, err := s.channel(o.Channel); err == nil {
		if ic, ok := ch.(IdentifiedChannel); ok {
			id := ic.Identity()
			if id.MerchantID != "" && p.MerchantID != id.MerchantID {
				reasons = append(reasons, "merchant_id")
			}
			if id.AppID != "" && p.AppID != id.AppID {
				reasons = append(reasons, "app_id")
			}
		}
	}
	return reasons
}

// review sends an order to needs_review, keeping what the channel reported.
func (s *Service) review(ctx context.Context, tx pgx.Tx, o *Order, p ChannelPayment, cause, reason string, detail map[string]any) error {
	const sql = `UPDATE payment_orders SET review_reason = $2, channel_trade_no = $3, paid_fen = $4 WHERE id = $1`
	if _, err := tx.Exec(ctx, sql, o.ID, reason, p.ChannelTradeNo, p.AmountFen); err != nil {
		return err
	}
	o.ReviewReason, o.ChannelTradeNo, o.PaidFen = reason, p.ChannelTradeNo, &p.AmountFen
	return s.transition(ctx, tx, o, StateNeedsReview, cause, detail)
}

// markPaid credits the order's lots and marks it paid, inside tx with the
// order locked; the paid lot records paidFen as its price. The ledger's
// idempotency keys derive from the order number.
func (s *Service) markPaid(ctx context.Context, tx pgx.Tx, o *Order, tradeNo string, paidFen int64, actor, cause string, detail map[string]any) error {
	if o.IsPlan() {
		return s.markPlanPaid(ctx, tx, o, tradeNo, paidFen, cause, detail)
	}
	if o.Purpose == PurposeProduct {
		return s.markProductPaid(ctx, tx, o, tradeNo, paidFen, actor, cause, detail)
	}
	if o.Purpose == PurposeBill {
		return s.markBillPaid(ctx, tx, o, tradeNo, paidFen, cause, detail)
	}
	now := s.now()
	ref := "payment_order:" + o.OrderNo
	paid, err := s.ledger.CreditTx(ctx, tx, ledger.CreditRequest{
		AccountID: o.AccountID, Kind: ledger.LotPaid, Amount: o.Credits, EventType: ledger.EventPurchase,
		SourceRef: ref, Actor: actor, ReasonCode: "topup", IdempotencyKey: "topup:" + o.OrderNo, PaidFen: paidFen,
	})
	if err != nil {
		return err
	}
	paidLot := paid.Lot.ID
	var promoLot *int64
	if o.BonusCredits.IsPositive() {
		var exp *time.Time
		if o.BonusValidSeconds > 0 {
			t := now.Add(time.Duration(o.BonusValidSeconds) * time.Second)
			exp = &t
		}
		promo, err := s.ledger.CreditTx(ctx, tx, ledger.CreditRequest{
			AccountID: o.AccountID, Kind: ledger.LotPromo, Amount: o.BonusCredits, ExpiresAt: exp, EventType: ledger.EventGrant,
			SourceRef: ref, Actor: actor, ReasonCode: "topup_bonus", IdempotencyKey: "topup-bonus:" + o.OrderNo,
		})
		if err != nil {
			return err
		}
		promoLot = &promo.Lot.ID
	}
	const sql = `UPDATE payment_orders SET channel_trade_no = $2, paid_at = $3, paid_fen = $4, paid_lot_id = $5, promo_lot_id = $6 WHERE id = $1`
	if _, err := tx.Exec(ctx, sql, o.ID, tradeNo, now, paidFen, paidLot, promoLot); err != nil {
		return err
	}
	o.ChannelTradeNo, o.PaidAt, o.PaidFen, o.PaidLotID, o.PromoLotID = tradeNo, &now, &paidFen, &paidLot, promoLot
	detail["paid_lot_id"] = paidLot
	if promoLot != nil {
		detail["promo_lot_id"] = *promoLot
	}
	if err := s.transition(ctx, tx, o, StatePaid, cause, detail); err != nil {
		return err
	}
	return s.topUpPaid(ctx, tx, *o)
}

// topUpPaid runs Options.TopUpPaid for a top-up just marked paid, in its
// transaction.
func (s *Service) topUpPaid(ctx context.Context, tx pgx.Tx, o Order) error {
	if s.opts.TopUpPaid == nil {
		return nil
	}
	return s.opts.TopUpPaid(ctx, tx, o)
}

// CompleteTransferOrder marks a bank transfer order paid because the back
// office matched statementRef (a bank statement line) to it, crediting its
// lots inside the caller's transaction tx. It completes pending, expired
// (closed) and needs_review orders; completing it again with the same
// statementRef returns the order unchanged, so it credits once. Errors:
// ErrNotFound, ErrNotTransferOrder, ErrAlreadyPaid (paid by another
// statement line), ErrInvalidArgument (empty statementRef),
// *TransitionError, ledger errors.
func (s *Service) CompleteTransferOrder(ctx context.Context, tx pgx.Tx, orderID int64, statementRef, actor string) (Order, error) {
	if statementRef == "" {
		return Order{}, fmt.Errorf("payments: complete transfer: %w: no statement reference", ErrInvalidArgument)
	}
	o, err := queryOrder(ctx, tx, sqlLockOrderByID, orderID)
	if err != nil {
		return Order{}, fmt.Errorf("payments: complete transfer %d: %w", orderID, err)
	}
	if o.Channel != ChannelBankTransfer {
		return o, fmt.Errorf("payments: complete transfer %s: %w", o.OrderNo, ErrNotTransferOrder)
	}
	if o.State.Paid() {
		if o.ChannelTradeNo == statementRef {
			return o, nil
		}
		return o, fmt.Errorf("payments: complete transfer %s: %w by %s", o.OrderNo, ErrAlreadyPaid, o.ChannelTradeNo)
	}
	if actor == "" {
		actor = "backoffice"
	}
	detail := map[string]any{"statement_ref": statementRef, "actor": actor}
	if err := s.markPaid(ctx, tx, &o, statementRef, o.AmountFen, actor, CauseBankStatement, detail); err != nil {
		return o, fmt.Errorf("payments: complete transfer %s: %w", o.OrderNo, err)
	}
	return o, nil
}

// SyncReport counts what one SyncPending run did.
type SyncReport struct {
	Checked     int // orders looked at
	Credited    int // found paid at the channel and credited
	Closed      int // closed (expired, or closed at the channel)
	NeedsReview int
	Errors      int // orders the run could not settle (retried next run)
}

// SyncPending is the background job for open orders, up to batch per run
// (run it every minute or so): it queries QR orders older than SyncDelay at
// their channel and credits paid ones through ApplyChannelPayment (so a
// notify racing it still credits once); it closes expired orders at the
// channel and then locally (Alipay's ACQ.TRADE_NOT_EXIST means nobody
// scanned it), and closes expired bank transfer orders. Orders are claimed
// with SKIP LOCKED and rotated, so several processes may run it. The error
// joins the per-order failures, which are also counted in the report.
func (s *Service) SyncPending(ctx context.Context, batch int) (SyncReport, error) {
	var rep SyncReport
	if batch <= 0 {
		batch = 100
	}
	const sqlClaim = `
WITH due AS (
    SELECT id FROM payment_orders
    WHERE state IN ('created', 'pending')
      AND ((channel = 'bank_transfer' AND expires_at <= $1) OR (channel <> 'bank_transfer' AND created_at <= $2))
    ORDER BY synced_at NULLS FIRST, id
    LIMIT $3
    FOR UPDATE SKIP LOCKED)
UPDATE payment_orders o SET synced_at = $1 FROM due WHERE o.id = due.id
RETURNING o.id, o.order_no, o.channel, o.expires_at`
	now := s.now()
	rows, err := s.pool.Query(ctx, sqlClaim, now, now.Add(-s.opts.SyncDelay), batch)
	if err != nil {
		return rep, fmt.Errorf("payments: sync: %w", err)
	}
	type due struct {
		ID        int64     `db:"id"`
		OrderNo   string    `db:"order_no"`
		Channel   Channel   `db:"channel"`
		ExpiresAt time.Time `db:"expires_at"`
	}
	orders, err := pgx.CollectRows(rows, pgx.RowToStructByName[due])
	if err != nil {
		return rep, fmt.Errorf("payments: sync: %w", err)
	}
	var errs []error
	for _, d := range orders {
		rep.Checked++
		var res Result
		var err error
		if d.Channel == ChannelBankTransfer {
			res, err = s.closeOrder(ctx, d.ID, CauseExpired, nil)
		} else {
			res, err = s.syncQR(ctx, d.OrderNo, d.ID, d.Channel, d.ExpiresAt)
		}
		switch {
		case err != nil:
			rep.Errors++
			errs = append(errs, fmt.Errorf("%s: %w", d.OrderNo, err))
			s.opts.Logger.Warn("payments: sync", "order_no", d.OrderNo, "error", err)
		case res == ResultCredited:
			rep.Credited++
		case res == ResultClosed:
			rep.Closed++
		case res == ResultNeedsReview:
			rep.NeedsReview++
		}
	}
	if len(errs) > 0 {
		return rep, fmt.Errorf("payments: sync: %w", errors.Join(errs...))
	}
	return rep, nil
}

// syncQR settles one open QR order from the channel's answer.
func (s *Service) syncQR(ctx context.Context, orderNo string, id int64, c Channel, expiresAt time.Time) (Result, error) {
	ch, err := s.channel(c)
	if err != nil {
		return "", err
	}
	p, err := ch.Query(ctx, orderNo)
	switch {
	case isNoOrder(err):
		p = ChannelPayment{Channel: c, OutTradeNo: orderNo, State: ChannelAwaiting, RawState: "NOT_EXIST"}
	case err != nil:
		return "", err
	}
	if p.State == ChannelPaid || p.State == ChannelClosed || p.State == ChannelFailed {
		out, err := s.ApplyChannelPayment(ctx, p, CauseSync)
		return out.Result, err
	}
	if s.now().Before(expiresAt) {
		return ResultNoChange, nil
	}
	if err := ch.Close(ctx, orderNo); err != nil && !isNoOrder(err) {
		// Paid in the meantime? Then credit it; otherwise try again next run.
		if p2, qerr := ch.Query(ctx, orderNo); qerr == nil && p2.State == ChannelPaid {
			out, err := s.ApplyChannelPayment(ctx, p2, CauseSync)
			return out.Result, err
		}
		return "", fmt.Errorf("close at channel: %w", err)
	}
	return s.closeOrder(ctx, id, CauseExpired, map[string]any{"channel_state": p.RawState})
}

// closeOrder closes an open order.
func (s *Service) closeOrder(ctx context.Context, id int64, cause string, detail any) (Result, error) {
	res := ResultNoChange
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		o, err := queryOrder(ctx, tx, sqlLockOrderByID, id)
		if err != nil || !o.State.Open() {
			return err
		}
		res = ResultClosed
		return s.transition(ctx, tx, &o, StateClosed, cause, detail)
	})
	return res, err
}

// isNoOrder: the channel has no such order (for Alipay: not scanned yet).
func isNoOrder(err error) bool {
	return errors.Is(err, ErrChannelNoOrder) || errors.Is(err, alipay.ErrTradeNotExist) || errors.Is(err, wechatpay.ErrOrderNotExist)
}

// CloseOrder closes the account's open order now (the customer cancelled
// the checkout), first at the channel. A paid order is left as is. Errors:
// ErrNotFound, ErrChannel (the channel refused: it may have been paid; the
// sync job settles it).
func (s *Service) CloseOrder(ctx context.Context, accountID int64, orderNo string) (Order, error) {
	o, err := s.Order(ctx, accountID, orderNo)
	if err != nil || !o.State.Open() {
		return o, err
	}
	if o.Channel != ChannelBankTransfer {
		ch, err := s.channel(o.Channel)
		if err != nil {
			return o, fmt.Errorf("payments: close %s: %w", orderNo, err)
		}
		if err := ch.Close(ctx, orderNo); err != nil && !isNoOrder(err) {
			return o, fmt.Errorf("payments: close %s: %w: %w", orderNo, ErrChannel, err)
		}
	}
	if _, err := s.closeOrder(ctx, o.ID, CauseCancelled, map[string]string{"by": "account:" + strconv.FormatInt(accountID, 10)}); err != nil {
		return o, fmt.Errorf("payments: close %s: %w", orderNo, err)
	}
	return s.Order(ctx, accountID, orderNo)
}

// ResolveReview settles an order in needs_review (staff). Accepting credits
// the order as quoted and marks it paid — only when the channel's amount
// equals the order's (a merchant mismatch or a payment after closing);
// rejecting refunds the whole payment at the channel and closes the order.
// A repeated call on a settled order returns it unchanged. Errors:
// ErrNotFound, ErrInvalidTransition (not under review), ErrInvalidArgument
// (accepting a different amount: reject it instead), ErrChannel, ledger errors.
func (s *Service) ResolveReview(ctx context.Context, orderNo string, accept bool, actor, note string) (Order, error) {
	return s.resolveReview(ctx, orderNo, accept, actor, note, nil)
}

// resolveReview is ResolveReview; settled, when set, runs on the
// transaction after the order left needs_review (not on a repeat).
func (s *Service) resolveReview(ctx context.Context, orderNo string, accept bool, actor, note string, settled func(pgx.Tx, Order) error) (Order, error) {
	var o Order
	after := func(tx pgx.Tx, o Order) error {
		if settled == nil {
			return nil
		}
		return settled(tx, o)
	}
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if o, err = queryOrder(ctx, tx, sqlLockOrderByNo, orderNo); err != nil {
			return err
		}
		switch {
		case accept && o.State.Paid(), !accept && o.State == StateClosed && o.PaidFen != nil:
			return nil
		case o.State != StateNeedsReview:
			return &TransitionError{OrderNo: o.OrderNo, From: o.State, To: StatePaid}
		}
		detail := map[string]any{"actor": actor, "note": note, "review_reason": o.ReviewReason}
		if accept {
			if o.PaidFen == nil || *o.PaidFen != o.AmountFen {
				return fmt.Errorf("%w: the channel's amount differs from the order's: reject and refund it", ErrInvalidArgument)
			}
			if err := s.markPaid(ctx, tx, &o, o.ChannelTradeNo, *o.PaidFen, actor, CauseReviewAccepted, detail); err != nil {
				return err
			}
			return after(tx, o)
		}
		if o.Channel != ChannelBankTransfer && o.PaidFen != nil && *o.PaidFen > 0 {
			ch, err := s.channel(o.Channel)
			if err != nil {
				return err
			}
			refundNo := refundNumber(o.OrderNo, "review-rejected")
			if err := ch.Refund(ctx, ChannelRefund{OutTradeNo: o.OrderNo, OutRefundNo: refundNo, RefundFen: *o.PaidFen, TotalFen: *o.PaidFen, Reason: note}); err != nil {
				return fmt.Errorf("%w: %w", ErrChannel, err)
			}
			detail["refund_no"], detail["refunded_fen"] = refundNo, *o.PaidFen
		}
		if err := s.transition(ctx, tx, &o, StateClosed, CauseReviewRejected, detail); err != nil {
			return err
		}
		return after(tx, o)
	})
	if err != nil {
		return o, fmt.Errorf("payments: resolve review %s: %w", orderNo, err)
	}
	return o, nil
}

package web

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	pv "github.com/seed75218f88/credits/views/portal"
)

// maxRefundReason bounds the reason a customer gives for a refund.
const maxRefundReason = 500

// RequestRefund files the customer's request to refund part of a paid
// top-up for finance to approve (POST /portal/orders/:no/refund). A top-up
// covered by an issued invoice is refused until the invoice is reversed;
// an amount over what its paid lot has left, a bad amount or a missing
// reason re-render the orders page (422) with the message on the field.
func (s *Server) RequestRefund(c echo.Context) error {
	ctx := c.Request().Context()
	acc := customerOf(c).Account
	if acc.Kind == ledger.AccountSub {
		return echo.ErrForbidden
	}
	f := pv.RefundForm{OrderNo: c.Param("no"), Amount: strings.TrimSpace(c.FormValue("amount")),
		Reason: strings.TrimSpace(c.FormValue("reason")), Errors: map[string]string{}}
	o, err := s.pay.svc.Order(ctx, acc.ID, f.OrderNo)
	if err != nil {
		return err
	}
	needs, err := s.needsReversal(ctx, o.ID)
	if err != nil {
		return err
	}
	if needs {
		f.Errors["form"] = tr(c, "error.invoicing.refund_needs_reversal")
		return s.refundInvalid(c, http.StatusConflict, f)
	}
	fen, err := readRefund(f)
	if fe, ok := fielderr.As(err); ok && fe.Code("amount") == "" {
		// The amount reads well but another field failed: say now too
		// whether the amount can be refunded, so every failure shows at once.
		if _, cerr := s.pay.svc.CheckRefund(ctx, acc.ID, o.OrderNo, fen); cerr != nil {
			fe.Merge(cerr)
		}
	} else if err == nil {
		_, err = s.pay.svc.CheckRefund(ctx, acc.ID, o.OrderNo, fen)
	}
	switch {
	case err == nil && o.Purpose == payments.PurposeProduct:
		// Checked whole and within its window by CheckRefund, not against
		// the account's unspent paid credit (a feature has none).
		_, err = s.admin.bo.RequestOrderRefund(ctx, acc.ID, o.OrderNo, decimal.New(fen, -2), f.Reason, ClientIP(c))
	case err == nil:
		_, err = s.admin.bo.RequestRefund(ctx, acc.ID, o.OrderNo, decimal.New(fen, -2), f.Reason, ClientIP(c))
	}
	if err != nil {
		msgs, status, ok := s.fieldErrors(c, err)
		if !ok {
			return err
		}
		if errors.Is(err, backoffice.ErrRefundPending) {
			status = http.StatusConflict // the request exists: nothing to correct
		}
		f.Errors = onForm(msgs)
		return s.refundInvalid(c, status, f)
	}
	return HXRedirect(c, s.URL("portal.orders")+"?refund=requested#refunds")
}

// readRefund reads the amount in yuan as fen; every field that is wrong
// (amount, reason) is in the returned *fielderr.Errors.
func readRefund(f pv.RefundForm) (int64, error) {
	errs := fielderr.New("web")
	fen, ok := parseYuan(f.Amount)
	switch {
	case f.Amount == "":
		errs.Add("amount", "refund_amount_required")
	case !ok || fen <= 0 || fen >= maxTypedFen:
		errs.Add("amount", "refund_amount_invalid")
	}
	switch {
	case f.Reason == "":
		errs.Add("reason", "refund_reason_required")
	case utf8.RuneCountInString(f.Reason) > maxRefundReason:
		errs.Add("reason", "refund_reason_too_long", "max", strconv.Itoa(maxRefundReason))
	}
	return fen, errs.Err()
}

// refundFieldCodes are the codes readRefund reports, for the locale test.
var refundFieldCodes = []string{"refund_amount_required", "refund_amount_invalid", "refund_reason_required", "refund_reason_too_long"}

func (s *Server) refundInvalid(c echo.Context, status int, f pv.RefundForm) error {
	v, err := s.ordersView(c, f)
	if err != nil {
		return err
	}
	return Render(c, status, pv.Orders(v), nil)
}

// needsReversal reports whether an issued invoice covers the order (no
// invoicing service: never).
func (s *Server) needsReversal(ctx context.Context, orderID int64) (bool, error) {
	if s.kyc == nil || s.kyc.invoicing == nil {
		return false, nil
	}
	return s.kyc.invoicing.RequiresReversalBeforeRefund(ctx, orderID)
}

// invoicedFen is the fen of each of orders that requested or issued
// invoices cover (none without invoicing).
func (s *Server) invoicedFen(ctx context.Context, orders []payments.Order) (map[int64]int64, error) {
	if s.kyc == nil || s.kyc.invoicing == nil || len(orders) == 0 {
		return map[int64]int64{}, nil
	}
	ids := make([]int64, len(orders))
	for i, o := range orders {
		ids[i] = o.ID
	}
	return s.kyc.invoicing.InvoicedFen(ctx, ids)
}

// refundSection fills the orders page's refund offers (paid top-ups with
// something left to refund) and the account's refund requests, newest first.
func (s *Server) refundSection(c echo.Context, orders []payments.Order, form pv.RefundForm, v *pv.OrdersView) error {
	ctx := c.Request().Context()
	acc := customerOf(c).Account
	if u := s.URL("portal.invoices"); u != "" {
		v.InvoicesURL = u
	}
	reqs, err := s.admin.bo.RefundRequests(ctx, backoffice.RefundFilter{AccountID: acc.ID})
	if err != nil {
		return err
	}
	slices.Reverse(reqs)
	channel := make(map[string]payments.Channel, len(orders))
	for _, o := range orders {
		channel[o.OrderNo] = o.Channel
	}
	open := map[string]string{}
	requested := map[string]int64{} // fen open requests already ask for
	for _, r := range reqs {
		if r.State == backoffice.RefundRequested || r.State == backoffice.RefundApproved {
			open[r.OrderNo] = string(r.State)
			requested[r.OrderNo] += r.Amount.Shift(2).IntPart()
		}
		v.Refunds = append(v.Refunds, pv.RefundRow{ID: r.ID, OrderNo: r.OrderNo, Amount: r.Amount, Reason: r.Reason,
			State: string(r.State), RequestedAt: r.RequestedAt, DecidedAt: r.DecidedAt, DecisionReason: r.DecisionReason,
			RefundRef: r.RefundRef, ByBank: channel[r.OrderNo] == payments.ChannelBankTransfer})
	}
	if acc.Kind == ledger.AccountSub {
		return nil
	}
	quotes, err := s.pay.svc.RefundQuotes(ctx, acc.ID, orders)
	if err != nil {
		return err
	}
	invoiced, err := s.invoicedFen(ctx, orders)
	if err != nil {
		return err
	}
	for _, o := range orders {
		q := quotes[o.OrderNo]
		now := payments.RefundableNowFen(o, q.Fen, invoiced[o.ID], requested[o.OrderNo])
		product, err := s.productLabel(c, o)
		if err != nil {
			return err
		}
		until, windowed := o.RefundUntil()
		if q.Fen <= 0 && !(windowed && o.State == payments.StatePaid && open[o.OrderNo] == "") {
			continue
		}
		needs, err := s.needsReversal(ctx, o.ID)
		if err != nil {
			return err
		}
		offer := pv.RefundOffer{OrderNo: o.OrderNo, Channel: paidBy(o), Amount: o.AmountYuan(),
			Refunded: decimal.New(o.RefundedFen, -2), Max: decimal.New(now, -2),
			NeedsReversal: needs, Open: open[o.OrderNo], URL: s.URL("portal.order.refund", o.OrderNo),
			Bonus: q.BonusCredits, BonusRevoked: q.BonusRevoked, BonusCharged: q.BonusCharged, BonusDeduction: decimal.New(q.BonusFen, -2)}
		if product != "" {
			offer.Product = product
			if windowed {
				offer.RefundUntil = &until
			}
			offer.WindowClosed = q.Fen <= 0
			offer.Form.Amount = offer.Max.StringFixed(2)
		}
		if form.OrderNo == o.OrderNo {
			offer.Form, form.OrderNo = form, ""
		}
		v.Offers = append(v.Offers, offer)
	}
	if form.OrderNo != "" {
		v.RefundError = form.Errors["form"]
	}
	return nil
}

// sendChannelRefund sends an approved refund to WeChat Pay or Alipay now
// that the approval committed (payments.SendRefund; OnRefunded closes the
// request when the channel accepts). A bank transfer top-up's refund stays
// approved until finance pays it back. It reports whether the refund is
// still pending at the channel (the sync job goes on trying).
func (s *Server) sendChannelRefund(ctx context.Context, r backoffice.RefundRequest) bool {
	if r.State != backoffice.RefundApproved || r.RefundRef == "" {
		return false
	}
	// SendRefund leaves a bank refund (manual) alone and says so.
	st, err := s.pay.svc.SendRefund(ctx, r.RefundRef)
	if err != nil {
		s.Logger.Warn("refund not accepted yet", "refund_no", r.RefundRef, "error", err.Error())
	}
	return st == payments.RefundPending || st == payments.RefundFailed
}

package payments

import (
	"context"
	"fmt"

	"github.com/seed75218f88/credits/internal/invoicing/pdf"
)

// receiptChannel is how each channel is printed on a receipt.
var receiptChannel = map[Channel]string{
	ChannelWeChat:       "微信支付 WeChat Pay",
	ChannelAlipay:       "支付宝 Alipay",
	ChannelBankTransfer: "对公转账 Bank transfer",
}

// ReceiptPDF renders the receipt (收据) of the account's paid order:
// issuer is who received the money, payer the customer's name. An unpaid
// or another account's order is ErrNotFound, so a receipt never exists
// for money that did not arrive. Errors: ErrNotFound.
func (s *Service) ReceiptPDF(ctx context.Context, accountID int64, orderNo, issuer, payer string) ([]byte, error) {
	o, err := s.Order(ctx, accountID, orderNo)
	if err != nil {
		return nil, err
	}
	if o.PaidAt == nil {
		return nil, fmt.Errorf("payments: receipt %s: not paid: %w", orderNo, ErrNotFound)
	}
	paid := o.AmountFen
	if o.PaidFen != nil {
		paid = *o.PaidFen
	}
	trade := o.ChannelTradeNo
	if o.FromStatement() {
		trade = o.StatementSerial
	}
	r := pdf.Receipt{OrderNo: o.OrderNo, Issuer: issuer, Payer: payer,
		Channel: receiptChannel[o.Channel], ChannelTradeNo: trade, PaidAt: *o.PaidAt, AmountFen: paid,
		RefundedFen: o.RefundedFen, Credits: o.Credits, BonusCredits: o.BonusCredits}
	if o.IsPlan() {
		r.Purchase = s.planPurchase(o)
	}
	if o.Purpose == PurposeProduct {
		r.Purchase = productPurchase(o)
	}
	if o.Purpose == PurposeBill {
		if r.Purchase, err = s.billPurchase(ctx, o); err != nil {
			return nil, fmt.Errorf("payments: receipt %s: %w", orderNo, err)
		}
	}
	b, err := pdf.RenderReceipt(r)
	if err != nil {
		return nil, fmt.Errorf("payments: receipt %s: %w", orderNo, err)
	}
	return b, nil
}

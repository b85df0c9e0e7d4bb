package pdf

import (
	"fmt"
	"time"

	"github.com/shopspring/decimal"
	"github.com/signintech/gopdf"

	"github.com/seed75218f88/credits/internal/platform/format"
)

// Receipt is a payment receipt (收据) for one paid top-up: proof that the
// money arrived, not a tax invoice (which stays 发票, issued on request).
type Receipt struct {
	OrderNo        string
	Issuer         string // who received the money (our company, or the platform's name)
	Payer          string // the customer's account name
	Channel        string // printed name of the channel, e.g. 微信支付
	ChannelTradeNo string // the channel's transaction number or the bank's serial
	PaidAt         time.Time
	AmountFen      int64
	RefundedFen    int64 // refunds so far, printed when non-zero
	Credits        decimal.Decimal
	BonusCredits   decimal.Decimal
	// Purchase names what a payment bought other than credits (a plan:
	// "套餐 basic 月付"); it is printed instead of the credits when set.
	Purchase string
}

// RenderReceipt returns the receipt as an A5 landscape PDF. It returns
// errors wrapping ErrInvalid or ErrGlyphMissing.
func RenderReceipt(r Receipt) ([]byte, error) {
	if r.OrderNo == "" || r.AmountFen <= 0 || r.PaidAt.IsZero() || r.Issuer == "" {
		return nil, fmt.Errorf("%w: a receipt needs an order number, an amount, a payment time and an issuer", ErrInvalid)
	}
	amount := decimal.New(r.AmountFen, -2)
	capital, err := Capital(amount)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	a5 := gopdf.Rect{W: 595, H: 420}
	b, _, err := renderPage(a5, "收据 "+r.OrderNo, func(d *doc) error {
		const x, w = 40.0, 515.0
		if err := d.setSize(20); err != nil {
			return err
		}
		if err := d.text(x, 28, w, 30, "收　据  Receipt", gopdf.Center); err != nil {
			return err
		}
		d.line(x, 64, x+w, 64)
		if err := d.setSize(11); err != nil {
			return err
		}
		rows := [][2]string{
			{"订单号 Order", r.OrderNo},
			{"付款方 Payer", r.Payer},
			{"收款方 Payee", r.Issuer},
			{"支付方式 Paid by", r.Channel},
			{"交易号 Transaction", r.ChannelTradeNo},
			{"付款时间 Paid at", r.PaidAt.In(format.Shanghai).Format("2006-01-02 15:04:05") + "（北京时间）"},
			{"金额 Amount", "¥" + amount.StringFixed(2) + "（" + capital + "）"},
			{"到账点数 Credits", format.Credits(r.Credits) + " 点" + bonus(r.BonusCredits)},
		}
		if r.Purchase != "" {
			rows[len(rows)-1] = [2]string{"购买项目 Purchase", r.Purchase}
		}
		if r.RefundedFen > 0 {
			rows = append(rows, [2]string{"已退款 Refunded", "¥" + decimal.New(r.RefundedFen, -2).StringFixed(2)})
		}
		for i, kv := range rows {
			y := 76 + float64(i)*26
			if err := d.text(x, y, 150, 26, kv[0], gopdf.Left); err != nil {
				return err
			}
			if err := d.text(x+150, y, w-150, 26, kv[1], gopdf.Left); err != nil {
				return err
			}
			d.line(x, y+26, x+w, y+26)
		}
		if err := d.setSize(9); err != nil {
			return err
		}
		return d.text(x, 380, w, 20, "本收据仅证明款项已收到，不作为报销凭证；发票请在控制台申请。This receipt is not a tax invoice.", gopdf.Left)
	})
	return b, err
}

func bonus(c decimal.Decimal) string {
	if c.IsZero() {
		return ""
	}
	return "，另赠 " + format.Credits(c) + " 点"
}

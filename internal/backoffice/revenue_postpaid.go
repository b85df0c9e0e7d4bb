package backoffice

import (
	"context"
	"time"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/creditline"
)

// Postpaid credit (授信 / 月结): what an enterprise spends of its credit
// line is revenue as it is spent, at the credit price (a bill's period at
// exactly the bill's amount: creditline.Service.Uses is the rule), and
// money owed until its bill is paid: a receivable (应收).
//
//	ReceivableClosing = ReceivableOpening + PostpaidRecognised − BillsPaid
//
// ReceivableBilled is the part of ReceivableClosing on bills issued and
// not paid at the period's end; the rest is consumption not billed yet.

// postpaidFigures are one period's postpaid figures in credits and in fen.
type postpaidFigures struct {
	recognisedCredits, paidCredits decimal.Decimal
	recognised, paid               int64
}

// postpaid sums the postpaid consumption and the bill payments of [from,
// to) by period (key of its period; "" before from), and answers the
// bills issued before to (for what is billed at each period's end).
func (s *Service) postpaid(ctx context.Context, from, to time.Time, g Granularity, key func(*time.Time) string) (map[string]postpaidFigures, []creditline.Bill, error) {
	out := map[string]postpaidFigures{}
	if s.opt.CreditLines == nil {
		return out, nil, nil
	}
	bucket := func(at time.Time) string {
		if at.Before(from) {
			return key(nil)
		}
		p := periodStart(at, g)
		return key(&p)
	}
	err := s.opt.CreditLines.Uses(ctx, from, to, 0, func(u creditline.Use) {
		k := bucket(u.At)
		f := out[k]
		f.recognisedCredits = f.recognisedCredits.Add(u.Credits)
		f.recognised += u.Fen
		out[k] = f
	})
	if err != nil {
		return nil, nil, err
	}
	bills, err := s.opt.CreditLines.ReportBills(ctx, to, 0)
	if err != nil {
		return nil, nil, err
	}
	for _, b := range bills {
		if b.PaidAt == nil || !b.PaidAt.Before(to) {
			continue
		}
		k := bucket(*b.PaidAt)
		f := out[k]
		f.paidCredits = f.paidCredits.Add(b.Credits)
		f.paid += b.AmountFen
		out[k] = f
	}
	return out, bills, nil
}

// billedAt is what bills issued before t and not paid before t hold.
func billedAt(bills []creditline.Bill, t time.Time) (decimal.Decimal, int64) {
	credits, fen := decimal.Zero, int64(0)
	for _, b := range bills {
		if b.IssuedAt.Before(t) && (b.PaidAt == nil || !b.PaidAt.Before(t)) {
			credits, fen = credits.Add(b.Credits), fen+b.AmountFen
		}
	}
	return credits, fen
}

// withPostpaid sets a row's postpaid figures, opening and closing being
// the receivable at the row's start and end.
func withPostpaid(row ReportRow, f postpaidFigures, opening, closing receivable, bills []creditline.Bill) ReportRow {
	y := func(fen int64) decimal.Decimal { return decimal.New(fen, -2) }
	c, r := &row.Credits, &row.RMB
	c.PostpaidRecognised, r.PostpaidRecognised = f.recognisedCredits, y(f.recognised)
	c.BillsPaid, r.BillsPaid = f.paidCredits, y(f.paid)
	c.ReceivableOpening, r.ReceivableOpening = opening.credits, y(opening.fen)
	c.ReceivableClosing, r.ReceivableClosing = closing.credits, y(closing.fen)
	billedCredits, billedFen := billedAt(bills, row.End)
	c.ReceivableBilled, r.ReceivableBilled = billedCredits, y(billedFen)
	return row
}

// receivable is what is owed for postpaid consumption at an instant.
type receivable struct {
	credits decimal.Decimal
	fen     int64
}

// next is the receivable after a period's figures.
func (r receivable) next(f postpaidFigures) receivable {
	return receivable{credits: r.credits.Add(f.recognisedCredits).Sub(f.paidCredits), fen: r.fen + f.recognised - f.paid}
}

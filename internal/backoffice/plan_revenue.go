package backoffice

import (
	"context"
	"math/big"
	"time"
)

// PlanFee is a paid plan order (purpose plan, plan_renewal or plan_upgrade)
// as the revenue report recognises it: Fen paid at PaidAt for the period
// [Start, End) (a new plan's first period, a renewal's period, an upgrade's
// rest of the period), with the refunds paid back from it.
type PlanFee struct {
	OrderNo string
	Purpose string
	Cycle   string
	Fen     int64
	PaidAt  time.Time
	Start   time.Time
	End     time.Time
	Refunds []PlanFeeRefund
}

// PlanFeeRefund is money paid back from a plan order, at At.
type PlanFeeRefund struct {
	At  time.Time
	Fen int64
}

// PlanFees lists the paid plan orders of live accounts paid before a time,
// each with its period and refunds (payments and plans, wired in
// app.Build).
type PlanFees func(ctx context.Context, before time.Time) ([]PlanFee, error)

// RecognisedBy is how much of the fee is recognised revenue by the instant
// at, which is a boundary of Asia/Shanghai days in the report (a plan fee is
// recognised day by day): nothing before it was paid; then the fee's share
// of its period elapsed by at, Fen × (at − Start) ÷ (End − Start), rounded
// once half to even to the fen (cumulative, so each day's amount is within
// a fen of its exact share and the days add up to Fen exactly); after a
// refund, everything the refund did not pay back (the months used and any
// deduction the rule kept are earned on the refund's day). The rest of the
// fee is deferred revenue. Plan credits are part of what the fee bought:
// they are neither extra revenue nor promotional liability.
func (f PlanFee) RecognisedBy(at time.Time) int64 {
	if at.Before(f.PaidAt) || f.Fen <= 0 {
		return 0
	}
	if refunded, ok := f.refundedBy(at); ok {
		return f.Fen - refunded
	}
	if !f.End.After(f.Start) || !at.Before(f.End) {
		return f.Fen
	}
	if !at.After(f.Start) {
		return 0
	}
	elapsed, total := int64(at.Sub(f.Start)/time.Second), int64(f.End.Sub(f.Start)/time.Second)
	r := new(big.Rat).SetFrac(new(big.Int).Mul(big.NewInt(f.Fen), big.NewInt(elapsed)), big.NewInt(total))
	return roundHalfEvenRat(r)
}

// RefundedBy is the money paid back from the fee before at.
func (f PlanFee) RefundedBy(at time.Time) int64 {
	n, _ := f.refundedBy(at)
	return n
}

func (f PlanFee) refundedBy(at time.Time) (int64, bool) {
	var n int64
	any := false
	for _, r := range f.Refunds {
		if r.At.Before(at) {
			n += r.Fen
			any = true
		}
	}
	return n, any
}

// roundHalfEvenRat rounds r (≥ 0) to an integer, a half to the even one.
func roundHalfEvenRat(r *big.Rat) int64 {
	q, m := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
	switch new(big.Int).Lsh(m, 1).Cmp(r.Denom()) {
	case 1:
		q.Add(q, big.NewInt(1))
	case 0:
		if q.Bit(0) == 1 {
			q.Add(q, big.NewInt(1))
		}
	}
	return q.Int64()
}

// planFigures are one period's plan-fee figures in fen.
type planFigures struct {
	received, recognised, refunded int64
}

// planFeeFigures sums, for the opening ("" key: everything before from) and
// each report period [p, next(p)), what plan fees were received, recognised
// and refunded.
func planFeeFigures(fees []PlanFee, from, to time.Time, g Granularity, key func(*time.Time) string) map[string]planFigures {
	out := map[string]planFigures{}
	for _, f := range fees {
		open := out[""]
		if f.PaidAt.Before(from) {
			open.received += f.Fen
		}
		open.recognised += f.RecognisedBy(from)
		open.refunded += f.RefundedBy(from)
		out[""] = open
		for p := from; p.Before(to); p = nextPeriod(p, g) {
			next := nextPeriod(p, g)
			k := key(&p)
			x := out[k]
			if !f.PaidAt.Before(p) && f.PaidAt.Before(next) {
				x.received += f.Fen
			}
			x.recognised += f.RecognisedBy(next) - f.RecognisedBy(p)
			x.refunded += f.RefundedBy(next) - f.RefundedBy(p)
			out[k] = x
		}
	}
	return out
}

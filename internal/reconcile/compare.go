package reconcile

import (
	"sort"

	"github.com/shopspring/decimal"
)

// OrderRecord is one of our payments or refunds through a channel, as the
// payments package recorded it, for comparison with the channel's bill.
type OrderRecord struct {
	Channel    Channel
	OutTradeNo string
	// RefundNo is our refund number (out_refund_no / out_request_no) for a
	// refund; empty for a payment.
	RefundNo string
	Amount   decimal.Decimal
	Status   BillStatus
}

// AmountMismatch is a trade both sides know with different amounts.
type AmountMismatch struct {
	Ours   OrderRecord
	Theirs BillLine
}

// Diff is the outcome of comparing a channel bill with our records: the three
// lists finance resolves one by one.
type Diff struct {
	// OnlyChannel holds trades the channel billed that we have no record of
	// (e.g. a payment whose notify never reached us).
	OnlyChannel []BillLine
	// OnlyOurs holds trades we recorded that the channel did not bill.
	OnlyOurs []OrderRecord
	// AmountMismatch holds trades on both sides whose amounts differ.
	AmountMismatch []AmountMismatch
}

// Empty reports whether the bill and our records agree completely.
func (d Diff) Empty() bool {
	return len(d.OnlyChannel) == 0 && len(d.OnlyOurs) == 0 && len(d.AmountMismatch) == 0
}

type tradeKey struct {
	channel    Channel
	status     BillStatus
	outTradeNo string
	refundNo   string
}

// CompareBills compares our payments and refunds with a channel's bill lines.
// A trade is identified by channel, payment/refund, merchant order number
// and, for a refund, our refund number; several lines with one identity are
// summed. The caller passes our records for the bill's day and channel. The
// lists come out sorted by merchant order number.
func CompareBills(ours []OrderRecord, theirs []BillLine) Diff {
	ourSum := map[tradeKey]OrderRecord{}
	var ourKeys []tradeKey
	for _, o := range ours {
		k := tradeKey{o.Channel, o.Status, o.OutTradeNo, refundKey(o.Status, o.RefundNo)}
		if prev, ok := ourSum[k]; ok {
			prev.Amount = prev.Amount.Add(o.Amount)
			ourSum[k] = prev
			continue
		}
		ourSum[k] = o
		ourKeys = append(ourKeys, k)
	}
	theirSum := map[tradeKey]BillLine{}
	var theirKeys []tradeKey
	for _, b := range theirs {
		k := tradeKey{b.Channel, b.Status, b.OutTradeNo, refundKey(b.Status, b.RefundNo)}
		if prev, ok := theirSum[k]; ok {
			prev.Amount = prev.Amount.Add(b.Amount)
			theirSum[k] = prev
			continue
		}
		theirSum[k] = b
		theirKeys = append(theirKeys, k)
	}

	var d Diff
	for _, k := range theirKeys {
		b := theirSum[k]
		o, ok := ourSum[k]
		switch {
		case !ok:
			d.OnlyChannel = append(d.OnlyChannel, b)
		case !o.Amount.Equal(b.Amount):
			d.AmountMismatch = append(d.AmountMismatch, AmountMismatch{Ours: o, Theirs: b})
		}
	}
	for _, k := range ourKeys {
		if _, ok := theirSum[k]; !ok {
			d.OnlyOurs = append(d.OnlyOurs, ourSum[k])
		}
	}
	sort.SliceStable(d.OnlyChannel, func(i, j int) bool { return d.OnlyChannel[i].OutTradeNo < d.OnlyChannel[j].OutTradeNo })
	sort.SliceStable(d.OnlyOurs, func(i, j int) bool { return d.OnlyOurs[i].OutTradeNo < d.OnlyOurs[j].OutTradeNo })
	sort.SliceStable(d.AmountMismatch, func(i, j int) bool {
		return d.AmountMismatch[i].Ours.OutTradeNo < d.AmountMismatch[j].Ours.OutTradeNo
	})
	return d
}

func refundKey(s BillStatus, no string) string {
	if s != BillRefund {
		return ""
	}
	return no
}

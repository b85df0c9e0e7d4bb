package gateway

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/platform/format"
)

// The hot endpoints' answers (reserve, commit) are small fixed shapes; these
// write them byte for byte as encoding/json would (decimals as quoted
// strings, times in RFC 3339 with nanoseconds) without reflection.

// AppendJSON appends v as json.Marshal writes it. The id is a reservation
// token (rsv_ and base64url), which needs no escaping.
func (v ReservationView) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":"`...)
	b = append(b, v.ID...)
	b = append(b, `","reserved":`...)
	b = appendDecimal(b, v.Reserved)
	b = append(b, `,"expires_at":"`...)
	b = v.ExpiresAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","rate_card_version":`...)
	b = strconv.AppendInt(b, int64(v.RateCardVersion), 10)
	b = v.PaidBy.appendJSON(append(b, `,"paid_by":`...))
	if v.ShadowRefusal != "" { // a code: letters and underscores, nothing to escape
		b = append(append(append(b, `,"shadow_refusal":"`...), v.ShadowRefusal...), '"')
	}
	return append(b, '}')
}

// AppendJSON appends v as json.Marshal writes it.
func (v CommitView) AppendJSON(b []byte) []byte {
	b = append(b, `{"charged":`...)
	b = appendDecimal(b, v.Charged)
	b = append(b, `,"released":`...)
	b = appendDecimal(b, v.Released)
	b = append(b, `,"unpaid":`...)
	b = appendDecimal(b, v.Unpaid)
	b = append(b, `,"available":`...)
	b = appendDecimal(b, v.Available)
	b = v.PaidBy.appendJSON(append(b, `,"paid_by":`...))
	return append(b, '}')
}

// appendJSON appends p as json.Marshal writes it. An item is a plan item's
// key (a model or group name as staff typed it): encoding/json quotes it.
func (p PaidBy) appendJSON(b []byte) []byte {
	b = append(b, '{')
	if p.Quota != nil {
		b = append(b, `"quota":{"item":`...)
		item, _ := json.Marshal(p.Quota.Item)
		b = append(b, item...)
		b = append(b, `,"requests":`...)
		b = strconv.AppendInt(b, p.Quota.Requests, 10)
		b = append(b, `,"tokens":`...)
		b = strconv.AppendInt(b, p.Quota.Tokens, 10)
		b = append(b, `},`...)
	}
	b = append(b, `"plan_credits":`...)
	b = appendDecimal(b, p.PlanCredits)
	b = append(b, `,"wallet":`...)
	b = appendDecimal(b, p.Wallet)
	return append(b, '}')
}

// appendDecimal writes d as decimal.Decimal's MarshalJSON does (quoted
// unless decimal.MarshalJSONWithoutQuotes is set).
func appendDecimal(b []byte, d decimal.Decimal) []byte {
	if decimal.MarshalJSONWithoutQuotes {
		return format.AppendDecimal(b, d)
	}
	b = append(b, '"')
	b = format.AppendDecimal(b, d)
	return append(b, '"')
}

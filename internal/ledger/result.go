package ledger

import "github.com/seed75218f88/credits/internal/platform/jsonscan"

// fastChargeResult reads a charge's answer as ledger_charge_run and
// ledger_charge write it (keys op_id, charged, unpaid, available, pool,
// plan_charged, replayed, shadow_refusal, in the plain forms jsonscan
// reads) and reports false for anything else, an error answer included,
// which decode reads with encoding/json. Decoding every usage event's
// answer by reflection was the largest JSON cost left in the consumer;
// FuzzChargeResult checks both readings agree.
func fastChargeResult(raw []byte, res *ChargeResult, pool *int64) bool {
	d := jsonscan.New(raw)
	return d.Object(func(key []byte) bool {
		switch string(key) {
		case "op_id":
			return d.Int(&res.OpID)
		case "pool":
			return d.Int(pool)
		case "charged":
			return d.Decimal(&res.Charged)
		case "unpaid":
			return d.Decimal(&res.Unpaid)
		case "available":
			return d.Decimal(&res.Available)
		case "plan_charged":
			return d.Decimal(&res.PlanCharged)
		case "replayed":
			return d.Bool(&res.Replayed)
		case "shadow_refusal":
			var ok bool
			res.ShadowRefusal, ok = d.Str()
			return ok
		}
		return false
	}) && d.End()
}

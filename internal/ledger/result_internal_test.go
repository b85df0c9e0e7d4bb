package ledger

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzChargeResult: whatever answer fastChargeResult reads, encoding/json
// (through decode) reads the same.
func FuzzChargeResult(f *testing.F) {
	for _, s := range []string{
		`{"pool": 7, "op_id": 123, "unpaid": 0, "charged": 0.004000, "available": 999999.996000, "plan_charged": 0}`,
		`{"pool": 7, "op_id": 123, "unpaid": 0.5, "charged": 1, "replayed": true, "available": -3.25, "plan_charged": 0, "shadow_refusal": "budget_exceeded"}`,
		`{"error": "idempotency_conflict"}`, `{}`, ` {"op_id":01} `, `{"charged": 1e3}`, `{"charged": "1"}`, `{"Pool": 1}`,
		`{"replayed": false, "charged": -0, "op_id": -0, "available": 1.}`, `{"shadow_refusal": "a\"b"}`, `{"pool": 9223372036854775808}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		type result struct {
			ChargeResult
			Pool int64 `json:"pool"`
		}
		var fast result
		if !fastChargeResult(raw, &fast.ChargeResult, &fast.Pool) {
			return
		}
		var want result
		require.NoError(t, decode(raw, &want), "%q", raw)
		require.Equal(t, want, fast, "%q", raw)
		var plain result
		require.NoError(t, json.Unmarshal(raw, &plain))
		require.Equal(t, plain, fast)
	})
}

func TestChargeResultTakesTheFastPath(t *testing.T) {
	var res ChargeResult
	var pool int64
	require.True(t, fastChargeResult([]byte(`{"pool": 7, "op_id": 123, "unpaid": 0, "charged": 0.004000, "available": 999999.996000, "plan_charged": 0}`), &res, &pool))
	require.Equal(t, int64(7), pool)
	require.Equal(t, "0.004", res.Charged.String())
}

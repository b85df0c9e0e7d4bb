package ledger

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

// stampedCharge is the charge request as chargeJob built it before
// chargeArg: a payload map stamped and marshalled by encoding/json. The
// idempotency records already stored hold hashes made this way.
func stampedCharge(l *Ledger, r ChargeRequest, amount string) ([]byte, error) {
	p := payload{"account_id": r.AccountID, "amount": amount, "model": r.Model,
		"session_id": r.SessionID, "request_id": r.RequestID, "detail": r.Detail}
	if !r.OccurredAt.IsZero() {
		p["occurred_at"] = r.OccurredAt.UTC()
	}
	identity := []any{"charge", r.AccountID, amount, r.Model, r.SessionID, r.RequestID, p["occurred_at"], canonicalSlow(r.Detail)}
	if r.Project != "" || r.Key != "" {
		p["project"], p["key_label"] = r.Project, r.Key
		identity = append(identity, r.Project, r.Key)
	}
	return json.Marshal(l.stamp(p, r.IdempotencyKey, identity...))
}

// TestChargeArgMatchesStamp: the charge request written by hand has the
// same idempotency hash, byte for byte, and the same fields as the one
// encoding/json wrote, over strings JSON escapes (HTML characters, control
// characters, invalid UTF-8, U+2028), details in every shape canonical
// meets, with and without an occurrence time, labels, an enforcement
// override and a grace policy. A different hash would turn every retry
// across the upgrade into an idempotency conflict.
func TestChargeArgMatchesStamp(t *testing.T) {
	now := time.Date(2026, 12, 7, 13, 0, 0, 123456789, time.UTC)
	enforcement := EnforceAll
	l := &Ledger{opts: Options{Now: func() time.Time { return now },
		CurrentEnforcement: func() Enforcement { return enforcement }}}
	strs := []string{"", "deepseek-chat", `a"b\c`, "<script>&amp;</script>", "tab\there\nnl\r\b\f\x00\x1f",
		"中文模型", "bad \xff utf8 \xc3", "line\u2028sep\u2029", "emoji 😀", "\x7f del"}
	details := []string{"", `{"input_tokens":1000,"output_tokens":5,"cache_hit_tokens":0,"requests":1,"rate_card_version":3,"outcome":"completed"}`,
		`{"input_tokens":1000,"requests":1,"cost_version":2,"cost":"0.12","outcome":"completed","account_card":7}`,
		`{ "b" : 1.50 , "a" : -0e+3, "c": true, "d": null, "e": false }`, `{}`, `{"a":1,"a":2}`,
		`{"nested":{"b":1,"a":2},"list":[3,2,1]}`, `{"s":"<&>"}`, `{"s":"\u00e9\n"}`, `{"upstream":"上游"}`,
		`[1,2]`, `"text"`, `12`, `null`, `{"a":1} `, "\n{\"z\":0}\n"}
	for i := range 400 {
		r := ChargeRequest{AccountID: int64(i*7919 + 1), IdempotencyKey: "usage:" + strs[i%len(strs)],
			Model: strs[(i+1)%len(strs)], SessionID: strs[(i+3)%len(strs)], RequestID: strs[(i+5)%len(strs)]}
		if d := details[i%len(details)]; d != "" {
			r.Detail = json.RawMessage(d)
		}
		if i%3 != 0 {
			r.OccurredAt = now.Add(-time.Duration(i) * 1001 * time.Microsecond).In(time.FixedZone("CST", 8*3600))
		}
		if i%4 == 1 {
			r.Project, r.Key = "proj-"+strs[i%len(strs)], ""
		}
		if i%4 == 2 {
			r.Project, r.Key = "", "key"
		}
		enforcement = []Enforcement{EnforceAll, EnforceShadow, EnforceOff}[i%3]
		l.opts.Grace = GracePolicy{}
		if i%5 == 0 {
			l.opts.Grace = GracePolicy{Enabled: true, Amount: decimal.RequireFromString("5.5"), Lifetime: 36 * time.Hour}
		}
		amount := decimal.New(int64(i+1), -3).String()
		want, err := stampedCharge(l, r, amount)
		require.NoError(t, err, "request %d", i)
		got, err := l.chargeArg(r, amount)
		require.NoError(t, err, "request %d", i)
		var w, g map[string]any
		require.NoError(t, json.Unmarshal(want, &w))
		require.NoError(t, json.Unmarshal(got, &g), "request %d: %s", i, got)
		require.Equal(t, w, g, "request %d", i)
	}
	_, err := l.chargeArg(ChargeRequest{AccountID: 1, IdempotencyKey: "k", Detail: json.RawMessage(`{"a":`)}, "1")
	require.ErrorIs(t, err, ErrInvalidArgument, "a detail that is not JSON is refused")
}

// FuzzCanonical: where the flat fast path answers, it answers what the
// general path (encoding/json) does.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{`{"input_tokens":1000,"outcome":"completed","cost":"1.2","cost_version":3}`,
		`{ "b" : 1.50 , "a" : -0e+3 }`, `{}`, `{"a":1,"a":2}`, `{"a":tru}`, `{"a":01}`, `{"a":1.}`, `{"a":-}`,
		`{"a":1e}`, `{"a":"x"} trailing`, `{"a":"é"}`, `{"k":null,"j":false,"i":true}`, ` {"a":[1]}`, `{"a"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if got, ok := canonicalFlat(raw); ok {
			require.Equal(t, canonicalSlow(raw), got, "%q", raw)
		}
	})
}

// FuzzJSONString: appendJSONString writes a string as encoding/json does.
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", `"\`, "<>&", "\x00\b\f\n\r\t\x1f", "\xff\xc3", "\u2028\u2029", "中文😀"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		require.Equal(t, string(want), string(appendJSONString(nil, s)))
	})
}

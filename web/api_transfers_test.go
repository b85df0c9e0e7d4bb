package web_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
)

// transferAPI is an enterprise with sub-accounts created through the API.
type transferAPI struct {
	*apiBundle
	ent  string
	id   float64 // the enterprise's ledger id
	subs []string
}

func setupTransfers(t *testing.T, allocations ...string) *transferAPI {
	t.Helper()
	b := setupAPI(t, apiOpts{})
	c := b.live
	r := c.do(http.MethodPut, "/v1/accounts/"+uniq(t, "ent"), map[string]any{"kind": "enterprise", "name": "Corp"})
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	tb := &transferAPI{apiBundle: b, ent: uniq(t, "ent"), id: r.JSON(t)["id"].(float64)}
	b.grant(c, tb.ent, "1000", "ent-credit")
	for i, a := range allocations {
		sub := uniq(t, fmt.Sprintf("dept%d", i))
		b.account(c, sub, map[string]any{"kind": "sub", "parent": tb.ent, "allocation": a})
		tb.subs = append(tb.subs, sub)
	}
	return tb
}

func (b *transferAPI) transfer(from, to, amount, key string) apiResp {
	b.t.Helper()
	return b.live.do(http.MethodPost, "/v1/accounts/"+from+"/transfers", map[string]any{"to": to, "amount": amount, "idempotency_key": key})
}

func (b *transferAPI) allocation(ext string) decimal.Decimal {
	b.t.Helper()
	a := b.balance(b.live, ext)["allocation"]
	require.NotNil(b.t, a, "%s has a limit", ext)
	return decimal.RequireFromString(a.(string))
}

func (b *transferAPI) audit() []backoffice.AuditRow {
	b.t.Helper()
	bo := backoffice.New(b.pool, b.ledger, auth.New(b.pool, auth.Options{}), backoffice.Options{})
	rows, _, err := bo.AuditLog(b.t.Context(), backoffice.AuditFilter{AccountID: int64(b.id), Action: backoffice.ActionAllocationTransfer}, 0, 1000)
	require.NoError(b.t, err)
	return rows
}

func TestAPITransferMovesAllocationOnceWithAnAuditRow(t *testing.T) {
	t.Parallel()
	b := setupTransfers(t, "300", "100")
	a, d := b.subs[0], b.subs[1]

	r := b.transfer(a, d, "120.5", "k1")
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	body := r.JSON(t)
	requireCredits(t, "120.5", dec(t, body["amount"]), "")
	from, to := body["from"].(map[string]any), body["to"].(map[string]any)
	require.Equal(t, a, from["account"])
	requireCredits(t, "300", dec(t, from["allocation_before"]), "")
	requireCredits(t, "179.5", dec(t, from["allocation_after"]), "")
	require.Equal(t, d, to["account"])
	requireCredits(t, "100", dec(t, to["allocation_before"]), "")
	requireCredits(t, "220.5", dec(t, to["allocation_after"]), "")
	requireCredits(t, "179.5", b.allocation(a), "")
	requireCredits(t, "220.5", b.allocation(d), "")
	requireCredits(t, "179.5", dec(t, b.balance(b.live, a)["available"]), "the source may now spend 179.5")

	// The audit row: on the enterprise, by the key, both sides before and after.
	rows := b.audit()
	require.Len(t, rows, 1)
	require.Equal(t, backoffice.ActorSystem, rows[0].ActorKind)
	require.Contains(t, rows[0].ActorEmail, "api_key:")
	var det struct {
		From, To backoffice.AllocationChange
	}
	require.NoError(t, json.Unmarshal(rows[0].Detail, &det))
	requireCredits(t, "300", *det.From.AllocationBefore, "")
	requireCredits(t, "179.5", *det.From.AllocationAfter, "")
	requireCredits(t, "300", det.From.BalanceBefore, "")
	requireCredits(t, "179.5", det.From.BalanceAfter, "")
	requireCredits(t, "100", *det.To.AllocationBefore, "")
	requireCredits(t, "220.5", det.To.BalanceAfter, "")

	// A retry answers the same, moves nothing and writes no second row.
	again := b.transfer(a, d, "120.5", "k1")
	require.Equal(t, http.StatusCreated, again.Status)
	require.JSONEq(t, string(r.Body), string(again.Body))
	requireCredits(t, "179.5", b.allocation(a), "")
	require.Len(t, b.audit(), 1)

	// The same key with another body is a conflict.
	r = b.transfer(a, d, "1", "k1")
	require.Equal(t, http.StatusConflict, r.Status)
	require.Equal(t, "idempotency_conflict", r.Code(t))

	// More than the source's allocation.
	r = b.transfer(a, d, "179.500001", "k2")
	require.Equal(t, http.StatusPaymentRequired, r.Status)
	require.Equal(t, "allocation_exceeded", r.Code(t))
	requireCredits(t, "179.5", b.allocation(a), "")
	require.Len(t, b.audit(), 1)
}

func TestAPITransferAcrossEnterprisesIsRefused(t *testing.T) {
	t.Parallel()
	b := setupTransfers(t, "300")
	c := b.live
	other := uniq(t, "other")
	b.account(c, other, map[string]any{"kind": "enterprise"})
	otherSub := uniq(t, "other-dept")
	b.account(c, otherSub, map[string]any{"kind": "sub", "parent": other, "allocation": "50"})
	solo := b.account(c, uniq(t, "solo"), nil)

	for _, to := range []string{otherSub, other, solo} {
		r := b.transfer(b.subs[0], to, "10", "x-"+to)
		require.Equal(t, http.StatusConflict, r.Status, to)
		require.Equal(t, "cross_enterprise_transfer", r.Code(t))
		require.NotEmpty(t, r.JSON(t)["error"].(map[string]any)["message"])
	}
	requireCredits(t, "300", b.allocation(b.subs[0]), "")
	requireCredits(t, "50", b.allocation(otherSub), "")
	require.Empty(t, b.audit())

	// The enterprise itself may give its sub-account allocation (it has no
	// limit, so it keeps none).
	r := b.transfer(b.ent, b.subs[0], "25", "from-ent")
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	require.Nil(t, r.JSON(t)["from"].(map[string]any)["allocation_after"])
	requireCredits(t, "325", b.allocation(b.subs[0]), "")
}

func TestAPITransferRefusesBadRequests(t *testing.T) {
	t.Parallel()
	b := setupTransfers(t, "300", "100")
	a, d := b.subs[0], b.subs[1]
	for _, tc := range []struct {
		name, from, to, amount string
		status                 int
		code                   string
	}{
		{"ZeroAmount", a, d, "0", http.StatusBadRequest, "invalid_request"},
		{"NegativeAmount", a, d, "-5", http.StatusBadRequest, "invalid_request"},
		{"TooManyDecimals", a, d, "1.0000001", http.StatusBadRequest, "invalid_request"},
		{"AboveTheBound", a, d, "1000000000001", http.StatusBadRequest, "invalid_request"},
		{"SameAccount", a, a, "1", http.StatusBadRequest, "invalid_request"},
		{"UnknownTarget", a, "nobody", "1", http.StatusBadRequest, "invalid_request"},
		{"UnknownSource", "nobody", d, "1", http.StatusNotFound, "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := b.transfer(tc.from, tc.to, tc.amount, "bad-"+tc.name)
			require.Equal(t, tc.status, r.Status, string(r.Body))
			require.Equal(t, tc.code, r.Code(t))
		})
	}
	// A sandbox key does not see live accounts.
	r := b.sandbox.do(http.MethodPost, "/v1/accounts/"+a+"/transfers", map[string]any{"to": d, "amount": "1", "idempotency_key": "sb"})
	require.Equal(t, http.StatusNotFound, r.Status)
	// The body is required.
	r = b.live.doInvalid(http.MethodPost, "/v1/accounts/"+a+"/transfers", map[string]any{"amount": "1"})
	require.Equal(t, http.StatusBadRequest, r.Status)
	requireCredits(t, "300", b.allocation(a), "")
	requireCredits(t, "100", b.allocation(d), "")
	require.Empty(t, b.audit())
}

// TestAPIConcurrentTransfersConserveAllocation: 64 transfers at once
// through the API among four sub-accounts of 100 each: no allocation goes
// negative, the sum stays 400, and every applied transfer has its audit row.
func TestAPIConcurrentTransfersConserveAllocation(t *testing.T) {
	t.Parallel()
	b := setupTransfers(t, "100", "100", "100", "100")
	const n = 64
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		from := i % 4
		to := (from + 1 + (i/4)%3) % 4
		amount := fmt.Sprint(15 + (i*37)%60)
		wg.Go(func() {
			// Not b.transfer: require must not stop the test from another goroutine.
			res, err := http.DefaultClient.Do(transferRequest(t, b, b.subs[from], b.subs[to], amount, fmt.Sprintf("race-%d", i)))
			if err == nil {
				statuses[i] = res.StatusCode
				res.Body.Close()
			}
		})
	}
	wg.Wait()
	applied := 0
	for i, s := range statuses {
		require.Contains(t, []int{http.StatusCreated, http.StatusPaymentRequired}, s, "transfer %d", i)
		if s == http.StatusCreated {
			applied++
		}
	}
	sum := decimal.Zero
	for _, s := range b.subs {
		a := b.allocation(s)
		require.False(t, a.IsNegative(), "%s: %s", s, a)
		sum = sum.Add(a)
	}
	requireCredits(t, "400", sum, "allocation is conserved")
	require.Len(t, b.audit(), applied)
	m, err := b.ledger.Verify(t.Context())
	require.NoError(t, err)
	require.Empty(t, m)
}

func transferRequest(t *testing.T, b *transferAPI, from, to, amount, key string) *http.Request {
	body, _ := json.Marshal(map[string]any{"to": to, "amount": amount, "idempotency_key": key})
	req, err := http.NewRequest(http.MethodPost, b.app.URL+"/v1/accounts/"+from+"/transfers", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+b.live.key)
	return req
}

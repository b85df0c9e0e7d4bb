package web_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
)

// A hard-stop budget on a project's key: the API holds calls labelled with
// it until the budget is full, then answers 402 budget_exceeded with
// retry_at at the next Shanghai midnight (and Retry-After); calls of
// another key go on. The labels come back on the ledger's events, and a
// usage batch's event over the budget is rejected with the same code.
func TestAPIBudgetExceeded(t *testing.T) {
	b := setupAPI(t, apiOpts{})
	c := b.live
	ext := uniq(t, "acct")
	put := c.do(http.MethodPut, "/v1/accounts/"+ext, map[string]any{"verification": verified})
	require.Equal(t, http.StatusCreated, put.Status, string(put.Body))
	id := int64(put.JSON(t)["id"].(float64))
	b.grant(c, ext, "100000", "g")

	reserve := func(key, label string) apiResp {
		return c.do(http.MethodPost, "/v1/reservations", map[string]any{"account": ext, "model": "deepseek-chat",
			"max_input_tokens": 1000, "max_output_tokens": 1000, "idempotency_key": key, "project": "search", "key": label})
	}
	first := reserve("r1", "alice")
	require.Equal(t, http.StatusCreated, first.Status, string(first.Body))
	hold := decimal.RequireFromString(first.JSON(t)["reserved"].(string))
	require.True(t, hold.IsPositive())

	ctx := context.Background()
	require.NoError(t, pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		_, err := b.ledger.SetBudgetTx(ctx, tx, ledger.BudgetSpec{AccountID: id, Project: "search", Key: "alice",
			Period: ledger.BudgetDay, Amount: hold.Mul(decimal.NewFromFloat(2.5)).Round(6), Unit: ledger.BudgetCredits,
			HardStop: true, Actor: "test"})
		return err
	}))
	require.Equal(t, http.StatusCreated, reserve("r2", "alice").Status, "room for 2.5 holds: r1 (open when the budget was set, so counted) and r2")
	over := reserve("r3", "alice")
	require.Equal(t, http.StatusPaymentRequired, over.Status, string(over.Body))
	require.Equal(t, "budget_exceeded", over.Code(t))
	body := over.JSON(t)["error"].(map[string]any)
	at, err := time.Parse(time.RFC3339, body["retry_at"].(string))
	require.NoError(t, err)
	want := ledger.PeriodEnd(ledger.BudgetDay, b.clock.Now())
	require.True(t, want.Equal(at), "retry at %s, want the next Shanghai midnight %s", at, want)
	require.Equal(t, 16, at.UTC().Hour(), "midnight in Shanghai is 16:00 UTC")
	secs, err := strconv.Atoi(over.Header.Get("Retry-After"))
	require.NoError(t, err)
	require.InDelta(t, time.Until(at).Seconds(), secs, 2)
	require.Equal(t, http.StatusCreated, reserve("r4", "bob").Status, "another key of the project has no budget")

	// the labels are on the account's ledger events
	page := c.do(http.MethodGet, "/v1/accounts/"+ext+"/ledger?limit=1", nil)
	require.Equal(t, http.StatusOK, page.Status)
	ev := page.JSON(t)["events"].([]any)[0].(map[string]any)
	require.Equal(t, "reservation", ev["type"])
	require.Equal(t, "search", ev["project"])
	require.Equal(t, "bob", ev["key"])

	// a usage event over the budget is rejected; another key's is charged
	usage := c.do(http.MethodPost, "/v1/usage/events", map[string]any{"events": []map[string]any{
		{"idempotency_key": "u1", "account": ext, "model": "deepseek-chat", "input_tokens": 1000000, "output_tokens": 0,
			"occurred_at": b.clock.Now().UTC().Format(time.RFC3339Nano), "project": "search", "key": "alice"},
		{"idempotency_key": "u2", "account": ext, "model": "deepseek-chat", "input_tokens": 1000, "output_tokens": 0,
			"occurred_at": b.clock.Now().UTC().Format(time.RFC3339Nano), "project": "search", "key": "bob"},
	}})
	require.Equal(t, http.StatusOK, usage.Status, string(usage.Body))
	res := usage.JSON(t)
	require.EqualValues(t, 1, res["accepted"])
	rej := res["rejected"].([]any)
	require.Len(t, rej, 1)
	require.Equal(t, "budget_exceeded", rej[0].(map[string]any)["code"])

	// a label too long is a bad request naming the field
	long := c.doInvalid(http.MethodPost, "/v1/reservations", map[string]any{"account": ext, "model": "deepseek-chat",
		"max_input_tokens": 1, "max_output_tokens": 1, "idempotency_key": "r5", "project": strings.Repeat("p", 101)})
	require.Equal(t, http.StatusBadRequest, long.Status)
}

package web_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/access"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
)

// Model allow-lists: an account whose list names deepseek-chat only gets
// 403 model_not_allowed (no Retry-After, nothing held) for qwen-max on
// reserve, and a usage event for it is rejected with the same code; a
// sub-account's list must lie within its enterprise's, and a sub-account
// without a list of its own is held to its enterprise's. Removing the list
// lets the call through again.
func TestAPIModelAllowList(t *testing.T) {
	b := setupAPI(t, apiOpts{})
	c := b.live
	ctx := context.Background()
	svc := b.app.Services.Access
	staff := access.Actor{Kind: backoffice.ActorStaff, Email: "staff@example.com"}

	ent := uniq(t, "ent")
	put := c.do(http.MethodPut, "/v1/accounts/"+ent, map[string]any{"kind": "enterprise", "verification": verified})
	require.Equal(t, http.StatusCreated, put.Status, string(put.Body))
	entID := int64(put.JSON(t)["id"].(float64))
	sub := uniq(t, "sub")
	put = c.do(http.MethodPut, "/v1/accounts/"+sub, map[string]any{"kind": "sub", "parent": ent})
	require.Equal(t, http.StatusCreated, put.Status, string(put.Body))
	subID := int64(put.JSON(t)["id"].(float64))
	b.grant(c, ent, "100000", "g")

	reserve := func(acct, model, key string) apiResp {
		return c.do(http.MethodPost, "/v1/reservations", map[string]any{"account": acct, "model": model,
			"max_input_tokens": 100, "max_output_tokens": 100, "idempotency_key": key})
	}
	require.Equal(t, http.StatusCreated, reserve(sub, "qwen-max", "before").Status)

	require.NoError(t, svc.SetModels(ctx, staff, 0, entID, []string{"deepseek-chat"}))
	// the sub-account has no list of its own: its enterprise's holds it
	for _, acct := range []string{ent, sub} {
		refused := reserve(acct, "qwen-max", "q-"+acct)
		require.Equal(t, http.StatusForbidden, refused.Status, string(refused.Body))
		require.Equal(t, "model_not_allowed", refused.Code(t))
		require.Empty(t, refused.Header.Get("Retry-After"))
		require.Equal(t, http.StatusCreated, reserve(acct, "deepseek-chat", "d-"+acct).Status)
	}

	// a sub-account's list lies within its enterprise's
	err := svc.SetModels(ctx, staff, 0, subID, []string{"deepseek-chat", "qwen-max"})
	fe, ok := fielderr.As(err)
	require.True(t, ok, "%v", err)
	require.Equal(t, "model_outside_enterprise", fe.Code("models"))
	err = svc.SetModels(ctx, staff, 0, entID, []string{"no-such-model"})
	fe, ok = fielderr.As(err)
	require.True(t, ok, "%v", err)
	require.Equal(t, "model_unknown", fe.Code("models"))
	// an owner manages only its own sub-accounts
	require.ErrorIs(t, svc.SetModels(ctx, staff, subID, entID, nil), access.ErrNotFound)

	// usage events: the refused model is rejected, the allowed one charged
	now := b.clock.Now().UTC().Format(time.RFC3339Nano)
	usage := c.do(http.MethodPost, "/v1/usage/events", map[string]any{"events": []map[string]any{
		{"idempotency_key": "u1", "account": sub, "model": "qwen-max", "input_tokens": 10, "occurred_at": now},
		{"idempotency_key": "u2", "account": sub, "model": "deepseek-chat", "input_tokens": 10, "occurred_at": now},
	}})
	require.Equal(t, http.StatusOK, usage.Status, string(usage.Body))
	res := usage.JSON(t)
	require.EqualValues(t, 1, res["accepted"])
	rej := res["rejected"].([]any)[0].(map[string]any)
	require.EqualValues(t, 0, rej["index"])
	require.Equal(t, "model_not_allowed", rej["code"])
	require.NotEmpty(t, rej["message"])

	// the audit log has each change, with the list before
	var n int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM admin_audit_log WHERE action = 'model_list_set' AND account_id = $1
		AND detail->'models' = '["deepseek-chat"]'::jsonb AND detail->'before' = 'null'::jsonb`, entID).Scan(&n))
	require.Equal(t, 1, n)

	// no list: every model again
	require.NoError(t, svc.SetModels(ctx, staff, 0, entID, nil))
	require.Equal(t, http.StatusCreated, reserve(sub, "qwen-max", "after").Status)
}

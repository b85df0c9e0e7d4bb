package ledger_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

// TestApplyRunsRegisteredExtensions: another package's SQL function,
// registered in ledger_extensions, runs through the pool's writer and
// answers each caller its own result, also when 64 callers race (they
// share batches); a name not registered, a ledger operation's name and a
// name that is not a plain identifier are refused.
func TestApplyRunsRegisteredExtensions(t *testing.T) {
	t.Parallel()
	b := setup(t, ledger.Options{})
	ctx := context.Background()
	pool := dbtest.Pool(t)
	_, err := pool.Exec(ctx, `CREATE OR REPLACE FUNCTION ext_test_echo(p jsonb) RETURNS jsonb LANGUAGE sql AS
		$$ SELECT p || jsonb_build_object('tx', txid_current()) $$`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO ledger_extensions (fn) VALUES ('ext_test_echo') ON CONFLICT DO NOTHING;
		SELECT ledger_extensions_compile()`)
	require.NoError(t, err)
	acc := b.account(t, ledger.AccountIndividual)

	const n = 64
	var wg sync.WaitGroup
	answers := make([]map[string]any, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			raw, err := b.l.Apply(ctx, acc.ID, "ext_test_echo", json.RawMessage(fmt.Sprintf(`{"i": %d}`, i)))
			if err == nil {
				err = json.Unmarshal(raw, &answers[i])
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		require.EqualValues(t, i, answers[i]["i"], "each caller gets its own answer")
		require.NotNil(t, answers[i]["tx"], "the function ran")
	}

	for _, fn := range []string{"ext_test_missing", "reserve", "x; DROP TABLE ledger_lots", ""} {
		_, err := b.l.Apply(ctx, acc.ID, fn, json.RawMessage(`{}`))
		require.ErrorIs(t, err, ledger.ErrInvalidArgument, fn)
	}
}

package ledger_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

// BenchmarkApplyServerCPU measures PostgreSQL backend CPU per operation the
// way the writers run them: batches of 16 reserves then 16 commits over
// 1,000 accounts (spread) or on one account (hot), one transaction each,
// through ledger_apply with per-operation account writes (the two-argument
// form of migration 000201) and through the form the writers call (the
// three-argument one: reserves and commits set-based, ledger_rc_run). CPU
// comes from /proc/<backend pid>/stat, so it needs the server on this
// machine, and it is far less sensitive to the load of other jobs than
// throughput. Run: go test -run '^$' -bench ApplyServerCPU -benchtime 1x ./internal/ledger/
func BenchmarkApplyServerCPU(b *testing.B) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbtest.URL(b))
	require.NoError(b, err)
	defer conn.Close(ctx)
	var pid int
	require.NoError(b, conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid))
	if _, err := os.Stat(fmt.Sprintf("/proc/%d/stat", pid)); err != nil {
		b.Skip("the server's backend is not on this machine")
	}
	cpu := func() time.Duration {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		require.NoError(b, err)
		f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ = 100
	}
	var first int64
	require.NoError(b, conn.QueryRow(ctx, `
WITH ins AS (
  INSERT INTO ledger_accounts (id, pool_id, kind, name)
  SELECT n, n, 'individual', 'cpu' FROM (SELECT nextval('ledger_accounts_id_seq') n FROM generate_series(1, 1001)) s
  RETURNING id)
SELECT min(id) FROM ins`).Scan(&first))
	_, err = conn.Exec(ctx, `
SELECT ledger_credit(jsonb_build_object('account_id', id, 'kind', 'paid', 'amount', '1000000000', 'event_type', 'purchase',
       'key', 'cpu-fund', 'hash', 'x', 'now', now()))
FROM ledger_accounts WHERE id BETWEEN $1 AND $1 + 1000`, first)
	require.NoError(b, err)
	const reserves = `
WITH a AS (SELECT CASE WHEN $2 THEN $1 + 1000 ELSE $1 + (random() * 999)::bigint END AS id FROM generate_series(1, 16) ORDER BY 1)
SELECT %s FROM a`
	const commits = `
WITH r AS (SELECT pool_id, id FROM ledger_reservations WHERE status = 'open' AND pool_id BETWEEN $1 AND $1 + 1000 ORDER BY pool_id, id LIMIT 16)
SELECT %s FROM r`
	reserveArgs := `array_agg('reserve'::text), array_agg(jsonb_build_object('account_id', id, 'amount', '1', 'ttl_seconds', 60,
        'key', 'cpu' || nextval('ledger_op_seq'), 'hash', 'h', 'model', 'bench', 'now', clock_timestamp()))`
	commitArgs := `array_agg('commit'::text), array_agg(jsonb_build_object('reservation_id', id, 'actual', '0.8',
        'key', 'commit:' || id, 'hash', 'h', 'now', clock_timestamp()))`
	run := func(newForm, hot bool, batches int) time.Duration {
		pools, pools2 := "", ""
		if newForm {
			pools, pools2 = ", array_agg(id)", ", array_agg(pool_id)"
		}
		rq := fmt.Sprintf(reserves, "ledger_apply("+reserveArgs+pools+")")
		cq := fmt.Sprintf(commits, "ledger_apply("+commitArgs+pools2+")")
		start := cpu()
		for range batches {
			_, err := conn.Exec(ctx, rq, first, hot)
			require.NoError(b, err)
			_, err = conn.Exec(ctx, cq, first)
			require.NoError(b, err)
		}
		return (cpu() - start) / time.Duration(batches*32)
	}
	for range b.N {
		for round := range 3 {
			for _, hot := range []bool{false, true} {
				old := run(false, hot, 150)
				cur := run(true, hot, 150)
				fmt.Printf("round %d hot=%-5v per-operation writes %4d µs   running state per batch %4d µs\n",
					round+1, hot, old.Microseconds(), cur.Microseconds())
			}
		}
	}
}

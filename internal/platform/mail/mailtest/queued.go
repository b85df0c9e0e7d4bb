package mailtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Queued is a mail_send job as River holds it, before or after a worker
// sent it.
type Queued struct {
	Xmin    string // the transaction that inserted it
	State   string
	Subject string
	Text    string
}

// Querier is what QueuedTo reads through (a pool, a connection or a tx).
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// QueuedTo returns the mail jobs addressed to addr, oldest first.
func QueuedTo(t testing.TB, q Querier, addr string) []Queued {
	t.Helper()
	rows, err := q.Query(context.Background(), `
SELECT xmin::text AS xmin, state::text AS state, args->'message'->>'subject' AS subject, args->'message'->>'text' AS text
FROM river_job WHERE kind = 'mail_send' AND args->'message'->'to' @> jsonb_build_array($1::text) ORDER BY id`, addr)
	if err != nil {
		t.Fatalf("mailtest: queued mail: %v", err)
	}
	jobs, err := pgx.CollectRows(rows, pgx.RowToStructByName[Queued])
	if err != nil {
		t.Fatalf("mailtest: queued mail: %v", err)
	}
	return jobs
}

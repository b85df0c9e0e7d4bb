package creditline

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
)

// A month of ledger events holding a credit lot's events leaves for the
// archive (ledger.Archive) only once the lot's line is billed through the
// month's end: the month's consumption of the line is then all on bills,
// and the archive's checkpoint keeps, per credit lot, that consumption and
// the month's credit_restore events (ledger_archived_lots), which Verify
// adds to the events still in the ledger. A bill's period and a line's
// unbilled consumption start at billed_through, after every archived
// month, so they read only events still in the ledger.

// BilledThrough answers, for the credit lots given, until when the line
// of each is billed (lots with no line are left out); `credits ledger
// archive` passes it to ledger.Archive as CreditBilledThrough. q may be
// the owner role's pool. Errors: database errors.
func BilledThrough(ctx context.Context, q db.DBTX, lots []ledger.LotRef) (map[ledger.LotRef]time.Time, error) {
	pools, ids := make([]int64, len(lots)), make([]int64, len(lots))
	for i, l := range lots {
		pools[i], ids[i] = l.PoolID, l.LotID
	}
	rows, _ := q.Query(ctx, `
SELECT l.account_id, l.lot_id, l.billed_through
FROM credit_lines l JOIN unnest($1::bigint[], $2::bigint[]) x(pool_id, lot_id) ON x.pool_id = l.account_id AND x.lot_id = l.lot_id`, pools, ids)
	out := map[ledger.LotRef]time.Time{}
	var ref ledger.LotRef
	var through time.Time
	_, err := pgx.ForEachRow(rows, []any{&ref.PoolID, &ref.LotID, &through}, func() error {
		out[ref] = through
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("creditline: billed through: %w", err)
	}
	return out, nil
}

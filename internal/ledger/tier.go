package ledger

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/platform/db"
)

// Tier is one row of the tier table (Kimi's model: tiers by cumulative
// recharge): from MinPaidFen paid, a pool gets RPM and TPM as its rate
// limits (the gateway reads them) and may hold MaxOpen reservations open
// at once (ledger_reserve refuses one more with ErrConcurrencyLimit, under
// the pool's lock).
type Tier struct {
	MinPaidFen int64  `db:"min_paid_fen" json:"min_paid_fen"`
	RPM        int64  `db:"rpm" json:"rpm"`
	TPM        int64  `db:"tpm" json:"tpm"`
	MaxOpen    int    `db:"max_open" json:"max_open"`
	UpdatedBy  string `db:"updated_by" json:"-"`
}

// TierFor returns the index in tiers (ascending by MinPaidFen, as Tiers
// returns them) of the tier paidFen reaches, -1 for none.
func TierFor(tiers []Tier, paidFen int64) int {
	at := -1
	for i, t := range tiers {
		if t.MinPaidFen <= paidFen {
			at = i
		}
	}
	return at
}

const selectTiers = `SELECT min_paid_fen, rpm, tpm, max_open, updated_by FROM ledger_tiers ORDER BY min_paid_fen`

// Tiers returns the tier table, ascending by MinPaidFen (empty: no tiers).
func (l *Ledger) Tiers(ctx context.Context) ([]Tier, error) { return TiersTx(ctx, l.latest(ctx)) }

// TiersTx is Tiers on q (a transaction or a pool).
func TiersTx(ctx context.Context, q db.DBTX) ([]Tier, error) {
	rows, _ := q.Query(ctx, selectTiers)
	ts, err := pgx.CollectRows(rows, pgx.RowToStructByName[Tier])
	if err != nil {
		return nil, fmt.Errorf("ledger: tiers: %w", err)
	}
	return ts, nil
}

// SetTiersTx replaces the tier table inside the caller's transaction and
// gives every pool whose open-reservation cap changes its new one at once;
// it returns how many pools changed. The caller checks the rows (positive
// limits, distinct thresholds). Errors: database errors.
func (l *Ledger) SetTiersTx(ctx context.Context, tx pgx.Tx, tiers []Tier, actor string) (int, error) {
	if tiers == nil {
		tiers = []Tier{}
	}
	raw, err := l.execTx(ctx, tx, `SELECT ledger_set_tiers($1::jsonb)`, payload{"tiers": tiers, "actor": actor, "now": l.now()})
	if err != nil {
		return 0, fmt.Errorf("ledger: set tiers: %w", err)
	}
	var out struct {
		Pools int `json:"pools"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return 0, fmt.Errorf("ledger: set tiers: %w", err)
	}
	return out.Pools, nil
}

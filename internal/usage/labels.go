package usage

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// LabelSpend is what one account spent under one project and key label in
// a range: credits charged (paid and unpaid) and the calls charged.
type LabelSpend struct {
	AccountID int64           `db:"account_id"`
	Project   string          `db:"project"`
	Key       string          `db:"key_label"`
	Charged   decimal.Decimal `db:"charged"`
	Unpaid    decimal.Decimal `db:"unpaid"`
	Calls     int64           `db:"calls"`
}

// Label is "project / key" for charts and tables ("—" for an unlabelled part).
func (l LabelSpend) Label() string {
	p, k := l.Project, l.Key
	if p == "" {
		p = "—"
	}
	if k == "" {
		return p
	}
	return p + " / " + k
}

const sqlSpendByLabel = `
SELECT e.account_id, e.project, e.key_label,
       coalesce(sum(-e.amount) FILTER (WHERE e.type <> 'unpaid_usage'), 0) AS charged,
       coalesce(sum(e.unpaid), 0) AS unpaid,
       count(DISTINCT e.op_id) AS calls
FROM ledger_event_view e
WHERE e.pool_id = $1 AND e.type IN ` + usageTypes + `
  AND ($2::bigint = 0 OR e.account_id = $2)
  AND e.occurred_at >= $3 AND e.occurred_at < $4
GROUP BY e.account_id, e.project, e.key_label
ORDER BY charged DESC, e.account_id, e.project, e.key_label`

// SpendByLabel sums the scope's charges between from and to by account,
// project and key label, most spent first. Errors: ErrInvalidFilter.
func (s *Store) SpendByLabel(ctx context.Context, sc Scope, from, to time.Time) ([]LabelSpend, error) {
	if err := checkFilter(Filter{From: from, To: to}); err != nil {
		return nil, err
	}
	rows, err := s.read(ctx).Query(ctx, sqlSpendByLabel, sc.PoolID, sc.AccountID, from.UTC(), to.UTC())
	if err != nil {
		return nil, fmt.Errorf("usage: spend by label: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[LabelSpend])
	if err != nil {
		return nil, fmt.Errorf("usage: spend by label: %w", err)
	}
	return out, nil
}

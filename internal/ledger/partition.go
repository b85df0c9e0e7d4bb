package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/platform/db"
)

// PartitionsAhead is how many Shanghai months past the current one
// CreatePartitions keeps a partition of ledger_events ready for.
const PartitionsAhead = 3

// Partition is one partition of ledger_events: the events with at in
// [From, To). A zero From is the open start (ledger_events_before, every
// event before the table was partitioned), a zero To the open end
// (ledger_events_after, every event past the months created ahead).
type Partition struct {
	Name string
	From time.Time
	To   time.Time
}

// CreatePartitions makes sure ledger_events has a partition of its own for
// the Shanghai month of at and each of the months months after it
// (ledger_partitions_ahead in schema/functions.sql) and returns how many it
// created. q must be the owner role: `credits migrate` and `credits ledger
// retire` run it with time.Now() and PartitionsAhead. Until it runs, events
// of later months are kept in ledger_events_after, so no write waits for
// it; it refuses (and changes nothing) when that partition already holds
// events of a month it would split off.
func CreatePartitions(ctx context.Context, q db.DBTX, at time.Time, months int) (int, error) {
	var n int
	if err := q.QueryRow(ctx, `SELECT ledger_partitions_ahead($1, $2)`, at, months).Scan(&n); err != nil {
		return 0, fmt.Errorf("ledger: create partitions: %w", err)
	}
	return n, nil
}

// Partitions lists ledger_events' attached partitions, oldest first.
func Partitions(ctx context.Context, q db.DBTX) ([]Partition, error) {
	rows, _ := q.Query(ctx, `SELECT name, from_at, to_at FROM ledger_event_partitions()`)
	parts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Partition, error) {
		var p Partition
		var from, to *time.Time
		if err := r.Scan(&p.Name, &from, &to); err != nil {
			return p, err
		}
		if from != nil {
			p.From = from.UTC()
		}
		if to != nil {
			p.To = to.UTC()
		}
		return p, nil
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: partitions: %w", err)
	}
	return parts, nil
}

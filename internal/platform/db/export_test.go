package db

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"
)

// ProbeOnce runs one probe now (tests).
func (r *Reader) ProbeOnce(ctx context.Context) { r.probe(ctx) }

// SetPrimary replaces the primary's pool before Run (tests: a primary
// that hangs after the standby's lag was measured against a real one).
func (r *Reader) SetPrimary(p *pgxpool.Pool) { r.primary = p }

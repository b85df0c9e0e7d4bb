// Package migrations holds the SQL schema, applied in order by goose, and
// the repeatable SQL applied after it.
//
// Versions are allocated in blocks per domain so that work on different
// domains never collides: 0001xx platform, 0002xx ledger, 0003xx pricing and
// gateway API, 0004xx identity and portal, 0005xx payments, 0006xx back office,
// 0007xx verification and invoicing, 0008xx rules across domains (which
// tables are append-only). A later migration may carry a lower number than
// one already applied; goose applies it too (db.Migrate allows out-of-order).
package migrations

import (
	"embed"

	gatewayschema "github.com/seed75218f88/credits/internal/gateway/schema"
	"github.com/seed75218f88/credits/internal/ledger/schema"
	planschema "github.com/seed75218f88/credits/internal/plans/schema"
)

// FS holds every migration file.
//
//go:embed *.sql
var FS embed.FS

// Repeatable is SQL that defines rather than changes: CREATE OR REPLACE
// statements kept in one file next to the code that calls them, applied
// after the numbered migrations every time they run.
type Repeatable struct {
	Name string // names it in errors and in the schema_repeatable table
	SQL  string
}

// Repeatables are applied in this order after the numbered migrations.
var Repeatables = []Repeatable{
	{Name: "ledger functions (internal/ledger/schema/functions.sql)", SQL: schema.Functions},
	{Name: "plan quota functions (internal/plans/schema/quota.sql)", SQL: planschema.Quota},
	{Name: "gateway quota functions (internal/gateway/schema/quota.sql)", SQL: gatewayschema.Quota},
}

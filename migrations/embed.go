// Package migrations holds the SQL schema, applied in order by goose.
//
// Versions are allocated in blocks per domain so that work on different
// domains never collides: 0001xx platform, 0002xx ledger, 0003xx pricing and
// gateway API, 0004xx identity and portal, 0005xx payments, 0006xx back office,
// 0007xx verification and invoicing, 0008xx rules across domains (which
// tables are append-only). A later migration may carry a lower number than
// one already applied; goose applies it too (db.Migrate allows out-of-order).
package migrations

import "embed"

// FS holds every migration file.
//
//go:embed *.sql
var FS embed.FS

// Package draft keeps the unpublished edits of a versioned catalogue (the
// plans, the one-off products): one draft per code, saved with optimistic
// revisions, published by its catalogue into that catalogue's versions.
// The catalogue owns its rules and errors; this package owns the drafts
// table's SQL, which both catalogues share column for column.
package draft

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/platform/db"
)

// Draft is one unpublished edit of a catalogue entry, its spec S kept as JSON.
type Draft[S any] struct {
	ID int64 `json:"id"`
	// BasedOn is the version it was copied from (0 for a new entry).
	BasedOn int `json:"based_on"`
	// Revision counts saves; a save names the revision it read.
	Revision  int       `json:"revision"`
	Spec      S         `json:"spec"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by"`
}

// Table is a catalogue's drafts table: columns id, code (unique), based_on,
// revision, spec (jsonb), created_at, updated_at, updated_by. Its errors
// are the catalogue's own sentinels.
type Table[S any] struct {
	name string
	// NotFound: no such draft. CodeTaken: the code has a draft already.
	// Stale: the draft was saved since the revision read.
	NotFound, CodeTaken, Stale error
}

// NewTable returns the drafts kept in table name (a constant of the
// catalogue's, never user input), answering with the given sentinels.
func NewTable[S any](name string, notFound, codeTaken, stale error) Table[S] {
	return Table[S]{name: name, NotFound: notFound, CodeTaken: codeTaken, Stale: stale}
}

const columns = `id, coalesce(based_on, 0), revision, spec, updated_at, updated_by`

// Where reads the one draft matching the SQL condition where (NotFound if
// none); where may end in FOR UPDATE.
func (t Table[S]) Where(ctx context.Context, q db.DBTX, where string, args ...any) (Draft[S], error) {
	rows, err := q.Query(ctx, `SELECT `+columns+` FROM `+t.name+` WHERE `+where, args...)
	if err != nil {
		return Draft[S]{}, err
	}
	d, err := pgx.CollectExactlyOneRow(rows, scan[S])
	if errors.Is(err, pgx.ErrNoRows) {
		return Draft[S]{}, t.NotFound
	}
	return d, err
}

// All returns every draft, by code.
func (t Table[S]) All(ctx context.Context, q db.DBTX) ([]Draft[S], error) {
	rows, err := q.Query(ctx, `SELECT `+columns+` FROM `+t.name+` ORDER BY code`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scan[S])
}

// Insert stores a new draft of spec under code, copied from version basedOn
// (0: none), or returns CodeTaken when code has a draft already.
func (t Table[S]) Insert(ctx context.Context, q db.DBTX, code string, spec S, basedOn int, actor string, now time.Time) (Draft[S], error) {
	body, err := json.Marshal(spec)
	if err != nil {
		return Draft[S]{}, err
	}
	var based *int
	if basedOn > 0 {
		based = &basedOn
	}
	rows, err := q.Query(ctx, `
INSERT INTO `+t.name+` (code, based_on, spec, created_at, updated_at, updated_by)
VALUES ($1, $2, $3, $4, $4, $5)
ON CONFLICT (code) DO NOTHING
RETURNING `+columns, code, based, body, now, actor)
	if err != nil {
		return Draft[S]{}, err
	}
	d, err := pgx.CollectExactlyOneRow(rows, scan[S])
	if errors.Is(err, pgx.ErrNoRows) {
		return Draft[S]{}, t.CodeTaken
	}
	return d, err
}

// Save replaces draft id's spec when it is still at revision, and returns
// it one revision higher. Errors: Stale when it was saved since; NotFound
// when it is gone (published or discarded).
func (t Table[S]) Save(ctx context.Context, q db.DBTX, id int64, revision int, spec S, actor string, now time.Time) (Draft[S], error) {
	body, err := json.Marshal(spec)
	if err != nil {
		return Draft[S]{}, err
	}
	rows, err := q.Query(ctx, `
UPDATE `+t.name+` SET spec = $3, revision = revision + 1, updated_at = $4, updated_by = $5
WHERE id = $1 AND revision = $2
RETURNING `+columns, id, revision, body, now, actor)
	if err != nil {
		return Draft[S]{}, err
	}
	d, err := pgx.CollectExactlyOneRow(rows, scan[S])
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err := t.Where(ctx, q, `id = $1`, id); err != nil {
			return Draft[S]{}, err
		}
		return Draft[S]{}, t.Stale
	}
	return d, err
}

// Delete removes draft id (discarded, or published in the caller's
// transaction). Errors: NotFound.
func (t Table[S]) Delete(ctx context.Context, q db.DBTX, id int64) error {
	tag, err := q.Exec(ctx, `DELETE FROM `+t.name+` WHERE id = $1`, id)
	if err == nil && tag.RowsAffected() == 0 {
		err = t.NotFound
	}
	return err
}

func scan[S any](row pgx.CollectableRow) (Draft[S], error) {
	var d Draft[S]
	var body []byte
	if err := row.Scan(&d.ID, &d.BasedOn, &d.Revision, &body, &d.UpdatedAt, &d.UpdatedBy); err != nil {
		return Draft[S]{}, err
	}
	if err := json.Unmarshal(body, &d.Spec); err != nil {
		return Draft[S]{}, fmt.Errorf("draft %d: %w", d.ID, err)
	}
	d.UpdatedAt = d.UpdatedAt.UTC()
	return d, nil
}

package products

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/webhook"
)

// Options configure the Service.
type Options struct {
	// Now is the clock (time.Now).
	Now func() time.Time
	// Webhooks receives entitlement.granted events inside the granting
	// transaction; nil sends none.
	Webhooks *webhook.Service
}

// Service is the product catalogue and the entitlements.
type Service struct {
	pool     *pgxpool.Pool
	now      func() time.Time
	webhooks *webhook.Service
}

// New returns the catalogue on pool.
func New(pool *pgxpool.Pool, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Service{pool: pool, now: o.Now, webhooks: o.Webhooks}
}

// SetWebhooks sets where entitlement.granted events go (the webhook
// service is built after the catalogue).
func (s *Service) SetWebhooks(w *webhook.Service) { s.webhooks = w }

// CreateDraft starts a draft of a new product (spec.Code has no version).
//
// Errors: *ValidationError (ErrInvalidProduct); ErrCodeTaken; database
// errors wrapped with "products: create draft:".
func (s *Service) CreateDraft(ctx context.Context, spec Spec, actor string) (Draft, error) {
	if err := validateEdit(spec, actor); err != nil {
		return Draft{}, err
	}
	var d Draft
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM product_versions WHERE code = $1)`, spec.Code).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return ErrCodeTaken
		}
		var err error
		d, err = insertDraft(ctx, tx, spec, 0, actor, s.now())
		return err
	})
	return d, wrap("create draft", err)
}

// OpenDraft returns the draft of code, first copying the latest version
// into one when there is none.
//
// Errors: ErrNotFound when code has neither; *ValidationError (CodeNoActor);
// database errors wrapped with "products: open draft:".
func (s *Service) OpenDraft(ctx context.Context, code, actor string) (Draft, error) {
	if actor == "" {
		return Draft{}, &ValidationError{Code: CodeNoActor}
	}
	var d Draft
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if d, err = draftWhere(ctx, tx, `code = $1`, code); !errors.Is(err, ErrNotFound) {
			return err
		}
		p, err := latest(ctx, tx, code)
		if err != nil {
			return err
		}
		d, err = insertDraft(ctx, tx, p.Spec, p.Version, actor, s.now())
		return err
	})
	if errors.Is(err, ErrCodeTaken) { // a concurrent OpenDraft made it
		d, err = draftWhere(ctx, s.pool, `code = $1`, code)
	}
	return d, wrap("open draft", err)
}

func validateEdit(spec Spec, actor string) error {
	if actor == "" {
		return &ValidationError{Code: CodeNoActor}
	}
	return Validate(spec)
}

// Draft returns the draft with id. Errors: ErrNotFound.
func (s *Service) Draft(ctx context.Context, id int64) (Draft, error) {
	d, err := draftWhere(ctx, s.pool, `id = $1`, id)
	return d, wrap("draft", err)
}

// DraftOf returns the draft of product code. Errors: ErrNotFound.
func (s *Service) DraftOf(ctx context.Context, code string) (Draft, error) {
	d, err := draftWhere(ctx, s.pool, `code = $1`, code)
	return d, wrap("draft", err)
}

// Drafts returns every open draft, by code.
func (s *Service) Drafts(ctx context.Context) ([]Draft, error) {
	rows, err := s.pool.Query(ctx, selectDraft+` ORDER BY code`)
	if err != nil {
		return nil, wrap("drafts", err)
	}
	ds, err := pgx.CollectRows(rows, scanDraft)
	return ds, wrap("drafts", err)
}

// SaveDraft replaces the content of draft id, read at revision; the code
// cannot change.
//
// Errors: *ValidationError (ErrInvalidProduct); ErrStaleDraft; ErrNotFound;
// database errors wrapped with "products: save draft:".
func (s *Service) SaveDraft(ctx context.Context, id int64, revision int, spec Spec, actor string) (Draft, error) {
	if err := validateEdit(spec, actor); err != nil {
		return Draft{}, err
	}
	cur, err := draftWhere(ctx, s.pool, `id = $1`, id)
	if err != nil {
		return Draft{}, wrap("save draft", err)
	}
	if cur.Spec.Code != spec.Code {
		return Draft{}, &ValidationError{Code: CodeBadCode}
	}
	body, err := json.Marshal(spec)
	if err != nil {
		return Draft{}, wrap("save draft", err)
	}
	rows, err := s.pool.Query(ctx, `
UPDATE product_drafts SET spec = $3, revision = revision + 1, updated_at = $4, updated_by = $5
WHERE id = $1 AND revision = $2
RETURNING `+draftColumns, id, revision, body, s.now(), actor)
	if err != nil {
		return Draft{}, wrap("save draft", err)
	}
	d, err := pgx.CollectExactlyOneRow(rows, scanDraft)
	if errors.Is(err, pgx.ErrNoRows) {
		return Draft{}, wrap("save draft", ErrStaleDraft)
	}
	return d, wrap("save draft", err)
}

// Publish makes draft id its code's next version, deleting the draft in the
// same transaction. Of concurrent publishes of one draft one wins; the
// others get ErrAlreadyPublished with the version it made.
//
// Errors: ErrAlreadyPublished (with the product); ErrNotFound;
// ErrStaleDraft; *ValidationError; database errors wrapped with
// "products: publish:".
func (s *Service) Publish(ctx context.Context, id int64, actor string) (Product, error) {
	if actor == "" {
		return Product{}, &ValidationError{Code: CodeNoActor}
	}
	var p Product
	var already bool
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		already = false
		d, err := draftWhere(ctx, tx, `id = $1 FOR UPDATE`, id)
		if errors.Is(err, ErrNotFound) {
			var code string
			var version int
			err := tx.QueryRow(ctx, `SELECT code, version FROM product_versions WHERE draft_id = $1`, id).Scan(&code, &version)
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrNotFound
			}
			if err != nil {
				return err
			}
			already = true
			p, err = version1(ctx, tx, code, version)
			return err
		}
		if err != nil {
			return err
		}
		if err := Validate(d.Spec); err != nil {
			return err
		}
		var last int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM product_versions WHERE code = $1`, d.Spec.Code).Scan(&last); err != nil {
			return err
		}
		if last != d.BasedOn {
			return ErrStaleDraft
		}
		sp := d.Spec
		var creditDays, jobs, days *int
		if sp.CreditDays > 0 {
			creditDays = &sp.CreditDays
		}
		if sp.JobCount > 0 {
			jobs = &sp.JobCount
		}
		if sp.EntitlementDays > 0 {
			days = &sp.EntitlementDays
		}
		if _, err := tx.Exec(ctx, `
INSERT INTO product_versions (code, version, name_zh, name_en, description_zh, description_en, kind, price_fen, credits,
    credit_days, job_count, entitlement_days, refund_days, draft_id, published_at, published_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::numeric, $10, $11, $12, $13, $14, $15, $16)`,
			sp.Code, last+1, sp.NameZH, sp.NameEN, sp.DescriptionZH, sp.DescriptionEN, string(sp.Kind), sp.PriceFen,
			sp.Credits.String(), creditDays, jobs, days, sp.RefundDays, id, s.now().UTC().Truncate(time.Microsecond), actor); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM product_drafts WHERE id = $1`, id); err != nil {
			return err
		}
		p, err = version1(ctx, tx, sp.Code, last+1)
		return err
	})
	if err == nil && already {
		return p, fmt.Errorf("products: publish: %w (version %d)", ErrAlreadyPublished, p.Version)
	}
	if err != nil {
		return Product{}, wrap("publish", err)
	}
	return p, nil
}

// Version returns version of product code. Errors: ErrNotFound.
func (s *Service) Version(ctx context.Context, code string, version int) (Product, error) {
	p, err := version1(ctx, s.pool, code, version)
	return p, wrap("version", err)
}

// Latest returns the newest version of product code: what is sold now.
// Errors: ErrNotFound.
func (s *Service) Latest(ctx context.Context, code string) (Product, error) {
	p, err := latest(ctx, s.pool, code)
	return p, wrap("latest", err)
}

// Versions returns every version of product code, newest first.
func (s *Service) Versions(ctx context.Context, code string) ([]Product, error) {
	ps, err := load(ctx, s.pool, `WHERE code = $1 ORDER BY version DESC`, code)
	return ps, wrap("versions", err)
}

// Catalogue returns the latest version of every product, by price then
// code: what the portal sells.
func (s *Service) Catalogue(ctx context.Context) ([]Product, error) {
	ps, err := load(ctx, s.pool, `WHERE (code, version) IN (SELECT code, max(version) FROM product_versions GROUP BY code)
ORDER BY price_fen, code`)
	return ps, wrap("catalogue", err)
}

func version1(ctx context.Context, q db.DBTX, code string, version int) (Product, error) {
	ps, err := load(ctx, q, `WHERE code = $1 AND version = $2`, code, version)
	if err != nil {
		return Product{}, err
	}
	if len(ps) == 0 {
		return Product{}, ErrNotFound
	}
	return ps[0], nil
}

func latest(ctx context.Context, q db.DBTX, code string) (Product, error) {
	ps, err := load(ctx, q, `WHERE code = $1 ORDER BY version DESC LIMIT 1`, code)
	if err != nil {
		return Product{}, err
	}
	if len(ps) == 0 {
		return Product{}, ErrNotFound
	}
	return ps[0], nil
}

type versionRow struct {
	Code            string
	Version         int
	NameZH          string
	NameEN          string
	DescriptionZH   string
	DescriptionEN   string
	Kind            string
	PriceFen        int64
	Credits         decimal.Decimal
	CreditDays      int
	JobCount        int
	EntitlementDays int
	RefundDays      int
	PublishedAt     time.Time
	PublishedBy     string
}

// load reads the versions matching where (and its ORDER BY).
func load(ctx context.Context, q db.DBTX, where string, args ...any) ([]Product, error) {
	rows, err := q.Query(ctx, `
SELECT code, version, name_zh, name_en, description_zh, description_en, kind, price_fen, trim_scale(credits)::text,
       coalesce(credit_days, 0), coalesce(job_count, 0), coalesce(entitlement_days, 0), refund_days, published_at, published_by
FROM product_versions `+where, args...)
	if err != nil {
		return nil, err
	}
	vs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[versionRow])
	if err != nil {
		return nil, err
	}
	out := make([]Product, len(vs))
	for i, v := range vs {
		out[i] = Product{Spec: Spec{Code: v.Code, NameZH: v.NameZH, NameEN: v.NameEN, DescriptionZH: v.DescriptionZH,
			DescriptionEN: v.DescriptionEN, Kind: Kind(v.Kind), PriceFen: v.PriceFen, Credits: v.Credits, CreditDays: v.CreditDays,
			JobCount: v.JobCount, EntitlementDays: v.EntitlementDays, RefundDays: v.RefundDays},
			Version: v.Version, PublishedAt: v.PublishedAt.UTC(), PublishedBy: v.PublishedBy}
	}
	return out, nil
}

const draftColumns = `id, coalesce(based_on, 0), revision, spec, updated_at, updated_by`

const selectDraft = `SELECT ` + draftColumns + ` FROM product_drafts`

func scanDraft(row pgx.CollectableRow) (Draft, error) {
	var d Draft
	var body []byte
	if err := row.Scan(&d.ID, &d.BasedOn, &d.Revision, &body, &d.UpdatedAt, &d.UpdatedBy); err != nil {
		return Draft{}, err
	}
	if err := json.Unmarshal(body, &d.Spec); err != nil {
		return Draft{}, fmt.Errorf("draft %d: %w", d.ID, err)
	}
	d.UpdatedAt = d.UpdatedAt.UTC()
	return d, nil
}

func draftWhere(ctx context.Context, q db.DBTX, where string, args ...any) (Draft, error) {
	rows, err := q.Query(ctx, selectDraft+` WHERE `+where, args...)
	if err != nil {
		return Draft{}, err
	}
	d, err := pgx.CollectExactlyOneRow(rows, scanDraft)
	if errors.Is(err, pgx.ErrNoRows) {
		return Draft{}, ErrNotFound
	}
	return d, err
}

func insertDraft(ctx context.Context, tx pgx.Tx, spec Spec, basedOn int, actor string, now time.Time) (Draft, error) {
	body, err := json.Marshal(spec)
	if err != nil {
		return Draft{}, err
	}
	var based *int
	if basedOn > 0 {
		based = &basedOn
	}
	rows, err := tx.Query(ctx, `
INSERT INTO product_drafts (code, based_on, spec, created_at, updated_at, updated_by)
VALUES ($1, $2, $3, $4, $4, $5)
ON CONFLICT (code) DO NOTHING
RETURNING `+draftColumns, spec.Code, based, body, now, actor)
	if err != nil {
		return Draft{}, err
	}
	d, err := pgx.CollectExactlyOneRow(rows, scanDraft)
	if errors.Is(err, pgx.ErrNoRows) {
		return Draft{}, ErrCodeTaken
	}
	return d, err
}

package products

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/draft"
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
	pool     db.Querier
	now      func() time.Time
	webhooks *webhook.Service
}

// New returns the catalogue on pool.
func New(pool db.Querier, o Options) *Service {
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
		d, err = drafts.Insert(ctx, tx, spec.Code, spec, 0, actor, s.now())
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
		if d, err = drafts.Where(ctx, tx, `code = $1`, code); !errors.Is(err, ErrNotFound) {
			return err
		}
		p, err := latest(ctx, tx, code)
		if err != nil {
			return err
		}
		d, err = drafts.Insert(ctx, tx, p.Spec.Code, p.Spec, p.Version, actor, s.now())
		return err
	})
	if errors.Is(err, ErrCodeTaken) { // a concurrent OpenDraft made it
		d, err = drafts.Where(ctx, s.pool, `code = $1`, code)
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
	d, err := drafts.Where(ctx, s.pool, `id = $1`, id)
	return d, wrap("draft", err)
}

// DraftOf returns the draft of product code. Errors: ErrNotFound.
func (s *Service) DraftOf(ctx context.Context, code string) (Draft, error) {
	d, err := drafts.Where(ctx, s.pool, `code = $1`, code)
	return d, wrap("draft", err)
}

// Drafts returns every open draft, by code.
func (s *Service) Drafts(ctx context.Context) ([]Draft, error) {
	ds, err := drafts.All(ctx, s.pool)
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
	cur, err := drafts.Where(ctx, s.pool, `id = $1`, id)
	if err != nil {
		return Draft{}, wrap("save draft", err)
	}
	if cur.Spec.Code != spec.Code {
		return Draft{}, &ValidationError{Code: CodeBadCode}
	}
	d, err := drafts.Save(ctx, s.pool, id, revision, spec, actor, s.now())
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
		d, err := drafts.Where(ctx, tx, `id = $1 FOR UPDATE`, id)
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
		if err := drafts.Delete(ctx, tx, id); err != nil {
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

// drafts are the products' drafts.
var drafts = draft.NewTable[Spec]("product_drafts", ErrNotFound, ErrCodeTaken, ErrStaleDraft)

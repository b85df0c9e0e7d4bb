package plans

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/draft"
)

// Options configure the Service.
type Options struct {
	// Now is the clock drafts and versions are stamped with (time.Now).
	Now func() time.Time
	// RenewalTerms are the renewal lead days and grace days in force (the
	// settings screen); nil or out of bounds: DefaultRenewalLeadDays,
	// DefaultGraceDays. Subscriptions only.
	RenewalTerms func() RenewalTerms
	// Notify tells the account about a subscription change inside the
	// transaction that made it (Notifier.Notify); nil: nobody is told.
	// Subscriptions only.
	Notify func(ctx context.Context, tx pgx.Tx, n Notice) error
	// CreditPriceRMB is the price of one credit in yuan (CREDIT_PRICE_RMB):
	// the yearly refund values plan credit consumed beyond the elapsed
	// share at it. Subscriptions only; zero: no yearly refunds.
	CreditPriceRMB decimal.Decimal
	// Reader, when set, lets Current in a page request be answered by the
	// standby while no primary answers (db.Reader.Latest). Subscriptions
	// only.
	Reader *db.Reader
}

// Service is the plan catalogue: drafts, publishing and the published
// versions.
type Service struct {
	pool db.Querier
	now  func() time.Time
}

// New returns the catalogue on pool.
func New(pool db.Querier, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Service{pool: pool, now: o.Now}
}

// CreateDraft starts a draft of a new plan (spec.Code has no version yet).
//
// Errors: *ValidationError (ErrInvalidPlan); ErrCodeTaken when the code has
// a version or a draft; database errors wrapped with "plans: create draft:".
func (s *Service) CreateDraft(ctx context.Context, spec Spec, actor string) (Draft, error) {
	if err := validateEdit(spec, actor); err != nil {
		return Draft{}, err
	}
	var d Draft
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM plan_versions WHERE code = $1)`, spec.Code).Scan(&exists); err != nil {
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

// OpenDraft returns the draft of code, first making one as a copy of the
// latest published version when there is none.
//
// Errors: ErrNotFound when code has neither a draft nor a version;
// *ValidationError (CodeNoActor) when actor is empty; database errors
// wrapped with "plans: open draft:".
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
		latest, err := latest(ctx, tx, code)
		if err != nil {
			return err
		}
		d, err = insertDraft(ctx, tx, latest.Spec, latest.Version, actor, s.now())
		if errors.Is(err, ErrCodeTaken) { // a concurrent OpenDraft made it
			return errRetryRead
		}
		return err
	})
	if errors.Is(err, errRetryRead) {
		d, err = drafts.Where(ctx, s.pool, `code = $1`, code)
	}
	return d, wrap("open draft", err)
}

// validateEdit checks a spec and that someone is named as editing it.
func validateEdit(spec Spec, actor string) error {
	if actor == "" {
		return &ValidationError{Code: CodeNoActor}
	}
	return Validate(spec)
}

// errRetryRead makes OpenDraft read the draft a concurrent call made.
var errRetryRead = errors.New("plans: read again")

// Draft returns the draft with id.
//
// Errors: ErrNotFound; database errors wrapped with "plans: draft:".
func (s *Service) Draft(ctx context.Context, id int64) (Draft, error) {
	d, err := drafts.Where(ctx, s.pool, `id = $1`, id)
	return d, wrap("draft", err)
}

// Drafts returns every open draft, by code.
//
// Errors: database errors wrapped with "plans: drafts:".
func (s *Service) Drafts(ctx context.Context) ([]Draft, error) {
	ds, err := drafts.All(ctx, s.pool)
	return ds, wrap("drafts", err)
}

// SaveDraft replaces the content of draft id, which the caller read at
// revision; the plan's code cannot change. It returns the saved draft (its
// revision one higher).
//
// Errors: *ValidationError (ErrInvalidPlan); ErrStaleDraft when the draft
// was saved since revision; ErrNotFound when there is no such draft (also
// once published or discarded); database errors wrapped with
// "plans: save draft:".
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

// DiscardDraft deletes draft id unpublished.
//
// Errors: ErrNotFound; database errors wrapped with "plans: discard draft:".
func (s *Service) DiscardDraft(ctx context.Context, id int64) error {
	return wrap("discard draft", drafts.Delete(ctx, s.pool, id))
}

// Publish makes draft id its code's next version, in one transaction that
// also deletes the draft; actor names who published. Publishing one draft
// from many requests at once publishes it once: the others wait for the
// first and get ErrAlreadyPublished with the version it made.
//
// Errors: ErrAlreadyPublished (with the published plan) when the draft was
// published before; ErrNotFound when there is no such draft; ErrStaleDraft
// when a version of the code was published after the draft was copied;
// *ValidationError (ErrInvalidPlan; CodeNoActor when actor is empty);
// database errors wrapped with "plans: publish:".
func (s *Service) Publish(ctx context.Context, id int64, actor string) (Plan, error) {
	if actor == "" {
		return Plan{}, &ValidationError{Code: CodeNoActor}
	}
	var p Plan
	var already bool
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		already = false
		d, err := drafts.Where(ctx, tx, `id = $1 FOR UPDATE`, id)
		if errors.Is(err, ErrNotFound) {
			// Published (or discarded) by someone else, perhaps while this
			// transaction waited for the draft's lock.
			var code string
			var version int
			err := tx.QueryRow(ctx, `SELECT code, version FROM plan_versions WHERE draft_id = $1`, id).Scan(&code, &version)
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrNotFound
			}
			if err != nil {
				return err
			}
			already = true
			p, err = s.version(ctx, tx, code, version)
			return err
		}
		if err != nil {
			return err
		}
		if err := Validate(d.Spec); err != nil {
			return err
		}
		var last int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM plan_versions WHERE code = $1`, d.Spec.Code).Scan(&last); err != nil {
			return err
		}
		if last != d.BasedOn {
			return ErrStaleDraft
		}
		p = Plan{Spec: d.Spec, Version: last + 1, PublishedAt: s.now().UTC().Truncate(time.Microsecond), PublishedBy: actor}
		if err := insertVersion(ctx, tx, &p, id); err != nil {
			return err
		}
		if err := drafts.Delete(ctx, tx, id); err != nil {
			return err
		}
		p, err = s.version(ctx, tx, p.Code, p.Version) // as stored
		return err
	})
	if err == nil && already {
		return p, fmt.Errorf("plans: publish: %w (version %d)", ErrAlreadyPublished, p.Version)
	}
	var ve *ValidationError
	if errors.As(err, &ve) {
		return Plan{}, err
	}
	if err != nil {
		return Plan{}, wrap("publish", err)
	}
	return p, nil
}

// insertVersion writes p (numbering its items) as published from draft.
func insertVersion(ctx context.Context, tx pgx.Tx, p *Plan, draft int64) error {
	zh := make([]string, len(p.Features))
	en := make([]string, len(p.Features))
	for i, f := range p.Features {
		zh[i], en[i] = f.ZH, f.EN
	}
	b := &pgx.Batch{}
	b.Queue(`
INSERT INTO plan_versions (code, version, name_zh, name_en, tier, monthly_price_fen, yearly_price_fen,
    monthly_credits, rpm, tpm, features_zh, features_en, draft_id, published_at, published_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::numeric, $9, $10, $11, $12, $13, $14, $15)`,
		p.Code, p.Version, p.NameZH, p.NameEN, p.Tier, p.MonthlyPriceFen, p.YearlyPriceFen,
		p.MonthlyCredits.String(), p.RPM, p.TPM, zh, en, draft, p.PublishedAt, p.PublishedBy)
	items := append([]Item(nil), p.Items...)
	for i := range items {
		it := &items[i]
		it.No = i + 1
		b.Queue(`INSERT INTO plan_version_items (code, version, item_no, group_name) VALUES ($1, $2, $3, $4)`,
			p.Code, p.Version, it.No, it.Group)
		for _, m := range it.Models {
			b.Queue(`INSERT INTO plan_version_item_models (code, version, item_no, model) VALUES ($1, $2, $3, $4)`,
				p.Code, p.Version, it.No, m)
		}
		for j, q := range it.Quotas {
			b.Queue(`
INSERT INTO plan_version_quotas (code, version, item_no, quota_no, unit, window_kind, window_hours, quota_limit)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
				p.Code, p.Version, it.No, j+1, string(q.Unit), string(q.Window.Kind), q.Window.Hours, q.Limit)
		}
	}
	p.Items = items
	return tx.SendBatch(ctx, b).Close()
}

// Version returns version of plan code.
//
// Errors: ErrNotFound; database errors wrapped with "plans: version:".
func (s *Service) Version(ctx context.Context, code string, version int) (Plan, error) {
	p, err := s.version(ctx, s.pool, code, version)
	return p, wrap("version", err)
}

func (s *Service) version(ctx context.Context, q db.DBTX, code string, version int) (Plan, error) {
	ps, err := loadPlans(ctx, q, `WHERE code = $1 AND version = $2`, code, version)
	if err != nil {
		return Plan{}, err
	}
	if len(ps) == 0 {
		return Plan{}, ErrNotFound
	}
	return ps[0], nil
}

// Latest returns the newest published version of plan code: what a new
// subscription or a renewal gets.
//
// Errors: ErrNotFound; database errors wrapped with "plans: latest:".
func (s *Service) Latest(ctx context.Context, code string) (Plan, error) {
	p, err := latest(ctx, s.pool, code)
	return p, wrap("latest", err)
}

func latest(ctx context.Context, q db.DBTX, code string) (Plan, error) {
	ps, err := loadPlans(ctx, q, `WHERE code = $1 AND version = (SELECT max(version) FROM plan_versions WHERE code = $1)`, code)
	if err != nil {
		return Plan{}, err
	}
	if len(ps) == 0 {
		return Plan{}, ErrNotFound
	}
	return ps[0], nil
}

// Versions returns every published version of plan code, oldest first
// (empty when there is none).
//
// Errors: database errors wrapped with "plans: versions:".
func (s *Service) Versions(ctx context.Context, code string) ([]Plan, error) {
	ps, err := loadPlans(ctx, s.pool, `WHERE code = $1`, code)
	return ps, wrap("versions", err)
}

// Catalogue returns the latest version of every plan, by tier then code:
// the tiers a customer compares.
//
// Errors: database errors wrapped with "plans: catalogue:".
func (s *Service) Catalogue(ctx context.Context) ([]Plan, error) {
	ps, err := loadPlans(ctx, s.pool, `WHERE (code, version) IN (SELECT code, max(version) FROM plan_versions GROUP BY code)`)
	return ps, wrap("catalogue", err)
}

type versionRow struct {
	Code            string
	Version         int
	NameZH          string
	NameEN          string
	Tier            int
	MonthlyPriceFen int64
	YearlyPriceFen  int64
	MonthlyCredits  decimal.Decimal
	RPM             int
	TPM             int64
	FeaturesZH      []string
	FeaturesEN      []string
	PublishedAt     time.Time
	PublishedBy     string
}

type quotaRow struct {
	Code    string
	Version int
	ItemNo  int
	Group   string
	Models  []string
	QuotaNo int
	Unit    string
	Kind    string
	Hours   int
	Limit   int64
}

// loadPlans reads the versions matching where (over plan_versions' columns)
// with their items, ordered by tier, code and version.
func loadPlans(ctx context.Context, q db.DBTX, where string, args ...any) ([]Plan, error) {
	rows, err := q.Query(ctx, `
SELECT code, version, name_zh, name_en, tier, monthly_price_fen, yearly_price_fen, trim_scale(monthly_credits)::text,
       rpm, tpm, features_zh, features_en, published_at, published_by
FROM plan_versions `+where+`
ORDER BY tier, code, version`, args...)
	if err != nil {
		return nil, err
	}
	vs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[versionRow])
	if err != nil || len(vs) == 0 {
		return nil, err
	}
	codes := make([]string, len(vs))
	versions := make([]int32, len(vs))
	for i, v := range vs {
		codes[i], versions[i] = v.Code, int32(v.Version)
	}
	rows, err = q.Query(ctx, `
SELECT i.code, i.version, i.item_no, i.group_name,
       ARRAY(SELECT m.model FROM plan_version_item_models m
             WHERE (m.code, m.version, m.item_no) = (i.code, i.version, i.item_no) ORDER BY m.model),
       q.quota_no, q.unit, q.window_kind, q.window_hours, q.quota_limit
FROM plan_version_items i
JOIN plan_version_quotas q USING (code, version, item_no)
WHERE (i.code, i.version) IN (SELECT * FROM unnest($1::text[], $2::int[]))
ORDER BY i.code, i.version, i.item_no, q.quota_no`, codes, versions)
	if err != nil {
		return nil, err
	}
	qs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[quotaRow])
	if err != nil {
		return nil, err
	}
	type key struct {
		code    string
		version int
	}
	items := map[key][]Item{}
	for _, r := range qs {
		k := key{r.Code, r.Version}
		its := items[k]
		if len(its) == 0 || its[len(its)-1].No != r.ItemNo {
			its = append(its, Item{No: r.ItemNo, Group: r.Group, Models: r.Models})
		}
		it := &its[len(its)-1]
		it.Quotas = append(it.Quotas, Quota{Unit: Unit(r.Unit), Window: Window{Kind: WindowKind(r.Kind), Hours: r.Hours}, Limit: r.Limit})
		items[k] = its
	}
	out := make([]Plan, len(vs))
	for i, v := range vs {
		features := make([]Feature, len(v.FeaturesZH))
		for j := range features {
			features[j] = Feature{ZH: v.FeaturesZH[j], EN: v.FeaturesEN[j]}
		}
		out[i] = Plan{
			Spec: Spec{Code: v.Code, NameZH: v.NameZH, NameEN: v.NameEN, Tier: v.Tier,
				MonthlyPriceFen: v.MonthlyPriceFen, YearlyPriceFen: v.YearlyPriceFen, MonthlyCredits: v.MonthlyCredits,
				RPM: v.RPM, TPM: v.TPM, Features: features, Items: items[key{v.Code, v.Version}]},
			Version: v.Version, PublishedAt: v.PublishedAt.UTC(), PublishedBy: v.PublishedBy,
		}
	}
	return out, nil
}

// insertDraft stores a new draft of spec copied from version basedOn (0:
// none), or returns ErrCodeTaken when code has a draft already.
func insertDraft(ctx context.Context, tx pgx.Tx, spec Spec, basedOn int, actor string, now time.Time) (Draft, error) {
	// Item numbers belong to a published version; a draft has none.
	spec.Items = append([]Item(nil), spec.Items...)
	for i := range spec.Items {
		spec.Items[i].No = 0
	}
	return drafts.Insert(ctx, tx, spec.Code, spec, basedOn, actor, now)
}

// drafts are the plans' drafts.
var drafts = draft.NewTable[Spec]("plan_drafts", ErrNotFound, ErrCodeTaken, ErrStaleDraft)

// wrap prefixes err with the operation, keeping sentinels matchable.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var ve *ValidationError
	if errors.As(err, &ve) {
		return err
	}
	return fmt.Errorf("plans: %s: %w", op, err)
}

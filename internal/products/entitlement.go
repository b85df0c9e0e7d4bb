package products

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/webhook"
)

// Entitlement is what an account got from a paid product order: the
// product (version), since when and until when (nil: unlimited), the
// fine-tune jobs or the model pack's lot, and whether a refund revoked it.
type Entitlement struct {
	ID             int64      `db:"id" json:"id"`
	AccountID      int64      `db:"account_id" json:"-"`
	ProductCode    string     `db:"product_code" json:"product"`
	ProductVersion int        `db:"product_version" json:"product_version"`
	Kind           Kind       `db:"kind" json:"kind"`
	OrderNo        string     `db:"order_no" json:"order_no"`
	Since          time.Time  `db:"since" json:"since"`
	Until          *time.Time `db:"until" json:"until"`
	JobCount       *int       `db:"job_count" json:"job_count,omitempty"`
	LotID          *int64     `db:"lot_id" json:"lot_id,omitempty"`
	RevokedAt      *time.Time `db:"revoked_at" json:"revoked_at,omitempty"`
	RevokeReason   string     `db:"revoke_reason" json:"-"`
}

// Active reports whether the entitlement gives its product at at: not
// revoked, begun and not past its end.
func (e Entitlement) Active(at time.Time) bool {
	return e.RevokedAt == nil && !at.Before(e.Since) && (e.Until == nil || at.Before(*e.Until))
}

const entitlementColumns = `id, account_id, product_code, product_version, kind, order_no, since, until, job_count, lot_id,
	revoked_at, revoke_reason`

// GrantRequest is a paid product order to deliver.
type GrantRequest struct {
	AccountID      int64
	ProductCode    string
	ProductVersion int
	OrderNo        string
	// PaidAt is when the order was paid: the entitlement's since.
	PaidAt time.Time
	// LotID is the model pack's paid lot that payments credited (nil for
	// other kinds).
	LotID *int64
}

// Webhook event types of entitlements.
const (
	WebhookGranted = "entitlement.granted" // a paid order delivered it
	WebhookRevoked = "entitlement.revoked" // a refund of its order revoked it
)

// EntitlementPayload is the data of an entitlement.granted event.
type EntitlementPayload struct {
	Account        string          `json:"account"`
	EntitlementID  int64           `json:"entitlement_id"`
	Product        string          `json:"product"`
	ProductVersion int             `json:"product_version"`
	Kind           Kind            `json:"kind"`
	OrderNo        string          `json:"order_no"`
	Since          time.Time       `json:"since"`
	Until          *time.Time      `json:"until"`
	Credits        decimal.Decimal `json:"credits"`
	JobCount       int             `json:"job_count"`
	// RevokedAt is set in entitlement.revoked events.
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// GrantTx delivers the order's entitlement inside the caller's transaction
// (payments calls it in the transaction that marks the order paid) and
// queues the signed entitlement.granted webhook in it. An order delivers
// once: a second call for the same order returns the first entitlement
// and queues nothing (the event id derives from the order too).
//
// Errors: ErrNotFound (no such product version); database errors.
func (s *Service) GrantTx(ctx context.Context, tx pgx.Tx, r GrantRequest) (Entitlement, error) {
	p, err := version1(ctx, tx, r.ProductCode, r.ProductVersion)
	if err != nil {
		return Entitlement{}, fmt.Errorf("products: grant %s: %w", r.OrderNo, err)
	}
	since := r.PaidAt.UTC()
	var jobs *int
	if p.JobCount > 0 {
		jobs = &p.JobCount
	}
	rows, err := tx.Query(ctx, `
INSERT INTO entitlements (account_id, product_code, product_version, kind, order_no, since, until, job_count, lot_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (order_no) DO NOTHING
RETURNING `+entitlementColumns, r.AccountID, p.Code, p.Version, string(p.Kind), r.OrderNo, since, p.Until(since), jobs, r.LotID)
	if err != nil {
		return Entitlement{}, fmt.Errorf("products: grant %s: %w", r.OrderNo, err)
	}
	e, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Entitlement])
	if errors.Is(err, pgx.ErrNoRows) { // delivered already
		e, err = entitlementWhere(ctx, tx, `order_no = $1`, r.OrderNo)
		return e, wrap("grant", err)
	}
	if err != nil {
		return Entitlement{}, fmt.Errorf("products: grant %s: %w", r.OrderNo, err)
	}
	e.utc()
	if s.webhooks == nil {
		return e, nil
	}
	acc, err := ledger.AccountByID(ctx, tx, r.AccountID)
	if err != nil {
		return e, fmt.Errorf("products: grant %s: %w", r.OrderNo, err)
	}
	pl := EntitlementPayload{EntitlementID: e.ID, Product: p.Code, ProductVersion: p.Version, Kind: p.Kind, OrderNo: r.OrderNo,
		Since: e.Since, Until: e.Until, Credits: p.Credits, JobCount: p.JobCount}
	if acc.ExternalID != nil {
		pl.Account = *acc.ExternalID
	}
	ev := &webhook.Event{ID: "evt_entitlement_granted_" + r.OrderNo, AccountID: r.AccountID, Type: WebhookGranted, Payload: pl}
	if err := s.webhooks.EnqueueEventTx(ctx, tx, ev); err != nil {
		return e, fmt.Errorf("products: grant %s: %w", r.OrderNo, err)
	}
	return e, nil
}

// announceRevoked queues entitlement.revoked for e inside tx (event id
// derived from the order, so it is announced once).
func (s *Service) announceRevoked(ctx context.Context, tx pgx.Tx, e Entitlement) error {
	if s.webhooks == nil {
		return nil
	}
	acc, err := ledger.AccountByID(ctx, tx, e.AccountID)
	if err != nil {
		return err
	}
	pl := EntitlementPayload{EntitlementID: e.ID, Product: e.ProductCode, ProductVersion: e.ProductVersion, Kind: e.Kind,
		OrderNo: e.OrderNo, Since: e.Since, Until: e.Until, RevokedAt: e.RevokedAt}
	if e.JobCount != nil {
		pl.JobCount = *e.JobCount
	}
	if acc.ExternalID != nil {
		pl.Account = *acc.ExternalID
	}
	return s.webhooks.EnqueueEventTx(ctx, tx, &webhook.Event{ID: "evt_entitlement_revoked_" + e.OrderNo, AccountID: e.AccountID,
		Type: WebhookRevoked, Payload: pl})
}

// RevokeTx revokes the entitlement of order orderNo inside the caller's
// transaction (payments calls it in the transaction of the order's
// refund), once: a revoked entitlement stays as it was. The revocation
// queues the signed entitlement.revoked webhook in the same transaction.
// An order without an entitlement is ErrNotFound.
//
// Errors: ErrNotFound; database errors.
func (s *Service) RevokeTx(ctx context.Context, tx pgx.Tx, orderNo, reason string) (Entitlement, error) {
	rows, err := tx.Query(ctx, `UPDATE entitlements SET revoked_at = $2, revoke_reason = $3
WHERE order_no = $1 AND revoked_at IS NULL RETURNING `+entitlementColumns, orderNo, s.now().UTC(), reason)
	if err != nil {
		return Entitlement{}, wrap("revoke", err)
	}
	e, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Entitlement])
	if errors.Is(err, pgx.ErrNoRows) { // revoked already (or none)
		e, err = entitlementWhere(ctx, tx, `order_no = $1`, orderNo)
		return e, wrap("revoke", err)
	}
	if err != nil {
		return e, wrap("revoke", err)
	}
	e.utc()
	return e, wrap("revoke", s.announceRevoked(ctx, tx, e))
}

// Entitlements lists the account's entitlements, newest first, revoked
// and ended ones included (Active tells them apart).
func (s *Service) Entitlements(ctx context.Context, accountID int64) ([]Entitlement, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+entitlementColumns+` FROM entitlements WHERE account_id = $1 ORDER BY since DESC, id DESC`, accountID)
	if err != nil {
		return nil, wrap("entitlements", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Entitlement])
	for i := range out {
		out[i].utc()
	}
	return out, wrap("entitlements", err)
}

// EntitlementOf returns the entitlement order orderNo delivered.
// Errors: ErrNotFound.
func (s *Service) EntitlementOf(ctx context.Context, orderNo string) (Entitlement, error) {
	e, err := entitlementWhere(ctx, s.pool, `order_no = $1`, orderNo)
	return e, wrap("entitlement", err)
}

func (e *Entitlement) utc() {
	e.Since = e.Since.UTC()
	if e.Until != nil {
		u := e.Until.UTC()
		e.Until = &u
	}
	if e.RevokedAt != nil {
		r := e.RevokedAt.UTC()
		e.RevokedAt = &r
	}
}

func entitlementWhere(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, where string, args ...any) (Entitlement, error) {
	rows, err := q.Query(ctx, `SELECT `+entitlementColumns+` FROM entitlements WHERE `+where, args...)
	if err != nil {
		return Entitlement{}, err
	}
	e, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Entitlement])
	if errors.Is(err, pgx.ErrNoRows) {
		return Entitlement{}, ErrNotFound
	}
	e.utc()
	return e, err
}

// ActiveNow reports whether e is active at the service's clock.
func (s *Service) ActiveNow(e Entitlement) bool { return e.Active(s.now()) }

// FeeTerm is the term a one-time product's fee is earned over: its
// entitlement's since and until (Until nil: it does not end, so the fee is
// earned when it is delivered).
type FeeTerm struct {
	Since time.Time
	Until *time.Time
}

// FeeTerms answers the entitlement terms of the paid product orders named,
// for the revenue report (an order without an entitlement is left out).
func (s *Service) FeeTerms(ctx context.Context, orderNos []string) (map[string]FeeTerm, error) {
	rows, err := s.pool.Query(ctx, `SELECT order_no, since, until FROM entitlements WHERE order_no = ANY($1)`, orderNos)
	if err != nil {
		return nil, wrap("fee terms", err)
	}
	out := map[string]FeeTerm{}
	var no string
	var t FeeTerm
	_, err = pgx.ForEachRow(rows, []any{&no, &t.Since, &t.Until}, func() error {
		term := FeeTerm{Since: t.Since.UTC()}
		if t.Until != nil {
			u := t.Until.UTC()
			term.Until = &u
		}
		out[no] = term
		return nil
	})
	if err != nil {
		return nil, wrap("fee terms", err)
	}
	return out, nil
}

package backoffice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
)

// GrantRequest is a support grant of promo credit.
type GrantRequest struct {
	AccountID int64
	// Amount is in credits, at most 6 decimal places.
	Amount decimal.Decimal
	// ExpiresAt is when the promo lot expires; required, in the future.
	ExpiresAt  time.Time
	ReasonCode string // an active code from ReasonCodes
	Note       string // free text, shown in the audit log
	Actor      Actor
	// IdempotencyKey makes a repeat (a double-submitted form) return the
	// first result; the admin form carries one per rendering.
	IdempotencyKey string
}

// GrantPayload is what an approved grant applies.
type GrantPayload struct {
	AccountID  int64           `json:"account_id"`
	Amount     decimal.Decimal `json:"amount"`
	ExpiresAt  time.Time       `json:"expires_at"`
	ReasonCode string          `json:"reason_code"`
	Note       string          `json:"note"`
}

// GrantResult says whether a grant applied now or waits for approval.
type GrantResult struct {
	// Applied is true when the lot was added; false when Approval waits.
	Applied  bool
	Lot      ledger.Lot // when applied
	Approval Approval   // when pending
	// BalanceBefore and BalanceAfter are the account's ledger balance
	// around the grant (equal when pending).
	BalanceBefore, BalanceAfter decimal.Decimal
}

// checkCredits rounds nothing: an amount with more than 6 decimals, or not
// positive, is refused.
func checkCredits(d decimal.Decimal) error {
	if !d.IsPositive() || !ledger.Round(d).Equal(d) {
		return ErrInvalidAmount
	}
	return nil
}

// Grant grants promo credit to an account with a reason code. Up to
// Settings.SupportGrantLimit credits it applies at once (a promo lot with
// the reason code, the actor and the expiry, audited with the balances);
// above it, it becomes a pending ApproveSupportGrant request that a finance
// user other than the requester approves. Support and finance users may
// grant. Errors: ErrForbidden, ErrInvalidAmount, ErrInvalidExpiry,
// ErrUnknownReasonCode, ErrMissingIdempotencyKey, ErrAccountNotFound,
// ledger.ErrIdempotencyConflict.
func (s *Service) Grant(ctx context.Context, r GrantRequest) (GrantResult, error) {
	var out GrantResult
	if err := r.Actor.require(auth.RoleSupport, auth.RoleFinance); err != nil {
		return out, err
	}
	if err := checkCredits(r.Amount); err != nil {
		return out, err
	}
	if r.ExpiresAt.IsZero() || !r.ExpiresAt.After(s.now()) {
		return out, ErrInvalidExpiry
	}
	if r.IdempotencyKey == "" {
		return out, ErrMissingIdempotencyKey
	}
	p := GrantPayload{AccountID: r.AccountID, Amount: r.Amount, ExpiresAt: r.ExpiresAt.UTC(), ReasonCode: r.ReasonCode, Note: r.Note}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := checkReasonCode(ctx, tx, r.ReasonCode); err != nil {
			return err
		}
		if r.Amount.GreaterThan(s.opt.Settings.SupportGrantLimit) {
			bal, err := readBalance(ctx, tx, r.AccountID)
			if err != nil {
				return err
			}
			payload, _ := json.Marshal(p)
			a, replayed, err := newApproval(ctx, tx, Approval{
				Action: ApproveSupportGrant, AccountID: r.AccountID, Amount: r.Amount, Payload: payload,
				Reason: r.ReasonCode + ": " + r.Note, RequestedBy: r.Actor.User.ID, RequestedByEmail: r.Actor.User.Email,
				RequestedAt: s.now(),
			}, "grant:"+r.IdempotencyKey)
			if err != nil {
				return err
			}
			out = GrantResult{Approval: a, BalanceBefore: bal, BalanceAfter: bal}
			if replayed {
				return nil
			}
			e := staffEntry(r.Actor, ActionGrantRequested, r.AccountID)
			e.BalanceBefore, e.BalanceAfter = &bal, &bal
			e.Reason = r.ReasonCode
			e.Detail = map[string]any{"approval_id": a.ID, "amount": r.Amount, "expires_at": p.ExpiresAt, "note": r.Note,
				"limit": s.opt.Settings.SupportGrantLimit}
			_, err = Audit(ctx, tx, e)
			return err
		}
		c, err := s.applyGrant(ctx, tx, p, r.Actor.User.ID, "grant:"+strconv.FormatInt(r.Actor.User.ID, 10)+":"+r.IdempotencyKey)
		if err != nil {
			return err
		}
		out = GrantResult{Applied: true, Lot: c.lot, BalanceBefore: c.before, BalanceAfter: c.after}
		if c.replayed {
			return nil
		}
		e := staffEntry(r.Actor, ActionGrant, r.AccountID)
		e.BalanceBefore, e.BalanceAfter = &c.before, &c.after
		e.Reason = r.ReasonCode
		e.Detail = map[string]any{"amount": r.Amount, "expires_at": p.ExpiresAt, "note": r.Note, "lot_id": c.lot.ID}
		_, err = Audit(ctx, tx, e)
		return err
	})
	return out, err
}

// applyGrant adds the promo lot of a grant on tx; requestedBy is the staff
// user recorded as the lot's actor, key the ledger idempotency key.
func (s *Service) applyGrant(ctx context.Context, tx pgx.Tx, p GrantPayload, requestedBy int64, key string) (applied, error) {
	exp := p.ExpiresAt
	return s.creditTx(ctx, tx, ledger.CreditRequest{
		AccountID: p.AccountID, Kind: ledger.LotPromo, Amount: p.Amount, ExpiresAt: &exp,
		EventType: ledger.EventGrant, SourceRef: key, Actor: "staff:" + strconv.FormatInt(requestedBy, 10),
		ReasonCode: p.ReasonCode, IdempotencyKey: key,
	})
}

// ReasonCode is one entry of the managed list of grant reasons.
type ReasonCode struct {
	Code      string    `db:"code"`
	LabelZH   string    `db:"label_zh"`
	LabelEN   string    `db:"label_en"`
	Active    bool      `db:"active"`
	CreatedAt time.Time `db:"created_at"`
}

// Label returns the label for a locale ("zh-CN" or anything else for English).
func (r ReasonCode) Label(locale string) string {
	if locale == "zh-CN" || locale == "zh" {
		return r.LabelZH
	}
	return r.LabelEN
}

func checkReasonCode(ctx context.Context, q db.DBTX, code string) error {
	var ok bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM grant_reason_codes WHERE code = $1 AND active)`, code).Scan(&ok)
	if err != nil {
		return fmt.Errorf("backoffice: reason code: %w", err)
	}
	if !ok {
		return ErrUnknownReasonCode
	}
	return nil
}

// ReasonCodes lists the grant reason codes in code order; inactive ones
// only when all is true (the admin list), never for the grant form.
func (s *Service) ReasonCodes(ctx context.Context, all bool) ([]ReasonCode, error) {
	rows, _ := s.pool.Query(ctx, `SELECT code, label_zh, label_en, active, created_at FROM grant_reason_codes
WHERE $1 OR active ORDER BY code`, all)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[ReasonCode])
	if err != nil {
		return nil, fmt.Errorf("backoffice: reason codes: %w", err)
	}
	return out, nil
}

var reasonCodeRE = regexp.MustCompile(`^[a-z][a-z0-9_]{1,47}$`)

// AddReasonCode adds an active grant reason code (lower-case letters,
// digits and _, 2–48 characters, with both labels). Admins only.
// Errors: ErrForbidden, ErrInvalidReasonCode, ErrReasonCodeExists.
func (s *Service) AddReasonCode(ctx context.Context, code, labelZH, labelEN string, actor Actor) error {
	if err := actor.require(auth.RoleAdmin); err != nil {
		return err
	}
	if !reasonCodeRE.MatchString(code) || labelZH == "" || labelEN == "" {
		return ErrInvalidReasonCode
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO grant_reason_codes (code, label_zh, label_en, created_at) VALUES ($1, $2, $3, $4)`,
			code, labelZH, labelEN, s.now())
		if db.IsUniqueViolation(err, "grant_reason_codes_pkey") {
			return ErrReasonCodeExists
		}
		if err != nil {
			return fmt.Errorf("backoffice: add reason code: %w", err)
		}
		e := staffEntry(actor, ActionReasonCodeAdded, 0)
		e.Detail = map[string]any{"code": code, "label_zh": labelZH, "label_en": labelEN}
		_, err = Audit(ctx, tx, e)
		return err
	})
}

// SetReasonCodeActive activates or deactivates a reason code (codes are
// never deleted: old grants name them). Admins only. Errors: ErrForbidden,
// ErrUnknownReasonCode.
func (s *Service) SetReasonCodeActive(ctx context.Context, code string, active bool, actor Actor) error {
	if err := actor.require(auth.RoleAdmin); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE grant_reason_codes SET active = $2 WHERE code = $1`, code, active)
		if err != nil {
			return fmt.Errorf("backoffice: reason code: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return ErrUnknownReasonCode
		}
		e := staffEntry(actor, ActionReasonCodeChanged, 0)
		e.Detail = map[string]any{"code": code, "active": active}
		_, err = Audit(ctx, tx, e)
		return err
	})
}

func isCheckViolation(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23514" && pgErr.ConstraintName == constraint
}

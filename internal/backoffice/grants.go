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
	"github.com/seed75218f88/credits/internal/platform/fielderr"
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
	// Over names the limit that sent the grant to approval.
	Over Over `json:"over,omitempty"`
	// RequestedAmount and AppliedLotID are set on the part of a split
	// grant that waits: the whole amount asked for, and the lot that
	// applied the part within the day's limits at once.
	RequestedAmount decimal.Decimal `json:"requested_amount,omitzero"`
	AppliedLotID    int64           `json:"applied_lot_id,omitempty"`
}

// GrantResult says what of a grant applied now and what waits for approval.
type GrantResult struct {
	// Applied is true when a lot was added now: the whole grant, or (when
	// Approval.ID is not 0 too) the part within today's limits.
	Applied bool
	Lot     ledger.Lot // when applied
	// Approval is the request that waits for a finance user: the whole
	// grant, or the part over today's limits (ID 0 when nothing waits).
	Approval Approval
	// BalanceBefore and BalanceAfter are the account's ledger balance
	// around the grant (equal when nothing applied).
	BalanceBefore, BalanceAfter decimal.Decimal
}

// Waiting reports whether some or all of the grant waits for approval.
func (r GrantResult) Waiting() bool { return r.Approval.ID != 0 }

// checkCredits rounds nothing: an amount with more than 6 decimals, not
// positive, or above ledger.MaxCredits is refused.
func checkCredits(d decimal.Decimal) error {
	if !d.IsPositive() || !ledger.Round(d).Equal(d) || d.GreaterThan(ledger.MaxCredits) {
		return ErrInvalidAmount
	}
	return nil
}

// Grant grants promo credit to an account with a reason code. A grant above
// Settings.SupportGrantLimit waits as a whole for a finance user other than
// the requester (an ApproveSupportGrant request). Otherwise it applies at
// once (a promo lot with the reason code, the actor and the expiry, audited
// with the balances) as far as today's cumulative limits allow (see
// limits.go): the part that would take the staff member's or the account's
// total for the Asia/Shanghai day over its limit is split off into a
// pending request, so one grant can both apply and wait. The day's counters
// are locked in the same transaction, so concurrent grants never apply more
// than the limits between them. A repeat with the same idempotency key
// returns the first result, split the same way. Support and finance users
// may grant. Errors: ErrForbidden, ErrInvalidAmount, ErrInvalidExpiry,
// ErrUnknownReasonCode, ErrMissingIdempotencyKey, ErrAccountNotFound,
// ledger.ErrIdempotencyConflict.
func (s *Service) Grant(ctx context.Context, r GrantRequest) (GrantResult, error) {
	var out GrantResult
	if err := r.Actor.require(auth.RoleSupport, auth.RoleFinance); err != nil {
		return out, err
	}
	// Every failed field at once: amount, expiry, key and reason code.
	errs := fielderr.New("backoffice")
	errs.Merge(checkCredits(r.Amount))
	if r.ExpiresAt.IsZero() || !r.ExpiresAt.After(s.now()) {
		errs.Merge(ErrInvalidExpiry)
	}
	if r.IdempotencyKey == "" {
		errs.Merge(ErrMissingIdempotencyKey)
	}
	if err := checkReasonCode(ctx, s.pool, r.ReasonCode); err != nil && !errs.Merge(err) {
		return out, err
	}
	if err := errs.Err(); err != nil {
		return out, err
	}
	p := GrantPayload{AccountID: r.AccountID, Amount: r.Amount, ExpiresAt: r.ExpiresAt.UTC(), ReasonCode: r.ReasonCode, Note: r.Note}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		out = GrantResult{}
		if err := checkReasonCode(ctx, tx, r.ReasonCode); err != nil {
			return err
		}
		key := "grant:" + strconv.FormatInt(r.Actor.User.ID, 10) + ":" + r.IdempotencyKey
		if r.Amount.GreaterThan(s.Settings().SupportGrantLimit) {
			// No counters to lock: the approval's unique key settles a
			// concurrent repeat.
			if res, ok, err := s.replayGrant(ctx, tx, r, p, key); ok || err != nil {
				out = res
				return err
			}
			p.Over = OverAction
			bal, err := readBalance(ctx, tx, r.AccountID)
			if err != nil {
				return err
			}
			out.BalanceBefore, out.BalanceAfter = bal, bal
			out.Approval, err = s.requestGrant(ctx, tx, r, p, bal, nil)
			return err
		}

		limits := s.Settings().grantDayLimits()
		use, err := lockDay(ctx, tx, limits.action, r.Actor.User.ID, r.AccountID, shanghaiDay(s.now()))
		if err != nil {
			return err
		}
		// After the lock: a concurrent repeat has committed by now.
		if res, ok, err := s.replayGrant(ctx, tx, r, p, key); ok || err != nil {
			out = res
			return err
		}
		room, over := limits.room(use)
		if !room.IsPositive() {
			p.Over = over
			bal, err := readBalance(ctx, tx, r.AccountID)
			if err != nil {
				return err
			}
			out.BalanceBefore, out.BalanceAfter = bal, bal
			out.Approval, err = s.requestGrant(ctx, tx, r, p, bal, &use)
			return err
		}

		// Apply what fits today; split off the rest.
		now := p
		now.Amount = decimal.Min(r.Amount, room)
		c, err := s.applyGrant(ctx, tx, now, r.Actor.User.ID, key)
		if err != nil {
			return err
		}
		out = GrantResult{Applied: true, Lot: c.lot, BalanceBefore: c.before, BalanceAfter: c.after}
		detail := map[string]any{"amount": now.Amount, "expires_at": p.ExpiresAt, "note": r.Note, "lot_id": c.lot.ID,
			"day": use.day, "staff_day_total": use.staff.Add(now.Amount), "account_day_total": use.account.Add(now.Amount)}
		var approvalID *int64
		if now.Amount.LessThan(r.Amount) {
			rest := p
			rest.Amount, rest.Over, rest.RequestedAmount, rest.AppliedLotID = r.Amount.Sub(now.Amount), over, r.Amount, c.lot.ID
			if out.Approval, err = s.requestGrant(ctx, tx, r, rest, c.after, &use); err != nil {
				return err
			}
			approvalID = &out.Approval.ID
			detail["requested_amount"], detail["approval_id"] = r.Amount, out.Approval.ID
		}
		if err := countUse(ctx, tx, limitUse{Action: limits.action, Via: viaDirect, RequestKey: key, StaffID: r.Actor.User.ID,
			AccountID: r.AccountID, Day: use.day, Amount: now.Amount, LotID: c.lot.ID, ApprovalID: approvalID, At: s.now()}); err != nil {
			return err
		}
		e := staffEntry(r.Actor, ActionGrant, r.AccountID)
		e.BalanceBefore, e.BalanceAfter = &c.before, &c.after
		e.Reason = r.ReasonCode
		e.Detail = detail
		_, err = Audit(ctx, tx, e)
		return err
	})
	return out, err
}

// requestGrant stores p as a pending ApproveSupportGrant request of r's
// actor, audited with the account's balance bal (and, when a day limit
// sent it, the day's totals in use). A repeat of the same request returns
// the first one without a second audit row.
func (s *Service) requestGrant(ctx context.Context, tx pgx.Tx, r GrantRequest, p GrantPayload, bal decimal.Decimal, use *dayUse) (Approval, error) {
	payload, _ := json.Marshal(p)
	a, replayed, err := newApproval(ctx, tx, Approval{
		Action: ApproveSupportGrant, AccountID: r.AccountID, Amount: p.Amount, Payload: payload,
		Reason: r.ReasonCode + ": " + r.Note, RequestedBy: r.Actor.User.ID, RequestedByEmail: r.Actor.User.Email,
		RequestedAt: s.now(),
	}, "grant:"+r.IdempotencyKey)
	if err != nil || replayed {
		return a, err
	}
	e := staffEntry(r.Actor, ActionGrantRequested, r.AccountID)
	e.BalanceBefore, e.BalanceAfter = &bal, &bal
	e.Reason = r.ReasonCode
	set := s.Settings()
	detail := map[string]any{"approval_id": a.ID, "amount": p.Amount, "expires_at": p.ExpiresAt, "note": r.Note,
		"over": p.Over, "limit": set.SupportGrantLimit}
	if use != nil {
		detail["day"] = use.day
		detail["staff_day_total"], detail["staff_day_limit"] = use.staff, set.SupportGrantStaffDayLimit
		detail["account_day_total"], detail["account_day_limit"] = use.account, set.SupportGrantAccountDayLimit
	}
	if p.AppliedLotID != 0 {
		detail["requested_amount"], detail["applied_lot_id"] = p.RequestedAmount, p.AppliedLotID
	}
	e.Detail = detail
	_, err = Audit(ctx, tx, e)
	return a, err
}

// replayGrant finds what an earlier grant with the same key did: the part
// applied at once (counted under key) and the part waiting (the approval
// requested under the form's key). ok is false when there was none. The
// same key for another account or amount is ledger.ErrIdempotencyConflict;
// the applied lot is read back through the ledger's own replay, which also
// refuses a different expiry or reason.
func (s *Service) replayGrant(ctx context.Context, tx pgx.Tx, r GrantRequest, p GrantPayload, key string) (GrantResult, bool, error) {
	var out GrantResult
	u, applied, err := findUse(ctx, tx, ApproveSupportGrant, key)
	if err != nil {
		return out, false, err
	}
	rows, _ := tx.Query(ctx, `SELECT `+approvalColumns+` FROM admin_approvals WHERE requested_by = $1 AND idempotency_key = $2`,
		r.Actor.User.ID, "grant:"+r.IdempotencyKey)
	waiting, err := pgx.CollectRows(rows, pgx.RowToStructByName[Approval])
	if err != nil {
		return out, false, fmt.Errorf("backoffice: grant replay: %w", err)
	}
	if !applied && len(waiting) == 0 {
		return out, false, nil
	}
	total := decimal.Zero
	if applied {
		total = total.Add(u.Amount)
		if u.AccountID != r.AccountID {
			return out, true, fmt.Errorf("backoffice: grant: %w", ledger.ErrIdempotencyConflict)
		}
	}
	if len(waiting) == 1 {
		out.Approval = waiting[0]
		total = total.Add(out.Approval.Amount)
		if out.Approval.Action != ApproveSupportGrant || out.Approval.AccountID != r.AccountID {
			return out, true, fmt.Errorf("backoffice: grant: %w", ledger.ErrIdempotencyConflict)
		}
	}
	if !total.Equal(r.Amount) {
		return out, true, fmt.Errorf("backoffice: grant: %w", ledger.ErrIdempotencyConflict)
	}
	if !applied {
		bal, err := readBalance(ctx, tx, r.AccountID)
		out.BalanceBefore, out.BalanceAfter = bal, bal
		return out, true, err
	}
	p.Amount = u.Amount
	c, err := s.applyGrant(ctx, tx, p, r.Actor.User.ID, key)
	if err != nil {
		return out, true, err
	}
	if !c.replayed {
		return out, true, fmt.Errorf("backoffice: grant replay: the ledger has no credit under %s", key)
	}
	out.Applied, out.Lot, out.BalanceBefore, out.BalanceAfter = true, c.lot, c.after, c.after
	return out, true, nil
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

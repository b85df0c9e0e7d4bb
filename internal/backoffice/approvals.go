package backoffice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
)

// ApprovalAction is the kind of action an approval request holds.
type ApprovalAction string

// Actions that can wait for approval.
const (
	// ApproveSupportGrant: a promo grant above Settings.SupportGrantLimit,
	// or the part of one over a day limit; a finance user other than the
	// requester approves it.
	ApproveSupportGrant ApprovalAction = "support_grant"
	// ApproveManualRecharge: a manual recharge above
	// Settings.ManualRechargeLimitFen or over a day limit; a second finance
	// user approves it.
	ApproveManualRecharge ApprovalAction = "manual_recharge"
	// ApprovePlanGrant: a plan granted to an enterprise for a contract
	// term above Settings.PlanGrantLimitMonths; an admin other than the
	// requester approves it. Its amount is the term in months.
	ApprovePlanGrant ApprovalAction = "plan_grant"
)

// approverRole is the role that may decide each action.
var approverRole = map[ApprovalAction]auth.Role{
	ApproveSupportGrant:   auth.RoleFinance,
	ApproveManualRecharge: auth.RoleFinance,
	ApprovePlanGrant:      auth.RoleAdmin,
	ApproveRateCard:       auth.RoleAdmin,
	ApproveCreditLine:     auth.RoleFinance,
}

// ApprovalState is where an approval request stands.
type ApprovalState string

// Approval states. Approve applies the action in the same transaction, so a
// request goes from pending to applied (approved is reserved for actions
// carried out later) or to rejected.
const (
	ApprovalPending  ApprovalState = "pending"
	ApprovalApproved ApprovalState = "approved"
	ApprovalRejected ApprovalState = "rejected"
	ApprovalApplied  ApprovalState = "applied"
)

// Approval is a maker-checker request.
type Approval struct {
	ID               int64           `db:"id"`
	Action           ApprovalAction  `db:"action"`
	Subject          string          `db:"subject"`
	AccountID        int64           `db:"account_id"`
	Amount           decimal.Decimal `db:"amount"` // credits for a grant, yuan for a recharge
	Payload          json.RawMessage `db:"payload"`
	Reason           string          `db:"reason"`
	RequestedBy      int64           `db:"requested_by"`
	RequestedByEmail string          `db:"requested_by_email"`
	RequestedAt      time.Time       `db:"requested_at"`
	State            ApprovalState   `db:"state"`
	DecidedBy        *int64          `db:"decided_by"`
	DecidedByEmail   string          `db:"decided_by_email"`
	DecidedAt        *time.Time      `db:"decided_at"`
	DecisionReason   string          `db:"decision_reason"`
	Result           json.RawMessage `db:"result"`
}

// Grant returns the grant an ApproveSupportGrant request holds.
func (a Approval) Grant() (GrantPayload, error) {
	var p GrantPayload
	err := json.Unmarshal(a.Payload, &p)
	return p, err
}

// Recharge returns the recharge an ApproveManualRecharge request holds.
func (a Approval) Recharge() (RechargePayload, error) {
	var p RechargePayload
	err := json.Unmarshal(a.Payload, &p)
	return p, err
}

const approvalColumns = `id, action, subject, account_id, amount, payload, reason, requested_by, requested_by_email,
	requested_at, state, decided_by, decided_by_email, decided_at, decision_reason, result`

// CanDecide reports (as nil) whether actor may approve or reject a: it
// must not be the requester and must hold the action's approver role. The
// admin pages use it to show or hide the buttons; Approve and Reject check
// the same. Errors: ErrForbidden, ErrSelfApproval, ErrApprovalClosed.
func CanDecide(actor Actor, a Approval) error {
	if actor.User.ID == a.RequestedBy {
		return ErrSelfApproval
	}
	if err := actor.require(approverRole[a.Action]); err != nil {
		return err
	}
	if a.State != ApprovalPending {
		return ErrApprovalClosed
	}
	return nil
}

// newApproval stores a pending request on tx. A repeat with the same
// requester and idempotency key returns the first request (or
// ledger.ErrIdempotencyConflict if it was for something else). Errors:
// ErrApprovalPending (the subject already waits), database errors.
func newApproval(ctx context.Context, tx db.DBTX, a Approval, key string) (Approval, bool, error) {
	const ins = `
INSERT INTO admin_approvals (action, subject, account_id, amount, payload, reason, requested_by,
                             requested_by_email, requested_at, idempotency_key)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (requested_by, idempotency_key) WHERE idempotency_key <> '' DO NOTHING
RETURNING ` + approvalColumns
	rows, _ := tx.Query(ctx, ins, a.Action, a.Subject, a.AccountID, a.Amount, a.Payload, a.Reason, a.RequestedBy,
		a.RequestedByEmail, a.RequestedAt, key)
	out, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Approval])
	if db.IsUniqueViolation(err, "admin_approvals_pending_subject_key") {
		return Approval{}, false, ErrApprovalPending
	}
	if errors.Is(err, pgx.ErrNoRows) {
		rows, _ := tx.Query(ctx, `SELECT `+approvalColumns+` FROM admin_approvals WHERE requested_by = $1 AND idempotency_key = $2`, a.RequestedBy, key)
		prev, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Approval])
		if err != nil {
			return Approval{}, false, fmt.Errorf("backoffice: approval replay: %w", err)
		}
		if prev.Action != a.Action || prev.AccountID != a.AccountID || !prev.Amount.Equal(a.Amount) {
			return Approval{}, false, fmt.Errorf("backoffice: approval: %w", ledger.ErrIdempotencyConflict)
		}
		return prev, true, nil
	}
	if err != nil {
		return Approval{}, false, fmt.Errorf("backoffice: new approval: %w", err)
	}
	return out, false, nil
}

// Approval returns one approval request. Errors: ErrApprovalNotFound.
func (s *Service) Approval(ctx context.Context, id int64) (Approval, error) {
	return getApproval(ctx, s.pool, id, "")
}

func getApproval(ctx context.Context, q db.DBTX, id int64, lock string) (Approval, error) {
	rows, _ := q.Query(ctx, `SELECT `+approvalColumns+` FROM admin_approvals WHERE id = $1`+lock, id)
	a, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Approval])
	if errors.Is(err, pgx.ErrNoRows) {
		return a, ErrApprovalNotFound
	}
	if err != nil {
		return a, fmt.Errorf("backoffice: approval %d: %w", id, err)
	}
	return a, nil
}

// ApprovalFilter narrows Approvals; zero fields do not filter.
type ApprovalFilter struct {
	State     ApprovalState
	Action    ApprovalAction
	AccountID int64
	Limit     int // default 200
}

// Approvals lists approval requests, oldest pending first, then newest.
func (s *Service) Approvals(ctx context.Context, f ApprovalFilter) ([]Approval, error) {
	if f.Limit <= 0 {
		f.Limit = 200
	}
	const q = `SELECT ` + approvalColumns + ` FROM admin_approvals
WHERE ($1 = '' OR state = $1) AND ($2 = '' OR action = $2) AND ($3 = 0 OR account_id = $3)
ORDER BY state <> 'pending', CASE WHEN state = 'pending' THEN requested_at END, id DESC
LIMIT $4`
	rows, _ := s.pool.Query(ctx, q, string(f.State), string(f.Action), f.AccountID, f.Limit)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Approval])
	if err != nil {
		return nil, fmt.Errorf("backoffice: approvals: %w", err)
	}
	return out, nil
}

// Approve approves a pending request and applies it in the same
// transaction: a support grant adds its promo lot, a manual recharge adds
// its paid lot and resolves its statement line. The amount counts toward
// the requester's and the account's day totals for today (Asia/Shanghai),
// the day of the approval. The request row is locked,
// so of two concurrent approvals one applies and the other gets
// ErrApprovalClosed. The database also refuses a decision by the requester.
// Errors: ErrApprovalNotFound, ErrApprovalClosed, ErrSelfApproval,
// ErrForbidden, ErrLineNotOpen (the line left the queue meanwhile),
// ErrAccountFrozen (a manual recharge to an account frozen since it was
// requested: the request stays pending), ledger errors.
func (s *Service) Approve(ctx context.Context, id int64, approver Actor) (Approval, error) {
	var out Approval
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		a, err := getApproval(ctx, tx, id, " FOR UPDATE")
		if err != nil {
			return err
		}
		if err := CanDecide(approver, a); err != nil {
			return err
		}
		// Approved requests count toward the requester's and the account's
		// day limits, on the day of the approval. Locks in the order every
		// path takes: statement line, day counters, pool.
		day := shanghaiDay(s.now())
		var c applied
		switch a.Action {
		case ApproveSupportGrant:
			p, err := a.Grant()
			if err != nil {
				return fmt.Errorf("backoffice: approval %d payload: %w", id, err)
			}
			if _, err := lockDay(ctx, tx, a.Action, a.RequestedBy, a.AccountID, day); err != nil {
				return err
			}
			c, err = s.applyGrant(ctx, tx, p, a.RequestedBy, fmt.Sprintf("approval:%d", a.ID))
			if err != nil {
				return err
			}
		case ApproveManualRecharge:
			p, err := a.Recharge()
			if err != nil {
				return fmt.Errorf("backoffice: approval %d payload: %w", id, err)
			}
			// The rule ResolveToAccount applies, again: the account may
			// have been frozen while the request waited.
			if err := requireActive(ctx, tx, p.AccountID); err != nil {
				return err
			}
			if _, err := openLine(ctx, tx, p.LineID); err != nil {
				return err
			}
			if _, err := lockDay(ctx, tx, a.Action, a.RequestedBy, a.AccountID, day); err != nil {
				return err
			}
			c, err = s.applyRecharge(ctx, tx, p, a.RequestedBy, approver, a.ID)
			if err != nil {
				return err
			}
		case ApprovePlanGrant:
			p, err := a.PlanGrant()
			if err != nil {
				return fmt.Errorf("backoffice: approval %d payload: %w", id, err)
			}
			if out, err = s.applyPlanGrantApproval(ctx, tx, a, p, approver); err != nil {
				return err
			}
			return nil
		case ApproveRateCard:
			out, err = s.applyRateCardApproval(ctx, tx, a, approver)
			return err
		case ApproveCreditLine:
			out, err = s.applyCreditLineApproval(ctx, tx, a, approver)
			return err
		default:
			return fmt.Errorf("backoffice: approval %d: unknown action %q", id, a.Action)
		}
		if err := countUse(ctx, tx, limitUse{Action: a.Action, Via: viaApproval, RequestKey: fmt.Sprintf("approval:%d", a.ID),
			StaffID: a.RequestedBy, AccountID: a.AccountID, Day: day, Amount: a.Amount, LotID: c.lot.ID, ApprovalID: &a.ID,
			At: s.now()}); err != nil {
			return err
		}
		out, err = s.markApplied(ctx, tx, a, approver, map[string]any{"lot_id": c.lot.ID, "op_id": c.opID},
			map[string]any{"amount": a.Amount, "lot_id": c.lot.ID, "day": day}, &c.before, &c.after)
		return err
	})
	if err == nil && out.Action == ApproveRateCard && s.opt.OnPriceChange != nil {
		s.opt.OnPriceChange(out.AccountID)
	}
	return out, err
}

// markApplied marks an approved request applied with what it made
// (result) and audits that as the approver's act: before and after are the
// account's balance around the change (nil: read now, the change did not
// move it), detail the action's own fields beside the request's. Every
// kind of approval ends here.
func (s *Service) markApplied(ctx context.Context, tx pgx.Tx, a Approval, approver Actor, result, detail map[string]any,
	before, after *decimal.Decimal) (Approval, error) {
	raw, _ := json.Marshal(result)
	rows, _ := tx.Query(ctx, `
UPDATE admin_approvals SET state = 'applied', decided_by = $2, decided_by_email = $3, decided_at = $4, result = $5
WHERE id = $1 RETURNING `+approvalColumns, a.ID, approver.User.ID, approver.User.Email, s.now(), raw)
	out, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Approval])
	if err != nil {
		return Approval{}, selfApprovalErr(err)
	}
	if before == nil {
		bal, err := readBalance(ctx, tx, a.AccountID)
		if err != nil {
			return Approval{}, err
		}
		before, after = &bal, &bal
	}
	e := staffEntry(approver, ActionApprovalApplied, a.AccountID)
	e.BalanceBefore, e.BalanceAfter, e.Reason = before, after, a.Reason
	d := map[string]any{"approval_id": a.ID, "action": a.Action, "requested_by": a.RequestedBy,
		"requested_by_email": a.RequestedByEmail}
	maps.Copy(d, detail)
	e.Detail = d
	_, err = Audit(ctx, tx, e)
	return out, err
}

// Reject rejects a pending request with a reason; nothing is applied.
// Errors: ErrApprovalNotFound, ErrApprovalClosed, ErrSelfApproval,
// ErrForbidden, ErrReasonRequired.
func (s *Service) Reject(ctx context.Context, id int64, approver Actor, reason string) (Approval, error) {
	var out Approval
	if reason == "" {
		return out, ErrReasonRequired
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		a, err := getApproval(ctx, tx, id, " FOR UPDATE")
		if err != nil {
			return err
		}
		if err := CanDecide(approver, a); err != nil {
			return err
		}
		rows, _ := tx.Query(ctx, `
UPDATE admin_approvals SET state = 'rejected', decided_by = $2, decided_by_email = $3, decided_at = $4, decision_reason = $5
WHERE id = $1 RETURNING `+approvalColumns, id, approver.User.ID, approver.User.Email, s.now(), reason)
		if out, err = pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Approval]); err != nil {
			return selfApprovalErr(err)
		}
		bal, err := readBalance(ctx, tx, a.AccountID)
		if err != nil {
			return err
		}
		e := staffEntry(approver, ActionApprovalRejected, a.AccountID)
		e.BalanceBefore, e.BalanceAfter = &bal, &bal
		e.Reason = reason
		e.Detail = map[string]any{"approval_id": a.ID, "action": a.Action, "requested_by": a.RequestedBy, "amount": a.Amount}
		_, err = Audit(ctx, tx, e)
		return err
	})
	return out, err
}

// selfApprovalErr turns the database's refusal of a self-decision into
// ErrSelfApproval (the check in Go comes first; this is the backstop).
func selfApprovalErr(err error) error {
	if isCheckViolation(err, "admin_approvals_not_self") {
		return ErrSelfApproval
	}
	return fmt.Errorf("backoffice: decide approval: %w", err)
}

// applied is what a credit applied on behalf of a request did.
type applied struct {
	lot           ledger.Lot
	opID          int64
	before, after decimal.Decimal
	replayed      bool
}

// creditTx locks the account's pool, credits it through the ledger on tx
// and reads the balance after.
func (s *Service) creditTx(ctx context.Context, tx pgx.Tx, r ledger.CreditRequest) (applied, error) {
	var c applied
	before, err := lockBalance(ctx, tx, r.AccountID)
	if err != nil {
		return c, err
	}
	res, err := s.ledger.CreditTx(ctx, tx, r)
	if err != nil {
		return c, err
	}
	after, err := readBalance(ctx, tx, r.AccountID)
	if err != nil {
		return c, err
	}
	return applied{lot: res.Lot, opID: res.OpID, before: before, after: after, replayed: res.Replayed}, nil
}

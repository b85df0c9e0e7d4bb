package backoffice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/creditline"
	"github.com/seed75218f88/credits/internal/ledger"
)

// Credit lines (授信): finance grants an enterprise a line, or changes it.
// A line up to Settings.CreditLineLimitFen applies at once; a larger one
// waits as an ApproveCreditLine approval for a finance user other than
// the requester. internal/creditline owns the line and its bills.

// Audited credit line actions.
const (
	ActionCreditLineSet       Action = "credit_line_set"       // a credit line granted or changed
	ActionCreditLineRequested Action = "credit_line_requested" // one above the limit waits for approval
	ActionBillPaid            Action = "bill_paid"             // finance recorded a credit line bill paid
)

// ApproveCreditLine: a credit line above Settings.CreditLineLimitFen; a
// finance user other than the requester approves it. Its amount is the
// line in yuan.
const ApproveCreditLine ApprovalAction = "credit_line"

// DefaultCreditLineLimitFen is the largest line that applies without a
// second finance user when none is set: ¥100,000.
const DefaultCreditLineLimitFen = 10_000_000

// creditLineLimit is Settings.CreditLineLimitFen, or its default.
func (s Settings) creditLineLimit() int64 {
	if s.CreditLineLimitFen > 0 {
		return s.CreditLineLimitFen
	}
	return DefaultCreditLineLimitFen
}

// CreditLineLimitFen is the line (fen) that applies without approval.
func (s *Service) CreditLineLimitFen() int64 { return s.Settings().creditLineLimit() }

// CreditLinePayload is the line an ApproveCreditLine request holds.
type CreditLinePayload struct {
	Spec   creditline.Spec `json:"spec"`
	Reason string          `json:"reason"`
}

// CreditLine returns the line an ApproveCreditLine request holds.
func (a Approval) CreditLine() (CreditLinePayload, error) {
	var p CreditLinePayload
	err := json.Unmarshal(a.Payload, &p)
	return p, err
}

// CreditLineResult is what SetCreditLine did: the line, or the approval
// it waits for.
type CreditLineResult struct {
	Line     creditline.Line
	Pending  bool
	Approval Approval
}

// SetCreditLine grants or changes an enterprise's credit line, audited
// with the balance before and after. A line above the limit waits for a
// second finance user instead. Finance only.
//
// Errors: ErrForbidden; ErrReasonRequired; ErrAccountNotFound;
// *fielderr.Errors (creditline.Spec.Check, all fields at once);
// creditline.ErrNotEnterprise; ErrApprovalPending (a line of this account
// already waits); ledger.ErrCreditLineInUse; database errors.
func (s *Service) SetCreditLine(ctx context.Context, sp creditline.Spec, reason string, actor Actor) (CreditLineResult, error) {
	var out CreditLineResult
	if err := actor.require(auth.RoleFinance); err != nil {
		return out, err
	}
	if s.opt.CreditLines == nil {
		return out, errors.New("backoffice: set credit line: no credit lines configured")
	}
	_, lerr := s.opt.CreditLines.Line(ctx, sp.AccountID)
	if lerr != nil && !errors.Is(lerr, creditline.ErrNoLine) {
		return out, lerr
	}
	if err := sp.CheckFor(lerr == nil); err != nil { // 0 closes a line: none is line_none
		return out, err
	}
	if reason == "" {
		return out, ErrReasonRequired
	}
	acc, err := ledger.AccountByID(ctx, s.pool, sp.AccountID)
	if errors.Is(err, ledger.ErrNotFound) {
		return out, ErrAccountNotFound
	}
	if err != nil {
		return out, err
	}
	if acc.Kind != ledger.AccountEnterprise {
		return out, creditline.ErrNotEnterprise
	}
	limit := s.Settings().creditLineLimit()
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if sp.LineFen > limit {
			bal, err := readBalance(ctx, tx, acc.ID)
			if err != nil {
				return err
			}
			payload, _ := json.Marshal(CreditLinePayload{Spec: sp, Reason: reason})
			a, _, err := newApproval(ctx, tx, Approval{Action: ApproveCreditLine, Subject: fmt.Sprintf("credit_line:%d", acc.ID),
				AccountID: acc.ID, Amount: decimal.New(sp.LineFen, -2), Payload: payload, Reason: reason,
				RequestedBy: actor.User.ID, RequestedByEmail: actor.User.Email, RequestedAt: s.now()}, "")
			if err != nil {
				return err
			}
			out.Pending, out.Approval = true, a
			e := staffEntry(actor, ActionCreditLineRequested, acc.ID)
			e.BalanceBefore, e.BalanceAfter, e.Reason = &bal, &bal, reason
			e.Detail = map[string]any{"approval_id": a.ID, "line_fen": sp.LineFen, "limit_fen": limit}
			_, err = Audit(ctx, tx, e)
			return err
		}
		var err error
		out.Line, err = s.setCreditLineTx(ctx, tx, sp, reason, actor, nil)
		return err
	})
	return out, err
}

// setCreditLineTx sets the line as actor and audits it.
func (s *Service) setCreditLineTx(ctx context.Context, tx pgx.Tx, sp creditline.Spec, reason string, actor Actor, approvalID *int64) (creditline.Line, error) {
	before, err := lockBalance(ctx, tx, sp.AccountID)
	if err != nil {
		return creditline.Line{}, err
	}
	line, err := s.opt.CreditLines.SetLineTx(ctx, tx, sp, actor.ref(), reason, approvalID)
	if err != nil {
		return line, err
	}
	after, err := readBalance(ctx, tx, sp.AccountID)
	if err != nil {
		return line, err
	}
	e := staffEntry(actor, ActionCreditLineSet, sp.AccountID)
	e.BalanceBefore, e.BalanceAfter, e.Reason = &before, &after, reason
	e.Detail = map[string]any{"line_fen": sp.LineFen, "credits": line.Credits, "billing_day": sp.BillingDay,
		"terms_days": sp.TermsDays, "grace_days": sp.GraceDays, "approval_id": approvalID}
	_, err = Audit(ctx, tx, e)
	return line, err
}

// applyCreditLineApproval sets the line an approved ApproveCreditLine
// request holds, as its requester, and marks the request applied, audited
// (Approve's part for credit lines).
func (s *Service) applyCreditLineApproval(ctx context.Context, tx pgx.Tx, a Approval, approver Actor) (Approval, error) {
	if s.opt.CreditLines == nil {
		return Approval{}, errors.New("backoffice: approve credit line: no credit lines configured")
	}
	p, err := a.CreditLine()
	if err != nil {
		return Approval{}, fmt.Errorf("backoffice: approval %d payload: %w", a.ID, err)
	}
	requester := Actor{User: auth.User{ID: a.RequestedBy, Email: a.RequestedByEmail}}
	line, err := s.setCreditLineTx(ctx, tx, p.Spec, p.Reason, requester, &a.ID)
	if err != nil {
		return Approval{}, err
	}
	return s.markApplied(ctx, tx, a, approver, map[string]any{"lot_id": line.LotID, "line_fen": line.LineFen},
		map[string]any{"line_fen": line.LineFen}, nil, nil)
}

// MarkBillPaid records a credit line bill paid by a bank transfer finance
// matched (ref: the statement line or note), audited: the bill is paid,
// the line restored and, if the bill froze the account, it is unfrozen —
// all in one transaction. Finance only. Errors: ErrForbidden,
// ErrReasonRequired (no ref), creditline.ErrBillNotFound,
// creditline.ErrBillPaid, ledger errors.
func (s *Service) MarkBillPaid(ctx context.Context, billID int64, ref string, actor Actor) (creditline.Bill, error) {
	var out creditline.Bill
	if err := actor.require(auth.RoleFinance); err != nil {
		return out, err
	}
	if ref == "" {
		return out, ErrReasonRequired
	}
	if s.opt.CreditLines == nil {
		return out, errors.New("backoffice: mark bill paid: no credit lines configured")
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if out, err = s.opt.CreditLines.PayTx(ctx, tx, creditline.Payment{BillID: billID, Via: creditline.PaidByTransfer,
			Ref: ref, Actor: actor.ref()}); err != nil {
			return err
		}
		bal, err := readBalance(ctx, tx, out.AccountID)
		if err != nil {
			return err
		}
		e := staffEntry(actor, ActionBillPaid, out.AccountID)
		e.BalanceAfter, e.Reason = &bal, ref
		e.Detail = map[string]any{"bill_id": out.ID, "amount_fen": out.AmountFen, "credits": out.Credits, "reference_code": out.ReferenceCode}
		_, err = Audit(ctx, tx, e)
		return err
	})
	return out, err
}

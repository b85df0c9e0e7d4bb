package backoffice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/creditline"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/reconcile"
)

// TransferOrder is an open bank-transfer order as statement matching sees
// it: what the matcher needs, and the account it credits.
type TransferOrder struct {
	reconcile.OpenOrder
	AccountID int64
}

// TransferOrders is what statement matching and the unmatched queue need
// from payments. The first two methods run on the import's transaction.
type TransferOrders interface {
	// OpenOrderByCode returns the transfer order with reference code code
	// (normalized), paid or not, or ok false when no order has it.
	OpenOrderByCode(ctx context.Context, tx db.DBTX, code string) (o TransferOrder, ok bool, err error)
	// CompleteTx marks the order paid by the statement line statementRef
	// and credits its paid lot, on tx, once. An error rolls back only this
	// line (a savepoint): the line stays in the unmatched queue.
	CompleteTx(ctx context.Context, tx pgx.Tx, orderNo, statementRef, actor string) error
	// VerifiedPayerOf returns the company a transfer for the account must
	// come from ("" when the account is not verified as a company): a
	// statement line for one of its bills is matched by the same rule as
	// one for its orders (reconcile.MatchTransfer, SamePayer).
	VerifiedPayerOf(ctx context.Context, accountID int64) (string, error)
	// OpenOrdersOf lists the account's transfer orders still awaiting
	// payment, newest first (none is an empty slice).
	OpenOrdersOf(ctx context.Context, accountID int64) ([]TransferOrder, error)
	// RecordLineTx records a line finance credited to an account (its paid
	// lot already credited on tx) as a completed bank-transfer top-up
	// order, on tx, once per line, and returns the order number, so the
	// customer sees, invoices and may refund it like any other top-up.
	RecordLineTx(ctx context.Context, tx pgx.Tx, p LinePayment) (orderNo string, err error)
}

// LinePayment is a statement line credited to an account by a manual
// recharge, as TransferOrders.RecordLineTx records it.
type LinePayment struct {
	Line      reconcile.StoredLine
	AccountID int64
	// Lot is the paid lot credited for the line.
	Lot ledger.Lot
	// Actor is who credited it ("staff:<id>").
	Actor string
}

// ImportResult counts what a statement import did.
type ImportResult struct {
	// Inserted lines were new; Duplicates were already stored (a re-import).
	Inserted, Duplicates int
	// Matched lines completed their transfer order; Unmatched credit lines
	// went to the queue (debits are stored as ignored and counted in neither).
	Matched, Unmatched int
}

// ImportStatement reads a bank statement file (CSV or XLSX as Chinese banks
// export it; see reconcile.ParseBankStatement), stores its lines for
// bankAccount (used when the file does not name our account) idempotently
// by serial number, and matches each new credit line: a valid reference
// code of an open transfer order with the same amount completes that order
// (TransferOrders.CompleteTx) in the same transaction as the line's
// RecordMatch; everything else waits in the unmatched queue with its reason.
// The whole file is one transaction, audited. Finance only.
// Errors: ErrForbidden, ErrEmptyStatement, reconcile's parse errors
// (ErrUnsupportedFormat, ErrNoHeader, *MissingColumnError, *RowError).
func (s *Service) ImportStatement(ctx context.Context, file io.Reader, filename, bankAccount string, actor Actor) (ImportResult, error) {
	var res ImportResult
	if err := actor.require(auth.RoleFinance); err != nil {
		return res, err
	}
	lines, err := reconcile.ParseBankStatement(file, filename, s.Settings().ImportLimits)
	if err != nil {
		return res, err
	}
	if len(lines) == 0 {
		return res, ErrEmptyStatement
	}
	accounts := map[string][]string{}
	for i := range lines {
		if lines[i].BankAccount == "" {
			lines[i].BankAccount = strings.TrimSpace(bankAccount)
		}
		if lines[i].SourceFile == "" {
			lines[i].SourceFile = filename
		}
		accounts[lines[i].BankAccount] = append(accounts[lines[i].BankAccount], lines[i].Serial)
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		res = ImportResult{}
		ins, dup, err := reconcile.ImportLines(ctx, tx, lines)
		if err != nil {
			return err
		}
		res.Inserted, res.Duplicates = ins, dup
		// New credit lines are the unmatched ones of this file the matcher
		// has not seen yet (match_reason is set by RecordMatch).
		var ids []int64
		for acct, serials := range accounts {
			rows, _ := tx.Query(ctx, `SELECT id FROM bank_statement_lines
WHERE bank_account = $1 AND serial = ANY ($2) AND status = 'unmatched' AND match_reason = '' ORDER BY traded_at, id`, acct, serials)
			got, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				return fmt.Errorf("backoffice: import: %w", err)
			}
			ids = append(ids, got...)
		}
		for _, id := range ids {
			matched, err := s.matchLine(ctx, tx, id, actor)
			if err != nil {
				return err
			}
			if matched {
				res.Matched++
			} else {
				res.Unmatched++
			}
		}
		e := staffEntry(actor, ActionStatementImported, 0)
		e.Reason = filename
		e.Detail = map[string]any{"file": filename, "bank_account": bankAccount, "lines": len(lines),
			"inserted": res.Inserted, "duplicates": res.Duplicates, "matched": res.Matched, "unmatched": res.Unmatched}
		_, err = Audit(ctx, tx, e)
		return err
	})
	return res, err
}

// matchLine runs the matcher on one stored line and records its verdict;
// a match completes the order inside a savepoint, so a failing order
// leaves only this line unmatched.
func (s *Service) matchLine(ctx context.Context, tx pgx.Tx, id int64, actor Actor) (bool, error) {
	line, err := reconcile.GetLine(ctx, tx, id)
	if err != nil {
		return false, err
	}
	if s.opt.TransferOrders == nil {
		return false, reconcile.RecordMatch(ctx, tx, id, reconcile.MatchResult{Reason: reconcile.ReasonUnknownCode})
	}
	var lookupErr error
	var found TransferOrder
	m := reconcile.MatchTransfer(line.Line(), func(code string) (reconcile.OpenOrder, bool) {
		o, ok, err := s.opt.TransferOrders.OpenOrderByCode(ctx, tx, code)
		if err == nil && !ok {
			o, ok, err = s.billByCode(ctx, tx, code)
		}
		if err != nil && lookupErr == nil {
			lookupErr = err
		}
		if ok {
			found = o
		}
		return o.OpenOrder, ok
	})
	if lookupErr != nil {
		return false, fmt.Errorf("backoffice: match line %d: %w", id, lookupErr)
	}
	if !m.Matched() {
		return false, reconcile.RecordMatch(ctx, tx, id, m)
	}
	if m.Order.BillID != 0 {
		return s.payBillByLine(ctx, tx, line, m, found.AccountID, actor)
	}
	ref := "bank_line:" + strconv.FormatInt(id, 10)
	sp, err := tx.Begin(ctx)
	if err != nil {
		return false, err
	}
	var before, after decimal.Decimal
	err = func() error {
		var err error
		if before, err = lockBalance(ctx, sp, found.AccountID); err != nil {
			return err
		}
		if err := s.opt.TransferOrders.CompleteTx(ctx, sp, m.Order.OrderNo, ref, actor.ref()); err != nil {
			return err
		}
		if err := reconcile.RecordMatch(ctx, sp, id, m); err != nil {
			return err
		}
		after, err = readBalance(ctx, sp, found.AccountID)
		return err
	}()
	if err != nil {
		if rerr := sp.Rollback(ctx); rerr != nil {
			return false, rerr
		}
		reason := reconcile.ReasonAlreadyPaid
		if !errors.Is(err, reconcile.ErrOrderAlreadyMatched) {
			reason = reconcile.Reason("order_failed")
		}
		m.Reason = reason
		return false, reconcile.RecordMatch(ctx, tx, id, m)
	}
	if err := sp.Commit(ctx); err != nil {
		return false, err
	}
	e := staffEntry(actor, ActionLineMatched, found.AccountID)
	e.BalanceBefore, e.BalanceAfter = &before, &after
	e.Reason = string(reconcile.ReasonMatched)
	e.Detail = map[string]any{"line_id": id, "serial": line.Serial, "order_no": m.Order.OrderNo, "amount": line.Amount,
		"code": m.Code, "payer": line.PayerName}
	_, err = Audit(ctx, tx, e)
	return err == nil, err
}

// billByCode looks a reference code up among the credit line bills, as
// the matcher sees them: a bill is paid whole, by its amount in yuan, and
// by the account's verified company when it has one (as a transfer order).
func (s *Service) billByCode(ctx context.Context, tx pgx.Tx, code string) (TransferOrder, bool, error) {
	if s.opt.CreditLines == nil {
		return TransferOrder{}, false, nil
	}
	b, err := s.opt.CreditLines.BillByReferenceTx(ctx, tx, code)
	if errors.Is(err, creditline.ErrBillNotFound) {
		return TransferOrder{}, false, nil
	}
	if err != nil {
		return TransferOrder{}, false, err
	}
	payer, err := s.opt.TransferOrders.VerifiedPayerOf(ctx, b.AccountID)
	if err != nil {
		return TransferOrder{}, false, err
	}
	return TransferOrder{AccountID: b.AccountID, OpenOrder: reconcile.OpenOrder{BillID: b.ID, Code: b.ReferenceCode,
		Amount: decimal.New(b.AmountFen, -2), VerifiedPayer: payer, Paid: !b.Unpaid()}}, true, nil
}

// payBillByLine pays the bill a statement line matched (its reference
// code, its amount) through creditline's PayTx inside a savepoint, with the
// line's verdict and an audit row (bill_paid); a bill paid meanwhile, or a
// payment that fails, leaves the line in the queue with its reason.
func (s *Service) payBillByLine(ctx context.Context, tx pgx.Tx, line reconcile.StoredLine, m reconcile.MatchResult, accountID int64,
	actor Actor) (bool, error) {
	ref := "bank_line:" + strconv.FormatInt(line.ID, 10)
	sp, err := tx.Begin(ctx)
	if err != nil {
		return false, err
	}
	var bill creditline.Bill
	var before, after decimal.Decimal
	err = func() error {
		var err error
		if before, err = lockBalance(ctx, sp, accountID); err != nil {
			return err
		}
		if bill, err = s.opt.CreditLines.PayTx(ctx, sp, creditline.Payment{BillID: m.Order.BillID, Via: creditline.PaidByTransfer,
			Ref: ref, Actor: actor.ref()}); err != nil {
			return err
		}
		if err := reconcile.RecordMatch(ctx, sp, line.ID, m); err != nil {
			return err
		}
		after, err = readBalance(ctx, sp, accountID)
		return err
	}()
	if err != nil {
		if rerr := sp.Rollback(ctx); rerr != nil {
			return false, rerr
		}
		m.Reason = reconcile.Reason("order_failed")
		if errors.Is(err, creditline.ErrBillPaid) || errors.Is(err, reconcile.ErrOrderAlreadyMatched) {
			m.Reason = reconcile.ReasonBillPaid
		}
		return false, reconcile.RecordMatch(ctx, tx, line.ID, m)
	}
	if err := sp.Commit(ctx); err != nil {
		return false, err
	}
	e := staffEntry(actor, ActionBillPaid, accountID)
	e.BalanceBefore, e.BalanceAfter = &before, &after
	e.Reason = ref
	e.Detail = map[string]any{"bill_id": bill.ID, "amount_fen": bill.AmountFen, "credits": bill.Credits,
		"reference_code": bill.ReferenceCode, "line_id": line.ID, "serial": line.Serial, "payer": line.PayerName, "matched": true}
	_, err = Audit(ctx, tx, e)
	return err == nil, err
}

// QueueLine is a line of the unmatched queue, with the approval it waits
// for, if any.
type QueueLine struct {
	reconcile.StoredLine
	// PendingApprovalID is the manual recharge waiting for a second
	// finance user (0 when none).
	PendingApprovalID int64
}

// UnmatchedLines lists the unmatched queue (newest first), optionally
// searched by payer, account, memo or serial. Finance only.
// Errors: ErrForbidden.
func (s *Service) UnmatchedLines(ctx context.Context, search string, limit int, actor Actor) ([]QueueLine, error) {
	if err := actor.require(auth.RoleFinance); err != nil {
		return nil, err
	}
	lines, err := reconcile.ListLines(ctx, s.pool, reconcile.LineFilter{Status: reconcile.StatusUnmatched, Search: search, Limit: limit})
	if err != nil {
		return nil, err
	}
	pending := map[string]int64{}
	rows, _ := s.pool.Query(ctx, `SELECT subject, id FROM admin_approvals WHERE state = 'pending' AND subject LIKE 'bank_line:%'`)
	var subj string
	var aid int64
	if _, err := pgx.ForEachRow(rows, []any{&subj, &aid}, func() error { pending[subj] = aid; return nil }); err != nil {
		return nil, fmt.Errorf("backoffice: unmatched lines: %w", err)
	}
	out := make([]QueueLine, len(lines))
	for i, l := range lines {
		out[i] = QueueLine{StoredLine: l, PendingApprovalID: pending["bank_line:"+strconv.FormatInt(l.ID, 10)]}
	}
	return out, nil
}

// Line returns one stored statement line. Errors: ErrLineNotFound.
func (s *Service) Line(ctx context.Context, id int64) (reconcile.StoredLine, error) {
	l, err := reconcile.GetLine(ctx, s.pool, id)
	if errors.Is(err, reconcile.ErrNotFound) {
		return l, ErrLineNotFound
	}
	return l, err
}

// RechargePayload is what a manual recharge applies.
type RechargePayload struct {
	LineID    int64           `json:"line_id"`
	AccountID int64           `json:"account_id"`
	AmountRMB decimal.Decimal `json:"amount_rmb"`
	Credits   decimal.Decimal `json:"credits"`
	Note      string          `json:"note"`
	// Over names the limit that sent the recharge to approval.
	Over Over `json:"over,omitempty"`
}

// RechargeResult says whether a manual recharge applied or waits.
type RechargeResult struct {
	Applied  bool
	Lot      ledger.Lot // when applied
	Approval Approval   // when pending
	// Credits is the amount credited (the line's yuan at the credit price).
	Credits                     decimal.Decimal
	BalanceBefore, BalanceAfter decimal.Decimal
}

// ResolveToAccount takes an unmatched credit line out of the queue by
// crediting its amount to accountID as a manual recharge (a paid lot of
// amount ÷ credit price credits, source "bank_line:<id>"). It applies at
// once when the line is within Settings.ManualRechargeLimitFen and within
// what the actor and the account may still receive today (the cumulative
// limits, see limits.go, counted under locks in this transaction);
// otherwise the whole line waits for a second finance user (the line stays
// in the queue, marked pending): a statement line is one payment, resolved
// by one lot, so a recharge is never split. A frozen account (or one whose
// enterprise is frozen) is refused: the money goes back to the payer, or
// the account is unfrozen first. Finance only; note is required.
// Errors: ErrForbidden, ErrReasonRequired, ErrLineNotFound, ErrLineNotOpen,
// ErrApprovalPending, ErrAccountNotFound, ErrAccountFrozen. The applied
// lot is recorded in the same transaction as a completed bank-transfer
// top-up order of the customer (TransferOrders.RecordLineTx), so it is
// listed, invoiceable and refundable like any other.
func (s *Service) ResolveToAccount(ctx context.Context, lineID, accountID int64, note string, actor Actor) (RechargeResult, error) {
	var out RechargeResult
	if err := actor.require(auth.RoleFinance); err != nil {
		return out, err
	}
	if note = strings.TrimSpace(note); note == "" {
		return out, ErrReasonRequired
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		out = RechargeResult{}
		line, err := openLine(ctx, tx, lineID)
		if err != nil {
			return err
		}
		if err := requireActive(ctx, tx, accountID); err != nil {
			return err
		}
		subject := "bank_line:" + strconv.FormatInt(lineID, 10)
		var pending bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM admin_approvals WHERE state = 'pending' AND subject = $1)`,
			subject).Scan(&pending); err != nil {
			return fmt.Errorf("backoffice: resolve line: %w", err)
		}
		if pending {
			return ErrApprovalPending
		}
		credits, err := ledger.CreditsForRMB(line.Amount, s.opt.CreditPriceRMB)
		if err != nil {
			return err
		}
		p := RechargePayload{LineID: lineID, AccountID: accountID, AmountRMB: line.Amount, Credits: credits, Note: note}
		out.Credits = credits
		if line.Amount.GreaterThan(s.Settings().ManualRechargeLimit()) {
			p.Over = OverAction
			out.Approval, out.BalanceBefore, err = s.requestRecharge(ctx, tx, line, p, actor, nil)
			out.BalanceAfter = out.BalanceBefore
			return err
		}
		limits := s.Settings().rechargeDayLimits()
		use, err := lockDay(ctx, tx, limits.action, actor.User.ID, accountID, shanghaiDay(s.now()))
		if err != nil {
			return err
		}
		if room, over := limits.room(use); line.Amount.GreaterThan(room) {
			p.Over = over
			out.Approval, out.BalanceBefore, err = s.requestRecharge(ctx, tx, line, p, actor, &use)
			out.BalanceAfter = out.BalanceBefore
			return err
		}
		c, err := s.applyRecharge(ctx, tx, p, actor.User.ID, actor, 0)
		if err != nil {
			return err
		}
		if err := countUse(ctx, tx, limitUse{Action: limits.action, Via: viaDirect, RequestKey: subject, StaffID: actor.User.ID,
			AccountID: accountID, Day: use.day, Amount: line.Amount, LotID: c.lot.ID, At: s.now()}); err != nil {
			return err
		}
		out = RechargeResult{Applied: true, Lot: c.lot, Credits: credits, BalanceBefore: c.before, BalanceAfter: c.after}
		return nil
	})
	return out, err
}

// requestRecharge stores p as a pending ApproveManualRecharge request,
// audited with the account's balance (returned) and, when a day limit sent
// it, the day's totals in use.
func (s *Service) requestRecharge(ctx context.Context, tx pgx.Tx, line reconcile.StoredLine, p RechargePayload, actor Actor, use *dayUse) (Approval, decimal.Decimal, error) {
	bal, err := readBalance(ctx, tx, p.AccountID)
	if err != nil {
		return Approval{}, bal, err
	}
	payload, _ := json.Marshal(p)
	a, _, err := newApproval(ctx, tx, Approval{
		Action: ApproveManualRecharge, Subject: "bank_line:" + strconv.FormatInt(p.LineID, 10), AccountID: p.AccountID,
		Amount: p.AmountRMB, Payload: payload, Reason: p.Note, RequestedBy: actor.User.ID,
		RequestedByEmail: actor.User.Email, RequestedAt: s.now(),
	}, "")
	if err != nil {
		return a, bal, err
	}
	e := staffEntry(actor, ActionRechargeRequested, p.AccountID)
	e.BalanceBefore, e.BalanceAfter = &bal, &bal
	e.Reason = p.Note
	set := s.Settings()
	detail := map[string]any{"approval_id": a.ID, "line_id": p.LineID, "serial": line.Serial, "amount_rmb": p.AmountRMB,
		"credits": p.Credits, "limit_fen": set.ManualRechargeLimitFen, "over": p.Over}
	if use != nil {
		detail["day"] = use.day
		detail["staff_day_total"], detail["staff_day_limit_fen"] = use.staff, set.ManualRechargeStaffDayLimitFen
		detail["account_day_total"], detail["account_day_limit_fen"] = use.account, set.ManualRechargeAccountDayLimitFen
	}
	e.Detail = detail
	_, err = Audit(ctx, tx, e)
	return a, bal, err
}

// applyRecharge credits a manual recharge's paid lot, records it as the
// customer's top-up order, resolves its line and audits it, on tx.
// approvalID is 0 when no approval was needed.
func (s *Service) applyRecharge(ctx context.Context, tx pgx.Tx, p RechargePayload, requestedBy int64, by Actor, approvalID int64) (applied, error) {
	line, err := openLine(ctx, tx, p.LineID)
	if err != nil {
		return applied{}, err
	}
	ref := "bank_line:" + strconv.FormatInt(p.LineID, 10)
	c, err := s.creditTx(ctx, tx, ledger.CreditRequest{
		AccountID: p.AccountID, Kind: ledger.LotPaid, Amount: p.Credits, EventType: ledger.EventPurchase,
		SourceRef: ref, Actor: "staff:" + strconv.FormatInt(requestedBy, 10), ReasonCode: "manual_recharge",
		IdempotencyKey: "manual_recharge:" + ref, PaidFen: p.AmountRMB.Shift(2).IntPart(),
	})
	if errors.Is(err, ledger.ErrNotFound) {
		return c, ErrAccountNotFound
	}
	if err != nil {
		return c, err
	}
	var orderNo string
	if s.opt.TransferOrders != nil {
		orderNo, err = s.opt.TransferOrders.RecordLineTx(ctx, tx, LinePayment{Line: line, AccountID: p.AccountID, Lot: c.lot,
			Actor: "staff:" + strconv.FormatInt(requestedBy, 10)})
		if err != nil {
			return c, err
		}
	}
	err = reconcile.ResolveLine(ctx, tx, p.LineID, reconcile.Resolution{
		Status: reconcile.StatusResolved, AccountID: strconv.FormatInt(p.AccountID, 10), OrderNo: orderNo,
		Ref: "lot:" + strconv.FormatInt(c.lot.ID, 10), Note: p.Note, By: by.ref(),
	}, s.now())
	if err != nil {
		return c, lineErr(err)
	}
	e := staffEntry(by, ActionManualRecharge, p.AccountID)
	e.BalanceBefore, e.BalanceAfter = &c.before, &c.after
	e.Reason = p.Note
	e.Detail = map[string]any{"line_id": p.LineID, "serial": line.Serial, "payer": line.PayerName, "amount_rmb": p.AmountRMB,
		"credits": p.Credits, "lot_id": c.lot.ID, "order_no": orderNo, "approval_id": approvalID, "requested_by": requestedBy}
	if _, err := Audit(ctx, tx, e); err != nil {
		return c, err
	}
	return c, nil
}

// requireActive checks that neither the account nor its pool (the
// enterprise of a sub-account) is frozen. Errors: ErrAccountNotFound,
// ErrAccountFrozen.
func requireActive(ctx context.Context, q db.DBTX, accountID int64) error {
	frozen, err := ledger.Frozen(ctx, q, accountID)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		return ErrAccountNotFound
	case err != nil:
		return fmt.Errorf("backoffice: status of %d: %w", accountID, err)
	case frozen:
		return ErrAccountFrozen
	}
	return nil
}

// openLine locks an unmatched credit line.
func openLine(ctx context.Context, tx db.DBTX, id int64) (reconcile.StoredLine, error) {
	line, err := reconcile.GetLineForUpdate(ctx, tx, id)
	if err != nil {
		return line, lineErr(err)
	}
	if line.Status != reconcile.StatusUnmatched {
		return line, ErrLineNotOpen
	}
	return line, nil
}

func lineErr(err error) error {
	switch {
	case errors.Is(err, reconcile.ErrNotFound):
		return ErrLineNotFound
	case errors.Is(err, reconcile.ErrLineNotOpen):
		return ErrLineNotOpen
	}
	return err
}

// MarkRefundToPayer takes an unmatched line out of the queue as money to
// send back to the payer, with a required note (and the bank refund's
// reference when known). Finance only. Errors: ErrForbidden,
// ErrReasonRequired, ErrLineNotFound, ErrLineNotOpen, ErrApprovalPending.
func (s *Service) MarkRefundToPayer(ctx context.Context, lineID int64, note, bankRef string, actor Actor) error {
	return s.closeLine(ctx, lineID, reconcile.StatusRefundToPayer, ActionLineRefundToPayer, note, bankRef, actor)
}

// RejectLine takes an unmatched line out of the queue with a required
// reason (e.g. not a customer payment). Finance only. Errors: as
// MarkRefundToPayer.
func (s *Service) RejectLine(ctx context.Context, lineID int64, reason string, actor Actor) error {
	return s.closeLine(ctx, lineID, reconcile.StatusRejected, ActionLineRejected, reason, "", actor)
}

func (s *Service) closeLine(ctx context.Context, lineID int64, status reconcile.LineStatus, action Action, note, ref string, actor Actor) error {
	if err := actor.require(auth.RoleFinance); err != nil {
		return err
	}
	if note = strings.TrimSpace(note); note == "" {
		return ErrReasonRequired
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		line, err := openLine(ctx, tx, lineID)
		if err != nil {
			return err
		}
		var pending bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM admin_approvals WHERE state = 'pending' AND subject = $1)`,
			"bank_line:"+strconv.FormatInt(lineID, 10)).Scan(&pending); err != nil {
			return fmt.Errorf("backoffice: close line: %w", err)
		}
		if pending {
			return ErrApprovalPending
		}
		if err := reconcile.ResolveLine(ctx, tx, lineID, reconcile.Resolution{Status: status, Ref: ref, Note: note, By: actor.ref()}, s.now()); err != nil {
			return lineErr(err)
		}
		e := staffEntry(actor, action, 0)
		e.Reason = note
		e.Detail = map[string]any{"line_id": lineID, "serial": line.Serial, "amount_rmb": line.Amount, "payer": line.PayerName,
			"payer_account": line.PayerAccount, "ref": ref}
		_, err = Audit(ctx, tx, e)
		return err
	})
}

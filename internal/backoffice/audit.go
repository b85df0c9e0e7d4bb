package backoffice

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/platform/csvexport"
	"github.com/seed75218f88/credits/internal/platform/db"
)

// Action names what an audit row records.
type Action string

// Audited actions.
const (
	ActionGrant               Action = "grant"                 // promo credit granted (applied)
	ActionGrantRequested      Action = "grant_requested"       // a grant above the limit waits for approval
	ActionApprovalApplied     Action = "approval_applied"      // an approval was approved and applied
	ActionApprovalRejected    Action = "approval_rejected"     // an approval was rejected
	ActionFreeze              Action = "freeze"                // account frozen
	ActionUnfreeze            Action = "unfreeze"              // account unfrozen
	ActionReasonCodeAdded     Action = "reason_code_added"     // a grant reason code was added
	ActionReasonCodeChanged   Action = "reason_code_changed"   // a grant reason code was (de)activated
	ActionCodeBatchCreated    Action = "code_batch_created"    // redemption codes generated
	ActionCodeRedeemed        Action = "code_redeemed"         // a customer redeemed a code
	ActionStatementImported   Action = "statement_imported"    // a bank statement file was imported
	ActionLineMatched         Action = "line_matched"          // a statement line completed its transfer order
	ActionManualRecharge      Action = "manual_recharge"       // a statement line credited to an account
	ActionRechargeRequested   Action = "recharge_requested"    // a manual recharge above the limit waits for approval
	ActionLineRefundToPayer   Action = "line_refund_to_payer"  // a statement line marked for refund to the payer
	ActionLineRejected        Action = "line_rejected"         // a statement line rejected
	ActionChannelBillImported Action = "channel_bill_imported" // a channel bill compared with our orders
	ActionDifferenceResolved  Action = "difference_resolved"   // a channel difference resolved
	ActionRefundRequested     Action = "refund_requested"      // a customer asked for a refund
	ActionRefundApproved      Action = "refund_approved"       // finance approved a refund request
	ActionRefundRejected      Action = "refund_rejected"       // finance rejected a refund request
	ActionRefundDone          Action = "refund_done"           // the refund was paid out
	ActionAPIKeyCreated       Action = "api_key_created"       // an API service key was created
	ActionAPIKeyRevoked       Action = "api_key_revoked"       // an API service key was revoked
	ActionAllocationTransfer  Action = "allocation_transfer"   // allocation moved between two accounts of an enterprise
	ActionSettingChanged      Action = "setting_changed"       // a business setting changed on the settings screen (internal/settings)
	ActionInvoiceIssued       Action = "invoice_issued"        // finance issued a customer's invoice
	ActionPlanPublished       Action = "plan_published"        // an admin published a plan version
	ActionCostCardPublished   Action = "cost_card_published"   // finance or an admin published a cost card version
	ActionInvoicingBasisSet   Action = "invoicing_basis_set"   // finance set an account's invoicing basis (top-up or consumption)
)

// ActorKind says who acted: staff, a customer (redemptions, refund
// requests) or the system.
type ActorKind string

// Actor kinds.
const (
	ActorStaff    ActorKind = "staff"
	ActorCustomer ActorKind = "customer"
	ActorSystem   ActorKind = "system"
)

// Entry is one audit row to write.
type Entry struct {
	// ActorKind is ActorStaff when empty.
	ActorKind  ActorKind
	ActorID    int64 // the staff user (0 for a customer or the system)
	ActorEmail string
	IP         string // the request's address; empty or unparsable is stored as NULL
	Action     Action
	AccountID  int64 // 0 when the action concerns no account
	// BalanceBefore and BalanceAfter are the account's pool ledger balance
	// around the action; nil when not applicable.
	BalanceBefore *decimal.Decimal
	BalanceAfter  *decimal.Decimal
	Reason        string
	// Detail is stored as jsonb (amounts, ids, codes); nil is {}.
	Detail any
	// At defaults to the database's now().
	At time.Time
}

// AuditInvoiceIssued records, on tx (the issuing transaction), that the
// staff member a issued invoice number for accountID, of amountFen.
func AuditInvoiceIssued(ctx context.Context, tx db.DBTX, a Actor, accountID, invoiceID int64, number string, amountFen int64) error {
	e := staffEntry(a, ActionInvoiceIssued, accountID)
	e.Detail = map[string]any{"invoice_id": invoiceID, "number": number, "amount_fen": amountFen}
	_, err := Audit(ctx, tx, e)
	return err
}

// AuditInvoicingBasisSet records, on tx (the change's transaction), that
// the staff member a set accountID's invoicing basis from effectiveFrom.
func AuditInvoicingBasisSet(ctx context.Context, tx db.DBTX, a Actor, accountID int64, basis string, effectiveFrom time.Time) error {
	e := staffEntry(a, ActionInvoicingBasisSet, accountID)
	e.Detail = map[string]any{"basis": basis, "effective_from": effectiveFrom.UTC().Format(time.RFC3339)}
	_, err := Audit(ctx, tx, e)
	return err
}

// staffEntry starts an entry for a staff actor.
func staffEntry(a Actor, action Action, accountID int64) Entry {
	return Entry{ActorKind: ActorStaff, ActorID: a.User.ID, ActorEmail: a.User.Email, IP: a.IP, Action: action, AccountID: accountID}
}

const insertAuditSQL = `
INSERT INTO admin_audit_log (at, actor_kind, actor_id, actor_email, ip, action, account_id,
                             balance_before, balance_after, reason, detail)
VALUES (coalesce($1, now()), $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
RETURNING id`

// Audit appends one row to the audit log on tx — call it inside the
// transaction of the action it records, so both commit or neither. It
// returns the row's id. Errors: database errors.
func Audit(ctx context.Context, tx db.DBTX, e Entry) (int64, error) {
	if e.ActorKind == "" {
		e.ActorKind = ActorStaff
	}
	var at *time.Time
	if !e.At.IsZero() {
		at = ptr(e.At.UTC())
	}
	var ip *netip.Addr
	if a, err := netip.ParseAddr(e.IP); err == nil {
		ip = &a
	}
	detail := []byte("{}")
	if e.Detail != nil {
		b, err := json.Marshal(e.Detail)
		if err != nil {
			return 0, fmt.Errorf("backoffice: audit detail: %w", err)
		}
		detail = b
	}
	var id int64
	err := tx.QueryRow(ctx, insertAuditSQL, at, string(e.ActorKind), nullID(e.ActorID), e.ActorEmail, ip,
		string(e.Action), nullID(e.AccountID), e.BalanceBefore, e.BalanceAfter, e.Reason, detail).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("backoffice: audit: %w", err)
	}
	return id, nil
}

func nullID(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

// AuditRow is one stored audit row.
type AuditRow struct {
	ID            int64               `db:"id"`
	At            time.Time           `db:"at"`
	ActorKind     ActorKind           `db:"actor_kind"`
	ActorID       *int64              `db:"actor_id"`
	ActorEmail    string              `db:"actor_email"`
	IP            string              `db:"ip"`
	Action        Action              `db:"action"`
	AccountID     *int64              `db:"account_id"`
	BalanceBefore decimal.NullDecimal `db:"balance_before"`
	BalanceAfter  decimal.NullDecimal `db:"balance_after"`
	Reason        string              `db:"reason"`
	Detail        json.RawMessage     `db:"detail"`
}

// AuditFilter narrows AuditLog; zero fields do not filter.
type AuditFilter struct {
	ActorID   int64
	AccountID int64
	Action    Action
	From, To  time.Time // From inclusive, To exclusive
}

const auditColumns = `id, at, actor_kind, actor_id, actor_email, coalesce(host(ip), '') AS ip, action,
	account_id, balance_before, balance_after, reason, detail`

const selectAuditSQL = `
SELECT ` + auditColumns + ` FROM admin_audit_log
WHERE ($1 = 0 OR actor_id = $1)
  AND ($2 = 0 OR account_id = $2)
  AND ($3 = '' OR action = $3)
  AND ($4::timestamptz IS NULL OR at >= $4)
  AND ($5::timestamptz IS NULL OR at < $5)
  AND ($6 = 0 OR id < $6)
ORDER BY id DESC
LIMIT $7`

func (f AuditFilter) args() []any {
	var from, to *time.Time
	if !f.From.IsZero() {
		from = ptr(f.From.UTC())
	}
	if !f.To.IsZero() {
		to = ptr(f.To.UTC())
	}
	return []any{f.ActorID, f.AccountID, string(f.Action), from, to}
}

// AuditLog lists audit rows newest first, limit at a time (default 50, at
// most 1000): pass the returned cursor for the next page (0 for the first;
// a returned 0 means no more).
func (s *Service) AuditLog(ctx context.Context, f AuditFilter, cursor int64, limit int) ([]AuditRow, int64, error) {
	if limit <= 0 || limit > 1000 {
		limit = 50
	}
	rows, _ := s.pool.Query(ctx, selectAuditSQL, append(f.args(), cursor, limit+1)...)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[AuditRow])
	if err != nil {
		return nil, 0, fmt.Errorf("backoffice: audit log: %w", err)
	}
	var next int64
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].ID
	}
	return out, next, nil
}

// bom makes Excel open a CSV file as UTF-8.
const bom = "\uFEFF"

// AuditCSV writes every audit row matching f, newest first, as CSV (UTF-8
// with a BOM, times in Asia/Shanghai) to w.
func (s *Service) AuditCSV(ctx context.Context, f AuditFilter, w io.Writer) error {
	if _, err := io.WriteString(w, bom); err != nil {
		return err
	}
	cw := csvexport.NewWriter(w)
	_ = cw.Write([]string{"id", "time (Asia/Shanghai)", "actor_kind", "actor_id", "actor_email", "ip", "action",
		"account_id", "balance_before", "balance_after", "reason", "detail"})
	var cursor int64
	for {
		rows, next, err := s.AuditLog(ctx, f, cursor, 1000)
		if err != nil {
			return err
		}
		for _, r := range rows {
			_ = cw.Write([]string{strconv.FormatInt(r.ID, 10), r.At.In(Shanghai).Format("2006-01-02 15:04:05"),
				string(r.ActorKind), optID(r.ActorID), r.ActorEmail, r.IP, string(r.Action), optID(r.AccountID),
				optDec(r.BalanceBefore), optDec(r.BalanceAfter), r.Reason, string(r.Detail)})
		}
		if next == 0 {
			break
		}
		cursor = next
	}
	cw.Flush()
	return cw.Error()
}

func optID(p *int64) string {
	if p == nil {
		return ""
	}
	return strconv.FormatInt(*p, 10)
}

func optDec(d decimal.NullDecimal) string {
	if !d.Valid {
		return ""
	}
	return d.Decimal.StringFixed(6)
}

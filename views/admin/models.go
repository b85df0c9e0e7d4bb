package admin

import (
	"context"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/reconcile"
	pv "github.com/seed75218f88/credits/views/portal"
)

// Errors are a form's messages by field name ("" for the whole form),
// already localized.
type Errors map[string]string

// Option is one entry of a select: its value and localized label.
type Option struct{ Value, Label string }

// CustomerView is one customer's page: balance by bucket, lots, recent
// events, the freeze form and the grant form.
type CustomerView struct {
	Frame     Frame
	AccountID int64
	Name      string
	Login     string
	Status    string
	Frozen    bool
	Available decimal.Decimal
	Buckets   []Bucket
	Lots      []LotRow
	Events    []EventRow
	// CanGrant and CanFreeze follow the staff user's roles.
	CanGrant, CanFreeze bool
	Grant               GrantForm
	Freeze              FreezeForm
	// PlanComp is the comp-a-plan form (nil: the user may not comp).
	PlanComp *PlanCompForm
	// Subscription is the customer's plan, its history and the extend and
	// grant forms (nil: plans are not shown).
	Subscription *SubscriptionPanel
	Flash        string
	// Pending are this account's requests waiting for approval (the part
	// of a split grant among them).
	Pending []ApprovalRow
	// Facts, Orders, Invoices, Verification and Subs are the account's
	// other lists (customer_models.go).
	Facts        CustomerFacts
	Orders       []CustomerOrderRow
	Invoices     []CustomerInvoiceRow
	Verification CustomerVerification
	Subs         []CustomerSubRow
	// Entitlements are what the account's one-time products delivered,
	// newest first (customer_entitlements.templ).
	Entitlements []CustomerEntitlementRow
	// Access is the model allow-list panel (customer_access.templ); nil:
	// not shown.
	Access *CustomerAccess
	// Prices is the customer's own rate card panel (customer_prices.templ);
	// nil: not shown.
	Prices *CustomerPrices
	// Team lists an enterprise's members (customer_team.templ).
	Team []CustomerMemberRow
	// Basis is the account's invoicing basis (topup or consumption) and
	// the change set for next month, if any; BasisURL opens the form that
	// changes it ("" for staff who may not).
	Basis, NextBasis string
	NextBasisFrom    *time.Time
	BasisURL         string
	// Credit is an enterprise's credit line panel
	// (customer_credit.templ); nil: not shown.
	Credit *CustomerCredit
}

// CustomerMemberRow is one member of an enterprise as staff see it.
type CustomerMemberRow struct {
	Login string
	Role  string
	Limit []int64 // the sub-accounts it is limited to; empty: all
	Since time.Time
}

// Bucket is the available credit of one lot kind.
type Bucket struct {
	Kind   string
	Amount decimal.Decimal
}

// LotRow is one lot of credit with what is left and when it expires.
type LotRow struct {
	ID        int64
	Kind      string
	Amount    decimal.Decimal
	Remaining decimal.Decimal
	ExpiresAt *time.Time
	Source    string
	Reason    string
	// ReasonLabel names Reason when it is a grant reason code.
	ReasonLabel string
}

// EventRow is one ledger event.
type EventRow struct {
	At      time.Time
	Type    string
	Amount  decimal.Decimal
	Balance decimal.Decimal
	Source  string
}

// GrantForm is the support grant form; Key is the idempotency key of this
// rendering.
type GrantForm struct {
	Amount, ExpiresAt, ReasonCode, Note, Key string
	Reasons                                  []Option
	Allowance                                GrantAllowance
	Errors                                   Errors
}

// GrantAllowance is what the signed-in staff member may still grant to
// this account today (an Asia/Shanghai day) without approval, and the
// day's totals behind it.
type GrantAllowance struct {
	// PerAction: one grant above it waits for approval as a whole.
	PerAction decimal.Decimal
	// Remaining applies at once today; the part of a grant over it waits.
	Remaining                 decimal.Decimal
	StaffUsed, StaffLimit     decimal.Decimal
	AccountUsed, AccountLimit decimal.Decimal
}

// FreezeForm is the freeze/unfreeze form.
type FreezeForm struct {
	Reason string
	Errors Errors
}

// ApprovalsView is the maker-checker queue.
type ApprovalsView struct {
	Frame   Frame
	Pending []ApprovalRow
	Recent  []ApprovalRow
	Errors  Errors
	Flash   string
}

// ApprovalRow is one approval request; CanDecide is whether this staff
// user may approve or reject it, and Why the localized reason when not.
type ApprovalRow struct {
	ID          int64
	Action      string
	AccountID   int64
	Amount      decimal.Decimal
	Unit        string // "credits" or "yuan"
	Detail      string
	Reason      string
	RequestedBy string
	RequestedAt time.Time
	DecidedAt   *time.Time
	// LineSerial and LinePayer are the bank line a manual recharge credits.
	LineSerial, LinePayer string
	State                 string
	DecidedBy             string
	DecisionReason        string
	CanDecide             bool
	Why                   string
	// Over names the limit that sent it to approval ("per_action",
	// "staff_day", "account_day"; empty for requests older than the day
	// limits).
	Over string
	// SplitOf and SplitApplied are set on the part of a split grant: the
	// whole grant asked for and the part that applied at once.
	SplitOf, SplitApplied decimal.Decimal
}

// StatementsView is the statement import and the unmatched queue.
type StatementsView struct {
	Frame Frame
	// LimitsHint states the upload's size and row limits.
	LimitsHint string
	// Headers are the statement columns the reader accepts, with every
	// header text it knows for each (the accepted-formats section).
	Headers []reconcile.HeaderGroup
	Search  string
	Lines   []LineRow
	Result  *ImportCounts
	Errors  Errors
	Flash   string
	Pending int // lines waiting for a second finance user
	// Resolve is the resolve form shown open, with its search results
	// (LineID 0: every line's form is closed).
	Resolve ResolveForm
}

// ResolveFor is line l's resolve form: the open one, or a closed one whose
// search starts from the payer's name.
func (v StatementsView) ResolveFor(l LineRow) ResolveForm {
	if v.Resolve.LineID == l.ID {
		f := v.Resolve
		f.Amount = l.Amount
		return f
	}
	return ResolveForm{LineID: l.ID, Find: l.PayerName, Amount: l.Amount}
}

// ResolveForm credits an unmatched line to a customer found in the form:
// the search, the candidates to pick from and the note.
type ResolveForm struct {
	LineID int64
	// Find is the customer search (the payer's name until finance types).
	Find string
	// Searched is true when Candidates are Find's results; false leaves
	// them to load when the form is opened.
	Searched   bool
	Candidates []PayerCandidate
	More       bool  // more customers matched than are listed
	AccountID  int64 // the picked candidate
	Note       string
	Errors     Errors
	// Amount is the line's amount, named by the confirmation; zero when
	// the form is sent again on its own (htmx), which then asks without it.
	Amount decimal.Decimal
}

// PayerCandidate is one customer a line may be credited to, with what
// tells finance whether it paid.
type PayerCandidate struct {
	AccountID  int64
	Name       string
	Login      string
	ExternalID string
	Frozen     bool
	MatchedBy  string
	// KYCState is the verification state ("" when unknown); subject, name
	// and number are masked values ("" when none).
	KYCState, KYCSubject, KYCName, KYCNumber string
	Orders                                   []OpenOrderRow
}

// OpenOrderRow is a bank-transfer order still awaiting payment.
type OpenOrderRow struct {
	OrderNo string
	Code    string // as shown to customers, XXXX-XXXXX
	Amount  decimal.Decimal
}

// ImportCounts is what an import did.
type ImportCounts struct{ Inserted, Duplicates, Matched, Unmatched int }

// LineRow is one unmatched statement line.
type LineRow struct {
	ID                int64
	Serial            string
	TradedAt          time.Time
	Amount            decimal.Decimal
	PayerName         string
	PayerAccount      string
	Memo              string
	Reason            string
	PendingApprovalID int64
}

// AuditView is the audit log page.
type AuditView struct {
	Frame   Frame
	Filter  AuditFilterForm
	Rows    []AuditRowView
	NextURL string
	CSVURL  string
	Actions []string
	Errors  Errors
}

// AuditFilterForm is the audit filter as typed.
type AuditFilterForm struct{ Actor, Account, Action, From, To string }

// AuditRowView is one audit row.
type AuditRowView struct {
	ID            int64
	At            time.Time
	Actor         string
	IP            string
	Action        string
	AccountID     int64
	BalanceBefore *decimal.Decimal
	BalanceAfter  *decimal.Decimal
	Reason        string
	Detail        string
}

// CodesView is the redemption code page: the generate form, the codes of a
// batch just generated (shown once) and the batches.
type CodesView struct {
	Frame     Frame
	Form      BatchForm
	Errors    Errors
	Generated *GeneratedView
	Batches   []BatchRow
}

// BatchForm is the generate form as typed.
type BatchForm struct {
	Campaign, Amount, Count, LotDays, CodeExpires string
	OnePerCustomer                                bool
	// Plan and PlanDays make a plan batch (Plan "" grants credits);
	// Plans are the plan codes and names to choose from.
	Plan, PlanDays string
	Plans          []PlanChoice
}

// PlanChoice is a plan offered by a form: its code and name.
type PlanChoice struct{ Code, Name string }

// GeneratedView is a new batch's codes and CSV file.
type GeneratedView struct {
	Campaign string
	Amount   decimal.Decimal
	Codes    []string
	CSV      []byte
}

// BatchRow is one batch with its redemptions.
type BatchRow struct {
	ID             int64
	Campaign       string
	Amount         decimal.Decimal
	Count          int
	Redeemed       int
	CodeExpiresAt  *time.Time
	CreatedBy      string
	CreatedAt      time.Time
	OnePerCustomer bool
	// Plan and PlanDays: each code grants this plan for so many days
	// (empty: Amount credits).
	Plan     string
	PlanDays int
}

// RefundsView is the refund request queue.
type RefundsView struct {
	Frame    Frame
	Requests []RefundRow
	Errors   Errors
	Flash    string
}

// RefundRow is one refund request.
type RefundRow struct {
	ID          int64
	AccountID   int64
	OrderNo     string
	Amount      decimal.Decimal
	Reason      string
	RequestedAt time.Time
	// Bill is set when the order is a bill payment: it bought no credit,
	// so the request cannot be approved as a top-up refund, only rejected.
	Bill OrderBillLink
}

// ReportForm is the report's period as typed.
type ReportForm struct{ From, To, Granularity string }

// ReportsView is the revenue report page.
type ReportsView struct {
	Frame  Frame
	Form   ReportForm
	Errors Errors
	Report *backoffice.Report
	CSVURL string
	// Referrals are the referral rewards granted in the report's dates
	// (promotional credit: inside the report's promo granted, never
	// revenue); ReferralTotal their sum.
	Referrals     []ReferralGrantRow
	ReferralTotal decimal.Decimal
}

// ReferralGrantRow is one referral reward in the report.
type ReferralGrantRow struct {
	At        time.Time
	InviterID int64
	InviteeID int64
	OrderNo   string
	TopUp     decimal.Decimal // the invitee's top-up, credits
	Percent   decimal.Decimal
	Amount    decimal.Decimal // the reward, credits
}

// StaffView is the staff page: the users, the create form (what was typed
// and every field's message), and a new user's one-time set-password link,
// shown once.
type StaffView struct {
	Frame    Frame
	Staff    []StaffRow
	AllRoles []string
	Email    string
	Name     string
	Roles    []string // the create form's ticked roles
	Errors   Errors   // by field; "" for an error about a row's action
	Invite   *StaffInvite
	// Notice is a message about the last action on a row (already localized).
	Notice string
}

// StaffInvite is the one-time link for a new staff member's first password.
type StaffInvite struct {
	Email   string
	Link    string
	Expires time.Time
}

// StaffRow is one staff user.
type StaffRow struct {
	ID           int64
	Email        string
	Name         string
	Roles        []string
	Disabled     bool
	Self         bool // the signed-in admin: no disable button
	HasPassword  bool // false until the invitation link is used
	TOTPEnrolled bool
	LastSignIn   time.Time // zero when never
}

// TOTPView is the authenticator enrolment page: the QR code's URL, the
// secret to type in, and the confirm form's message.
type TOTPView struct {
	Frame    Frame
	Enrolled bool
	Required bool // admin or finance: /admin waits for the enrolment
	QRURL    string
	Secret   string
	Errors   Errors
}

// KeysView is the service keys page: the keys, the create form, a new
// key's secret shown once, and a key whose revocation waits to be confirmed.
type KeysView struct {
	Frame   Frame
	Keys    []KeyRow
	Form    KeyForm
	Errors  Errors
	Created *CreatedKey
	Confirm *KeyRow
	Flash   string
	// NameMaxLen is the longest name the gateway accepts, in characters.
	NameMaxLen int
}

// KeyRow is one service key: its prefix, never its secret. Mode is "live"
// or "test" (the sandbox).
type KeyRow struct {
	ID                    int64
	Name, Mode, Prefix    string
	CreatedAt             time.Time
	LastUsedAt, RevokedAt *time.Time
}

// KeyForm is the create form as typed.
type KeyForm struct{ Name, Mode string }

// CreatedKey is a key just created, with the secret to show this once.
type CreatedKey struct {
	KeyRow
	Secret string
}

// ReasonsView is the reason code list and its add form.
type ReasonsView struct {
	Frame                  Frame
	Codes                  []ReasonRow
	Code, LabelZH, LabelEN string
	Errors                 Errors
}

// ReasonRow is one grant reason code.
type ReasonRow struct {
	Code, LabelZH, LabelEN string
	Active                 bool
}

// ChannelView is channel reconciliation: the upload, what an import found,
// and the open differences by kind (only_channel, only_ours, amount_differs).
type ChannelView struct {
	Frame Frame
	// LimitsHint states the upload's size and row limits.
	LimitsHint string
	Imported   *BillCounts
	Lists      map[string][]DifferenceRow
	Errors     Errors
}

// BillCounts is what a bill import found.
type BillCounts struct{ Lines, OnlyChannel, OnlyOurs, AmountDiffers int }

// DifferenceRow is one open difference.
type DifferenceRow struct {
	ID                                    int64
	Channel, Status, OutTradeNo, RefundNo string
	ChannelTradeNo                        string
	ChannelAmount, OurAmount              *decimal.Decimal
	TradedAt                              *time.Time
}

// approveConfirm is the question asked before an approval is given, naming
// the amount in its unit and the account.
func approveConfirm(ctx context.Context, a ApprovalRow) string {
	amount := format.Credits(a.Amount) + " " + i18n.T(ctx, "admin.unit.credits")
	switch a.Unit {
	case "yuan":
		amount = format.Money(a.Amount)
	case "percent":
		amount = a.Amount.String() + "%"
	}
	return i18n.Tf(ctx, "confirm.approval", map[string]string{"Amount": amount, "Account": strconv.FormatInt(a.AccountID, 10)})
}

// Refunds (finance.templ).

// RefundQueueView is the refunds page: the requests waiting for a decision
// and the approved bank refunds waiting to be paid back.
type RefundQueueView struct {
	RefundsView
	PayBacks  []PayBackRow
	AtChannel []ChannelRefundRow
}

// ChannelRefundRow is an approved refund WeChat Pay or Alipay has not
// accepted yet: still tried each minute, or failed and waiting for a retry.
type ChannelRefundRow struct {
	RefundNo, OrderNo string
	AccountID         int64
	Amount            decimal.Decimal
	CreatedAt         time.Time
	Attempts          int
	LastError         string
	Failed            bool
}

// PayBackRow is an approved refund of a bank transfer top-up that finance
// pays back by bank transfer.
type PayBackRow struct {
	RefundRow
	RefundNo   string // the bank refund record's number
	ApprovedAt time.Time
}

// Invoices (invoice.templ).

// InvoiceQueueView is finance's invoice queue in one state.
type InvoiceQueueView struct {
	Frame
	State    string
	States   []string
	Invoices []pv.InvoiceRow
	Basis    BasisPanel
}

// BasisForm is finance's invoicing-basis form as entered.
type BasisForm struct {
	Account, Basis string
}

// BasisPanel sets an account's invoicing basis (top-up or consumption);
// after a change it shows the account's basis now and from next month.
type BasisPanel struct {
	BasisForm
	Current, Next string
	NextFrom      *time.Time
	Errors        map[string]string
}

// InvoiceEvent is one state change of an invoice.
type InvoiceEvent struct {
	At                      time.Time
	From, To, Reason, Actor string
}

// IssueForm is the issue form as entered.
type IssueForm struct {
	Number, Date string
	Source       string // "upload" (the platform's PDF) or "generate" (our copy)
	// CanGenerate: the seller is configured, so our copy can be drawn.
	CanGenerate bool
}

// InvoiceDetailView is one invoice with the actions its state allows.
type InvoiceDetailView struct {
	Frame
	Invoice pv.InvoiceRow
	History []InvoiceEvent
	Issue   IssueForm
	Errors  map[string]string
	Done    string // issued, rejected, reversed, reissued: the action just done
}

// Real-name verification (kyc.templ).

// KYCItem is one verification as staff see it: masked values only.
type KYCItem struct {
	ID, AccountID                      int64
	State, Subject, Source             string
	Reason, Reference                  string
	Name, MaskedNumber, MaskedLegalRep string
	LicenceName, LicenceType           string
	LicenceSize                        int
	LicenceSHA256                      string
	SubmittedAt, DecidedAt             *time.Time
	DecidedBy                          string
	BonusGranted                       bool
}

// KYCEvent is one state change of an account's verification.
type KYCEvent struct {
	At                                 time.Time
	From, To, Reason, Actor, Reference string
}

// KYCAccess is one attempt to see personal data in full.
type KYCAccess struct {
	At                       time.Time
	Field, Viewer, Roles, IP string
	Granted                  bool
}

// KYCQueueView is the manual review queue.
type KYCQueueView struct {
	Frame
	Items   []KYCItem
	Decided string // the id just decided, for the flash
}

// KYCDetailView is one verification with its history and access log.
type KYCDetailView struct {
	Frame
	Item     KYCItem
	History  []KYCEvent
	Access   []KYCAccess
	Revealed string // the full number, after an entitled reveal
	Errors   map[string]string
}

// resolveConfirm is the question the resolve form asks before crediting a
// line to the picked customer, naming the line's amount when the form knows
// it.
func resolveConfirm(ctx context.Context, f ResolveForm) string {
	if f.Amount.IsZero() {
		return i18n.T(ctx, "confirm.line_resolve_any")
	}
	return i18n.Tf(ctx, "confirm.line_resolve", map[string]string{"Amount": format.Money(f.Amount)})
}

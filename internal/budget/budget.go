// Package budget is what customers do with spending budgets: set and remove
// them (audited, in the transaction of the change), read them, and be told
// when one reaches a threshold. The ledger holds and enforces them (see
// ledger.Budget); this package checks who may set which, parses the
// portal's form and sends the alerts (mail and the budget.threshold
// webhook).
package budget

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/platform/jobs"
	"github.com/seed75218f88/credits/internal/platform/mail"
	"github.com/seed75218f88/credits/internal/webhook"
)

// ErrNotFound: no such budget or account among the customer's.
var ErrNotFound = errors.New("budget: not found")

// Audited actions.
const (
	ActionBudgetSet     backoffice.Action = "budget_set"     // a customer set or changed a budget
	ActionBudgetDeleted backoffice.Action = "budget_deleted" // a customer removed a budget
)

// AuditActions are the actions this package audits (the audit page's
// filter offers them).
var AuditActions = []backoffice.Action{ActionBudgetSet, ActionBudgetDeleted}

// WebhookThreshold is the webhook event type of a threshold reached.
const WebhookThreshold = "budget.threshold"

// Options tune a Service.
type Options struct {
	Now func() time.Time
	// CreditPrice is the yuan price of one credit in force (for budgets
	// entered in yuan); ledger.DefaultCreditPriceRMB when nil.
	CreditPrice func() decimal.Decimal
	// PortalURL is the budgets page named in alert mails.
	PortalURL string
}

// Service sets budgets and sends their alerts.
type Service struct {
	pool     db.Querier
	ledger   *ledger.Ledger
	jobs     jobs.Inserter
	webhooks *webhook.Service
	i18n     *i18n.Bundle
	opts     Options
}

// New returns a Service; jobs, webhooks and bundle may be nil in a process
// that sends no alerts.
func New(pool db.Querier, l *ledger.Ledger, ins jobs.Inserter, wh *webhook.Service, bundle *i18n.Bundle, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{pool: pool, ledger: l, jobs: ins, webhooks: wh, i18n: bundle, opts: opts}
}

// Actor is who changes a budget: a customer in the portal (or staff).
type Actor struct {
	Kind   backoffice.ActorKind
	UserID int64
	Email  string
	IP     string
}

// Input is the portal's budget form as typed (digits already normalised).
type Input struct {
	AccountID  int64 // 0: the customer's own account
	Project    string
	Key        string
	Period     string
	Amount     string
	Unit       string
	Thresholds string // percents separated by commas or spaces
	HardStop   bool
}

// Parse checks every field of in at once and returns the budget it sets
// for an account (the caller checks the account is the customer's).
// Errors: *fielderr.Errors with codes budget_label, budget_period,
// budget_unit, budget_amount (min, max), budget_thresholds (min, max).
func Parse(in Input, accountID int64) (ledger.BudgetSpec, error) {
	errs := fielderr.New("budget")
	s := ledger.BudgetSpec{AccountID: accountID, Project: strings.TrimSpace(in.Project), Key: strings.TrimSpace(in.Key),
		Period: ledger.BudgetPeriod(in.Period), Unit: ledger.BudgetUnit(in.Unit), HardStop: in.HardStop}
	if !ledger.ValidLabel(s.Project) {
		errs.Add("project", "budget_label", "max", strconv.Itoa(ledger.MaxLabelLen))
	}
	if !ledger.ValidLabel(s.Key) {
		errs.Add("key", "budget_label", "max", strconv.Itoa(ledger.MaxLabelLen))
	}
	switch s.Period {
	case ledger.BudgetDay, ledger.BudgetWeek, ledger.BudgetMonth, ledger.BudgetNone:
	default:
		errs.Add("period", "budget_period")
	}
	switch s.Unit {
	case ledger.BudgetCredits, ledger.BudgetYuan:
	default:
		errs.Add("unit", "budget_unit")
	}
	amount, err := format.ParseDecimal(in.Amount)
	places := int32(ledger.Scale)
	if s.Unit == ledger.BudgetYuan {
		places = 2
	}
	if err != nil || !amount.IsPositive() || !amount.Equal(amount.Round(places)) || amount.GreaterThan(ledger.MaxCredits) {
		errs.Add("amount", "budget_amount", "places", strconv.Itoa(int(places)))
	}
	s.Amount = amount
	for _, f := range strings.FieldsFunc(in.Thresholds, func(r rune) bool { return r == ',' || r == ' ' || r == '，' || r == '、' }) {
		n, err := strconv.Atoi(strings.TrimSuffix(f, "%"))
		if err != nil || n < 1 || n > 1000 {
			errs.Add("thresholds", "budget_thresholds", "min", "1", "max", "1000")
			break
		}
		s.Thresholds = append(s.Thresholds, n)
	}
	if len(s.Thresholds) > 10 {
		errs.Add("thresholds", "budget_thresholds", "min", "1", "max", "1000")
	}
	return s, errs.Err()
}

// mayManage says whether the customer of account owner may set budgets of
// account target: its own, or an enterprise's sub-accounts.
func mayManage(owner, target ledger.Account) bool {
	return target.ID == owner.ID || owner.Kind == ledger.AccountEnterprise && target.PoolID == owner.ID
}

// Set creates or changes the budget of a scope of owner's (the customer's
// account or, for an enterprise, one of its sub-accounts) and audits it,
// in one transaction. Errors: ErrNotFound (not the customer's account),
// *fielderr.Errors (from the ledger's checks), ledger errors.
func (s *Service) Set(ctx context.Context, a Actor, owner ledger.Account, spec ledger.BudgetSpec) (int64, error) {
	var id int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		id, err = s.setTx(ctx, tx, a, owner, spec)
		return err
	})
	if err != nil {
		return 0, setError(err)
	}
	return id, nil
}

// SetTx is Set inside the caller's transaction, so a budget can be set
// with what it caps (an API key created with its monthly budget) or not at
// all. Errors: as Set.
func (s *Service) SetTx(ctx context.Context, tx pgx.Tx, a Actor, owner ledger.Account, spec ledger.BudgetSpec) (int64, error) {
	id, err := s.setTx(ctx, tx, a, owner, spec)
	if err != nil {
		return 0, setError(err)
	}
	return id, nil
}

func setError(err error) error {
	var fe *ledger.BudgetFieldError
	if errors.As(err, &fe) {
		return fielderr.New("budget").Add(fe.Field, "budget_"+fe.Field).Err()
	}
	if errors.Is(err, ErrNotFound) {
		return ErrNotFound
	}
	return fmt.Errorf("budget: set: %w", err)
}

func (s *Service) setTx(ctx context.Context, tx pgx.Tx, a Actor, owner ledger.Account, spec ledger.BudgetSpec) (int64, error) {
	target, err := s.ledger.Account(ctx, spec.AccountID)
	if errors.Is(err, ledger.ErrNotFound) || err == nil && !mayManage(owner, target) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	if s.opts.CreditPrice != nil {
		spec.CreditPrice = s.opts.CreditPrice()
	}
	spec.Actor = actorName(a)
	var before *ledger.Budget
	bs, err := s.ledger.BudgetsTx(ctx, tx, target.ID)
	if err != nil {
		return 0, err
	}
	for _, b := range bs {
		if b.AccountID == target.ID && b.Project == spec.Project && b.Key == spec.Key {
			before = &b
		}
	}
	id, err := s.ledger.SetBudgetTx(ctx, tx, spec)
	if err != nil {
		return 0, err
	}
	detail := map[string]any{"budget_id": id, "account_id": target.ID, "project": spec.Project, "key": spec.Key,
		"period": spec.Period, "amount": spec.Amount.String(), "unit": spec.Unit, "thresholds": spec.Thresholds,
		"hard_stop": spec.HardStop}
	if before != nil {
		detail["before"] = map[string]any{"period": before.Period, "amount": before.Amount.String(), "unit": before.Unit,
			"thresholds": before.Thresholds, "hard_stop": before.HardStop}
	}
	_, err = backoffice.Audit(ctx, tx, backoffice.Entry{ActorKind: a.Kind, ActorID: a.UserID, ActorEmail: a.Email, IP: a.IP,
		Action: ActionBudgetSet, AccountID: owner.ID, Detail: detail})
	return id, err
}

// Delete removes a budget of owner's accounts and audits it, in one
// transaction. Errors: ErrNotFound.
func (s *Service) Delete(ctx context.Context, a Actor, owner ledger.Account, budgetID int64) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		bs, err := s.ledger.BudgetsTx(ctx, tx, owner.ID)
		if err != nil {
			return err
		}
		var found *ledger.Budget
		for _, b := range bs {
			if b.ID == budgetID {
				found = &b
			}
		}
		if found == nil {
			return ErrNotFound
		}
		if err := s.ledger.DeleteBudgetTx(ctx, tx, owner.ID, budgetID); err != nil {
			return err
		}
		_, err = backoffice.Audit(ctx, tx, backoffice.Entry{ActorKind: a.Kind, ActorID: a.UserID, ActorEmail: a.Email, IP: a.IP,
			Action: ActionBudgetDeleted, AccountID: owner.ID, Detail: map[string]any{"budget_id": budgetID,
				"account_id": found.AccountID, "project": found.Project, "key": found.Key, "period": found.Period,
				"amount": found.Amount.String(), "unit": found.Unit}})
		return err
	})
	if errors.Is(err, ErrNotFound) || errors.Is(err, ledger.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("budget: delete: %w", err)
	}
	return nil
}

// List returns the budgets owner sees (an enterprise: all in its pool),
// each with what its current period used.
func (s *Service) List(ctx context.Context, owner ledger.Account) ([]ledger.Budget, error) {
	return s.ledger.Budgets(ctx, owner.ID)
}

func actorName(a Actor) string {
	switch {
	case a.Email != "":
		return string(a.Kind) + ":" + a.Email
	case a.UserID != 0:
		return string(a.Kind) + ":" + strconv.FormatInt(a.UserID, 10)
	}
	return string(a.Kind)
}

// ThresholdPayload is the data of a budget.threshold webhook.
type ThresholdPayload struct {
	BudgetID    int64           `json:"budget_id"`
	AccountID   int64           `json:"account_id"`
	Project     string          `json:"project"`
	Key         string          `json:"key"`
	Period      string          `json:"period"`
	PeriodStart *time.Time      `json:"period_start"`
	ResetAt     *time.Time      `json:"reset_at"`
	Threshold   int             `json:"threshold"`
	Used        decimal.Decimal `json:"used"`
	Cap         decimal.Decimal `json:"cap"`
	HardStop    bool            `json:"hard_stop"`
	// Refused: a call was refused because the budget was full.
	Refused bool      `json:"refused"`
	At      time.Time `json:"at"`
}

const selectRecipient = `
SELECT email, locale FROM users WHERE account_id = $1 AND email IS NOT NULL AND NOT disabled ORDER BY id LIMIT 1`

// Notify sends up to 100 thresholds reached: for each, the
// budget.threshold webhook to the pool's account and a mail to its portal
// user, queued in the transaction that marks the alert sent, so each goes
// out once per budget, threshold and period. It returns how many it sent.
func (s *Service) Notify(ctx context.Context) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		as, err := s.ledger.ClaimBudgetAlertsTx(ctx, tx, 100)
		if err != nil {
			return err
		}
		n = len(as)
		for _, a := range as {
			p := ThresholdPayload{BudgetID: a.BudgetID, AccountID: a.AccountID, Project: a.Project, Key: a.Key,
				Period: string(a.Period), Threshold: a.Threshold, Used: a.Used, Cap: a.Cap, HardStop: a.HardStop,
				Refused: a.Refused, At: a.At}
			start := a.PeriodStart.UTC()
			if a.Period != ledger.BudgetNone {
				p.PeriodStart, p.ResetAt = &start, ledger.PeriodEnd(a.Period, start)
			}
			if s.webhooks != nil {
				ev := &webhook.Event{AccountID: a.PoolID, Type: WebhookThreshold, Payload: p,
					ID: fmt.Sprintf("evt_budget_%d_%d_%d", a.BudgetID, start.Unix(), a.Threshold)}
				if err := s.webhooks.EnqueueEventTx(ctx, tx, ev); err != nil {
					return err
				}
			}
			if err := s.mailTx(ctx, tx, a, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("budget: notify: %w", err)
	}
	return n, nil
}

// mailTx queues the alert mail to the pool account's portal user, in the
// user's language; a pool without one gets the webhook only.
func (s *Service) mailTx(ctx context.Context, tx pgx.Tx, a ledger.BudgetAlert, p ThresholdPayload) error {
	if s.jobs == nil || s.i18n == nil {
		return nil
	}
	var email, locale string
	err := tx.QueryRow(ctx, selectRecipient, a.PoolID).Scan(&email, &locale)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	l := s.i18n.Localizer(locale)
	scope := l.T("budget.scope.account")
	switch {
	case a.Key != "":
		scope = l.Tf("budget.scope.key_named", map[string]string{"Project": a.Project, "Key": a.Key})
	case a.Project != "":
		scope = l.Tf("budget.scope.project_named", map[string]string{"Project": a.Project})
	}
	key := "mail.budget_threshold"
	if a.Refused {
		key = "mail.budget_exhausted"
	}
	data := map[string]any{"Scope": scope, "Account": strconv.FormatInt(a.AccountID, 10),
		"Threshold": strconv.Itoa(a.Threshold), "Used": a.Used.StringFixed(2), "Cap": a.Cap.StringFixed(2),
		"Period": l.T("budget.period." + string(a.Period)), "URL": s.opts.PortalURL}
	return mail.EnqueueTx(ctx, s.jobs, tx, mail.Compose(l, key, data, email))
}

// NotifyArgs is the periodic job that sends the thresholds budgets reached.
type NotifyArgs struct{}

// Kind names the job in River's tables.
func (NotifyArgs) Kind() string { return "budget_notify" }

// NotifyWorker works NotifyArgs.
type NotifyWorker struct {
	river.WorkerDefaults[NotifyArgs]
	Budgets *Service
}

// Work sends what is due, 100 at a time, until nothing is.
func (w *NotifyWorker) Work(ctx context.Context, _ *river.Job[NotifyArgs]) error {
	for {
		n, err := w.Budgets.Notify(ctx)
		if err != nil || n < 100 {
			return err
		}
	}
}

// PeriodicJobs schedules the alerts every every (a minute when 0).
func PeriodicJobs(every time.Duration) []*river.PeriodicJob {
	if every <= 0 {
		every = time.Minute
	}
	return []*river.PeriodicJob{jobs.Every(every, NotifyArgs{})}
}

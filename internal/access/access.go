// Package access is what a customer may call, beyond what it can pay:
// the model allow-lists of accounts and sub-accounts. Staff set an
// account's list in the back office and enterprise owners set their
// sub-accounts' lists in the portal; every change is audited in its own
// transaction. The gateway domain reads the lists (Store.Models) and
// refuses a call for another model with gateway.ErrModelNotAllowed.
//
// # Rules
//
//   - No list: every model on the rate card in force.
//   - A list names models of the rate card in force when it is set.
//   - A sub-account's list lies within its enterprise's list when the
//     enterprise has one. A call of a sub-account is checked against both
//     lists, so an enterprise whose list is narrowed later narrows its
//     sub-accounts' at once.
package access

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
)

// ErrNotFound: no such account (or not one the actor may manage).
var ErrNotFound = errors.New("access: not found")

// ActionModelListSet is the audit action of a changed allow-list.
const (
	ActionModelListSet   backoffice.Action = "model_list_set"  // an account's model allow-list set or removed
	ActionEnforcementSet backoffice.Action = "enforcement_set" // an account's enforcement mode set or removed
)

// AuditActions are the actions this package audits (the audit page's
// filter offers them).
var AuditActions = []backoffice.Action{ActionModelListSet, ActionEnforcementSet}

// FieldCodes lists the field codes this package reports, so the web layer
// can check each has a message.
var FieldCodes = []string{"model_unknown", "model_outside_enterprise"}

// Actor is who changes a list: staff in the back office or an enterprise
// owner in the portal.
type Actor struct {
	Kind   backoffice.ActorKind
	UserID int64
	Email  string
	IP     string
}

func (a Actor) ref() string {
	if a.Kind == backoffice.ActorCustomer {
		return "user:" + strconv.FormatInt(a.UserID, 10)
	}
	return "staff:" + strconv.FormatInt(a.UserID, 10)
}

// Store reads allow-lists; it takes a pool or a transaction.
type Store struct{ db db.DBTX }

// NewStore returns a Store over q.
func NewStore(q db.DBTX) *Store { return &Store{db: q} }

const selectModels = `SELECT models FROM access_model_lists WHERE account_id = $1`

// Models returns the account's own allow-list, nil when it has none
// (every model).
func (s *Store) Models(ctx context.Context, accountID int64) ([]string, error) {
	var models []string
	err := s.db.QueryRow(ctx, selectModels, accountID).Scan(&models)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("access: models: %w", err)
	}
	return models, nil
}

// Allows reports whether a list allows model (nil: every model).
func Allows(list []string, model string) bool {
	return list == nil || slices.Contains(list, model)
}

// Options configure a Service.
type Options struct {
	Now func() time.Time
	// Models lists the models of the rate card in force (the names a list
	// may hold).
	Models func(ctx context.Context) ([]string, error)
	// OnChange is told of each account whose list changed (the gateway
	// drops its cached copy).
	OnChange func(accountID int64)
}

// Service sets allow-lists.
type Service struct {
	pool   db.Querier
	ledger *ledger.Ledger
	opts   Options
	*Store
}

// New returns a Service over pool.
func New(pool db.Querier, l *ledger.Ledger, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{pool: pool, ledger: l, opts: opts, Store: NewStore(pool)}
}

// Catalogue is the models a list may name (the rate card in force), in
// card order.
func (s *Service) Catalogue(ctx context.Context) ([]string, error) {
	if s.opts.Models == nil {
		return nil, nil
	}
	return s.opts.Models(ctx)
}

// ParseModels reads a list as typed or ticked: names separated by commas,
// spaces or new lines, duplicates dropped, in the order given; empty
// means no list.
func ParseModels(values ...string) []string {
	var out []string
	for _, v := range values {
		for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' }) {
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	return out
}

// SetModels replaces the allow-list of accountID (empty or nil: none,
// every model), checks and audits it in one transaction. For a
// sub-account every model must be in its enterprise's list when that has
// one. enterprise, when not 0, is the enterprise the actor owns: the
// account must be it or one of its sub-accounts. Errors: ErrNotFound,
// *fielderr.Errors on field "models" (model_unknown with "model",
// model_outside_enterprise with "model").
func (s *Service) SetModels(ctx context.Context, a Actor, enterprise, accountID int64, models []string) error {
	acct, err := s.ledger.Account(ctx, accountID)
	if errors.Is(err, ledger.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if enterprise != 0 && acct.ID != enterprise && (acct.ParentID == nil || *acct.ParentID != enterprise) {
		return ErrNotFound
	}
	models = ParseModels(models...)
	if len(models) > 0 {
		known, err := s.Catalogue(ctx)
		if err != nil {
			return err
		}
		errs := fielderr.New("access")
		for _, m := range models {
			if known != nil && !slices.Contains(known, m) {
				errs.Add("models", "model_unknown", "model", m)
				break
			}
		}
		if acct.ParentID != nil {
			parent, err := s.Models(ctx, *acct.ParentID)
			if err != nil {
				return err
			}
			for _, m := range models {
				if !Allows(parent, m) {
					errs.Add("models", "model_outside_enterprise", "model", m)
					break
				}
			}
		}
		if err := errs.Err(); err != nil {
			return err
		}
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		before, err := NewStore(tx).Models(ctx, accountID)
		if err != nil {
			return err
		}
		if len(models) == 0 {
			_, err = tx.Exec(ctx, `DELETE FROM access_model_lists WHERE account_id = $1`, accountID)
		} else {
			_, err = tx.Exec(ctx, `
INSERT INTO access_model_lists (account_id, models, updated_at, updated_by) VALUES ($1, $2, $3, $4)
ON CONFLICT (account_id) DO UPDATE SET models = EXCLUDED.models, updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by`,
				accountID, models, s.opts.Now().UTC(), a.ref())
		}
		if err != nil {
			return fmt.Errorf("access: set models: %w", err)
		}
		detail := map[string]any{"account_id": accountID, "models": models, "before": before}
		_, err = backoffice.Audit(ctx, tx, backoffice.Entry{ActorKind: a.Kind, ActorID: a.UserID, ActorEmail: a.Email,
			IP: a.IP, Action: ActionModelListSet, AccountID: accountID, Detail: detail})
		return err
	})
	if err != nil {
		return err
	}
	if s.opts.OnChange != nil {
		s.opts.OnChange(accountID)
	}
	return nil
}

// SetEnforcement sets the account's own enforcement mode (nil: follow its
// enterprise, else the global setting) and audits it, in one transaction.
// Errors: ErrNotFound, ledger.ErrInvalidArgument (an unknown mode).
func (s *Service) SetEnforcement(ctx context.Context, a Actor, accountID int64, mode *ledger.Enforcement) error {
	acct, err := s.ledger.Account(ctx, accountID)
	if errors.Is(err, ledger.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.ledger.SetEnforcementTx(ctx, tx, accountID, mode); err != nil {
			return err
		}
		detail := map[string]any{"account_id": accountID, "mode": mode, "before": acct.Enforcement}
		_, err := backoffice.Audit(ctx, tx, backoffice.Entry{ActorKind: a.Kind, ActorID: a.UserID, ActorEmail: a.Email,
			IP: a.IP, Action: ActionEnforcementSet, AccountID: accountID, Detail: detail})
		return err
	})
	if err != nil {
		return err
	}
	if s.opts.OnChange != nil {
		s.opts.OnChange(accountID)
	}
	return nil
}

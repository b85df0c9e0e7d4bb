package backoffice

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/refcode"
)

// Freeze freezes an account (it can no longer spend) with a required
// reason, audited with its balance. Support, finance and admin users may
// freeze. Errors: ErrForbidden, ErrReasonRequired, ErrAccountNotFound.
func (s *Service) Freeze(ctx context.Context, accountID int64, reason string, actor Actor) error {
	return s.setStatus(ctx, accountID, ledger.StatusFrozen, ActionFreeze, reason, actor)
}

// Unfreeze makes a frozen account active again, with a required reason,
// audited. Errors: as Freeze.
func (s *Service) Unfreeze(ctx context.Context, accountID int64, reason string, actor Actor) error {
	return s.setStatus(ctx, accountID, ledger.StatusActive, ActionUnfreeze, reason, actor)
}

// setStatus changes the account's status through the ledger and writes its
// audit row in one transaction: both are recorded or neither. The pool row
// is locked first, so the audited balance is the one at the change.
func (s *Service) setStatus(ctx context.Context, accountID int64, status ledger.AccountStatus, action Action, reason string, actor Actor) error {
	if err := actor.require(auth.RoleSupport, auth.RoleFinance, auth.RoleAdmin); err != nil {
		return err
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return ErrReasonRequired
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		bal, err := lockBalance(ctx, tx, accountID)
		if err != nil {
			return err
		}
		acc, err := ledger.AccountByID(ctx, tx, accountID)
		if err != nil {
			return fmt.Errorf("backoffice: status of %d: %w", accountID, err)
		}
		before := acc.Status
		if err := s.ledger.SetStatusTx(ctx, tx, accountID, status, actor.ref(), reason); err != nil {
			if errors.Is(err, ledger.ErrNotFound) {
				return ErrAccountNotFound
			}
			return err
		}
		e := staffEntry(actor, action, accountID)
		e.BalanceBefore, e.BalanceAfter = &bal, &bal
		e.Reason = reason
		e.Detail = map[string]any{"status_before": before, "status_after": status}
		_, err = Audit(ctx, tx, e)
		return err
	})
}

// OrderLookup finds the account an order number belongs to (payments).
type OrderLookup interface {
	// AccountByOrderNo returns the ledger account of the order, or ok false.
	AccountByOrderNo(ctx context.Context, orderNo string) (accountID int64, ok bool, err error)
}

// Customer is one result of FindCustomers: a ledger account with its
// customer user (when it has one) and its position.
type Customer struct {
	Account ledger.Account
	// User is the account's customer user; zero ID when the account has
	// none (an account created through the gateway API).
	User    auth.User
	Balance decimal.Decimal // the pool's ledger balance
	// MatchedBy says what the query matched: "account", "external_id",
	// "order", "reference", "company" or "user".
	MatchedBy string
}

// FindCustomers is the support lookup: query may be a ledger account id, a
// live account's external id (the gateway client's own id), an order number
// (when Orders is wired), a bank-transfer reference code (when
// TransferOrders is), part of a verified company name (when Identities is),
// an email (or its beginning), a mobile number, or part of a name. Results
// are deduplicated by account, exact matches first, at most auth.FindLimit.
// Staff users are not returned. Errors: ErrForbidden.
func (s *Service) FindCustomers(ctx context.Context, query string, actor Actor) ([]Customer, error) {
	if err := actor.require(auth.RoleSupport, auth.RoleFinance, auth.RoleAdmin); err != nil {
		return nil, err
	}
	query = strings.TrimSpace(query)
	out := []Customer{}
	if query == "" {
		return out, nil
	}
	seen := map[int64]bool{}
	add := func(accountID int64, u auth.User, by string) error {
		if accountID == 0 || seen[accountID] {
			return nil
		}
		acc, err := s.ledger.Account(ctx, accountID)
		if errors.Is(err, ledger.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if u.ID == 0 && s.users != nil {
			if cu, err := s.users.UserByAccountID(ctx, accountID); err == nil {
				u = cu
			}
		}
		bal, err := readBalance(ctx, s.pool, accountID)
		if err != nil {
			return err
		}
		seen[accountID] = true
		out = append(out, Customer{Account: acc, User: u, Balance: bal, MatchedBy: by})
		return nil
	}
	if err := s.findExact(ctx, query, add); err != nil {
		return nil, fmt.Errorf("backoffice: find customers: %w", err)
	}
	if s.opt.Identities != nil {
		ids, err := s.opt.Identities.AccountsByCompanyName(ctx, query, auth.FindLimit)
		if err != nil {
			return nil, fmt.Errorf("backoffice: find customers by company: %w", err)
		}
		for _, id := range ids {
			if err := add(id, auth.User{}, "company"); err != nil {
				return nil, fmt.Errorf("backoffice: find customers: %w", err)
			}
		}
	}
	if s.users != nil {
		users, err := s.users.FindUsers(ctx, query)
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			if u.Kind != auth.KindCustomer {
				continue
			}
			if err := add(u.AccountID, u, "user"); err != nil {
				return nil, fmt.Errorf("backoffice: find customers: %w", err)
			}
		}
	}
	if len(out) > auth.FindLimit {
		out = out[:auth.FindLimit]
	}
	return out, nil
}

// findExact adds the accounts query names exactly: as an account id, a live
// external id, an order number or a transfer reference code.
func (s *Service) findExact(ctx context.Context, query string, add func(int64, auth.User, string) error) error {
	if id, err := strconv.ParseInt(query, 10, 64); err == nil {
		if err := add(id, auth.User{}, "account"); err != nil {
			return err
		}
	}
	// Test-mode accounts hold no money, so a bank payment never belongs to one.
	acc, err := s.ledger.AccountByExternalID(ctx, ledger.ModeLive, query)
	switch {
	case err == nil:
		if err := add(acc.ID, auth.User{}, "external_id"); err != nil {
			return err
		}
	case !errors.Is(err, ledger.ErrNotFound):
		return err
	}
	if s.opt.Orders != nil {
		id, ok, err := s.opt.Orders.AccountByOrderNo(ctx, query)
		if err != nil {
			return fmt.Errorf("by order: %w", err)
		}
		if ok {
			if err := add(id, auth.User{}, "order"); err != nil {
				return err
			}
		}
	}
	if code := refcode.Normalize(query); s.opt.TransferOrders != nil && refcode.Valid(code) {
		o, ok, err := s.opt.TransferOrders.OpenOrderByCode(ctx, s.pool, code)
		if err != nil {
			return fmt.Errorf("by reference code: %w", err)
		}
		if ok {
			if err := add(o.AccountID, auth.User{}, "reference"); err != nil {
				return err
			}
		}
	}
	return nil
}

// Package signup is the customer registration use case: a new customer gets
// a ledger account (individual, live), a user that signs in to it, and the
// sign-up credit as a promo lot with an expiry, the user and the grant in
// one transaction.
package signup

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/referral"
)

// Settings are the sign-up credit: Credit credits (0 = none) as a promo lot
// expiring ExpiryDays days after registration (0 = never).
type Settings struct {
	Credit     decimal.Decimal
	ExpiryDays int
}

// Default sign-up credit: 5,000 credits (¥5 at the default ¥0.001 a
// credit), valid for 30 days.
var Default = Settings{Credit: decimal.NewFromInt(5000), ExpiryDays: 30}

// Service registers customers.
type Service struct {
	Pool     db.Querier
	Auth     *auth.Service
	Ledger   *ledger.Ledger
	Settings Settings
	// Referrals record who invited a new account (nil: invite codes are
	// ignored).
	Referrals *referral.Service
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// GrantKey is the idempotency key of an account's sign-up credit: one grant
// per account, however often a registration is retried.
func GrantKey(accountID int64) string { return "signup:" + strconv.FormatInt(accountID, 10) }

// Register creates, in one transaction, the customer's ledger account, the
// user linked to it and the sign-up credit: a failed registration leaves
// nothing behind (no account without its user).
//
// Errors: those of auth.Register (ErrLoginTaken, ErrInvalidEmail,
// ErrInvalidPhone, ErrWeakPassword, ErrInvalidName) and the ledger's.
func (s *Service) Register(ctx context.Context, req auth.RegisterRequest) (auth.User, error) {
	u, _, err := s.RegisterInvited(ctx, req, "")
	return u, err
}

// RegisterInvited is Register for a sign-up through an invite link: the
// inviter of code is recorded on the new account in the same transaction.
// invited is false when code is empty, unknown or cannot be used: the
// registration goes on without it.
//
// Errors: as Register.
func (s *Service) RegisterInvited(ctx context.Context, req auth.RegisterRequest, code string) (u auth.User, invited bool, err error) {
	// Check the form before creating anything.
	login, _, err := auth.NormalizeLogin(req.Login)
	if err != nil {
		return auth.User{}, false, err
	}
	if err := auth.CheckPassword(req.Password, login); err != nil {
		return auth.User{}, false, err
	}
	if _, err := s.Auth.UserByLogin(ctx, login); err == nil {
		return auth.User{}, false, auth.ErrLoginTaken
	}
	err = db.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		acc, err := s.Ledger.CreateAccountTx(ctx, tx, ledger.AccountSpec{Kind: ledger.AccountIndividual, Mode: ledger.ModeLive, Name: req.Name})
		if err != nil {
			return err
		}
		r := req
		r.AccountID = acc.ID
		if u, err = s.Auth.RegisterTx(ctx, tx, r); err != nil {
			return err
		}
		if code != "" && s.Referrals != nil {
			if invited, err = s.Referrals.RecordTx(ctx, tx, acc.ID, code); err != nil {
				return err
			}
		}
		return s.grantTx(ctx, tx, acc.ID)
	})
	if err != nil {
		var ae *auth.Error
		if errors.As(err, &ae) || errors.Is(err, fielderr.ErrInvalid) {
			return auth.User{}, false, err
		}
		return auth.User{}, false, fmt.Errorf("signup: %w", err)
	}
	return u, invited, nil
}

// grantTx gives the sign-up credit inside tx (idempotent by GrantKey).
func (s *Service) grantTx(ctx context.Context, tx pgx.Tx, accountID int64) error {
	if !s.Settings.Credit.IsPositive() {
		return nil
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	var exp *time.Time
	if s.Settings.ExpiryDays > 0 {
		t := now().UTC().Add(time.Duration(s.Settings.ExpiryDays) * 24 * time.Hour)
		exp = &t
	}
	_, err := s.Ledger.CreditTx(ctx, tx, ledger.CreditRequest{
		AccountID:      accountID,
		Kind:           ledger.LotPromo,
		Amount:         s.Settings.Credit,
		ExpiresAt:      exp,
		EventType:      ledger.EventGrant,
		SourceRef:      "signup",
		Actor:          "system:signup",
		ReasonCode:     "signup_credit",
		IdempotencyKey: GrantKey(accountID),
	})
	return err
}

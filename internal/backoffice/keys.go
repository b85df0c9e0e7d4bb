package backoffice

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/ledger"
)

// ServiceKeys is the gateway's store of API service keys as the back office
// uses it (gateway.KeyStore.BackOffice). The secret of a new key is
// returned once and stored only as its hash.
type ServiceKeys interface {
	// List returns every key, revoked ones too, newest first.
	List(ctx context.Context) ([]ServiceKey, error)
	// CreateTx makes a key on tx and returns it with its secret. Errors:
	// ErrInvalidKeyMode, ErrInvalidKeyName.
	CreateTx(ctx context.Context, tx pgx.Tx, mode ledger.Mode, name string) (ServiceKey, string, error)
	// RevokeTx revokes key id on tx and returns it. Errors:
	// ErrKeyNotFound, ErrKeyRevoked.
	RevokeTx(ctx context.Context, tx pgx.Tx, id int64) (ServiceKey, error)
	// Forget drops this server's cached verification of key id; called
	// once the revocation has committed, so the key stops working at once.
	Forget(id int64)
}

// ServiceKey is an API service key as staff see it: its prefix, never its
// secret.
type ServiceKey struct {
	ID         int64
	Prefix     string      // the first characters of the secret, e.g. sk_live_AbCd1234
	Mode       ledger.Mode // live, or test (the sandbox)
	Name       string
	CreatedAt  time.Time
	RevokedAt  *time.Time
	LastUsedAt *time.Time
}

// keyDetail is what the audit log records about a key: never its secret.
type keyDetail struct {
	KeyID  int64  `json:"key_id"`
	Prefix string `json:"prefix"`
	Mode   string `json:"mode"`
	Name   string `json:"name"`
}

func detailOf(k ServiceKey) keyDetail {
	return keyDetail{KeyID: k.ID, Prefix: k.Prefix, Mode: string(k.Mode), Name: k.Name}
}

// ServiceKeys lists every service key, revoked ones too, newest first.
// Errors: ErrNoServiceKeys.
func (s *Service) ServiceKeys(ctx context.Context) ([]ServiceKey, error) {
	if s.opt.Keys == nil {
		return nil, ErrNoServiceKeys
	}
	return s.opt.Keys.List(ctx)
}

// CreateServiceKey makes a service key of mode (live or test) named name
// and audits it in the same transaction; it returns the key and its
// secret, which the caller shows once: it is stored only as its hash.
// Admins only. Errors: ErrForbidden, ErrNoServiceKeys, ErrInvalidKeyMode,
// ErrInvalidKeyName.
func (s *Service) CreateServiceKey(ctx context.Context, a Actor, mode ledger.Mode, name string) (ServiceKey, string, error) {
	if err := a.require(auth.RoleAdmin); err != nil {
		return ServiceKey{}, "", err
	}
	if s.opt.Keys == nil {
		return ServiceKey{}, "", ErrNoServiceKeys
	}
	var k ServiceKey
	var secret string
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if k, secret, err = s.opt.Keys.CreateTx(ctx, tx, mode, name); err != nil {
			return err
		}
		e := staffEntry(a, ActionAPIKeyCreated, 0)
		e.Detail = detailOf(k)
		_, err = Audit(ctx, tx, e)
		return err
	})
	if err != nil {
		return ServiceKey{}, "", err
	}
	return k, secret, nil
}

// RevokeServiceKey revokes service key id and audits it in the same
// transaction; once committed, this server refuses the key at once (other
// servers within their key cache's TTL). Admins only. Errors:
// ErrForbidden, ErrNoServiceKeys, ErrKeyNotFound, ErrKeyRevoked.
func (s *Service) RevokeServiceKey(ctx context.Context, a Actor, id int64) (ServiceKey, error) {
	if err := a.require(auth.RoleAdmin); err != nil {
		return ServiceKey{}, err
	}
	if s.opt.Keys == nil {
		return ServiceKey{}, ErrNoServiceKeys
	}
	var k ServiceKey
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if k, err = s.opt.Keys.RevokeTx(ctx, tx, id); err != nil {
			return err
		}
		e := staffEntry(a, ActionAPIKeyRevoked, 0)
		e.Detail = detailOf(k)
		_, err = Audit(ctx, tx, e)
		return err
	})
	if err != nil {
		return ServiceKey{}, err
	}
	s.opt.Keys.Forget(id)
	return k, nil
}

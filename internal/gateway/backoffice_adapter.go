package gateway

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
)

// BackOfficeKeys is the gateway side of the back office's service key
// pages: it satisfies backoffice.ServiceKeys over a KeyStore, translating
// this package's errors into the back office's.
type BackOfficeKeys struct{ s *KeyStore }

// BackOffice returns the adapter the back office is built with; pass the
// store the API authenticates with, so a revocation drops its cache.
func (s *KeyStore) BackOffice() BackOfficeKeys { return BackOfficeKeys{s: s} }

var _ backoffice.ServiceKeys = BackOfficeKeys{}

// List returns every key, newest first.
func (b BackOfficeKeys) List(ctx context.Context) ([]backoffice.ServiceKey, error) {
	keys, err := b.s.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]backoffice.ServiceKey, len(keys))
	for i, k := range keys {
		out[i] = serviceKey(k)
	}
	return out, nil
}

// CreateTx is KeyStore.CreateTx. Errors: backoffice.ErrInvalidKeyMode,
// backoffice.ErrInvalidKeyName.
func (b BackOfficeKeys) CreateTx(ctx context.Context, tx pgx.Tx, mode ledger.Mode, name string) (backoffice.ServiceKey, string, error) {
	k, secret, err := b.s.CreateTx(ctx, tx, mode, name)
	if fe, ok := fielderr.As(err); ok {
		// The back office's codes, so the key form shows its messages.
		if fe.Code("mode") != "" {
			return backoffice.ServiceKey{}, "", backoffice.ErrInvalidKeyMode
		}
		return backoffice.ServiceKey{}, "", backoffice.ErrInvalidKeyName
	}
	if err != nil {
		return backoffice.ServiceKey{}, "", err
	}
	return serviceKey(k), secret, nil
}

// RevokeTx is KeyStore.RevokeTx. Errors: backoffice.ErrKeyNotFound,
// backoffice.ErrKeyRevoked.
func (b BackOfficeKeys) RevokeTx(ctx context.Context, tx pgx.Tx, id int64) (backoffice.ServiceKey, error) {
	k, err := b.s.RevokeTx(ctx, tx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return backoffice.ServiceKey{}, backoffice.ErrKeyNotFound
	case errors.Is(err, ErrKeyRevoked):
		return backoffice.ServiceKey{}, backoffice.ErrKeyRevoked
	case err != nil:
		return backoffice.ServiceKey{}, err
	}
	return serviceKey(k), nil
}

// Forget is KeyStore.Forget.
func (b BackOfficeKeys) Forget(id int64) { b.s.Forget(id) }

func serviceKey(k Key) backoffice.ServiceKey {
	return backoffice.ServiceKey{ID: k.ID, Prefix: k.Prefix, Mode: k.Mode, Name: k.Name,
		CreatedAt: k.CreatedAt, RevokedAt: k.RevokedAt, LastUsedAt: k.LastUsedAt}
}

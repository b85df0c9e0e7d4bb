package gateway

import (
	"context"
	"strconv"
)

// AccountKey is the key a call made for an account known by its id acts
// with (the OpenAI-compatible gateway's customer keys, internal/relay): the
// account's mode, and an actor naming the customer key. Commit and Release
// take it like a service key.
func (s *Service) AccountKey(ctx context.Context, accountID int64, keyID int64, keyName string) (Key, error) {
	a, err := s.accountByID(ctx, accountID)
	if err != nil {
		return Key{}, err
	}
	return Key{ID: keyID, Prefix: "relay", Mode: a.acct.Mode, Name: "relay:" + keyName}, nil
}

// ReserveAccount is Reserve for the account accountID itself, not an
// external id in a service key's mode: the same rate limit, verification
// gate, plan quota and ledger hold. in.Account may be empty. Errors: those
// of Reserve.
func (s *Service) ReserveAccount(ctx context.Context, key Key, accountID int64, in ReserveInput) (ReservationView, error) {
	if in.Account == "" {
		in.Account = "id:" + strconv.FormatInt(accountID, 10)
	}
	if err := in.validate(); err != nil {
		return ReservationView{}, err
	}
	a, err := s.accountByID(ctx, accountID)
	if err != nil {
		return ReservationView{}, err
	}
	if a.acct.Mode != key.Mode {
		return ReservationView{}, ErrNotFound
	}
	return s.reserve(ctx, key, a, in)
}

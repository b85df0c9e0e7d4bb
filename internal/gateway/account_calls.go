package gateway

import (
	"context"
	"strconv"
)

// AccountKey is the key a call made for an account known by its id acts
// with (the OpenAI-compatible gateway's customer keys, internal/relay): the
// account's mode, and an actor naming the customer key. Commit and Release
// take it like a service key. An account's mode never changes, so any
// cached copy of the account names it: a call whose copy has expired does
// not wait here for the account to be read again (its reserve reads it,
// beside the upstream call on a speculative start). Errors: ErrNotFound.
func (s *Service) AccountKey(ctx context.Context, accountID int64, keyID int64, keyName string) (Key, error) {
	var a *accountInfo
	if v, ok := s.byID.Load(accountID); ok {
		a = v.(*accountInfo)
	} else {
		var err error
		if a, err = s.accountByID(ctx, accountID); err != nil {
			return Key{}, err
		}
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

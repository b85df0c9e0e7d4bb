package gateway

import (
	"context"
	"errors"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
)

// TransferInput is the body of POST /v1/accounts/{external_id}/transfers:
// move Amount of allocation from the path's account to To, an account of
// the same enterprise.
type TransferInput struct {
	To             string          `json:"to"`
	Amount         decimal.Decimal `json:"amount"`
	IdempotencyKey string          `json:"idempotency_key"`
}

// TransferSide is one account's allocation around a transfer (nil = no
// limit).
type TransferSide struct {
	Account          string           `json:"account"`
	AllocationBefore *decimal.Decimal `json:"allocation_before"`
	AllocationAfter  *decimal.Decimal `json:"allocation_after"`
}

// TransferView is the answer to a transfer.
type TransferView struct {
	Amount decimal.Decimal `json:"amount"`
	From   TransferSide    `json:"from"`
	To     TransferSide    `json:"to"`
}

// Transfer moves allocation from the account externalID to in.To, both
// accounts of one enterprise (the enterprise itself or its sub-accounts),
// through backoffice.Transfer: one transaction with its audit row. A retry
// with the same idempotency key and body returns the first answer; with
// another body, ledger.ErrIdempotencyConflict.
//
// Errors: ErrNotFound (no such source), ErrInvalidRequest (no such target,
// the same account, a bad amount or key), ledger.ErrCrossEnterpriseTransfer,
// ledger.ErrAllocationExceeded, ledger.ErrIdempotencyConflict.
func (s *Service) Transfer(ctx context.Context, key Key, externalID string, in TransferInput) (TransferView, error) {
	from, err := s.account(ctx, key.Mode, externalID)
	if err != nil {
		return TransferView{}, err
	}
	var f failures
	f.check(in.To != "", "to", "required")
	f.check(in.Amount.IsPositive() && ledger.Round(in.Amount).Equal(in.Amount) && !in.Amount.GreaterThan(backoffice.MaxTransferCredits),
		"amount", "a positive amount with at most 6 decimal places, at most "+backoffice.MaxTransferCredits.String())
	f.check(in.IdempotencyKey != "" && len(in.IdempotencyKey) <= 200, "idempotency_key", "1 to 200 characters")
	if err := f.err(); err != nil {
		return TransferView{}, err
	}
	to, err := s.account(ctx, key.Mode, in.To)
	if errors.Is(err, ErrNotFound) {
		return TransferView{}, invalid("to", "no such account")
	}
	if err != nil {
		return TransferView{}, err
	}
	if to.acct.ID == from.acct.ID {
		return TransferView{}, invalid("to", "a different account")
	}
	res, err := backoffice.Transfer(ctx, s.pool, s.ledger, backoffice.TransferRequest{From: from.acct.ID, To: to.acct.ID,
		Amount: in.Amount, IdempotencyKey: "transfer:" + in.IdempotencyKey, ActorKind: backoffice.ActorSystem,
		ActorEmail: key.Actor(), LedgerActor: key.Actor(), Reason: "api_transfer"})
	if err != nil {
		return TransferView{}, err
	}
	s.forget(from.acct.ID)
	s.forget(to.acct.ID)
	return TransferView{Amount: res.Amount,
		From: TransferSide{Account: externalID, AllocationBefore: res.From.AllocationBefore, AllocationAfter: res.From.AllocationAfter},
		To:   TransferSide{Account: in.To, AllocationBefore: res.To.AllocationBefore, AllocationAfter: res.To.AllocationAfter}}, nil
}

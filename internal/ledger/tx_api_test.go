package ledger_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

// TestIdempotencyCoversEveryArgument: a retry replays only when it asks for
// the same operation; a retry that differs in model, session, request,
// detail or TTL is refused, not silently given the first result.
func TestIdempotencyCoversEveryArgument(t *testing.T) {
	b := setup(t, ledger.Options{})
	acc := b.account(t, ledger.AccountIndividual)
	b.credit(t, acc.ID, "100", lotOpts{})

	t.Run("Reserve", func(t *testing.T) {
		base := ledger.ReserveRequest{AccountID: acc.ID, Amount: d("10"), IdempotencyKey: key(), TTL: time.Minute,
			Model: "deepseek-chat", SessionID: "s1", RequestID: "r1", Detail: json.RawMessage(`{"max_tokens": 100, "card": 3}`)}
		first, err := b.l.Reserve(b.ctx, base)
		require.NoError(t, err)
		same := base
		same.Detail = json.RawMessage(`{"card":3,"max_tokens":100}`) // same document, other spelling
		again, err := b.l.Reserve(b.ctx, same)
		require.NoError(t, err)
		require.True(t, again.Replayed)
		require.Equal(t, first.ID, again.ID)
		for name, change := range map[string]func(*ledger.ReserveRequest){
			"Model":   func(r *ledger.ReserveRequest) { r.Model = "qwen-max" },
			"Session": func(r *ledger.ReserveRequest) { r.SessionID = "s2" },
			"Request": func(r *ledger.ReserveRequest) { r.RequestID = "r2" },
			"Detail":  func(r *ledger.ReserveRequest) { r.Detail = json.RawMessage(`{"max_tokens": 200, "card": 3}`) },
			"TTL":     func(r *ledger.ReserveRequest) { r.TTL = time.Hour },
		} {
			t.Run(name, func(t *testing.T) {
				r := base
				change(&r)
				_, err := b.l.Reserve(b.ctx, r)
				require.ErrorIs(t, err, ledger.ErrIdempotencyConflict)
			})
		}
		requireDec(t, "90", b.available(t, acc.ID), "one hold of 10")
	})

	t.Run("Charge", func(t *testing.T) {
		at := b.clock.Now().Add(-time.Minute)
		base := ledger.ChargeRequest{AccountID: acc.ID, Amount: d("1"), IdempotencyKey: key(), Model: "deepseek-chat",
			SessionID: "s1", RequestID: "r1", OccurredAt: at, Detail: json.RawMessage(`{"in":1}`)}
		_, err := b.l.Charge(b.ctx, base)
		require.NoError(t, err)
		again, err := b.l.Charge(b.ctx, base)
		require.NoError(t, err)
		require.True(t, again.Replayed)
		for name, change := range map[string]func(*ledger.ChargeRequest){
			"Model":      func(r *ledger.ChargeRequest) { r.Model = "qwen-max" },
			"Session":    func(r *ledger.ChargeRequest) { r.SessionID = "s2" },
			"Detail":     func(r *ledger.ChargeRequest) { r.Detail = json.RawMessage(`{"in":2}`) },
			"OccurredAt": func(r *ledger.ChargeRequest) { r.OccurredAt = at.Add(time.Second) },
		} {
			t.Run(name, func(t *testing.T) {
				r := base
				change(&r)
				_, err := b.l.Charge(b.ctx, r)
				require.ErrorIs(t, err, ledger.ErrIdempotencyConflict)
			})
		}
		requireDec(t, "89", b.available(t, acc.ID), "charged once")
	})

	t.Run("CreditReplaysForAnotherActor", func(t *testing.T) {
		k := key()
		req := ledger.CreditRequest{AccountID: acc.ID, Kind: ledger.LotPaid, Amount: d("5"), IdempotencyKey: k, SourceRef: "order-7", Actor: "system:notify"}
		_, err := b.l.Credit(b.ctx, req)
		require.NoError(t, err)
		req.Actor = "system:poll" // who noticed the payment is not part of the operation
		again, err := b.l.Credit(b.ctx, req)
		require.NoError(t, err)
		require.True(t, again.Replayed)
		req.SourceRef = "order-8"
		_, err = b.l.Credit(b.ctx, req)
		require.ErrorIs(t, err, ledger.ErrIdempotencyConflict)
		requireDec(t, "94", b.available(t, acc.ID))
	})
	b.verifyClean(t)
}

// TestCreateAccountTx: an account created inside a transaction that rolls
// back does not exist; one that commits does.
func TestCreateAccountTx(t *testing.T) {
	b := setup(t, ledger.Options{})
	pool := dbtest.Pool(t)
	ext := "tx-" + key()
	tx, err := pool.Begin(b.ctx)
	require.NoError(t, err)
	a, err := b.l.CreateAccountTx(b.ctx, tx, ledger.AccountSpec{Kind: ledger.AccountIndividual, ExternalID: ext, Name: "rolled back"})
	require.NoError(t, err)
	_, err = b.l.CreditTx(b.ctx, tx, ledger.CreditRequest{AccountID: a.ID, Kind: ledger.LotPromo, Amount: d("5"), IdempotencyKey: key()})
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(b.ctx))
	_, err = b.l.Account(b.ctx, a.ID)
	require.ErrorIs(t, err, ledger.ErrNotFound)

	err = pgx.BeginFunc(b.ctx, pool, func(tx pgx.Tx) error {
		a, err = b.l.CreateAccountTx(b.ctx, tx, ledger.AccountSpec{Kind: ledger.AccountIndividual, ExternalID: ext, Name: "kept"})
		return err
	})
	require.NoError(t, err)
	got, err := b.l.AccountByExternalID(b.ctx, ledger.ModeLive, ext)
	require.NoError(t, err)
	require.Equal(t, "kept", got.Name)
	b.verifyClean(t)
}

// TestSetStatusTx: a freeze inside a transaction that rolls back leaves
// the account active and writes no status event.
func TestSetStatusTx(t *testing.T) {
	b := setup(t, ledger.Options{})
	acc := b.account(t, ledger.AccountIndividual)
	b.credit(t, acc.ID, "10", lotOpts{})
	pool := dbtest.Pool(t)
	tx, err := pool.Begin(b.ctx)
	require.NoError(t, err)
	require.NoError(t, b.l.SetStatusTx(b.ctx, tx, acc.ID, ledger.StatusFrozen, "staff:1", "fraud_review"))
	require.NoError(t, tx.Rollback(b.ctx))
	got, err := b.l.Account(b.ctx, acc.ID)
	require.NoError(t, err)
	require.Equal(t, ledger.StatusActive, got.Status)
	_, err = b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: d("1"), IdempotencyKey: key()})
	require.NoError(t, err, "the rolled-back freeze does not stop spending")

	err = pgx.BeginFunc(b.ctx, pool, func(tx pgx.Tx) error {
		return b.l.SetStatusTx(b.ctx, tx, acc.ID, ledger.StatusFrozen, "staff:1", "fraud_review")
	})
	require.NoError(t, err)
	_, err = b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: d("1"), IdempotencyKey: key()})
	require.ErrorIs(t, err, ledger.ErrAccountFrozen)
	evs, _, err := b.l.Events(b.ctx, acc.ID, ledger.EventFilter{Types: []ledger.EventType{ledger.EventStatus}}, 0, 10)
	require.NoError(t, err)
	require.Len(t, evs, 1, "only the committed freeze is recorded")

	err = pgx.BeginFunc(b.ctx, pool, func(tx pgx.Tx) error {
		return b.l.SetStatusTx(b.ctx, tx, 1<<40, ledger.StatusFrozen, "staff:1", "x")
	})
	require.ErrorIs(t, err, ledger.ErrNotFound)
	require.ErrorIs(t, b.l.SetStatusTx(b.ctx, nil, acc.ID, "closed", "staff:1", "x"), ledger.ErrInvalidArgument)
	b.verifyClean(t)
}

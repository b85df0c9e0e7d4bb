package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/ledger"
)

// # Free models
//
// A model billed `free` costs nothing, and the ledger refuses zero-amount
// charges (its rows move money). So the gateway keeps their trace in
// gateway_free_calls: a reservation of a free model is a row in state
// reserved, its commit records the tokens, its release closes it, and a
// usage event of a free model is recorded committed. Sessions (Session) sum
// these calls with the charged ones. The portal's usage pages (package
// usage) show the committed rows as zero-credit usage: rows of the history
// and the CSV export, calls and tokens of the totals by Asia/Shanghai day and
// model, and models of the filter.

// FreeCall states.
const (
	freeReserved  = "reserved"
	freeCommitted = "committed"
	freeReleased  = "released"
)

func hashJSON(v any) string {
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

const insertFreeCall = `
INSERT INTO gateway_free_calls (account_id, pool_id, idempotency_key, request_hash, model, session_id,
                                rate_card_version, state, input_tokens, output_tokens, cache_hit_tokens,
                                requests, outcome, occurred_at, paid_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
ON CONFLICT (account_id, idempotency_key) DO NOTHING
RETURNING id`

const selectFreeCallByKey = `
SELECT id, request_hash, rate_card_version FROM gateway_free_calls WHERE account_id = $1 AND idempotency_key = $2`

// freeCall is a row of gateway_free_calls.
type freeCall struct {
	key, hash, model, session string
	version                   int
	state                     string
	in, out, cache, requests  int64
	outcome                   string
	at                        time.Time
	paidBy                    string // "free" (default) or "quota"
}

// recordFree inserts the call unless its key exists. It returns the row id,
// the stored rate-card version and whether the row existed already (a
// retry). Errors: ErrIdempotencyConflict (the key with another body).
func (s *Service) recordFree(ctx context.Context, acct ledger.Account, c freeCall) (int64, int, bool, error) {
	var id int64
	if c.paidBy == "" {
		c.paidBy = "free"
	}
	err := s.pool.QueryRow(ctx, insertFreeCall, acct.ID, acct.PoolID, c.key, c.hash, c.model, c.session, c.version,
		c.state, c.in, c.out, c.cache, c.requests, c.outcome, c.at, c.paidBy).Scan(&id)
	if err == nil {
		return id, c.version, false, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, false, fmt.Errorf("gateway: free call: %w", err)
	}
	var hash string
	var version int
	if err := s.pool.QueryRow(ctx, selectFreeCallByKey, acct.ID, c.key).Scan(&id, &hash, &version); err != nil {
		return 0, 0, false, fmt.Errorf("gateway: free call: %w", err)
	}
	if hash != c.hash {
		return 0, 0, true, ErrIdempotencyConflict
	}
	return id, version, true, nil
}

const commitFreeCall = `
UPDATE gateway_free_calls SET state = 'committed', input_tokens = $3, output_tokens = $4, cache_hit_tokens = $5,
       requests = $6, outcome = $7, occurred_at = $8
WHERE id = $1 AND account_id = $2 AND state = 'reserved'`

const selectFreeCall = `
SELECT state, input_tokens, output_tokens, cache_hit_tokens, outcome FROM gateway_free_calls
WHERE id = $1 AND account_id = $2`

// readFreeCall reads back the state, tokens and outcome of the call of t
// when the commit or release named by op found it no longer reserved.
// Errors: ErrNotFound (no such call in the account).
func (s *Service) readFreeCall(ctx context.Context, t reservationToken, op string) (freeCall, error) {
	var f freeCall
	err := s.pool.QueryRow(ctx, selectFreeCall, t.reservation, t.account).Scan(&f.state, &f.in, &f.out, &f.cache, &f.outcome)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return f, ErrNotFound
	case err != nil:
		return f, fmt.Errorf("gateway: %s free call: %w", op, err)
	}
	return f, nil
}

// commitFree records the tokens of a free model's call. A repeat with the
// same tokens is a no-op; other tokens get ledger.ErrIdempotencyConflict,
// a released call ledger.ErrReservationClosed, as for charged calls.
func (s *Service) commitFree(ctx context.Context, t reservationToken, in CommitInput, requests int64) (CommitView, error) {
	tag, err := s.pool.Exec(ctx, commitFreeCall, t.reservation, t.account, in.InputTokens, in.OutputTokens,
		in.CacheHitTokens, requests, in.Outcome, s.now())
	if err != nil {
		return CommitView{}, fmt.Errorf("gateway: commit free call: %w", err)
	}
	if tag.RowsAffected() == 0 {
		f, err := s.readFreeCall(ctx, t, "commit")
		switch {
		case err != nil:
			return CommitView{}, err
		case f.state == freeReleased:
			return CommitView{}, ledger.ErrReservationClosed
		case f.in != in.InputTokens || f.out != in.OutputTokens || f.cache != in.CacheHitTokens || f.outcome != in.Outcome:
			return CommitView{}, ledger.ErrIdempotencyConflict
		}
	}
	b, err := s.ledger.Balance(ctx, t.account)
	if err != nil {
		return CommitView{}, err
	}
	return CommitView{Available: b.Available}, nil
}

const releaseFreeCall = `UPDATE gateway_free_calls SET state = 'released' WHERE id = $1 AND account_id = $2 AND state = 'reserved'`

// releaseFree closes a free model's reservation without a call; releasing
// twice is a no-op, releasing a committed one ledger.ErrReservationClosed.
func (s *Service) releaseFree(ctx context.Context, t reservationToken) (ReleaseView, error) {
	tag, err := s.pool.Exec(ctx, releaseFreeCall, t.reservation, t.account)
	if err != nil {
		return ReleaseView{}, fmt.Errorf("gateway: release free call: %w", err)
	}
	if tag.RowsAffected() == 0 {
		f, err := s.readFreeCall(ctx, t, "release")
		switch {
		case err != nil:
			return ReleaseView{}, err
		case f.state == freeCommitted:
			return ReleaseView{}, ledger.ErrReservationClosed
		}
	}
	b, err := s.ledger.Balance(ctx, t.account)
	if err != nil {
		return ReleaseView{}, err
	}
	return ReleaseView{Available: b.Available}, nil
}

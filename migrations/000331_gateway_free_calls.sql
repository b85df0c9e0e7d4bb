-- +goose Up
-- Calls of models billed as `free` on the rate card. The ledger refuses
-- zero-amount charges (its rows are money movements), so the gateway keeps
-- the trace of these calls here: who called which model, in which session,
-- with how many tokens. GET /v1/accounts/{id}/sessions/{session_id} sums
-- them with the session's charges; the portal's usage views may add them
-- as zero-credit rows (see gateway.FreeCall).
--
-- A reservation of a free model is a row in state 'reserved'; its commit
-- fills the tokens ('committed'), its release closes it ('released'). A
-- usage event of a free model is inserted 'committed'. idempotency_key is
-- the API's key with its origin ("rsv:…" or "usage:…"); request_hash tells
-- a retry from a reuse of the key with another body.
CREATE TABLE gateway_free_calls (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id        bigint NOT NULL REFERENCES ledger_accounts (id),
    pool_id           bigint NOT NULL,
    idempotency_key   text NOT NULL,
    request_hash      text NOT NULL,
    model             text NOT NULL,
    session_id        text NOT NULL DEFAULT '',
    rate_card_version integer NOT NULL,
    state             text NOT NULL CHECK (state IN ('reserved', 'committed', 'released')),
    input_tokens      bigint NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    output_tokens     bigint NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    cache_hit_tokens  bigint NOT NULL DEFAULT 0 CHECK (cache_hit_tokens >= 0),
    requests          bigint NOT NULL DEFAULT 0 CHECK (requests >= 0),
    outcome           text NOT NULL DEFAULT '',
    occurred_at       timestamptz NOT NULL,
    recorded_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT gateway_free_calls_key UNIQUE (account_id, idempotency_key)
);
CREATE INDEX gateway_free_calls_session_idx ON gateway_free_calls (pool_id, session_id) WHERE session_id <> '';
CREATE INDEX gateway_free_calls_pool_idx ON gateway_free_calls (pool_id, occurred_at);

-- +goose Down
DROP TABLE gateway_free_calls;

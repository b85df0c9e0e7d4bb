-- +goose Up
-- Circuit breakers of the OpenAI-compatible gateway: each `credits gateway`
-- process keeps one per upstream in memory and reports every change of
-- state here (a rare write), so the back office can show which upstreams
-- are being skipped and until when. process names the reporting process
-- (host, pid and a random suffix); until is when an open circuit lets a
-- trial call through again.
CREATE TABLE relay_breaker_states (
    process     text NOT NULL,
    upstream_id bigint NOT NULL REFERENCES relay_upstreams (id) ON DELETE CASCADE,
    state       text NOT NULL CHECK (state IN ('closed', 'open', 'half-open')),
    since       timestamptz NOT NULL,
    until       timestamptz,
    PRIMARY KEY (upstream_id, process)
);

-- +goose Down
DROP TABLE relay_breaker_states;

-- +goose Up
-- Months of ledger_events that left for the archive (ledger.Archive,
-- `credits ledger archive`), and the checkpoint each leaves behind: per
-- pool, its last archived event and the sum of its archived amounts, per
-- lot the sum of its archived events. verify starts each pool's chain from
-- the checkpoint and adds the sums; BalanceAt answers from it from the
-- pool's last archived event on and refuses (ErrArchived) before it. A restore
-- (ledger.Restore) attaches the month again and marks the archive
-- restored, after which its checkpoint no longer counts.
CREATE TABLE ledger_archives (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    partition   text NOT NULL,
    from_at     timestamptz,          -- NULL: from the start (ledger_events_before)
    to_at       timestamptz NOT NULL,
    file        text NOT NULL,        -- the file's name, as written
    sha256      text NOT NULL,        -- of the file (gzip of COPY … (FORMAT binary))
    events      bigint NOT NULL,
    archived_at timestamptz NOT NULL DEFAULT now(),
    restored_at timestamptz
);
CREATE UNIQUE INDEX ledger_archives_current_idx ON ledger_archives (partition) WHERE restored_at IS NULL;

CREATE TABLE ledger_archive_pools (
    archive_id    bigint NOT NULL REFERENCES ledger_archives (id),
    pool_id       bigint NOT NULL,
    last_id       bigint NOT NULL,
    last_at       timestamptz NOT NULL,
    balance_after numeric(24, 6) NOT NULL,
    total         numeric(24, 6) NOT NULL, -- sum of amounts, transfers left out (they move allocation)
    PRIMARY KEY (archive_id, pool_id)
);

CREATE TABLE ledger_archive_lots (
    archive_id  bigint NOT NULL REFERENCES ledger_archives (id),
    pool_id     bigint NOT NULL,
    lot_id      bigint NOT NULL,
    total       numeric(24, 6) NOT NULL,
    credit_line numeric(24, 6) NOT NULL, -- of which credit_line events
    PRIMARY KEY (archive_id, pool_id, lot_id)
);

-- The checkpoint of each pool with archived events: the balance after its
-- last archived event and the sum of every archived amount.
CREATE VIEW ledger_checkpoints AS
SELECT p.pool_id, max(p.last_id) AS last_id, max(p.last_at) AS last_at,
       (array_agg(p.balance_after ORDER BY p.last_id DESC))[1] AS balance_after,
       sum(p.total) AS total
FROM ledger_archive_pools p
JOIN ledger_archives a ON a.id = p.archive_id AND a.restored_at IS NULL
GROUP BY p.pool_id;

-- What the archived events add to each lot (every event, and of them the
-- credit_line events).
CREATE VIEW ledger_archived_lots AS
SELECT l.pool_id, l.lot_id, sum(l.total) AS total, sum(l.credit_line) AS credit_line
FROM ledger_archive_lots l
JOIN ledger_archives a ON a.id = l.archive_id AND a.restored_at IS NULL
GROUP BY l.pool_id, l.lot_id;

-- +goose Down
DROP VIEW ledger_archived_lots;
DROP VIEW ledger_checkpoints;
DROP TABLE ledger_archive_lots;
DROP TABLE ledger_archive_pools;
DROP TABLE ledger_archives;

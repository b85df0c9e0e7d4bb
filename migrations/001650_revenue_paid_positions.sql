-- +goose Up
-- Month-end positions of paid lots for the revenue report (internal/backoffice
-- revenue_positions.go). The report values paid credit by replaying each
-- paid lot's events through ledger.LotValue; with these rows it starts from
-- the last closed month before its range instead of from the first event,
-- so its cost follows the months it covers, not the ledger's age, and it
-- keeps working once old event partitions leave for the archive.
--
-- A row is a live paid lot's position after every event before `through`
-- (a Shanghai month start): what was credited to it (credits and fen) and
-- its ledger.LotValue. A lot used, expired and refunded to the last credit
-- takes no more events and is left out of later months.
CREATE TABLE revenue_paid_positions (
    through      timestamptz NOT NULL,
    pool_id      bigint NOT NULL,
    lot_id       bigint NOT NULL,
    credited     numeric(24, 6) NOT NULL,
    credited_fen bigint NOT NULL,
    paid_fen     bigint NOT NULL,
    amount       numeric(24, 6) NOT NULL,
    used         numeric(24, 6) NOT NULL,
    used_fen     bigint NOT NULL,
    refunded     numeric(24, 6) NOT NULL,
    refunded_fen bigint NOT NULL,
    PRIMARY KEY (through, pool_id, lot_id)
);

-- One row per closed month: its positions are complete (written in the same
-- transaction).
CREATE TABLE revenue_paid_closings (
    through     timestamptz PRIMARY KEY,
    lots        integer NOT NULL,
    events      bigint NOT NULL,
    computed_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE revenue_paid_closings;
DROP TABLE revenue_paid_positions;

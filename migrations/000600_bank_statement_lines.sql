-- +goose Up
-- Lines of our corporate bank account's statements, imported by finance.
-- A line is identified by the bank's serial number within one account, so a
-- re-import of the same file inserts nothing. Credit lines start in the
-- unmatched queue; debit lines are kept for completeness as 'ignored'.
CREATE TABLE bank_statement_lines (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bank_account    TEXT NOT NULL CHECK (bank_account <> ''),
    serial          TEXT NOT NULL CHECK (serial <> ''),
    traded_at       TIMESTAMPTZ NOT NULL,
    direction       TEXT NOT NULL CHECK (direction IN ('credit', 'debit')),
    amount          NUMERIC(14, 2) NOT NULL CHECK (amount > 0),
    payer_name      TEXT NOT NULL DEFAULT '',
    payer_account   TEXT NOT NULL DEFAULT '',
    memo            TEXT NOT NULL DEFAULT '',
    raw             JSONB NOT NULL DEFAULT '{}',
    source_file     TEXT NOT NULL DEFAULT '',
    source_row      INTEGER NOT NULL DEFAULT 0,
    imported_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    status          TEXT NOT NULL DEFAULT 'unmatched'
                    CHECK (status IN ('unmatched', 'matched', 'resolved', 'refund_to_payer', 'rejected', 'ignored')),
    -- Why the automatic matcher left the line unmatched (or 'matched').
    match_reason    TEXT NOT NULL DEFAULT '',
    reference_code  TEXT NOT NULL DEFAULT '',
    -- The transfer order this line paid (matched automatically or by finance).
    order_no        TEXT,
    -- Finance's resolution of an unmatched line.
    resolved_account_id TEXT,
    resolution_ref  TEXT NOT NULL DEFAULT '',
    resolution_note TEXT NOT NULL DEFAULT '',
    resolved_by     TEXT,
    resolved_at     TIMESTAMPTZ,
    CONSTRAINT bank_statement_lines_serial_key UNIQUE (bank_account, serial),
    CONSTRAINT bank_statement_lines_matched_order CHECK (status <> 'matched' OR order_no IS NOT NULL),
    CONSTRAINT bank_statement_lines_resolution CHECK (
        status NOT IN ('resolved', 'refund_to_payer', 'rejected')
        OR (resolved_by IS NOT NULL AND resolved_at IS NOT NULL AND resolution_note <> '')),
    CONSTRAINT bank_statement_lines_resolved_account CHECK (status <> 'resolved' OR resolved_account_id IS NOT NULL),
    CONSTRAINT bank_statement_lines_debit_ignored CHECK (direction = 'credit' OR status = 'ignored')
);

-- One statement line pays one transfer order, once.
CREATE UNIQUE INDEX bank_statement_lines_order_key ON bank_statement_lines (order_no)
    WHERE status = 'matched';
CREATE INDEX bank_statement_lines_queue_idx ON bank_statement_lines (traded_at)
    WHERE status = 'unmatched';

-- +goose Down
DROP TABLE bank_statement_lines;

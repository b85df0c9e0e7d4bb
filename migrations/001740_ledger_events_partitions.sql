-- +goose Up
-- ledger_events becomes PARTITION BY RANGE (at), one partition per Shanghai
-- month (issue 21, README "Monthly partitions and the archive").
--
-- A unique key must contain the partition key, so the primary key becomes
-- (pool_id, at, id): within a pool at is monotonic (every write takes
-- greatest(now, the pool's last_at) under the pool's row lock) and ids grow
-- in commit order, so (at, id) is the id order. The key pages a pool's
-- events and answers BalanceAt, replacing ledger_events_at_idx; ids stay
-- unique by construction (one identity sequence). A lookup by id alone
-- probes each partition's BRIN (gateway_ledger_events_id_brin).
--
-- The live table is converted without a copy: a CHECK (at < the next
-- Shanghai month) added NOT VALID, then validated (a scan under SHARE UPDATE
-- EXCLUSIVE, writes go on), lets ATTACH skip its own scan; the old table
-- becomes ledger_events_before, the partition for everything before that
-- month. Its one new index is the unique (pool_id, at, id) the partitioned
-- key needs; its other indexes are the parent's and are attached as they
-- are.
--
-- ledger_events_after takes every row from the next month on, so no write
-- is ever refused for want of a partition. The owner-role job
-- (ledger.CreatePartitions: `credits migrate` and `credits ledger retire`)
-- splits the months it creates ahead off it while it is empty; there is no
-- DEFAULT partition, because DETACH PARTITION CONCURRENTLY (how a month
-- leaves for the archive) is not allowed beside one.
-- +goose StatementBegin
DO $$
DECLARE
    v_next timestamptz := (date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai') + interval '1 month') AT TIME ZONE 'Asia/Shanghai';
    v_seq  bigint;
BEGIN
    DROP VIEW ledger_event_view;
    ALTER TABLE ledger_events RENAME TO ledger_events_before;
    ALTER TRIGGER ledger_events_append_only ON ledger_events_before RENAME TO ledger_events_before_append_only;

    SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END INTO v_seq FROM ledger_events_id_seq;
    ALTER TABLE ledger_events_before ALTER COLUMN id DROP IDENTITY;

    EXECUTE format('ALTER TABLE ledger_events_before ADD CONSTRAINT ledger_events_before_at CHECK (at < %L) NOT VALID', v_next);
    ALTER TABLE ledger_events_before VALIDATE CONSTRAINT ledger_events_before_at;
    -- ATTACH takes a partition's index for the parent's primary key only
    -- when it is the partition's primary key too.
    CREATE UNIQUE INDEX ledger_events_before_pkey_new ON ledger_events_before (pool_id, at, id);
    ALTER TABLE ledger_events_before DROP CONSTRAINT ledger_events_pkey;
    ALTER TABLE ledger_events_before ADD CONSTRAINT ledger_events_before_pkey PRIMARY KEY USING INDEX ledger_events_before_pkey_new;
    DROP INDEX ledger_events_at_idx;
    ALTER INDEX gateway_ledger_events_id_brin RENAME TO ledger_events_before_id_brin;
    ALTER INDEX ledger_events_sub_idx RENAME TO ledger_events_before_sub_idx;
    ALTER INDEX ledger_events_usage_occurred_idx RENAME TO ledger_events_before_usage_occurred_idx;
    ALTER INDEX usage_events_session_idx RENAME TO ledger_events_before_session_idx;

    CREATE TABLE ledger_events (
        pool_id         bigint NOT NULL,
        id              bigint GENERATED ALWAYS AS IDENTITY,
        account_id      bigint NOT NULL,
        lot_id          bigint,
        op_id           bigint NOT NULL,
        type            ledger_event_type NOT NULL,
        amount          numeric(24, 6) NOT NULL,
        balance_after   numeric(24, 6) NOT NULL,
        unpaid          numeric(24, 6) NOT NULL DEFAULT 0,
        reservation_id  bigint,
        idempotency_key text NOT NULL DEFAULT '',
        actor           text NOT NULL DEFAULT '',
        reason_code     text NOT NULL DEFAULT '',
        source_ref      text NOT NULL DEFAULT '',
        model           text NOT NULL DEFAULT '',
        request_id      text NOT NULL DEFAULT '',
        session_id      text NOT NULL DEFAULT '',
        detail          jsonb,
        occurred_at     timestamptz NOT NULL,
        at              timestamptz NOT NULL,
        recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
        project         text NOT NULL DEFAULT '',
        key_label       text NOT NULL DEFAULT '',
        PRIMARY KEY (pool_id, at, id)
    ) PARTITION BY RANGE (at);
    IF v_seq > 0 THEN
        PERFORM setval(pg_get_serial_sequence('ledger_events', 'id'), v_seq);
    END IF;
    -- The outbox readers' lookup by id (000320), a sub-account's own events,
    -- usage by occurrence (000960) and by session (000420): as before, per
    -- partition.
    CREATE INDEX gateway_ledger_events_id_brin ON ledger_events USING brin (id) WITH (pages_per_range = 32);
    CREATE INDEX ledger_events_sub_idx ON ledger_events (pool_id, account_id, id) WHERE account_id <> pool_id;
    CREATE INDEX ledger_events_usage_occurred_idx ON ledger_events (pool_id, occurred_at DESC, id DESC)
        WHERE type IN ('deduction', 'unpaid_usage', 'reservation_expired_charge');
    CREATE INDEX usage_events_session_idx ON ledger_events (pool_id, session_id, id)
        WHERE session_id <> '' AND type IN ('deduction', 'unpaid_usage', 'reservation_expired_charge');
    -- Statement triggers are not cloned to partitions: the parent refuses
    -- UPDATE, DELETE and TRUNCATE through it, each partition for itself.
    CREATE TRIGGER ledger_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_events
        FOR EACH STATEMENT EXECUTE FUNCTION append_only('write a correcting event (adjustment, refund) instead');

    EXECUTE format('ALTER TABLE ledger_events ATTACH PARTITION ledger_events_before FOR VALUES FROM (MINVALUE) TO (%L)', v_next);
    EXECUTE format('CREATE TABLE ledger_events_after PARTITION OF ledger_events FOR VALUES FROM (%L) TO (MAXVALUE)', v_next);
    CREATE TRIGGER ledger_events_after_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_events_after
        FOR EACH STATEMENT EXECUTE FUNCTION append_only('write a correcting event (adjustment, refund) instead');
END $$;
-- +goose StatementEnd

CREATE VIEW ledger_event_view AS
SELECT pool_id, id, account_id, lot_id, op_id, type, amount, balance_after, unpaid, reservation_id,
       model, session_id, request_id, detail, occurred_at, at, recorded_at, project, key_label
FROM ledger_events;

-- +goose Down
SELECT 1 / 0; -- not reversible: the partitions hold the history

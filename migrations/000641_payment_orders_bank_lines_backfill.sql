-- +goose Up
-- Lines finance credited from the unmatched queue before 000640 have a paid
-- lot but no order, so their customers could neither see, invoice nor ask
-- back that money. Record each as the completed bank-transfer top-up order
-- payments.RecordStatementPaymentTx makes today: the line's amount, serial
-- and payer, the lot it credited (resolution_ref 'lot:<id>'), paid when
-- the line was resolved, with its two transitions; and the line names it.
-- One statement, safe to run again (nothing is recorded twice).
WITH lines AS (
    SELECT l.id, l.serial, l.payer_name, l.payer_account, l.resolved_at,
           (l.amount * 100)::bigint AS fen, lot.account_id, lot.id AS lot_id, lot.amount AS credits,
           'B' || to_char(l.resolved_at AT TIME ZONE 'Asia/Shanghai', 'YYYYMMDD') || lpad(l.id::text, 10, '0') AS order_no
    FROM bank_statement_lines l
    JOIN ledger_lots lot ON lot.id = substr(l.resolution_ref, 5)::bigint
    WHERE l.status = 'resolved' AND l.resolution_ref ~ '^lot:[0-9]{1,18}$'
      AND l.resolved_account_id ~ '^[0-9]{1,18}$'
      AND lot.kind = 'paid' AND lot.account_id = l.resolved_account_id::bigint
      AND NOT EXISTS (SELECT 1 FROM payment_orders o WHERE o.bank_line_id = l.id)
), orders AS (
    INSERT INTO payment_orders (order_no, account_id, amount_fen, credits, channel, state, channel_trade_no,
                                expires_at, paid_at, paid_fen, paid_lot_id, created_at, updated_at,
                                bank_line_id, statement_serial, payer_name, payer_account)
    SELECT order_no, account_id, fen, credits, 'bank_transfer', 'paid', 'bank_line:' || id,
           resolved_at, resolved_at, fen, lot_id, resolved_at, resolved_at,
           id, serial, payer_name, payer_account
    FROM lines
    ON CONFLICT DO NOTHING
    RETURNING id, order_no, bank_line_id, paid_lot_id, amount_fen, statement_serial, paid_at
), transitions AS (
    INSERT INTO payment_order_transitions (order_id, from_state, to_state, cause, detail, at)
    SELECT id, NULL, 'created', 'create',
           jsonb_build_object('amount_fen', amount_fen, 'channel', 'bank_transfer', 'bank_line_id', bank_line_id), paid_at
    FROM orders
    UNION ALL
    SELECT id, 'created', 'paid', 'bank_statement',
           jsonb_build_object('statement_ref', 'bank_line:' || bank_line_id, 'serial', statement_serial,
                              'paid_lot_id', paid_lot_id, 'actor', 'migration 000641'), paid_at
    FROM orders
)
UPDATE bank_statement_lines l SET order_no = o.order_no FROM orders o WHERE l.id = o.bank_line_id;

-- +goose Down
-- The orders stay: they may have been refunded or invoiced since.
SELECT 1;

-- +goose Up
-- A yearly plan's refund (internal/plans refund.go, payments planRefundTx)
-- pays money back without removing paid credit: a plan order has no paid
-- lot, its plan lots are revoked instead. Its payment_refunds row records
-- 0 credits and the revocation's ledger operation (0 when no plan credit
-- was left).
ALTER TABLE payment_refunds DROP CONSTRAINT payment_refunds_credits_check;
ALTER TABLE payment_refunds ADD CONSTRAINT payment_refunds_credits_check CHECK (credits >= 0);

-- +goose Down
ALTER TABLE payment_refunds DROP CONSTRAINT payment_refunds_credits_check;
ALTER TABLE payment_refunds ADD CONSTRAINT payment_refunds_credits_check CHECK (credits > 0);

-- +goose Up
-- The back office's review queue (payments.ReviewQueue) reads the orders in
-- needs_review newest first; a partial index keeps that a short scan however
-- many orders the table holds.
CREATE INDEX payment_orders_review_idx ON payment_orders (id DESC) WHERE state = 'needs_review';

-- +goose Down
DROP INDEX payment_orders_review_idx;

-- +goose Up
-- Charges by month and customer, summed from analytics_daily_customer by
-- the roll-up job for every month it touches: the dashboard's paying
-- customers by month and its top customers over whole months read these
-- (a year is 12 rows per customer, not 365).
CREATE TABLE analytics_monthly_customer (
    month   date NOT NULL,  -- the 1st of the Asia/Shanghai month
    pool_id bigint NOT NULL,
    name    text NOT NULL,
    credits numeric(24, 6) NOT NULL,
    revenue numeric NOT NULL,
    PRIMARY KEY (month, pool_id)
);

-- +goose Down
DROP TABLE analytics_monthly_customer;

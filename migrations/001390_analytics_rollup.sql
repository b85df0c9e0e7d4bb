-- +goose Up
-- Operator analytics roll-ups (internal/backoffice analytics.go;
-- /admin/analytics). The dashboard reads only these tables, never the
-- ledger's events: a River job (analytics_rollup, every few minutes)
-- recomputes, from the revenue report and the margin report, every
-- Asia/Shanghai day from the first one not yet final through today, and
-- replaces those days' rows in one transaction. A day is final once it
-- was recomputed two days after it ended (late usage events included).
CREATE TABLE analytics_daily (
    day          date PRIMARY KEY,         -- Asia/Shanghai
    cash_in      numeric(18, 2) NOT NULL,  -- yuan: paid credit bought + plan fees received
    recognised   numeric(18, 2) NOT NULL,  -- yuan: paid credit spent (at the price paid) + plan fees recognised
    deferred     numeric(18, 2) NOT NULL,  -- yuan at the day's end: unspent paid credit + plan fees not yet recognised
    breakage     numeric(18, 2) NOT NULL,  -- yuan: paid credit expired unspent
    refunded     numeric(18, 2) NOT NULL,  -- yuan: money paid back (paid credit and plan fees)
    refreshed_at timestamptz NOT NULL
);

-- Charges by day and model, and by day and customer (the paying pool),
-- as the margin report (internal/costs) sums them: revenue is charged
-- credits at the credit price, cost what the charges recorded (yuan, exact).
CREATE TABLE analytics_daily_model (
    day     date NOT NULL,
    model   text NOT NULL,
    charges bigint NOT NULL,
    credits numeric(24, 6) NOT NULL,
    revenue numeric NOT NULL,
    cost    numeric NOT NULL,
    PRIMARY KEY (day, model)
);

CREATE TABLE analytics_daily_customer (
    day     date NOT NULL,
    pool_id bigint NOT NULL,
    name    text NOT NULL,
    charges bigint NOT NULL,
    credits numeric(24, 6) NOT NULL,
    revenue numeric NOT NULL,
    cost    numeric NOT NULL,
    PRIMARY KEY (day, pool_id)
);

-- +goose Down
DROP TABLE analytics_daily_customer;
DROP TABLE analytics_daily_model;
DROP TABLE analytics_daily;

-- +goose Up
-- How a WeChat Pay or Alipay order is paid: 'qr' (a code scanned with the
-- app, Native / 当面付) or 'phone' (the app opened from the phone browser,
-- WeChat Pay H5 / Alipay WAP). The channel order is placed one way only, so
-- the order page must know which; every earlier order was a QR order.
ALTER TABLE payment_orders ADD COLUMN pay_mode text NOT NULL DEFAULT 'qr'
    CONSTRAINT payment_orders_pay_mode_check CHECK (pay_mode IN ('qr', 'phone'));

-- +goose Down
ALTER TABLE payment_orders DROP COLUMN pay_mode;

-- +goose Up
-- Monthly statements mailed (internal/statement mail.go): one row per
-- account and month, inserted in the transaction that enqueues the mail,
-- so the statement of a month is mailed once however many runs race (the
-- primary key decides). recipients is how many addresses it went to (0:
-- the account has no billing contact; recorded so it is not retried).
CREATE TABLE statement_mailings (
    account_id bigint NOT NULL,
    month      date NOT NULL, -- the month's 1st
    recipients int NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, month)
);
CREATE TRIGGER statement_mailings_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON statement_mailings
    FOR EACH STATEMENT EXECUTE FUNCTION append_only('a statement is mailed once');

-- +goose Down
DROP TABLE statement_mailings;

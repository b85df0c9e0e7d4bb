-- +goose Up
-- Referrals (internal/referral; README "Referrals"). Every customer account
-- has one invite code; a sign-up through /signup?ref=CODE records who invited
-- the new account; the inviter's reward for an invitee's first paid top-up
-- (once verified) is a promo lot, granted once per invitee and once per
-- identity.

-- One invite code per account, made the first time it is asked for.
CREATE TABLE referral_codes (
    account_id bigint PRIMARY KEY,
    code       text NOT NULL CHECK (code ~ '^[0-9A-Z]{8}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT referral_codes_code_key UNIQUE (code)
);

-- Who invited whom: one inviter per invitee, recorded in the sign-up's
-- transaction. An account never invites itself.
CREATE TABLE referrals (
    invitee_account_id bigint PRIMARY KEY,
    inviter_account_id bigint NOT NULL,
    code               text NOT NULL,
    created_at         timestamptz NOT NULL,
    CONSTRAINT referrals_not_self CHECK (invitee_account_id <> inviter_account_id)
);
CREATE INDEX referrals_inviter_idx ON referrals (inviter_account_id, created_at DESC);

-- The inviter's reward, at most one per invitee (the primary key) and one per
-- identity (the verification's blind index of the ID number or credit code):
-- inserted with ON CONFLICT DO NOTHING in the transaction that marks the
-- invitee's top-up paid and credits the promo lot, so racing payments grant
-- once. Append-only.
CREATE TABLE referral_grants (
    invitee_account_id bigint PRIMARY KEY REFERENCES referrals (invitee_account_id),
    inviter_account_id bigint NOT NULL,
    identity_hash      text NOT NULL,
    order_no           text NOT NULL,
    topup_credits      numeric(24, 6) NOT NULL CHECK (topup_credits > 0),
    paid_fen           bigint NOT NULL CHECK (paid_fen >= 0),
    percent            numeric(7, 2) NOT NULL CHECK (percent > 0),
    cap                numeric(24, 6) NOT NULL CHECK (cap >= 0),
    amount             numeric(24, 6) NOT NULL CHECK (amount > 0),
    granted_at         timestamptz NOT NULL,
    CONSTRAINT referral_grants_identity_key UNIQUE (identity_hash)
);
CREATE INDEX referral_grants_inviter_idx ON referral_grants (inviter_account_id, granted_at DESC);
CREATE INDEX referral_grants_granted_idx ON referral_grants (granted_at DESC);
CREATE TRIGGER referral_grants_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON referral_grants
    FOR EACH STATEMENT EXECUTE FUNCTION append_only('a referral grant is corrected by a ledger adjustment');

-- +goose Down
DROP TABLE referral_grants;
DROP TABLE referrals;
DROP TABLE referral_codes;

-- +goose Up
-- Team members of enterprise accounts (internal/team; README "Team
-- members"). A member is a user acting on an enterprise's ledger account
-- with a role; sub_accounts, when set, limits the member to those
-- departments (it sees only them). An individual's or a sub-account's own
-- user is implicitly its owner and has no row here.
CREATE TABLE team_members (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id   BIGINT NOT NULL,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role         TEXT NOT NULL CONSTRAINT team_members_role CHECK (role IN ('owner', 'finance', 'developer', 'viewer')),
    sub_accounts BIGINT[] CONSTRAINT team_members_sub_accounts_nonempty CHECK (cardinality(sub_accounts) > 0),
    invited_by   BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT team_members_account_user_key UNIQUE (account_id, user_id),
    -- An owner manages everything, so it is never limited.
    CONSTRAINT team_members_owner_unlimited CHECK (role <> 'owner' OR sub_accounts IS NULL)
);
CREATE INDEX team_members_user_idx ON team_members (user_id);

-- Invitations by email: only the SHA-256 of the link's token is stored; a
-- link is used once (accepted_at) and lapses at expires_at (7 days).
CREATE TABLE team_invitations (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id   BIGINT NOT NULL,
    email        TEXT NOT NULL CONSTRAINT team_invitations_email_lower CHECK (email = lower(email) AND email LIKE '%_@_%'),
    role         TEXT NOT NULL CONSTRAINT team_invitations_role CHECK (role IN ('owner', 'finance', 'developer', 'viewer')),
    sub_accounts BIGINT[] CONSTRAINT team_invitations_sub_accounts_nonempty CHECK (cardinality(sub_accounts) > 0),
    token_hash   BYTEA NOT NULL CONSTRAINT team_invitations_token_key UNIQUE,
    invited_by   BIGINT NOT NULL REFERENCES users (id),
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    accepted_at  TIMESTAMPTZ,
    accepted_by  BIGINT REFERENCES users (id) ON DELETE SET NULL,
    revoked_at   TIMESTAMPTZ,
    revoked_by   BIGINT REFERENCES users (id) ON DELETE SET NULL,
    CONSTRAINT team_invitations_owner_unlimited CHECK (role <> 'owner' OR sub_accounts IS NULL),
    CONSTRAINT team_invitations_once CHECK (accepted_at IS NULL OR revoked_at IS NULL)
);
CREATE INDEX team_invitations_account_idx ON team_invitations (account_id, id);

-- Every enterprise sign-in is the owner member of its enterprise: the
-- existing ones now, and any user later pointed at an enterprise (the
-- gateway's portal links, seed) by this trigger, in the same statement.
INSERT INTO team_members (account_id, user_id, role)
SELECT u.account_id, u.id, 'owner'
FROM users u JOIN ledger_accounts a ON a.id = u.account_id
WHERE a.kind = 'enterprise' AND u.kind = 'customer'
ON CONFLICT DO NOTHING;

-- +goose StatementBegin
CREATE FUNCTION team_enterprise_owner() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.account_id IS NOT NULL AND NEW.kind = 'customer'
       AND EXISTS (SELECT 1 FROM ledger_accounts WHERE id = NEW.account_id AND kind = 'enterprise') THEN
        INSERT INTO team_members (account_id, user_id, role)
        VALUES (NEW.account_id, NEW.id, 'owner')
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER users_team_owner AFTER INSERT OR UPDATE OF account_id ON users
    FOR EACH ROW EXECUTE FUNCTION team_enterprise_owner();

-- +goose Down
DROP TRIGGER users_team_owner ON users;
DROP FUNCTION team_enterprise_owner();
DROP TABLE team_invitations;
DROP TABLE team_members;

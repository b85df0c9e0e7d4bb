-- +goose Up
-- A plan granted to an enterprise for a contract term longer than the
-- limit (backoffice.GrantPlan) waits for a second staff member as an
-- approval of action plan_grant; its amount is the term in months.
ALTER TABLE admin_approvals DROP CONSTRAINT admin_approvals_action_check;
ALTER TABLE admin_approvals ADD CONSTRAINT admin_approvals_action_check
    CHECK (action IN ('support_grant', 'manual_recharge', 'plan_grant'));

-- +goose Down
ALTER TABLE admin_approvals DROP CONSTRAINT admin_approvals_action_check;
ALTER TABLE admin_approvals ADD CONSTRAINT admin_approvals_action_check
    CHECK (action IN ('support_grant', 'manual_recharge'));

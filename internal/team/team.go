// Package team is the members of enterprise accounts: who may act on an
// enterprise, with which role, limited to which of its sub-accounts, and
// the invitations by email that make new members. It owns its rules and
// its SQL (migration 001300); every change is audited in the change's
// transaction (backoffice.Audit), and the rules that must hold under
// concurrency (a link is used once, an enterprise keeps an owner) are
// enforced there with row locks and conditional updates.
package team

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/platform/jobs"
	"github.com/seed75218f88/credits/internal/platform/mail"
)

// Role is what a member may do on its enterprise.
type Role string

// Roles, from most to least powerful.
const (
	// RoleOwner may do everything, members included.
	RoleOwner Role = "owner"
	// RoleFinance tops up, buys, and reads invoices, orders and statements.
	RoleFinance Role = "finance"
	// RoleDeveloper reads usage and manages the API keys and budgets of the
	// sub-accounts it may see.
	RoleDeveloper Role = "developer"
	// RoleViewer reads and changes nothing.
	RoleViewer Role = "viewer"
)

// Roles lists every role, most powerful first (the invite form's order).
var Roles = []Role{RoleOwner, RoleFinance, RoleDeveloper, RoleViewer}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// InvitationTTL is how long an invitation link may be accepted.
const InvitationTTL = 7 * 24 * time.Hour

// Audited actions: every membership change writes one.
const (
	ActionInvited          backoffice.Action = "team_invited"            // an owner invited an email
	ActionAccepted         backoffice.Action = "team_accepted"           // an invitee accepted and became a member
	ActionRoleChanged      backoffice.Action = "team_role_changed"       // an owner changed a member's role
	ActionLimitChanged     backoffice.Action = "team_limit_changed"      // an owner changed a member's sub-accounts
	ActionRemoved          backoffice.Action = "team_removed"            // an owner removed a member
	ActionInvitationRevoke backoffice.Action = "team_invitation_revoked" // an owner revoked a pending invitation
)

// AuditActions are the actions this package writes, for the audit page's
// filter.
var AuditActions = []backoffice.Action{ActionInvited, ActionAccepted, ActionRoleChanged, ActionLimitChanged, ActionRemoved, ActionInvitationRevoke}

// Errors. Validation failures are *fielderr.Errors of domain "team".
var (
	// ErrNotFound: no such member or invitation on this enterprise.
	ErrNotFound = errors.New("team: not found")
	// ErrNotMember: the user is not a member of the account.
	ErrNotMember = errors.New("team: not a member of this account")
	// ErrForbidden: the actor's role does not allow the change.
	ErrForbidden = errors.New("team: not allowed for this role")
	// ErrLastOwner: the change would leave the enterprise without an owner.
	ErrLastOwner = errors.New("team: an enterprise keeps at least one owner")
	// ErrInvitationUsed: the link was already accepted.
	ErrInvitationUsed = errors.New("team: invitation already used")
	// ErrInvitationExpired: the link is older than InvitationTTL.
	ErrInvitationExpired = errors.New("team: invitation expired")
	// ErrInvitationRevoked: an owner revoked the invitation.
	ErrInvitationRevoked = errors.New("team: invitation revoked")
	// ErrInvitationNotFound: no invitation has this token.
	ErrInvitationNotFound = errors.New("team: no such invitation")
	// ErrWrongInvitee: the signed-in user's email is not the invited one.
	ErrWrongInvitee = errors.New("team: invitation is for another email")
	// ErrAlreadyMember: the user is already a member of the enterprise.
	ErrAlreadyMember = errors.New("team: already a member")
	// ErrNotEnterprise: members belong to enterprise accounts only.
	ErrNotEnterprise = errors.New("team: not an enterprise account")
)

// Actor is the signed-in user making a change, as the audit log records it.
type Actor struct {
	UserID int64
	Email  string
	IP     string
}

// Member is one member of an enterprise.
type Member struct {
	ID        int64     `db:"id"`
	AccountID int64     `db:"account_id"`
	UserID    int64     `db:"user_id"`
	Role      Role      `db:"role"`
	Limit     []int64   `db:"sub_accounts"` // nil: every sub-account
	Email     string    `db:"email"`
	Phone     string    `db:"phone"`
	Name      string    `db:"display_name"`
	CreatedAt time.Time `db:"created_at"`
}

// Invitation is a pending (or used, expired, revoked) invitation.
type Invitation struct {
	ID         int64      `db:"id"`
	AccountID  int64      `db:"account_id"`
	Email      string     `db:"email"`
	Role       Role       `db:"role"`
	Limit      []int64    `db:"sub_accounts"`
	InvitedBy  int64      `db:"invited_by"`
	CreatedAt  time.Time  `db:"created_at"`
	ExpiresAt  time.Time  `db:"expires_at"`
	AcceptedAt *time.Time `db:"accepted_at"`
	RevokedAt  *time.Time `db:"revoked_at"`
	// AccountName is the enterprise's name, for the accept page.
	AccountName string `db:"account_name"`
}

// Access is what a user may do on the account it acts on: its role, and
// the sub-accounts it is limited to (nil: all).
type Access struct {
	AccountID int64
	Role      Role
	Limit     []int64
}

// Sees reports whether the access covers sub-account id.
func (a Access) Sees(id int64) bool { return a.Limit == nil || slices.Contains(a.Limit, id) }

// Limited reports whether the access is limited to some sub-accounts.
func (a Access) Limited() bool { return a.Limit != nil }

// Choice is an account a user may switch to.
type Choice struct {
	AccountID int64  `db:"account_id"`
	Name      string `db:"name"`
	Kind      string `db:"kind"`
	Role      Role   `db:"role"`
}

// Options configures a Service.
type Options struct {
	// Jobs enqueues the invitation mail in the invitation's transaction.
	Jobs jobs.Inserter
	// I18n writes the mail (mail.team_invite) in both languages.
	I18n *i18n.Bundle
	// Link is the absolute URL of the accept page for a token.
	Link func(token string) string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Reader, when set, lets Resolve and Accounts in a page request be
	// answered by the standby while no primary answers (db.Reader.Latest).
	Reader *db.Reader
}

// Service manages enterprises' members and invitations.
type Service struct {
	pool db.Querier
	o    Options
}

// New returns the team service on pool.
func New(pool db.Querier, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Service{pool: pool, o: o}
}

func (s *Service) now() time.Time { return s.o.Now().UTC() }

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

func newToken() (string, []byte) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	t := base64.RawURLEncoding.EncodeToString(b)
	return t, hashToken(t)
}

// resolveSQL reads the account's kind and the user's membership of it in
// one probe (every portal request runs it).
const resolveSQL = `
SELECT a.kind::text, m.role, m.sub_accounts
FROM ledger_account_view a LEFT JOIN team_members m ON m.account_id = a.id AND m.user_id = $1
WHERE a.id = $2`

// Resolve says what user (whose own account is ownAccountID, 0 when none)
// may do on accountID: an individual's or a sub-account's own user is its
// owner; an enterprise is reached only through a membership (its own user
// included, made owner member when pointed at it), so a removed member
// loses it at once.
//
// Errors: ErrNotMember.
func (s *Service) Resolve(ctx context.Context, userID, ownAccountID, accountID int64) (Access, error) {
	var kind string
	var role *Role
	a := Access{AccountID: accountID}
	err := s.o.Reader.Latest(ctx, s.pool).QueryRow(ctx, resolveSQL, userID, accountID).Scan(&kind, &role, &a.Limit)
	if errors.Is(err, pgx.ErrNoRows) {
		return Access{}, ErrNotMember
	}
	if err != nil {
		return Access{}, fmt.Errorf("team: resolve: %w", err)
	}
	switch {
	case kind != "enterprise" && accountID == ownAccountID:
		return Access{AccountID: accountID, Role: RoleOwner}, nil
	case kind != "enterprise" || role == nil:
		return Access{}, ErrNotMember
	}
	a.Role = *role
	return a, nil
}

const choicesSQL = `
SELECT a.id AS account_id, a.name, a.kind::text AS kind, 'owner' AS role, 0 AS ord
FROM ledger_account_view a WHERE a.id = $2 AND a.kind <> 'enterprise'
UNION ALL
SELECT a.id, a.name, a.kind::text, m.role, 1
FROM team_members m JOIN ledger_account_view a ON a.id = m.account_id
WHERE m.user_id = $1
ORDER BY ord, account_id`

// Accounts lists the accounts user may act on: its own (an individual or
// sub-account), then the enterprises it is a member of.
func (s *Service) Accounts(ctx context.Context, userID, ownAccountID int64) ([]Choice, error) {
	rows, _ := s.o.Reader.Latest(ctx, s.pool).Query(ctx, choicesSQL, userID, ownAccountID)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Choice, error) {
		var c Choice
		var ord int
		err := r.Scan(&c.AccountID, &c.Name, &c.Kind, &c.Role, &ord)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("team: accounts: %w", err)
	}
	return out, nil
}

const membersSQL = `
SELECT m.id, m.account_id, m.user_id, m.role, m.sub_accounts, coalesce(u.email, '') AS email,
       coalesce(u.phone, '') AS phone, u.display_name, m.created_at
FROM team_members m JOIN users u ON u.id = m.user_id
WHERE m.account_id = $1
ORDER BY CASE m.role WHEN 'owner' THEN 0 WHEN 'finance' THEN 1 WHEN 'developer' THEN 2 ELSE 3 END, m.id`

// Members lists an enterprise's members, owners first.
func (s *Service) Members(ctx context.Context, accountID int64) ([]Member, error) {
	rows, _ := s.pool.Query(ctx, membersSQL, accountID)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Member])
	if err != nil {
		return nil, fmt.Errorf("team: members: %w", err)
	}
	return out, nil
}

const invitationColumns = `i.id, i.account_id, i.email, i.role, i.sub_accounts, i.invited_by, i.created_at,
	i.expires_at, i.accepted_at, i.revoked_at, a.name AS account_name`

const pendingSQL = `
SELECT ` + invitationColumns + `
FROM team_invitations i JOIN ledger_account_view a ON a.id = i.account_id
WHERE i.account_id = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > $2
ORDER BY i.id DESC`

// PendingInvitations lists an enterprise's invitations that may still be
// accepted, newest first.
func (s *Service) PendingInvitations(ctx context.Context, accountID int64) ([]Invitation, error) {
	rows, _ := s.pool.Query(ctx, pendingSQL, accountID, s.now())
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Invitation])
	if err != nil {
		return nil, fmt.Errorf("team: invitations: %w", err)
	}
	return out, nil
}

const byTokenSQL = `
SELECT ` + invitationColumns + `
FROM team_invitations i JOIN ledger_account_view a ON a.id = i.account_id
WHERE i.token_hash = $1`

// InvitationByToken finds the invitation a link names, whatever its state
// (the accept page says why a link no longer works).
//
// Errors: ErrInvitationNotFound.
func (s *Service) InvitationByToken(ctx context.Context, token string) (Invitation, error) {
	return invitationByToken(ctx, s.pool, token)
}

func invitationByToken(ctx context.Context, q db.DBTX, token string) (Invitation, error) {
	rows, _ := q.Query(ctx, byTokenSQL, hashToken(token))
	inv, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Invitation])
	if errors.Is(err, pgx.ErrNoRows) {
		return Invitation{}, ErrInvitationNotFound
	}
	if err != nil {
		return Invitation{}, fmt.Errorf("team: invitation: %w", err)
	}
	return inv, nil
}

// Usable says why an invitation can no longer be accepted at now, or nil.
func (inv Invitation) Usable(now time.Time) error {
	switch {
	case inv.AcceptedAt != nil:
		return ErrInvitationUsed
	case inv.RevokedAt != nil:
		return ErrInvitationRevoked
	case !now.Before(inv.ExpiresAt):
		return ErrInvitationExpired
	}
	return nil
}

// Check says why inv can no longer be accepted now (the service's clock),
// or nil: ErrInvitationUsed, ErrInvitationRevoked, ErrInvitationExpired.
func (s *Service) Check(inv Invitation) error { return inv.Usable(s.now()) }

// InviteRequest is the owner's invitation form.
type InviteRequest struct {
	Email string
	Role  Role
	Limit []int64 // nil: every sub-account
}

// validate checks every field at once; the sub-accounts must be accountID's.
func (s *Service) validate(ctx context.Context, q db.DBTX, accountID int64, email *string, role Role, limit []int64) error {
	errs := fielderr.New("team")
	if email != nil {
		e, err := auth.NormalizeEmail(*email)
		switch {
		case *email == "":
			errs.Add("email", "required")
		case err != nil:
			errs.Add("email", "invalid_email")
		default:
			*email = e
		}
	}
	if !role.Valid() {
		errs.Add("role", "team_role")
	} else if role == RoleOwner && limit != nil {
		errs.Add("sub_accounts", "team_owner_unlimited")
	}
	if limit != nil {
		if len(limit) == 0 {
			errs.Add("sub_accounts", "team_sub_accounts")
		} else {
			var n int
			if err := q.QueryRow(ctx, `SELECT count(*) FROM ledger_account_view WHERE id = ANY($1) AND parent_id = $2 AND kind = 'sub'`,
				limit, accountID).Scan(&n); err != nil {
				return fmt.Errorf("team: sub-accounts: %w", err)
			}
			if n != len(limit) {
				errs.Add("sub_accounts", "team_sub_accounts")
			}
		}
	}
	return errs.Err()
}

// normLimit sorts and deduplicates a limit; nil stays nil.
func normLimit(l []int64) []int64 {
	if l == nil {
		return nil
	}
	out := slices.Clone(l)
	slices.Sort(out)
	return slices.Compact(out)
}

// lockMembersSQL locks every member row of an enterprise, in id order, so
// role changes and removals on one enterprise run one at a time and each
// sees the others' outcome (READ COMMITTED re-reads a row it waited for).
const lockMembersSQL = `
SELECT id, user_id, role FROM team_members WHERE account_id = $1 ORDER BY id FOR UPDATE`

type lockedMember struct {
	id, userID int64
	role       Role
}

// lockOwnerTx locks accountID's members and checks that actor is one of its
// owners; it returns the locked members.
func lockOwnerTx(ctx context.Context, tx pgx.Tx, actor Actor, accountID int64) ([]lockedMember, error) {
	rows, _ := tx.Query(ctx, lockMembersSQL, accountID)
	ms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (lockedMember, error) {
		var m lockedMember
		err := r.Scan(&m.id, &m.userID, &m.role)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("team: lock members: %w", err)
	}
	for _, m := range ms {
		if m.userID == actor.UserID && m.role == RoleOwner {
			return ms, nil
		}
	}
	return nil, ErrForbidden
}

func audit(ctx context.Context, tx pgx.Tx, a Actor, action backoffice.Action, accountID int64, detail map[string]any) error {
	_, err := backoffice.Audit(ctx, tx, backoffice.Entry{ActorKind: backoffice.ActorCustomer, ActorID: a.UserID,
		ActorEmail: a.Email, IP: a.IP, Action: action, AccountID: accountID, Detail: detail})
	return err
}

const insertInvitationSQL = `
INSERT INTO team_invitations (account_id, email, role, sub_accounts, token_hash, invited_by, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING id`

// Invite invites email to accountID (an enterprise) with a role and an
// optional sub-account limit, as actor (one of its owners): in one
// transaction it stores the invitation (the token's hash only), audits it
// and enqueues the mail with the accept link (both languages: the
// invitee's is unknown). It returns the invitation and the token (tests;
// the link is only mailed).
//
// Errors: *fielderr.Errors (email, role, sub_accounts, all at once),
// ErrForbidden, ErrAlreadyMember.
func (s *Service) Invite(ctx context.Context, actor Actor, accountID int64, req InviteRequest) (Invitation, string, error) {
	req.Limit = normLimit(req.Limit)
	if err := s.validate(ctx, s.pool, accountID, &req.Email, req.Role, req.Limit); err != nil {
		return Invitation{}, "", err
	}
	token, hash := newToken()
	now := s.now()
	inv := Invitation{AccountID: accountID, Email: req.Email, Role: req.Role, Limit: req.Limit, InvitedBy: actor.UserID,
		CreatedAt: now, ExpiresAt: now.Add(InvitationTTL)}
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := lockOwnerTx(ctx, tx, actor, accountID); err != nil {
			return err
		}
		var member bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM team_members m JOIN users u ON u.id = m.user_id
			WHERE m.account_id = $1 AND u.email = $2)`, accountID, req.Email).Scan(&member); err != nil {
			return err
		}
		if member {
			return ErrAlreadyMember
		}
		if err := tx.QueryRow(ctx, insertInvitationSQL, accountID, req.Email, req.Role, req.Limit, hash, actor.UserID,
			now, inv.ExpiresAt).Scan(&inv.ID); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT name FROM ledger_account_view WHERE id = $1`, accountID).Scan(&inv.AccountName); err != nil {
			return err
		}
		if err := audit(ctx, tx, actor, ActionInvited, accountID, map[string]any{"invitation_id": inv.ID,
			"email": req.Email, "role": req.Role, "sub_accounts": req.Limit}); err != nil {
			return err
		}
		if s.o.Jobs == nil {
			return nil
		}
		link := s.o.Link(token)
		msg := mail.ComposeBilingual(s.o.I18n, "mail.team_invite", func(l *i18n.Localizer) any {
			return map[string]string{"Link": link, "Enterprise": inv.AccountName, "Inviter": actor.Email,
				"Role": l.T("team.role." + string(req.Role))}
		}, req.Email)
		return mail.EnqueueTx(ctx, s.o.Jobs, tx, msg)
	})
	if err != nil {
		return Invitation{}, "", wrap("invite", err)
	}
	return inv, token, nil
}

// wrap prefixes database errors and passes the package's own through.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	for _, e := range []error{ErrNotFound, ErrNotMember, ErrForbidden, ErrLastOwner, ErrInvitationUsed, ErrInvitationExpired,
		ErrInvitationRevoked, ErrInvitationNotFound, ErrWrongInvitee, ErrAlreadyMember, ErrNotEnterprise, fielderr.ErrInvalid} {
		if errors.Is(err, e) {
			return err
		}
	}
	return fmt.Errorf("team: %s: %w", op, err)
}

const claimInvitationSQL = `
UPDATE team_invitations SET accepted_at = $2, accepted_by = $3
WHERE token_hash = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2
RETURNING id, account_id, email, role, sub_accounts, invited_by`

const insertMemberSQL = `
INSERT INTO team_members (account_id, user_id, role, sub_accounts, invited_by, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $6)
ON CONFLICT (account_id, user_id) DO NOTHING
RETURNING id`

// Accept makes user (a customer signed in with the invited email) a member of the
// invitation's enterprise. The link is claimed by one conditional UPDATE,
// so of any number of concurrent accepts exactly one succeeds; the member
// row and the audit row are written in the same transaction.
//
// Errors: ErrInvitationNotFound, ErrInvitationUsed, ErrInvitationExpired,
// ErrInvitationRevoked, ErrWrongInvitee, ErrAlreadyMember (the link stays
// unused).
func (s *Service) Accept(ctx context.Context, user auth.User, ip, token string) (Member, error) {
	hash := hashToken(token)
	now := s.now()
	var m Member
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var inv Invitation
		err := tx.QueryRow(ctx, claimInvitationSQL, hash, now, user.ID).Scan(&inv.ID, &inv.AccountID, &inv.Email,
			&inv.Role, &inv.Limit, &inv.InvitedBy)
		if errors.Is(err, pgx.ErrNoRows) {
			cur, err := invitationByToken(ctx, tx, token)
			if err != nil {
				return err
			}
			if why := cur.Usable(now); why != nil {
				return why
			}
			return ErrInvitationUsed // claimed meanwhile
		}
		if err != nil {
			return err
		}
		if user.Kind != auth.KindCustomer || user.Email == "" || user.Email != inv.Email {
			return ErrWrongInvitee
		}
		m = Member{AccountID: inv.AccountID, UserID: user.ID, Role: inv.Role, Limit: inv.Limit, Email: user.Email,
			Phone: user.Phone, Name: user.Name, CreatedAt: now}
		err = tx.QueryRow(ctx, insertMemberSQL, inv.AccountID, user.ID, inv.Role, inv.Limit, inv.InvitedBy, now).Scan(&m.ID)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrAlreadyMember
		}
		if err != nil {
			return err
		}
		return audit(ctx, tx, Actor{UserID: user.ID, Email: user.Email, IP: ip}, ActionAccepted, inv.AccountID,
			map[string]any{"invitation_id": inv.ID, "member_id": m.ID, "role": inv.Role, "sub_accounts": inv.Limit})
	})
	if err != nil {
		return Member{}, wrap("accept", err)
	}
	return m, nil
}

// ChangeRole sets member memberID of accountID to role, as actor (an
// owner). Making a member owner clears its sub-account limit. Under the
// enterprise's member locks, the last owner cannot be demoted, so two
// owners demoting each other at once leave one.
//
// Errors: *fielderr.Errors (role), ErrForbidden, ErrNotFound, ErrLastOwner.
func (s *Service) ChangeRole(ctx context.Context, actor Actor, accountID, memberID int64, role Role) error {
	if err := s.validate(ctx, s.pool, accountID, nil, role, nil); err != nil {
		return err
	}
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		ms, err := lockOwnerTx(ctx, tx, actor, accountID)
		if err != nil {
			return err
		}
		target, owners, err := find(ms, memberID)
		if err != nil {
			return err
		}
		if target.role == role {
			return nil
		}
		if target.role == RoleOwner && owners == 1 {
			return ErrLastOwner
		}
		if _, err := tx.Exec(ctx, `UPDATE team_members SET role = $2, updated_at = $3,
			sub_accounts = CASE WHEN $2 = 'owner' THEN NULL ELSE sub_accounts END WHERE id = $1`,
			memberID, role, s.now()); err != nil {
			return err
		}
		return audit(ctx, tx, actor, ActionRoleChanged, accountID, map[string]any{"member_id": memberID,
			"user_id": target.userID, "from": target.role, "to": role})
	})
	return wrap("change role", err)
}

// SetLimit limits member memberID of accountID to the given sub-accounts
// (nil: every one), as actor (an owner). An owner cannot be limited.
//
// Errors: *fielderr.Errors (sub_accounts), ErrForbidden, ErrNotFound.
func (s *Service) SetLimit(ctx context.Context, actor Actor, accountID, memberID int64, limit []int64) error {
	limit = normLimit(limit)
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		ms, err := lockOwnerTx(ctx, tx, actor, accountID)
		if err != nil {
			return err
		}
		target, _, err := find(ms, memberID)
		if err != nil {
			return err
		}
		if err := s.validate(ctx, tx, accountID, nil, target.role, limit); err != nil {
			return err
		}
		var before []int64
		if err := tx.QueryRow(ctx, `UPDATE team_members m SET sub_accounts = $2, updated_at = $3
			FROM team_members old WHERE m.id = $1 AND old.id = m.id RETURNING old.sub_accounts`,
			memberID, limit, s.now()).Scan(&before); err != nil {
			return err
		}
		return audit(ctx, tx, actor, ActionLimitChanged, accountID, map[string]any{"member_id": memberID,
			"user_id": target.userID, "from": before, "to": limit})
	})
	return wrap("set limit", err)
}

// Remove removes member memberID from accountID, as actor (an owner; an
// owner may remove itself while another owner remains).
//
// Errors: ErrForbidden, ErrNotFound, ErrLastOwner.
func (s *Service) Remove(ctx context.Context, actor Actor, accountID, memberID int64) error {
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		ms, err := lockOwnerTx(ctx, tx, actor, accountID)
		if err != nil {
			return err
		}
		target, owners, err := find(ms, memberID)
		if err != nil {
			return err
		}
		if target.role == RoleOwner && owners == 1 {
			return ErrLastOwner
		}
		if _, err := tx.Exec(ctx, `DELETE FROM team_members WHERE id = $1`, memberID); err != nil {
			return err
		}
		return audit(ctx, tx, actor, ActionRemoved, accountID, map[string]any{"member_id": memberID,
			"user_id": target.userID, "role": target.role})
	})
	return wrap("remove", err)
}

// Revoke revokes pending invitation invitationID of accountID, as actor (an
// owner); its link no longer works.
//
// Errors: ErrForbidden, ErrNotFound (also when it was used or revoked).
func (s *Service) Revoke(ctx context.Context, actor Actor, accountID, invitationID int64) error {
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := lockOwnerTx(ctx, tx, actor, accountID); err != nil {
			return err
		}
		var email string
		err := tx.QueryRow(ctx, `UPDATE team_invitations SET revoked_at = $3, revoked_by = $4
			WHERE id = $1 AND account_id = $2 AND accepted_at IS NULL AND revoked_at IS NULL RETURNING email`,
			invitationID, accountID, s.now(), actor.UserID).Scan(&email)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		return audit(ctx, tx, actor, ActionInvitationRevoke, accountID, map[string]any{"invitation_id": invitationID, "email": email})
	})
	return wrap("revoke", err)
}

// find returns the locked member id and how many owners there are.
func find(ms []lockedMember, id int64) (lockedMember, int, error) {
	owners := 0
	var target lockedMember
	found := false
	for _, m := range ms {
		if m.role == RoleOwner {
			owners++
		}
		if m.id == id {
			target, found = m, true
		}
	}
	if !found {
		return lockedMember{}, 0, ErrNotFound
	}
	return target, owners, nil
}

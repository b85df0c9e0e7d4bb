package team_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/platform/mail"
	"github.com/seed75218f88/credits/internal/team"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// outbox records the mail the service enqueues (in the caller's
// transaction, as River's client would).
type outbox struct {
	mu   sync.Mutex
	sent []mail.Message
}

func (o *outbox) InsertTx(_ context.Context, _ pgx.Tx, args river.JobArgs, _ *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent = append(o.sent, args.(mail.SendArgs).Message)
	return &rivertype.JobInsertResult{}, nil
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type testBundle struct {
	svc    *team.Service
	pool   *pgxpool.Pool // superuser, for checks
	auth   *auth.Service
	ledger *ledger.Ledger
	mail   *outbox
	clock  *clock
}

var seq atomic.Int64

func setup(t *testing.T) *testBundle {
	t.Helper()
	app := dbtest.AppPool(t)
	bundle, err := i18n.Default()
	require.NoError(t, err)
	l := ledger.New(app, ledger.Options{})
	t.Cleanup(l.Close)
	b := &testBundle{pool: dbtest.Pool(t), ledger: l, mail: &outbox{}, clock: &clock{t: time.Now().UTC()},
		auth: auth.New(app, auth.Options{Argon2: auth.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}})}
	b.svc = team.New(app, team.Options{Jobs: b.mail, I18n: bundle, Now: b.clock.Now,
		Link: func(tok string) string { return "http://example.test/team/accept/" + tok }})
	return b
}

func (b *testBundle) account(t *testing.T, kind ledger.AccountKind, parent int64) ledger.Account {
	t.Helper()
	a, err := b.ledger.CreateAccount(context.Background(), ledger.AccountSpec{Kind: kind, ParentID: parent,
		Name: fmt.Sprintf("%s %d", kind, seq.Add(1))})
	require.NoError(t, err)
	return a
}

// user registers a customer; accountID 0 gives it no account of its own.
func (b *testBundle) user(t *testing.T, accountID int64) auth.User {
	t.Helper()
	u, err := b.auth.Register(context.Background(), auth.RegisterRequest{Login: fmt.Sprintf("member%d@example.com", seq.Add(1)),
		Password: "correct horse battery", AccountID: accountID})
	require.NoError(t, err)
	return u
}

func actor(u auth.User) team.Actor {
	return team.Actor{UserID: u.ID, Email: u.Email, IP: "203.0.113.9"}
}

// enterprise is an enterprise with its owner (a user pointed at it).
func (b *testBundle) enterprise(t *testing.T) (ledger.Account, auth.User) {
	ent := b.account(t, ledger.AccountEnterprise, 0)
	return ent, b.user(t, ent.ID)
}

// join invites u to ent as role and accepts.
func (b *testBundle) join(t *testing.T, ent ledger.Account, owner, u auth.User, role team.Role, limit []int64) team.Member {
	t.Helper()
	ctx := context.Background()
	_, tok, err := b.svc.Invite(ctx, actor(owner), ent.ID, team.InviteRequest{Email: u.Email, Role: role, Limit: limit})
	require.NoError(t, err)
	m, err := b.svc.Accept(ctx, u, "", tok)
	require.NoError(t, err)
	return m
}

func (b *testBundle) audits(t *testing.T, accountID int64, action string) int {
	var n int
	require.NoError(t, b.pool.QueryRow(context.Background(),
		`SELECT count(*) FROM admin_audit_log WHERE account_id = $1 AND action = $2 AND actor_kind = 'customer'`, accountID, action).Scan(&n))
	return n
}

func (b *testBundle) owners(t *testing.T, accountID int64) int {
	var n int
	require.NoError(t, b.pool.QueryRow(context.Background(),
		`SELECT count(*) FROM team_members WHERE account_id = $1 AND role = 'owner'`, accountID).Scan(&n))
	return n
}

func TestResolve(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()

	t.Run("EnterpriseSignInIsItsOwnerMember", func(t *testing.T) {
		ent, owner := b.enterprise(t)
		a, err := b.svc.Resolve(ctx, owner.ID, owner.AccountID, ent.ID)
		require.NoError(t, err)
		require.Equal(t, team.RoleOwner, a.Role)
		require.False(t, a.Limited())
		ms, err := b.svc.Members(ctx, ent.ID)
		require.NoError(t, err)
		require.Len(t, ms, 1)
		require.Equal(t, owner.ID, ms[0].UserID)
	})

	t.Run("IndividualIsImplicitOwnerOfItsOwnAccountOnly", func(t *testing.T) {
		ind := b.account(t, ledger.AccountIndividual, 0)
		u := b.user(t, ind.ID)
		a, err := b.svc.Resolve(ctx, u.ID, u.AccountID, ind.ID)
		require.NoError(t, err)
		require.Equal(t, team.RoleOwner, a.Role)
		other := b.account(t, ledger.AccountIndividual, 0)
		_, err = b.svc.Resolve(ctx, u.ID, u.AccountID, other.ID)
		require.ErrorIs(t, err, team.ErrNotMember)
		ent, _ := b.enterprise(t)
		_, err = b.svc.Resolve(ctx, u.ID, u.AccountID, ent.ID)
		require.ErrorIs(t, err, team.ErrNotMember)
		_, err = b.svc.Resolve(ctx, u.ID, u.AccountID, 1<<40)
		require.ErrorIs(t, err, team.ErrNotMember)
	})

	t.Run("AccountsListsOwnThenEnterprises", func(t *testing.T) {
		ind := b.account(t, ledger.AccountIndividual, 0)
		u := b.user(t, ind.ID)
		entA, ownerA := b.enterprise(t)
		entB, ownerB := b.enterprise(t)
		b.join(t, entA, ownerA, u, team.RoleFinance, nil)
		b.join(t, entB, ownerB, u, team.RoleViewer, nil)
		cs, err := b.svc.Accounts(ctx, u.ID, u.AccountID)
		require.NoError(t, err)
		require.Len(t, cs, 3)
		require.Equal(t, ind.ID, cs[0].AccountID)
		require.Equal(t, team.RoleOwner, cs[0].Role)
		require.Equal(t, []team.Role{team.RoleFinance, team.RoleViewer}, []team.Role{cs[1].Role, cs[2].Role})
	})
}

func TestInvite(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()

	t.Run("MailsTheLinkAndAudits", func(t *testing.T) {
		ent, owner := b.enterprise(t)
		sub := b.account(t, ledger.AccountSub, ent.ID)
		inv, tok, err := b.svc.Invite(ctx, actor(owner), ent.ID, team.InviteRequest{Email: " New.Dev@Example.com ",
			Role: team.RoleDeveloper, Limit: []int64{sub.ID, sub.ID}})
		require.NoError(t, err)
		require.Equal(t, "new.dev@example.com", inv.Email)
		require.Equal(t, []int64{sub.ID}, inv.Limit)
		require.WithinDuration(t, b.clock.Now().Add(7*24*time.Hour), inv.ExpiresAt, time.Second)
		b.mail.mu.Lock()
		last := b.mail.sent[len(b.mail.sent)-1]
		b.mail.mu.Unlock()
		require.Equal(t, []string{"new.dev@example.com"}, last.To)
		require.Contains(t, last.Text, "/team/accept/"+tok)
		require.Contains(t, last.Text, ent.Name)
		require.Contains(t, last.Text, "开发者")
		require.Contains(t, last.Text, "Developer")
		// Only the token's hash is stored.
		var stored []byte
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT token_hash FROM team_invitations WHERE id = $1`, inv.ID).Scan(&stored))
		require.Len(t, stored, 32)
		require.NotContains(t, string(stored), tok)
		require.Equal(t, 1, b.audits(t, ent.ID, "team_invited"))
		pending, err := b.svc.PendingInvitations(ctx, ent.ID)
		require.NoError(t, err)
		require.Len(t, pending, 1)
	})

	t.Run("EveryFieldErrorAtOnce", func(t *testing.T) {
		ent, owner := b.enterprise(t)
		_, _, err := b.svc.Invite(ctx, actor(owner), ent.ID, team.InviteRequest{Email: "not-an-email", Role: "boss", Limit: []int64{}})
		var fe *fielderr.Errors
		require.ErrorAs(t, err, &fe)
		require.Equal(t, "invalid_email", fe.Code("email"))
		require.Equal(t, "team_role", fe.Code("role"))
		require.Equal(t, "team_sub_accounts", fe.Code("sub_accounts"))

		other, _ := b.enterprise(t)
		foreign := b.account(t, ledger.AccountSub, other.ID)
		_, _, err = b.svc.Invite(ctx, actor(owner), ent.ID, team.InviteRequest{Email: "x@example.com", Role: team.RoleViewer, Limit: []int64{foreign.ID}})
		require.ErrorAs(t, err, &fe)
		require.Equal(t, "team_sub_accounts", fe.Code("sub_accounts"), "another enterprise's sub-account")

		sub := b.account(t, ledger.AccountSub, ent.ID)
		_, _, err = b.svc.Invite(ctx, actor(owner), ent.ID, team.InviteRequest{Email: "", Role: team.RoleOwner, Limit: []int64{sub.ID}})
		require.ErrorAs(t, err, &fe)
		require.Equal(t, "required", fe.Code("email"))
		require.Equal(t, "team_owner_unlimited", fe.Code("sub_accounts"))
		require.Zero(t, b.audits(t, ent.ID, "team_invited"))
	})

	t.Run("OnlyAnOwnerOfThatEnterpriseInvites", func(t *testing.T) {
		ent, owner := b.enterprise(t)
		fin := b.user(t, 0)
		b.join(t, ent, owner, fin, team.RoleFinance, nil)
		_, _, err := b.svc.Invite(ctx, actor(fin), ent.ID, team.InviteRequest{Email: "y@example.com", Role: team.RoleViewer})
		require.ErrorIs(t, err, team.ErrForbidden)
		other, _ := b.enterprise(t)
		_, _, err = b.svc.Invite(ctx, actor(owner), other.ID, team.InviteRequest{Email: "y@example.com", Role: team.RoleViewer})
		require.ErrorIs(t, err, team.ErrForbidden, "an owner of A cannot invite to B")
		_, _, err = b.svc.Invite(ctx, actor(owner), ent.ID, team.InviteRequest{Email: fin.Email, Role: team.RoleViewer})
		require.ErrorIs(t, err, team.ErrAlreadyMember)
	})
}

func TestAccept(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()

	t.Run("MakesAMemberWithRoleAndLimit", func(t *testing.T) {
		ent, owner := b.enterprise(t)
		sub := b.account(t, ledger.AccountSub, ent.ID)
		u := b.user(t, 0)
		m := b.join(t, ent, owner, u, team.RoleDeveloper, []int64{sub.ID})
		require.Equal(t, team.RoleDeveloper, m.Role)
		a, err := b.svc.Resolve(ctx, u.ID, 0, ent.ID)
		require.NoError(t, err)
		require.Equal(t, team.RoleDeveloper, a.Role)
		require.True(t, a.Sees(sub.ID))
		require.False(t, a.Sees(sub.ID+1000))
		require.Equal(t, 1, b.audits(t, ent.ID, "team_accepted"))
	})

	t.Run("RefusesAnotherEmailAndKeepsTheLink", func(t *testing.T) {
		ent, owner := b.enterprise(t)
		invitee, stranger := b.user(t, 0), b.user(t, 0)
		_, tok, err := b.svc.Invite(ctx, actor(owner), ent.ID, team.InviteRequest{Email: invitee.Email, Role: team.RoleViewer})
		require.NoError(t, err)
		_, err = b.svc.Accept(ctx, stranger, "", tok)
		require.ErrorIs(t, err, team.ErrWrongInvitee)
		_, err = b.svc.Accept(ctx, invitee, "", tok)
		require.NoError(t, err)
		_, err = b.svc.Accept(ctx, invitee, "", tok)
		require.ErrorIs(t, err, team.ErrInvitationUsed)
		_, err = b.svc.Accept(ctx, invitee, "", "no-such-token")
		require.ErrorIs(t, err, team.ErrInvitationNotFound)
	})

	t.Run("StaffCannotAccept", func(t *testing.T) {
		ent, owner := b.enterprise(t)
		staff, err := b.auth.CreateStaff(ctx, auth.StaffRequest{Email: fmt.Sprintf("staff%d@example.com", seq.Add(1)),
			Password: "correct horse battery", Roles: []auth.Role{auth.RoleSupport}})
		require.NoError(t, err)
		_, tok, err := b.svc.Invite(ctx, actor(owner), ent.ID, team.InviteRequest{Email: staff.Email, Role: team.RoleViewer})
		require.NoError(t, err)
		_, err = b.svc.Accept(ctx, staff, "", tok)
		require.ErrorIs(t, err, team.ErrWrongInvitee)
	})

	t.Run("ExpiresAfterSevenDays", func(t *testing.T) {
		b := setup(t) // its own clock
		ent, owner := b.enterprise(t)
		u := b.user(t, 0)
		_, tok, err := b.svc.Invite(ctx, actor(owner), ent.ID, team.InviteRequest{Email: u.Email, Role: team.RoleViewer})
		require.NoError(t, err)
		b.clock.Add(7*24*time.Hour - time.Minute)
		inv, err := b.svc.InvitationByToken(ctx, tok)
		require.NoError(t, err)
		require.NoError(t, inv.Usable(b.clock.Now()))
		b.clock.Add(time.Minute)
		_, err = b.svc.Accept(ctx, u, "", tok)
		require.ErrorIs(t, err, team.ErrInvitationExpired)
		pending, err := b.svc.PendingInvitations(ctx, ent.ID)
		require.NoError(t, err)
		require.Empty(t, pending)
	})

	t.Run("RevokedLinkIsRefused", func(t *testing.T) {
		ent, owner := b.enterprise(t)
		u := b.user(t, 0)
		inv, tok, err := b.svc.Invite(ctx, actor(owner), ent.ID, team.InviteRequest{Email: u.Email, Role: team.RoleViewer})
		require.NoError(t, err)
		other, otherOwner := b.enterprise(t)
		require.ErrorIs(t, b.svc.Revoke(ctx, actor(otherOwner), other.ID, inv.ID), team.ErrNotFound, "B's owner cannot revoke A's invitation")
		require.NoError(t, b.svc.Revoke(ctx, actor(owner), ent.ID, inv.ID))
		require.ErrorIs(t, b.svc.Revoke(ctx, actor(owner), ent.ID, inv.ID), team.ErrNotFound)
		_, err = b.svc.Accept(ctx, u, "", tok)
		require.ErrorIs(t, err, team.ErrInvitationRevoked)
		require.Equal(t, 1, b.audits(t, ent.ID, "team_invitation_revoked"))
	})

	// 64 concurrent accepts of one link make exactly one membership.
	t.Run("SingleUseUnderConcurrency", func(t *testing.T) {
		ent, owner := b.enterprise(t)
		u := b.user(t, 0)
		_, tok, err := b.svc.Invite(ctx, actor(owner), ent.ID, team.InviteRequest{Email: u.Email, Role: team.RoleDeveloper})
		require.NoError(t, err)
		const n = 64
		var ok, used atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := b.svc.Accept(ctx, u, "", tok)
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, team.ErrInvitationUsed), errors.Is(err, team.ErrAlreadyMember):
					used.Add(1)
				default:
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		require.EqualValues(t, 1, ok.Load())
		require.EqualValues(t, n-1, used.Load())
		var members int
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM team_members WHERE account_id = $1 AND user_id = $2`, ent.ID, u.ID).Scan(&members))
		require.Equal(t, 1, members)
		require.Equal(t, 1, b.audits(t, ent.ID, "team_accepted"))
	})
}

func TestOwners(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()

	t.Run("LastOwnerCannotBeDemotedOrRemoved", func(t *testing.T) {
		ent, owner := b.enterprise(t)
		ms, err := b.svc.Members(ctx, ent.ID)
		require.NoError(t, err)
		require.ErrorIs(t, b.svc.ChangeRole(ctx, actor(owner), ent.ID, ms[0].ID, team.RoleViewer), team.ErrLastOwner)
		require.ErrorIs(t, b.svc.Remove(ctx, actor(owner), ent.ID, ms[0].ID), team.ErrLastOwner)
		require.Equal(t, 1, b.owners(t, ent.ID))
	})

	t.Run("RoleLimitRemoveAreOwnersAndAudited", func(t *testing.T) {
		ent, owner := b.enterprise(t)
		sub := b.account(t, ledger.AccountSub, ent.ID)
		u, v := b.user(t, 0), b.user(t, 0)
		m := b.join(t, ent, owner, u, team.RoleViewer, nil)
		mv := b.join(t, ent, owner, v, team.RoleDeveloper, nil)
		require.ErrorIs(t, b.svc.ChangeRole(ctx, actor(u), ent.ID, mv.ID, team.RoleOwner), team.ErrForbidden, "a viewer changes nothing")
		require.NoError(t, b.svc.ChangeRole(ctx, actor(owner), ent.ID, m.ID, team.RoleDeveloper))
		require.NoError(t, b.svc.SetLimit(ctx, actor(owner), ent.ID, m.ID, []int64{sub.ID}))
		a, err := b.svc.Resolve(ctx, u.ID, 0, ent.ID)
		require.NoError(t, err)
		require.Equal(t, team.Access{AccountID: ent.ID, Role: team.RoleDeveloper, Limit: []int64{sub.ID}}, a)
		var fe *fielderr.Errors
		require.ErrorAs(t, b.svc.SetLimit(ctx, actor(owner), ent.ID, m.ID, []int64{sub.ID + 999}), &fe)
		// Promoting to owner clears the limit.
		require.NoError(t, b.svc.ChangeRole(ctx, actor(owner), ent.ID, m.ID, team.RoleOwner))
		a, err = b.svc.Resolve(ctx, u.ID, 0, ent.ID)
		require.NoError(t, err)
		require.Nil(t, a.Limit)
		require.ErrorAs(t, b.svc.SetLimit(ctx, actor(owner), ent.ID, m.ID, []int64{sub.ID}), &fe)
		require.NoError(t, b.svc.Remove(ctx, actor(owner), ent.ID, mv.ID))
		_, err = b.svc.Resolve(ctx, v.ID, 0, ent.ID)
		require.ErrorIs(t, err, team.ErrNotMember, "a removed member loses the enterprise at once")
		other, otherOwner := b.enterprise(t)
		_ = other
		require.ErrorIs(t, b.svc.Remove(ctx, actor(otherOwner), ent.ID, m.ID), team.ErrForbidden)
		require.Equal(t, 2, b.audits(t, ent.ID, "team_role_changed"))
		require.Equal(t, 1, b.audits(t, ent.ID, "team_limit_changed"))
		require.Equal(t, 1, b.audits(t, ent.ID, "team_removed"))
	})

	// Two owners demoting each other at once: one succeeds, the other is
	// no longer an owner when its turn comes; repeated, and with 64
	// concurrent demotions and removals among 8 owners.
	t.Run("ConcurrentDemotionsLeaveAnOwner", func(t *testing.T) {
		for range 16 {
			ent, first := b.enterprise(t)
			second := b.user(t, 0)
			m2 := b.join(t, ent, first, second, team.RoleOwner, nil)
			ms, err := b.svc.Members(ctx, ent.ID)
			require.NoError(t, err)
			var m1 int64
			for _, m := range ms {
				if m.UserID == first.ID {
					m1 = m.ID
				}
			}
			var wg sync.WaitGroup
			var errA, errB error
			wg.Add(2)
			go func() { defer wg.Done(); errA = b.svc.ChangeRole(ctx, actor(first), ent.ID, m2.ID, team.RoleViewer) }()
			go func() { defer wg.Done(); errB = b.svc.ChangeRole(ctx, actor(second), ent.ID, m1, team.RoleViewer) }()
			wg.Wait()
			require.Equal(t, 1, b.owners(t, ent.ID))
			require.True(t, (errA == nil) != (errB == nil), "exactly one demotion: %v / %v", errA, errB)
			for _, err := range []error{errA, errB} {
				if err != nil {
					require.ErrorIs(t, err, team.ErrForbidden)
				}
			}
		}

		ent, first := b.enterprise(t)
		owners := []auth.User{first}
		var ids []int64
		for range 7 {
			u := b.user(t, 0)
			ids = append(ids, b.join(t, ent, first, u, team.RoleOwner, nil).ID)
			owners = append(owners, u)
		}
		ms, err := b.svc.Members(ctx, ent.ID)
		require.NoError(t, err)
		ids = ids[:0]
		for _, m := range ms {
			ids = append(ids, m.ID)
		}
		var wg sync.WaitGroup
		for i := range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				who, target := owners[i%len(owners)], ids[(i*3+1)%len(ids)]
				var err error
				if i%2 == 0 {
					err = b.svc.ChangeRole(ctx, actor(who), ent.ID, target, team.RoleFinance)
				} else {
					err = b.svc.Remove(ctx, actor(who), ent.ID, target)
				}
				if err != nil && !errors.Is(err, team.ErrForbidden) && !errors.Is(err, team.ErrLastOwner) && !errors.Is(err, team.ErrNotFound) {
					t.Errorf("unexpected: %v", err)
				}
			}()
		}
		wg.Wait()
		require.GreaterOrEqual(t, b.owners(t, ent.ID), 1)
	})
}

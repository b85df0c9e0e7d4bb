package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/mail/mailtest"
	"github.com/seed75218f88/credits/internal/team"
	"github.com/seed75218f88/credits/web/webtest"
)

// inviteLink is the accept link of the newest invitation mail to addr.
func inviteLink(t *testing.T, b *portalBundle, addr string) string {
	t.Helper()
	jobs := mailtest.QueuedTo(t, b.app.Pool, addr)
	require.NotEmpty(t, jobs, "an invitation mail to %s", addr)
	text := jobs[len(jobs)-1].Text
	i := strings.Index(text, b.app.URL+"/team/accept/")
	require.GreaterOrEqual(t, i, 0, text)
	return strings.TrimPrefix(strings.Fields(text[i:])[0], b.app.URL)
}

// TestTeamPageInviteAcceptAndManage: an owner's invite form reports every
// field at once in the user's language; an invitation mails a link; an
// existing user accepts it signed in, a new one signs up through it; a
// stranger cannot; the owner changes a role and a limit, removes a member
// and revokes an invitation; the last owner stays; others read the list.
func TestTeamPageInviteAcceptAndManage(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	ctx := context.Background()
	owner, ou := b.register(t, uniqEmail("team-page-owner"), "Owner")
	ent := b.enterprise(t, ou.ID, "Team Page Corp")
	sub, err := b.ledger.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: ent, Name: "研发部"})
	require.NoError(t, err)

	p := owner.Get("/portal/team")
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Equal(t, 1, p.Doc.Find(`[data-testid="team-member"]`).Length())
	require.NotEmpty(t, p.TestID("team-invite-form"))

	// Every field wrong at once, in English then Chinese.
	owner.Header.Set("Accept-Language", "en")
	p = owner.PostForm("/portal/team/invite", url.Values{"email": {"nope"}, "role": {"boss"}, "sub_accounts": {"x"}})
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Equal(t, "That is not a valid email address.", p.TestID("error-email"))
	require.Equal(t, "Choose a role.", p.TestID("error-role"))
	require.Equal(t, "Choose sub-accounts of this enterprise.", p.TestID("error-sub_accounts"))
	owner.Header.Set("Accept-Language", "zh-CN")
	p = owner.PostForm("/portal/team/invite", url.Values{"email": {""}, "role": {"owner"}, "sub_accounts": {fmt.Sprint(sub.ID)}})
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Equal(t, "此项为必填项。", p.TestID("error-email"))
	require.Equal(t, "所有者可查看全部子账户，请不要选择子账户。", p.TestID("error-sub_accounts"))

	// An existing user (with its own account) is invited as a developer
	// limited to the department, opens the link signed out, signs in, and
	// accepts.
	devLogin := uniqEmail("team-page-dev")
	dev, devUser := b.register(t, devLogin, "Dev")
	dev.PostForm("/signout", url.Values{})
	p = owner.PostForm("/portal/team/invite", url.Values{"email": {devLogin}, "role": {"developer"}, "sub_accounts": {fmt.Sprint(sub.ID)}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Contains(t, p.URL.RawQuery, "done=invited")
	require.Equal(t, 1, p.Doc.Find(`[data-testid="team-invitation"]`).Length())
	link := inviteLink(t, b, devLogin)
	p = dev.Get(link)
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.TestID("team-accept-offer"), "Team Page Corp")
	require.Contains(t, p.Doc.Find(`[data-testid="team-accept-signin"]`).AttrOr("href", ""), url.QueryEscape(link))
	dev.Get("/signin")
	p = dev.PostForm("/signin", url.Values{"login": {devLogin}, "password": {"correct horse 1"}, "next": {link}})
	require.Equal(t, link, p.URL.Path)
	p = dev.PostForm(link, url.Values{})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Equal(t, "/portal", p.URL.Path)
	require.Equal(t, fmt.Sprint(ent), p.TestID("account-id"), "the portal opens on the enterprise")
	p = dev.Get(link)
	require.Equal(t, http.StatusGone, p.Status, "single use")
	// The developer sees the department only... and the team read-only.
	p = dev.Get("/portal/team")
	require.Equal(t, http.StatusOK, p.Status)
	require.NotEmpty(t, p.TestID("team-read-only"))
	require.Zero(t, p.Doc.Find(`[data-testid="team-invite-form"]`).Length())
	require.Equal(t, http.StatusForbidden, dev.PostForm("/portal/team/invite", url.Values{"email": {"x@example.com"}, "role": {"viewer"}}).Status)

	// A new person signs up through the link (the address filled in) and
	// accepts; a stranger signed in cannot use another's link.
	newLogin := uniqEmail("team-page-new")
	owner.PostForm("/portal/team/invite", url.Values{"email": {newLogin}, "role": {"viewer"}})
	link = inviteLink(t, b, newLogin)
	stranger, _ := b.register(t, uniqEmail("team-page-stranger"), "")
	p = stranger.Get(link)
	require.NotEmpty(t, p.TestID("team-accept-signout"))
	p = stranger.PostForm(link, url.Values{})
	require.Equal(t, http.StatusForbidden, p.Status)
	visitor := webtest.NewClient(t, b.app.URL)
	p = visitor.Get(link)
	signup := p.Doc.Find(`[data-testid="team-accept-signup"]`).AttrOr("href", "")
	p = visitor.Get(signup)
	require.Equal(t, newLogin, p.Doc.Find(`#f-login`).AttrOr("value", ""))
	p = visitor.PostForm("/signup", url.Values{"login": {newLogin}, "password": {"correct horse 1"}, "password_confirm": {"correct horse 1"},
		"consent": {"yes"}, "next": {link}})
	require.Equal(t, link, p.URL.Path, p.Body)
	p = visitor.PostForm(link, url.Values{})
	require.Equal(t, fmt.Sprint(ent), p.TestID("account-id"))

	// The owner manages: role, limit, removal, revocation; the last owner
	// stays; each change is audited.
	ms, err := b.app.Services.Team.Members(ctx, ent)
	require.NoError(t, err)
	byUser := map[int64]team.Member{}
	for _, m := range ms {
		byUser[m.UserID] = m
	}
	devM, ownerM := byUser[devUser.ID], byUser[ou.ID]
	p = owner.PostForm(fmt.Sprintf("/portal/team/members/%d/limit", devM.ID), url.Values{})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	p = owner.PostForm(fmt.Sprintf("/portal/team/members/%d/role", devM.ID), url.Values{"role": {"finance"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	row := p.Doc.Find(fmt.Sprintf(`[data-testid="team-member"][data-login=%q]`, devLogin))
	require.Equal(t, "finance", row.AttrOr("data-role", ""))
	p = owner.PostForm(fmt.Sprintf("/portal/team/members/%d/role", ownerM.ID), url.Values{"role": {"viewer"}})
	require.Equal(t, http.StatusConflict, p.Status, "the last owner")
	revokeLogin := uniqEmail("team-page-revoke")
	p = owner.PostForm("/portal/team/invite", url.Values{"email": {revokeLogin}, "role": {"viewer"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	pending, err := b.app.Services.Team.PendingInvitations(ctx, ent)
	require.NoError(t, err)
	require.Len(t, pending, 1)
	p = owner.PostForm(fmt.Sprintf("/portal/team/invitations/%d/revoke", pending[0].ID), url.Values{})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Equal(t, http.StatusGone, visitor.Get(inviteLink(t, b, revokeLogin)).Status)
	p = owner.PostForm(fmt.Sprintf("/portal/team/members/%d/remove", devM.ID), url.Values{})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Equal(t, fmt.Sprint(devUser.AccountID), dev.Get("/portal").TestID("account-id"), "removed: on its own account again")
	var audited int
	require.NoError(t, b.app.Pool.QueryRow(ctx, `SELECT count(DISTINCT action) FROM admin_audit_log WHERE account_id = $1 AND action LIKE 'team_%'`, ent).Scan(&audited))
	require.Equal(t, 6, audited, "invite, accept, role, limit, removal, revocation")

	// An individual has no team page.
	solo, _ := b.register(t, uniqEmail("team-page-solo"), "")
	require.Equal(t, http.StatusNotFound, solo.Get("/portal/team").Status)
}

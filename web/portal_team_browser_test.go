package web_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/web/webtest"
)

// On a 390 px phone, in Chinese and in English, an enterprise owner opens
// the team page, sends the invite form with a wrong address (the message
// in the page's language), then invites by email; the invitee opens the
// mailed link — in Chinese a new person who signs up through it, in
// English an existing user who signs in — accepts, and lands on the
// enterprise's overview with the account switcher in the header; the
// owner's team page then lists the member. Every page fits the screen.
func TestTeamInviteAcceptInChromium(t *testing.T) {
	b := setupPortal(t)
	ctx := context.Background()
	ownerLogin := uniqEmail("team-browser-owner")
	_, ou := b.register(t, ownerLogin, "Owner")
	ent := b.enterprise(t, ou.ID, "浏览器测试科技有限公司")
	_, err := b.ledger.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: ent, Name: "研发部"})
	require.NoError(t, err)
	existingLogin := uniqEmail("team-browser-existing")
	b.register(t, existingLogin, "Existing")

	bctx := webtest.Browser(t, 180*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	signOut := func() error {
		return chromedp.Do(bctx, chromedp.Click(css(`[data-testid="signout"]`)), chromedp.WaitVisible(css(`[data-testid="signin-submit"]`)))
	}
	for _, lang := range []struct {
		code, badEmail, done, joined, role string
		newUser                            bool
	}{
		{"zh-CN", "邮箱地址格式不正确", "邀请已发送", "浏览器测试科技有限公司", "开发者", true},
		{"en", "not a valid email address", "Invitation sent", "浏览器测试科技有限公司", "Developer", false},
	} {
		webtest.SignIn(t, bctx, b.app.URL, ownerLogin, "correct horse 1")
		require.NoError(t, chromedp.Do(bctx,
			chromedp.Navigate(b.app.URL+"/lang/"+lang.code),
			chromedp.Navigate(b.app.URL+"/portal/team"),
			chromedp.WaitVisible(css(`[data-testid="team-invite-form"]`)),
		))
		webtest.RequireFitsWidth(t, bctx, 390, "the team page (%s)", lang.code)
		require.NoError(t, chromedp.Do(bctx,
			chromedp.SendKeys(css(`#f-email`), "not-an-address"),
			chromedp.Click(css(`[data-testid="team-invite-submit"]`)),
			chromedp.WaitVisible(css(`[data-testid="error-email"]`)),
		))
		require.Contains(t, webtest.Text(t, bctx, `[data-testid="error-email"]`), lang.badEmail)
		require.NotEmpty(t, webtest.Text(t, bctx, `[data-testid="error-role"]`), "every field at once")
		webtest.RequireFitsWidth(t, bctx, 390, "the team page with errors (%s)", lang.code)

		invitee := existingLogin
		if lang.newUser {
			invitee = uniqEmail("team-browser-new")
		}
		require.NoError(t, chromedp.Do(bctx,
			chromedp.SetValue(css(`#f-email`), invitee),
			chromedp.SetValue(css(`#f-role`), "developer"),
			chromedp.Click(css(`[data-testid="team-sub-account"]`)),
			chromedp.Click(css(`[data-testid="team-invite-submit"]`)),
			chromedp.WaitVisible(css(`[data-testid="team-invitation"]`)),
		))
		require.Contains(t, webtest.Text(t, bctx, `[data-testid="flash-success"]`), lang.done)
		webtest.RequireFitsWidth(t, bctx, 390, "the team page with an invitation (%s)", lang.code)
		link := inviteLink(t, b, invitee)
		require.NoError(t, signOut())

		// The invitee opens the link signed out.
		require.NoError(t, chromedp.Do(bctx,
			chromedp.Navigate(b.app.URL+link),
			chromedp.WaitVisible(css(`[data-testid="team-accept-offer"]`)),
		))
		require.Contains(t, webtest.Text(t, bctx, `[data-testid="team-accept-offer"]`), lang.role)
		webtest.RequireFitsWidth(t, bctx, 390, "the invitation page (%s)", lang.code)
		if lang.newUser {
			require.NoError(t, chromedp.Do(bctx,
				chromedp.Click(css(`[data-testid="team-accept-signup"]`)),
				chromedp.WaitVisible(css(`[data-testid="signup-submit"]`)),
				chromedp.SendKeys(css(`#f-password`), "correct horse 1"),
				chromedp.SendKeys(css(`#f-password_confirm`), "correct horse 1"),
				chromedp.Click(css(`[data-testid="signup-consent"]`)),
				chromedp.Click(css(`[data-testid="signup-submit"]`)),
				chromedp.WaitVisible(css(`[data-testid="team-accept-submit"]`)),
			))
		} else {
			require.NoError(t, chromedp.Do(bctx,
				chromedp.Click(css(`[data-testid="team-accept-signin"]`)),
				chromedp.WaitVisible(css(`[data-testid="signin-submit"]`)),
				chromedp.SendKeys(css(`#f-login`), invitee),
				chromedp.SendKeys(css(`#f-password`), "correct horse 1"),
				chromedp.Click(css(`[data-testid="signin-submit"]`)),
				chromedp.WaitVisible(css(`[data-testid="team-accept-submit"]`)),
			))
		}
		webtest.RequireFitsWidth(t, bctx, 390, "the invitation page signed in (%s)", lang.code)
		require.NoError(t, chromedp.Do(bctx,
			chromedp.Click(css(`[data-testid="team-accept-submit"]`)),
			chromedp.WaitVisible(css(`[data-testid="account-switch"]`)),
		))
		require.Equal(t, fmt.Sprint(ent), webtest.Text(t, bctx, `[data-testid="account-id"]`))
		current, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="account-switch-select"]').selectedOptions[0].textContent`))
		require.NoError(t, err)
		require.Contains(t, current, lang.joined)
		require.Contains(t, current, lang.role)
		webtest.RequireFitsWidth(t, bctx, 390, "the overview with the account switcher (%s)", lang.code)
		// The member reads the team page (read-only) at 390 px too.
		require.NoError(t, chromedp.Do(bctx,
			chromedp.Navigate(b.app.URL+"/portal/team"),
			chromedp.WaitVisible(css(`[data-testid="team-read-only"]`)),
		))
		webtest.RequireFitsWidth(t, bctx, 390, "the team page read-only (%s)", lang.code)
		webtest.Screenshot(t, bctx, "team-member-"+lang.code)
		require.NoError(t, signOut())
	}

	// The owner's page lists both members.
	webtest.SignIn(t, bctx, b.app.URL, ownerLogin, "correct horse 1")
	require.NoError(t, chromedp.Do(bctx,
		chromedp.Navigate(b.app.URL+"/portal/team"),
		chromedp.WaitVisible(css(`[data-testid="team-members"]`)),
	))
	n, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="team-member"]').length`))
	require.NoError(t, err)
	require.Equal(t, 3, n)
	webtest.RequireFitsWidth(t, bctx, 390, "the team page with members")
	webtest.Screenshot(t, bctx, "team-owner")
}

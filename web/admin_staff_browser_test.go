package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/web/webtest"
)

// TestStaffOnboardingInChromium: on a 390 px phone, in Chinese and then in
// English, an admin signs in with password and authenticator code, creates
// a finance member and gets a one-time link (no password on the page); the
// member opens it, sets a password, is sent to enrol an authenticator
// (QR code and secret), confirms with a code computed here, and from then
// on signs in with password and code. Every page fits the screen.
func TestStaffOnboardingInChromium(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	b := setupStaff(t)
	bg := context.Background()
	const adminPassword = "admin password 1"
	adminEmail := uniqEmail("chromium-admin")
	admin, err := b.auth.CreateStaff(bg, auth.StaffRequest{Email: adminEmail, Password: adminPassword, Name: "管理员", Roles: []auth.Role{auth.RoleAdmin}})
	require.NoError(t, err)
	e, err := b.auth.TOTPEnrolment(bg, admin.ID)
	require.NoError(t, err)
	_, err = b.bo.ConfirmTOTP(bg, backoffice.Actor{User: admin}, b.code(t, e.Secret))
	require.NoError(t, err)
	adminSecret := e.Secret

	ctx := webtest.Browser(t, 120*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	fitsThePhone := func(what string) {
		t.Helper()
		width, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		require.NoError(t, err)
		require.LessOrEqual(t, width, 390, "%s scrolls sideways on a phone", what)
	}
	shot := func(name, lang string) { webtest.Screenshot(t, ctx, name+"-390-"+lang) }
	signIn := func(email, password, secret, lang string, want map[string]string) {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Navigate(b.app.URL+"/signin"),
			chromedp.WaitVisible(css(`[data-testid="signin-submit"]`)),
			chromedp.SendKeys(css(`#f-login`), email),
			chromedp.SendKeys(css(`#f-password`), password),
			chromedp.Click(css(`[data-testid="signin-submit"]`)),
			chromedp.WaitVisible(css(`[data-testid="totp-form"]`)),
		))
		require.Contains(t, webtest.Text(t, ctx, `h1`), want["totp"])
		fitsThePhone("the code step of signing in")
		shot("totp-signin", lang)
		b.clock.Step() // a code newer than the last one this user spent
		require.NoError(t, chromedp.Do(ctx,
			chromedp.SendKeys(css(`#f-code`), b.code(t, secret)),
			chromedp.Click(css(`[data-testid="totp-submit"]`)),
			chromedp.WaitVisible(css(`[data-testid="signout"]`)),
		))
	}
	signOut := func() {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Click(css(`[data-testid="signout"]`)),
			chromedp.WaitVisible(css(`[data-testid="signin-submit"]`)),
		))
	}

	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(390, 844)))
	for _, lang := range []string{"zh-CN", "en"} {
		want := map[string]string{"totp": "两步验证", "col": "最近登录", "welcome": "设置您的密码", "required": "必须启用两步验证"}
		if lang == "en" {
			want = map[string]string{"totp": "Two-step verification", "col": "Last sign-in", "welcome": "Set your password", "required": "must use two-step verification"}
			require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.app.URL+"/lang/en")))
		}

		// The admin signs in with both steps and invites a finance member.
		signIn(adminEmail, adminPassword, adminSecret, lang, want)
		memberEmail := uniqEmail("chromium-finance-" + strings.ToLower(lang))
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Navigate(b.app.URL+"/admin/staff"),
			chromedp.WaitVisible(css(`[data-testid="staff-form"]`)),
			chromedp.SendKeys(css(`#f-email`), memberEmail),
			chromedp.SendKeys(css(`#f-name`), "新财务"),
			chromedp.Click(css(`[data-testid="staff-form"] input[value="finance"]`)),
			chromedp.Click(css(`[data-testid="staff-submit"]`)),
			chromedp.WaitVisible(css(`[data-testid="staff-invite-link"]`)),
		))
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="staff-table"] thead`), want["col"])
		link := webtest.Text(t, ctx, `[data-testid="staff-invite-link"]`)
		require.True(t, strings.HasPrefix(link, b.app.URL+"/password/reset/"), link)
		fitsThePhone("the staff page with a new link")
		shot("staff", lang)
		signOut()

		// The member sets a password with the link...
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Navigate(link),
			chromedp.WaitVisible(css(`[data-testid="reset-form"]`)),
		))
		require.Contains(t, webtest.Text(t, ctx, `h1`), want["welcome"])
		require.Equal(t, memberEmail, webtest.Text(t, ctx, `[data-testid="welcome"] strong`))
		fitsThePhone("the set-password page")
		shot("welcome", lang)
		require.NoError(t, chromedp.Do(ctx,
			chromedp.SendKeys(css(`#f-password`), "finance password 1"),
			chromedp.SendKeys(css(`#f-password_confirm`), "finance password 1"),
			chromedp.Click(css(`[data-testid="reset-submit"]`)),
			chromedp.WaitVisible(css(`[data-testid="totp-enrol-form"]`)),
		))

		// ...and enrols an authenticator before anything else.
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="totp-required"]`), want["required"])
		loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`new Promise(done => {
			const i = document.querySelector('[data-testid="totp-qr"]');
			if (i.complete) { done(i.naturalWidth > 0); return; }
			i.addEventListener("load", () => done(i.naturalWidth > 0));
			i.addEventListener("error", () => done(false));
		})`, chromedp.EvalAwaitPromise))
		require.NoError(t, err)
		require.True(t, loaded, "the QR code image loads")
		secret := webtest.Text(t, ctx, `[data-testid="totp-secret"]`)
		fitsThePhone("the enrolment page")
		shot("totp-enrol", lang)
		require.NoError(t, chromedp.Do(ctx,
			chromedp.SendKeys(css(`#f-code`), b.code(t, secret)),
			chromedp.Click(css(`[data-testid="totp-confirm"]`)),
			chromedp.WaitVisible(css(`[data-testid="admin-home-queues"]`)),
		))
		signOut()

		// From now on the member signs in with password and code.
		signIn(memberEmail, "finance password 1", secret, lang, want)
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Navigate(b.app.URL+"/admin/statements"),
			chromedp.WaitVisible(css(`[data-testid="signout"]`)),
		))
		loc, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname`))
		require.NoError(t, err)
		require.Equal(t, "/admin/statements", loc)
		signOut()
	}
}

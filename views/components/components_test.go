package components_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/views/components"
)

func render(t *testing.T, c templ.Component) *goquery.Document {
	t.Helper()
	b, err := i18n.Default()
	require.NoError(t, err)
	ctx := i18n.WithLocalizer(context.Background(), b.Localizer(i18n.ZhCN))
	ctx = components.WithRequest(ctx, components.Request{CSRFToken: "tok123"})
	var sb strings.Builder
	require.NoError(t, c.Render(ctx, &sb))
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(sb.String()))
	require.NoError(t, err)
	return doc
}

func TestAmountsReadAsPeopleExpect(t *testing.T) {
	require.Equal(t, "¥1,234.56", render(t, components.Money(decimal.RequireFromString("1234.56"))).Text())
	neg := render(t, components.Money(decimal.RequireFromString("-5")))
	require.Equal(t, "-¥5.00", neg.Text())
	require.Equal(t, 1, neg.Find(".negative").Length(), "a negative amount is marked")
	require.Equal(t, "1,234,567.5", render(t, components.Credits(decimal.RequireFromString("1234567.5"))).Text())
	tm := render(t, components.Time(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	require.Equal(t, "2026-01-01 08:00", tm.Text(), "shown in Beijing time")
	dt, _ := tm.Find("time").Attr("datetime")
	require.Equal(t, "2026-01-01T00:00:00Z", dt)
}

func TestFieldShowsItsErrorNextToTheInput(t *testing.T) {
	doc := render(t, components.Field(components.FieldProps{
		Name: "amount", Label: "金额", Type: "number", Value: "0", Error: "金额必须大于零",
		Attrs: templ.Attributes{"min": "1", "required": true},
	}))
	in := doc.Find("input#f-amount")
	require.Equal(t, 1, in.Length())
	inv, _ := in.Attr("aria-invalid")
	require.Equal(t, "true", inv)
	min, _ := in.Attr("min")
	require.Equal(t, "1", min)
	require.Equal(t, "金额必须大于零", doc.Find(`[data-testid="error-amount"]`).Text())
	require.Contains(t, doc.Find("label").Text(), "金额")

	ok := render(t, components.Field(components.FieldProps{Name: "email", Label: "邮箱", Hint: "用于登录"}))
	require.Zero(t, ok.Find("[aria-invalid]").Length())
	require.Equal(t, "用于登录", ok.Find("small").Text())
}

func TestFlashAndCSRF(t *testing.T) {
	f := render(t, components.Flash(components.FlashSuccess, "充值成功"))
	require.Contains(t, f.Find(`[data-testid="flash-success"]`).Text(), "充值成功")
	label, _ := f.Find("button").Attr("aria-label")
	require.Equal(t, "关闭", label)
	v, _ := render(t, components.CSRF()).Find(`input[name="_csrf"]`).Attr("value")
	require.Equal(t, "tok123", v)
}

func TestSourceLabelNamesKnownSourcesAndKeepsOthers(t *testing.T) {
	b, err := i18n.Default()
	require.NoError(t, err)
	for _, tc := range []struct{ lang, source, want string }{
		{"zh-CN", "signup_credit", "注册赠送"},
		{"en", "payment_order:T2026", "Top-up order T2026"},
		{"en", "grant:3:0c44ab", "Support grant #3"},
		{"zh-CN", "bank_line:2", "银行流水 #2"},
		{"zh-CN", "approval:12", "审批通过的赠送 #12"},
		{"en", "subscription:4", "Plan subscription #4"},
		{"zh-CN", "verified", "实名认证完成，试用结束"},
		{"en", "something_new:9", "something_new:9"},
	} {
		ctx := i18n.WithLocalizer(context.Background(), b.Localizer(tc.lang))
		require.Equal(t, tc.want, components.SourceLabel(ctx, tc.source), tc.source)
	}
}

func TestActorLabel(t *testing.T) {
	b, err := i18n.Default()
	require.NoError(t, err)
	ctx := i18n.WithLocalizer(context.Background(), b.Localizer(i18n.ZhCN))
	for actor, want := range map[string]string{
		"staff:3:ops@example.com": "ops@example.com",
		"staff:3":                 "员工 #3",
		"user:7":                  "客户（用户） #7",
		"system":                  "系统",
		"plans":                   "系统",
		"backoffice":              "系统",
		"customer":                "客户",
		"provider":                "实名核验服务",
		"whatever":                "whatever",
	} {
		require.Equal(t, want, components.ActorLabel(ctx, actor), actor)
	}
}

package plans

import (
	"context"
	"errors"

	"github.com/shopspring/decimal"
)

// DemoSpecs are the four demo plans: Free, Basic, Standard and
// Professional. Prices are in fen (¥0, ¥29, ¥99, ¥299 a month; a year costs
// ten months); plan credits are per month (at ¥0.001 a credit, Basic's
// 20,000 are worth ¥20). Basic to Professional include a "coding plan"
// item: deepseek-chat by calls per 5 hours and per week.
func DemoSpecs() []Spec {
	coding := func(per5h, perWeek int64) Item {
		return Item{Models: []string{"deepseek-chat"}, Quotas: []Quota{
			{Unit: Requests, Window: Rolling(DefaultRollingHours), Limit: per5h},
			{Unit: Requests, Window: Week, Limit: perWeek},
		}}
	}
	return []Spec{
		{
			Code: "free", NameZH: "免费版", NameEN: "Free", Tier: TierFree,
			MonthlyCredits: decimal.Zero, RPM: 10, TPM: 20_000,
			Features: []Feature{
				{ZH: "每天 20 次 deepseek-chat 调用", EN: "20 deepseek-chat calls a day"},
				{ZH: "按量计费使用余额", EN: "Pay as you go from your balance"},
			},
			Items: []Item{{Models: []string{"deepseek-chat"}, Quotas: []Quota{{Unit: Requests, Window: Day, Limit: 20}}}},
		},
		{
			Code: "basic", NameZH: "基础版", NameEN: "Basic", Tier: TierBasic,
			MonthlyPriceFen: 2_900, YearlyPriceFen: 29_000, MonthlyCredits: decimal.NewFromInt(20_000),
			RPM: 60, TPM: 100_000,
			Features: []Feature{
				{ZH: "编程套餐：每 5 小时 120 次、每周 1,000 次 deepseek-chat", EN: "Coding plan: 120 deepseek-chat calls per 5 hours, 1,000 a week"},
				{ZH: "每月 20,000 套餐积分", EN: "20,000 plan credits a month"},
				{ZH: "每分钟 60 次请求", EN: "60 requests a minute"},
			},
			Items: []Item{coding(120, 1_000)},
		},
		{
			Code: "standard", NameZH: "标准版", NameEN: "Standard", Tier: TierStandard,
			MonthlyPriceFen: 9_900, YearlyPriceFen: 99_000, MonthlyCredits: decimal.NewFromInt(80_000),
			RPM: 200, TPM: 400_000,
			Features: []Feature{
				{ZH: "编程套餐：每 5 小时 600 次、每周 5,000 次 deepseek-chat", EN: "Coding plan: 600 deepseek-chat calls per 5 hours, 5,000 a week"},
				{ZH: "deepseek-reasoner 每天 100 次", EN: "100 deepseek-reasoner calls a day"},
				{ZH: "每月 80,000 套餐积分", EN: "80,000 plan credits a month"},
			},
			Items: []Item{
				coding(600, 5_000),
				{Models: []string{"deepseek-reasoner"}, Quotas: []Quota{{Unit: Requests, Window: Day, Limit: 100}}},
			},
		},
		{
			Code: "professional", NameZH: "专业版", NameEN: "Professional", Tier: TierProfessional,
			MonthlyPriceFen: 29_900, YearlyPriceFen: 299_000, MonthlyCredits: decimal.NewFromInt(300_000),
			RPM: 600, TPM: 2_000_000,
			Features: []Feature{
				{ZH: "DeepSeek 全系列：每 5 小时不限次数，每天 2,000 万 tokens", EN: "All DeepSeek models: unlimited calls per 5 hours, 20 million tokens a day"},
				{ZH: "通义千问 qwen-plus 每周 3,000 次", EN: "3,000 qwen-plus calls a week"},
				{ZH: "每月 300,000 套餐积分", EN: "300,000 plan credits a month"},
			},
			Items: []Item{
				{Group: "deepseek", Models: []string{"deepseek-chat", "deepseek-reasoner"}, Quotas: []Quota{
					{Unit: Requests, Window: Rolling(DefaultRollingHours), Limit: Unlimited},
					{Unit: Tokens, Window: Day, Limit: 20_000_000},
				}},
				{Models: []string{"qwen-plus"}, Quotas: []Quota{{Unit: Requests, Window: Week, Limit: 3_000}}},
			},
		},
	}
}

// EnsureDemo publishes each demo plan that has no version yet (a plan staff
// have published stays as it is), so running it again changes nothing. It
// returns how many plans it published.
//
// Errors: as CreateDraft and Publish.
func (s *Service) EnsureDemo(ctx context.Context, actor string) (int, error) {
	published := 0
	for _, spec := range DemoSpecs() {
		if _, err := s.Latest(ctx, spec.Code); err == nil {
			continue
		} else if !errors.Is(err, ErrNotFound) {
			return published, err
		}
		d, err := s.CreateDraft(ctx, spec, actor)
		if errors.Is(err, ErrCodeTaken) {
			continue // a concurrent seed, or staff drafting the code
		}
		if err != nil {
			return published, err
		}
		if _, err := s.Publish(ctx, d.ID, actor); err != nil {
			if errors.Is(err, ErrAlreadyPublished) {
				continue
			}
			return published, err
		}
		published++
	}
	return published, nil
}

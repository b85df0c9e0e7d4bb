package products

import (
	"context"
	"errors"

	"github.com/shopspring/decimal"
)

// DemoSpecs are the demo products: a model pack (50,000 credits for ¥39,
// spendable for 90 days), a feature unlock (batch inference for a year,
// ¥99) and a fine-tune job (3 jobs within 180 days, ¥299). Each may be
// refunded within 7 days of payment.
func DemoSpecs() []Spec {
	return []Spec{
		{Code: "deepseek-pack", NameZH: "DeepSeek 模型包", NameEN: "DeepSeek model pack",
			DescriptionZH: "50,000 点数，付款后 90 天内有效", DescriptionEN: "50,000 credits, valid for 90 days after payment",
			Kind: ModelPack, PriceFen: 3_900, Credits: decimal.NewFromInt(50_000), CreditDays: 90, EntitlementDays: 90,
			RefundDays: DefaultRefundDays},
		{Code: "batch-api", NameZH: "批量推理功能", NameEN: "Batch inference",
			DescriptionZH: "开通批量推理 API，一年有效", DescriptionEN: "Unlocks the batch inference API for a year",
			Kind: Feature, PriceFen: 9_900, EntitlementDays: 365, RefundDays: DefaultRefundDays},
		{Code: "fine-tune-3", NameZH: "微调任务 ×3", NameEN: "Fine-tune jobs ×3",
			DescriptionZH: "3 次模型微调任务，180 天内使用", DescriptionEN: "3 model fine-tune jobs, to use within 180 days",
			Kind: FineTune, PriceFen: 29_900, JobCount: 3, EntitlementDays: 180, RefundDays: DefaultRefundDays},
	}
}

// EnsureDemo publishes each demo product that has no version yet; running
// it again changes nothing. It returns how many it published.
//
// Errors: as CreateDraft and Publish.
func (s *Service) EnsureDemo(ctx context.Context, actor string) (int, error) {
	n := 0
	for _, spec := range DemoSpecs() {
		if _, err := s.Latest(ctx, spec.Code); err == nil {
			continue
		} else if !errors.Is(err, ErrNotFound) {
			return n, err
		}
		d, err := s.CreateDraft(ctx, spec, actor)
		if errors.Is(err, ErrCodeTaken) {
			continue
		}
		if err != nil {
			return n, err
		}
		if _, err := s.Publish(ctx, d.ID, actor); err != nil {
			if errors.Is(err, ErrAlreadyPublished) {
				continue
			}
			return n, err
		}
		n++
	}
	return n, nil
}

package pricing

import (
	"time"

	"github.com/shopspring/decimal"
)

// DefaultCreditPriceRMB is the RMB price of one credit the default card is
// computed for (config CREDIT_PRICE_RMB defaults to the same ¥0.001).
var DefaultCreditPriceRMB = decimal.RequireFromString("0.001")

// FromRMBPerMillion converts a vendor's list price in RMB per million tokens
// into credits per 1,000 tokens at creditPriceRMB per credit:
//
//	credits/1k = (RMB/1M ÷ 1000) ÷ creditPriceRMB
//
// At ¥0.001 per credit the number does not change: ¥2 per million tokens is
// ¥0.002 per 1,000 tokens, which is 0.002 ÷ 0.001 = 2 credits per 1,000
// tokens. The result is exact when creditPriceRMB divides evenly; otherwise it
// is rounded half-even to 12 places (rates may be finer than a credit).
func FromRMBPerMillion(rmbPerMillion, creditPriceRMB decimal.Decimal) decimal.Decimal {
	return rmbPerMillion.Shift(-3).DivRound(creditPriceRMB, 12)
}

// FromRMBPerCall converts a per-call list price in RMB into credits.
func FromRMBPerCall(rmb, creditPriceRMB decimal.Decimal) decimal.Decimal {
	return rmb.DivRound(creditPriceRMB, 12)
}

// DefaultCardNote is recorded with the default card when seed publishes it.
const DefaultCardNote = "Default card: vendors' public RMB list prices (mainland China), 1 credit = ¥0.001"

// listPrice is one model's public price in RMB, before conversion.
type listPrice struct {
	model    string
	billing  BillingType
	input    string // RMB per million input tokens (cache miss)
	output   string // RMB per million output tokens
	cacheHit string // RMB per million cache-hit input tokens ("" = same as input)
	perCall  string // RMB per call, per_request models
}

// defaultList holds the vendors' public list prices, standard (non-discount,
// non-batch) tier, shortest context tier, mainland China. Prices change: each
// line names the vendor page that lists it and the period the price is known
// to hold for. "Confirmed" lines were checked against a stored copy of the
// vendor's page or a report of the vendor's announcement (copy dates unknown
// unless given). "Unconfirmed" lines were not found in any vendor source in
// the stored copies searched; each says what was searched and which
// third-party copies agree. Re-read them before a production card is
// published.
var defaultList = []listPrice{
	// DeepSeek, "模型 & 价格", https://api-docs.deepseek.com/zh-cn/quick_start/pricing
	// Confirmed: the page as modified 2025-02-09, after the V3 launch discount
	// ended; standard hours, not the 00:30-08:30 off-peak discount.
	// deepseek-chat (DeepSeek-V3): ¥2 input (cache miss), ¥0.5 cache hit, ¥8 output per 1M.
	{model: "deepseek-chat", billing: BillingToken, input: "2", cacheHit: "0.5", output: "8"},
	// deepseek-reasoner (DeepSeek-R1): ¥4 input (cache miss), ¥1 cache hit, ¥16 output
	// (output includes the chain of thought).
	{model: "deepseek-reasoner", billing: BillingToken, input: "4", cacheHit: "1", output: "16"},

	// Alibaba Cloud Model Studio (百炼), "模型列表", https://help.aliyun.com/zh/model-studio/models
	// Stable aliases, input ≤ 32K / non-thinking tier, prices of 2025.
	// qwen-plus and qwen-turbo confirmed (¥0.0008/¥0.002 and ¥0.0003/¥0.0006 per 1k).
	//
	// Cache hits at 20% of input: confirmed. The context-cache page says
	// implicit-cache hits are billed at 20% of the standard input price
	// ("按输入 Token 标准单价的 20% 计费") and lists qwen-max, qwen-plus and
	// qwen-turbo for the Beijing (mainland) region:
	// https://help.aliyun.com/zh/model-studio/user-guide/context-cache (no date
	// shown); the same rule in https://www.alibabacloud.com/help/tc/model-studio/context-cache
	// (updated 2026-01-29). Older copies said 40%; 20% is the current rule.
	//
	// qwen-max: ¥2.4 input, ¥9.6 output per 1M (¥0.0024 / ¥0.0096 per 1k),
	// UNCONFIRMED. Searched the stored model list, billing pages and price-cut
	// reports: the only vendor copy with a qwen-max price
	// (https://help.aliyun.com/zh/model-studio/developer-reference/billing-for-applied-computer-vision)
	// is from before qwen-max moved to the qwen-max-2025-01-25 snapshot and shows
	// the old ¥0.02 / ¥0.06 per 1k, so it does not decide today's price. A
	// third-party catalogue citing the model list (lobehub/lobe-chat,
	// packages/model-bank/src/aiModels/qwen.ts) has ¥2.4 / ¥9.6 with cache hits
	// at 20%, so the value stays.
	{model: "qwen-max", billing: BillingToken, input: "2.4", cacheHit: "0.48", output: "9.6"},
	// qwen-plus: ¥0.8 input, ¥2 output per 1M (non-thinking mode).
	{model: "qwen-plus", billing: BillingToken, input: "0.8", cacheHit: "0.16", output: "2"},
	// qwen-turbo: ¥0.3 input, ¥0.6 output per 1M (non-thinking mode).
	{model: "qwen-turbo", billing: BillingToken, input: "0.3", cacheHit: "0.06", output: "0.6"},

	// Moonshot AI (Kimi), "模型推理定价", https://platform.moonshot.cn/docs/pricing/chat
	// Confirmed from two stored page captures of that URL (the search index
	// does not name the repository holding them), one "Last updated on
	// 2025年11月11日", the other "Last updated on 2026年2月9日"; both list the
	// same prices. A third-party catalogue citing the page (lobehub/lobe-chat,
	// packages/model-bank/src/aiModels/moonshot.ts) agrees.
	// moonshot-v1-8k: ¥2 input, ¥10 output per 1M; the page gives no cache-hit
	// price for the moonshot-v1 models. (It was ¥12 / ¥12 in 2024.)
	{model: "moonshot-v1-8k", billing: BillingToken, input: "2", output: "10"},
	// kimi-k2: ¥4 input (cache miss), ¥1 cache hit, ¥16 output per 1M, the
	// price both captures list for kimi-k2-0711-preview and
	// kimi-k2-0905-preview (confirmed).
	{model: "kimi-k2", billing: BillingToken, input: "4", cacheHit: "1", output: "16"},

	// Zhipu AI (智谱 BigModel), https://open.bigmodel.cn/pricing and
	// https://docs.bigmodel.cn/cn/guide/models/text/glm-4 (both confirmed).
	// glm-4-plus: ¥5 per 1M tokens, input and output alike.
	{model: "glm-4-plus", billing: BillingToken, input: "5", output: "5"},
	// glm-4-flash: free ("免费语言模型 GLM-4-Flash").
	{model: "glm-4-flash", billing: BillingFree},

	// Volcano Engine Ark (火山方舟), "模型服务价格", https://www.volcengine.com/docs/82379/1099320
	// doubao-seed-1.6, called by its model ID doubao-seed-1-6-251015. It
	// replaces doubao-pro-32k: Ark's 模型下线公告 (fifth batch) took the last
	// doubao-pro-32k version, 241215, out of service on 2025-11-27 and moved
	// its endpoints to doubao-seed-1-6-251015, billed at that model's price.
	// (The price page copy named next still has a doubao-pro-32k row, ¥0.8 in
	// / ¥2 out, but no version of it can be called any more.)
	// Confirmed: stored mirror Hajimi-Commune/VolcanoArkDocs,
	// docs/购买指南/模型服务价格.md (深度思考模型, 在线推理; the snapshot is from
	// 2025-12 or later: its 产品更新公告 has a 202512 release note) and
	// docs/开始使用/产品公告/模型下线公告.md.
	// Shortest tier, input up to 32k tokens: ¥0.8 input, ¥0.16 cache hit per
	// 1M. Its output price depends on the reply's length: ¥2 per 1M for
	// replies of at most 200 tokens, ¥8 for longer ones. The card takes ¥8, the
	// rate of an ordinary reply; a short reply is overcharged by at most
	// 200 × ¥6/1M = ¥0.0012. Longer inputs cost more (32k-128k: ¥1.2 / ¥16,
	// 128k-256k: ¥2.4 / ¥24), which one flat rate cannot express.
	{model: "doubao-seed-1-6-251015", billing: BillingToken, input: "0.8", cacheHit: "0.16", output: "8"},

	// Baidu AI Cloud Qianfan (千帆), "按量后付费在线推理计费",
	// https://cloud.baidu.com/doc/WENXINWORKSHOP/s/hlrk4akp7.
	// ernie-4.0-8k: ¥30 input, ¥90 output per 1M (¥0.03 / ¥0.09 per 1k) after
	// the 2024 price cuts, UNCONFIRMED (the least certain line: re-check first).
	// The pay-as-you-go page above is not in the stored copies. The vendor
	// copies found give no current postpaid rate: the price index of 2024-01-19
	// (https://cloud.baidu.com/doc/WENXINWORKSHOP/s/hlqnms5rn) lists ERNIE-Bot 4.0
	// at ¥0.12 per 1k for model evaluation, and the prepaid token-pack page
	// (https://cloud.baidu.com/doc/WENXINWORKSHOP/s/plzknijh9) lists 10M
	// ERNIE-4.0-8K-series tokens at ¥70. A third-party catalogue
	// (lobehub/lobe-chat, src/config/aiModels/wenxin.ts, ernie-4.0-8k-latest)
	// has ¥30 / ¥90.
	{model: "ernie-4.0-8k", billing: BillingToken, input: "30", output: "90"},
	// ernie-speed-8k: free since 2024-05-21 (Baidu's announcement of free
	// ERNIE-Speed / ERNIE-Lite / ERNIE-Tiny token calls; confirmed).
	{model: "ernie-speed-8k", billing: BillingFree},

	// A per-call model. Alibaba Cloud Model Studio, 通义万相 text-to-image:
	// wanx-v1 ¥0.16 per generated image, confirmed ("wanx-v1 … 0.16元/张",
	// https://help.aliyun.com/zh/model-studio/developer-reference/text-to-image-api-details,
	// no date shown).
	{model: "wanx-v1", billing: BillingPerRequest, perCall: "0.16"},
}

// DefaultCard returns the card `seed` publishes: the public RMB list prices
// above, converted to credits at DefaultCreditPriceRMB. Its EffectiveAt is
// zero: the caller sets it (seed uses the current time) and Actor.
func DefaultCard() Card {
	return DefaultCardAt(DefaultCreditPriceRMB)
}

// DefaultCardAt is DefaultCard converted at another credit price (the
// CREDIT_PRICE_RMB setting).
func DefaultCardAt(creditPriceRMB decimal.Decimal) Card {
	models := make([]ModelPrice, 0, len(defaultList))
	for _, l := range defaultList {
		p := ModelPrice{Model: l.model, BillingType: l.billing}
		switch l.billing {
		case BillingToken:
			cache := l.cacheHit
			if cache == "" {
				cache = l.input
			}
			p.InputPer1K = FromRMBPerMillion(decimal.RequireFromString(l.input), creditPriceRMB)
			p.OutputPer1K = FromRMBPerMillion(decimal.RequireFromString(l.output), creditPriceRMB)
			p.CacheHitPer1K = FromRMBPerMillion(decimal.RequireFromString(cache), creditPriceRMB)
		case BillingPerRequest:
			p.PerRequest = FromRMBPerCall(decimal.RequireFromString(l.perCall), creditPriceRMB)
		}
		models = append(models, p)
	}
	return Card{Note: DefaultCardNote, Models: models, EffectiveAt: time.Time{}}
}

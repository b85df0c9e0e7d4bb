package settings

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/journal"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/platform/format"
)

// Form field names, per group.
const (
	FieldTiers           = "tiers"             // yuan amounts separated by commas
	FieldBonus           = "bonus"             // tier:percent pairs (yuan:percent)
	FieldBonusExpiryDays = "bonus_expiry_days" // days, 0 never
	FieldBankName        = "bank_name"         // 户名
	FieldBankBank        = "bank_bank"         // 开户行
	FieldBankBranch      = "bank_branch"       // 支行
	FieldBankNumber      = "bank_number"       // 账号

	FieldGrantLimit         = "grant_limit"          // credits
	FieldGrantStaffDay      = "grant_staff_day"      // credits
	FieldGrantAccountDay    = "grant_account_day"    // credits
	FieldRechargeLimit      = "recharge_limit"       // yuan
	FieldRechargeStaffDay   = "recharge_staff_day"   // yuan
	FieldRechargeAccountDay = "recharge_account_day" // yuan
	FieldRateCardDiscount   = "rate_card_discount"   // percent
	FieldCreditLineLimit    = "credit_line_limit"    // yuan

	FieldTrialCap     = "trial_cap"     // credits
	FieldGraceCredits = "grace_credits" // credits, 0 off
	FieldGraceHours   = "grace_hours"   // hours
	FieldReminderDays = "reminder_days" // days

	FieldRenewalDays   = "renewal_days"    // days before a term ends
	FieldPlanGraceDays = "plan_grace_days" // days after an unpaid term

	FieldRechargeTiers = "recharge_tiers" // yuan:rpm:tpm:concurrent tiers separated by commas
	FieldEnforcement   = "enforcement"    // enforce, shadow or off

	FieldReferralPercent = "referral_percent" // percent of the invitee's first top-up, 0 off
	FieldReferralCap     = "referral_cap"     // credits

	FieldRunwayDays = "runway_days" // days, 0 off

	FieldVATRate = "vat_rate" // percent (the journal's account code fields: JournalField)

	// FieldReason is the reason every change needs; FieldForm a problem of
	// the form as a whole (nothing changed).
	FieldReason = "reason"
	FieldForm   = "form"
)

// Fields lists a group's form fields in order.
func (g Group) Fields() []string {
	switch g {
	case GroupTopup:
		return []string{FieldTiers, FieldBonus, FieldBonusExpiryDays}
	case GroupBank:
		return []string{FieldBankName, FieldBankBank, FieldBankBranch, FieldBankNumber}
	case GroupLimits:
		return []string{FieldGrantLimit, FieldGrantStaffDay, FieldGrantAccountDay, FieldRechargeLimit, FieldRechargeStaffDay,
			FieldRechargeAccountDay, FieldRateCardDiscount, FieldCreditLineLimit}
	case GroupAccounts:
		return []string{FieldTrialCap, FieldGraceCredits, FieldGraceHours, FieldReminderDays}
	case GroupPlans:
		return []string{FieldRenewalDays, FieldPlanGraceDays}
	case GroupAccess:
		return []string{FieldRechargeTiers, FieldEnforcement}
	case GroupReferral:
		return []string{FieldReferralPercent, FieldReferralCap}
	case GroupAlerts:
		return []string{FieldRunwayDays}
	case GroupJournal:
		out := make([]string, 0, len(journal.AllAccounts)+1)
		for _, a := range journal.AllAccounts {
			out = append(out, JournalField(a))
		}
		return append(out, FieldVATRate)
	}
	return nil
}

// Range is the allowed range of a numeric field, as text (Min, Max) for
// messages, and its most decimals.
type Range struct {
	Min, Max string
	Places   int32
}

// Bounds.
const (
	MaxTiers      = 12
	MaxBankText   = 100
	MaxReasonText = 500
)

// Ranges are the numeric fields' allowed ranges.
var Ranges = map[string]Range{
	FieldTiers:              {"1", "100000", 2},
	FieldBonus:              {"0", "1000", 2}, // percent
	FieldBonusExpiryDays:    {"0", "3650", 0},
	FieldGrantLimit:         {"0", "100000000", 6},
	FieldGrantStaffDay:      {"0", "100000000", 6},
	FieldGrantAccountDay:    {"0", "100000000", 6},
	FieldRechargeLimit:      {"0", "10000000", 2},
	FieldRechargeStaffDay:   {"0", "10000000", 2},
	FieldRechargeAccountDay: {"0", "10000000", 2},
	FieldRateCardDiscount:   {"0", "99", 2},
	FieldCreditLineLimit:    {"1", "100000000", 2}, // creditline.MaxLineFen
	FieldTrialCap:           {"1", "10000000", 6},
	FieldGraceCredits:       {"0", "10000000", 6},
	FieldGraceHours:         {"0", "8760", 0},
	FieldReminderDays:       {"1", "365", 0},
	FieldRenewalDays:        {strconv.Itoa(plans.MinRenewalLeadDays), strconv.Itoa(plans.MaxRenewalLeadDays), 0},
	FieldPlanGraceDays:      {strconv.Itoa(plans.MinGraceDays), strconv.Itoa(plans.MaxGraceDays), 0},
	FieldReferralPercent:    {"0", "100", 2},
	FieldReferralCap:        {"0", "100000000", 6},
	FieldRunwayDays:         {"0", "90", 0},
	FieldVATRate:            {"0", "100", 2},
}

// Validation codes (web: i18n key error.field.<code>, with the arguments
// min and max for a range, max for a length).
const (
	CodeRequired       = "required"                // empty
	CodeTooLong        = "too_long"                // longer than MaxBankText / MaxReasonText (max)
	CodeNumber         = "setting_number"          // not a number
	CodeRange          = "setting_range"           // outside Ranges[field] (min, max)
	CodePlaces         = "setting_places"          // too many decimals
	CodeTooMany        = "setting_too_many"        // more than MaxTiers tiers (max)
	CodeBonusFormat    = "setting_bonus_format"    // not tier:percent
	CodeBonusTier      = "setting_bonus_tier"      // a bonus for a tier not offered
	CodeBankIncomplete = "setting_bank_incomplete" // some of name, bank and number given, not all
	CodeBankNumber     = "setting_bank_number"     // an account number with other than digits, spaces and dashes
	CodeGraceHours     = "setting_grace_hours"     // grace credit without a lifetime
	CodeUnchanged      = "setting_unchanged"       // the form changes nothing
	CodeStale          = "setting_stale"           // a key changed by someone else since the form was shown
	CodeTierFormat     = "setting_tier_format"     // a recharge tier not yuan:rpm:tpm:concurrent, or one threshold twice
	CodeEnforcement    = "setting_enforcement"     // not enforce, shadow or off
	CodeAccountCode    = "setting_account_code"    // an account code with other than letters, digits, '.', '-' and '_', or over 40 characters
)

// FieldCodes lists every field code this package reports, so the web
// layer's locale test covers them.
var FieldCodes = []string{CodeRequired, CodeTooLong, CodeNumber, CodeRange, CodePlaces, CodeTooMany, CodeBonusFormat,
	CodeBonusTier, CodeBankIncomplete, CodeBankNumber, CodeGraceHours, CodeUnchanged, CodeStale, CodeTierFormat, CodeEnforcement, CodeAccountCode}

// SeenField is the hidden form field holding the id of k's newest change
// when the form was shown ("0": none). Change refuses to overwrite a key
// changed since (CodeStale), so two admins never undo each other unseen.
func SeenField(k Key) string { return "seen_" + strings.ReplaceAll(string(k), ".", "_") }

// RangeArgs are a range's message arguments, with thousands separators.
func RangeArgs(r Range) []string {
	return []string{"min", format.Credits(decimal.RequireFromString(r.Min)), "max", format.Credits(decimal.RequireFromString(r.Max))}
}

// parser collects field errors.
type parser struct {
	in   map[string]string
	errs *fielderr.Errors
}

func (p *parser) fail(field, code string) {
	var args []string
	switch code {
	case CodeRange:
		args = RangeArgs(Ranges[field])
	case CodeTooLong:
		args = []string{"max", strconv.Itoa(MaxBankText)}
	case CodeTooMany:
		args = []string{"max", strconv.Itoa(MaxTiers)}
	}
	p.errs.Add(field, code, args...)
}

// number reads a numeric field within its Range (full-width digits and
// thousands separators accepted).
func (p *parser) number(field string) (decimal.Decimal, bool) {
	text := p.in[field]
	if strings.TrimSpace(text) == "" {
		p.fail(field, CodeRequired)
		return decimal.Decimal{}, false
	}
	d, err := format.ParseDecimal(text)
	if err != nil {
		p.fail(field, CodeNumber)
		return d, false
	}
	return d, p.check(field, d)
}

// check tests d against field's Range.
func (p *parser) check(field string, d decimal.Decimal) bool {
	r := Ranges[field]
	if d.LessThan(decimal.RequireFromString(r.Min)) || d.GreaterThan(decimal.RequireFromString(r.Max)) {
		p.fail(field, CodeRange)
		return false
	}
	if !d.Round(r.Places).Equal(d) {
		p.fail(field, CodePlaces)
		return false
	}
	return true
}

func (p *parser) whole(field string) int {
	d, ok := p.number(field)
	if !ok {
		return 0
	}
	return int(d.IntPart())
}

func (p *parser) fen(field string) int64 {
	d, ok := p.number(field)
	if !ok {
		return 0
	}
	return d.Shift(2).IntPart()
}

// text reads a free-text field of at most MaxBankText characters.
func (p *parser) text(field string) string {
	t := strings.TrimSpace(p.in[field])
	if utf8.RuneCountInString(t) > MaxBankText {
		p.fail(field, CodeTooLong)
	}
	return t
}

// listItems splits a list typed with commas (half- or full-width), 、 or
// spaces.
func listItems(s string) []string {
	s = strings.NewReplacer("，", ",", "、", ",", "；", ",", ";", ",").Replace(format.NormalizeDigits(s))
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
}

// Parse reads a group's form into a copy of base with that group's fields
// replaced, reporting every failed field at once (*fielderr.Errors).
func Parse(g Group, in map[string]string, base Values) (Values, error) {
	p := &parser{in: in, errs: fielderr.New("settings")}
	v := base
	switch g {
	case GroupTopup:
		v.Tiers, v.Bonus = p.tiers(), nil
		v.Bonus = p.bonus(v.Tiers)
		v.BonusExpiryDays = p.whole(FieldBonusExpiryDays)
	case GroupBank:
		v.Bank = Bank{Name: p.text(FieldBankName), Bank: p.text(FieldBankBank), Branch: p.text(FieldBankBranch),
			Number: format.NormalizeDigits(p.text(FieldBankNumber))}
		p.bank(v.Bank)
	case GroupLimits:
		var ok bool
		if v.SupportGrant.Limit, ok = p.number(FieldGrantLimit); !ok {
			v.SupportGrant.Limit = decimal.Zero
		}
		if v.SupportGrant.StaffDay, ok = p.number(FieldGrantStaffDay); !ok {
			v.SupportGrant.StaffDay = decimal.Zero
		}
		if v.SupportGrant.AccountDay, ok = p.number(FieldGrantAccountDay); !ok {
			v.SupportGrant.AccountDay = decimal.Zero
		}
		v.ManualRecharge = RechargeLimits{LimitFen: p.fen(FieldRechargeLimit), StaffDayFen: p.fen(FieldRechargeStaffDay),
			AccountDayFen: p.fen(FieldRechargeAccountDay)}
		if v.RateCardDiscount, ok = p.number(FieldRateCardDiscount); !ok {
			v.RateCardDiscount = decimal.Zero
		}
		v.CreditLineLimitFen = p.fen(FieldCreditLineLimit)
	case GroupAccounts:
		v.TrialCap, _ = p.number(FieldTrialCap)
		v.Grace.Credits, _ = p.number(FieldGraceCredits)
		v.Grace.Hours = p.whole(FieldGraceHours)
		if p.errs.Code(FieldGraceHours) == "" && v.Grace.Credits.IsPositive() && v.Grace.Hours == 0 {
			p.fail(FieldGraceHours, CodeGraceHours)
		}
		if !v.Grace.Credits.IsPositive() {
			v.Grace = Grace{Credits: decimal.Zero}
		}
		v.ReminderDays = p.whole(FieldReminderDays)
	case GroupPlans:
		v.RenewalDays = p.whole(FieldRenewalDays)
		v.PlanGraceDays = p.whole(FieldPlanGraceDays)
	case GroupAccess:
		v.AccessTiers = p.accessTiers()
		v.Enforcement = ledger.Enforcement(strings.ToLower(strings.TrimSpace(p.in[FieldEnforcement])))
		if !v.Enforcement.Valid() {
			p.fail(FieldEnforcement, CodeEnforcement)
		}
	case GroupReferral:
		var ok bool
		if v.Referral.Percent, ok = p.number(FieldReferralPercent); !ok {
			v.Referral.Percent = decimal.Zero
		}
		if v.Referral.Cap, ok = p.number(FieldReferralCap); !ok {
			v.Referral.Cap = decimal.Zero
		}
	case GroupAlerts:
		v.RunwayDays = p.whole(FieldRunwayDays)
	case GroupJournal:
		v.JournalCodes = map[journal.Account]string{}
		for _, a := range journal.AllAccounts {
			v.JournalCodes[a] = p.accountCode(JournalField(a))
		}
		var ok bool
		if v.JournalVATRate, ok = p.number(FieldVATRate); !ok {
			v.JournalVATRate = decimal.Zero
		}
	default:
		p.fail(FieldForm, CodeRequired)
	}
	if err := p.errs.Err(); err != nil {
		return base, err
	}
	return v, nil
}

// JournalField is the form field of a journal account's code.
func JournalField(a journal.Account) string { return "journal_" + string(a) }

// MaxAccountCode is the longest account code (Kingdee's FACCTID holds 40).
const MaxAccountCode = 40

// accountCode reads an account code: required, at most MaxAccountCode
// letters, digits, '.', '-' or '_' (full-width digits and dots accepted).
func (p *parser) accountCode(field string) string {
	c := strings.ReplaceAll(format.NormalizeDigits(strings.TrimSpace(p.in[field])), "．", ".")
	if c == "" {
		p.fail(field, CodeRequired)
		return c
	}
	ok := len(c) <= MaxAccountCode
	for _, r := range c {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '.' || r == '-' || r == '_') {
			ok = false
		}
	}
	if !ok {
		p.fail(field, CodeAccountCode)
	}
	return c
}

// tiers reads the offered amounts with payments.ParseTiers, after checking
// each against the field's range.
func (p *parser) tiers() []int64 {
	items := listItems(p.in[FieldTiers])
	if len(items) == 0 {
		p.fail(FieldTiers, CodeRequired)
		return nil
	}
	if len(items) > MaxTiers {
		p.fail(FieldTiers, CodeTooMany)
		return nil
	}
	for _, it := range items {
		d, err := format.ParseDecimal(it)
		if err != nil {
			p.fail(FieldTiers, CodeNumber)
			return nil
		}
		if !p.check(FieldTiers, d) {
			return nil
		}
	}
	tiers, err := payments.ParseTiers(strings.Join(items, ","))
	if err != nil {
		p.fail(FieldTiers, CodeNumber)
		return nil
	}
	return tiers
}

// bonus reads tier:percent pairs with payments.ParseBonus; empty or "none"
// is no bonus. Each tier must be one of tiers (when those were valid).
func (p *parser) bonus(tiers []int64) map[int64]decimal.Decimal {
	raw := strings.NewReplacer("：", ":", "%", "", "％", "").Replace(p.in[FieldBonus])
	items := listItems(raw)
	if len(items) == 1 && strings.EqualFold(items[0], "none") {
		items = nil
	}
	for _, it := range items {
		amt, pct, ok := strings.Cut(it, ":")
		if !ok {
			p.fail(FieldBonus, CodeBonusFormat)
			return map[int64]decimal.Decimal{}
		}
		if _, err := format.ParseDecimal(amt); err != nil {
			p.fail(FieldBonus, CodeBonusFormat)
			return map[int64]decimal.Decimal{}
		}
		d, err := format.ParseDecimal(pct)
		if err != nil {
			p.fail(FieldBonus, CodeBonusFormat)
			return map[int64]decimal.Decimal{}
		}
		if !p.check(FieldBonus, d) {
			return map[int64]decimal.Decimal{}
		}
	}
	bonus, err := payments.ParseBonus(strings.Join(items, ","))
	if err != nil {
		p.fail(FieldBonus, CodeBonusFormat)
		return map[int64]decimal.Decimal{}
	}
	for t, pct := range bonus {
		if pct.IsZero() {
			delete(bonus, t)
			continue
		}
		if tiers != nil && !slices.Contains(tiers, t) {
			p.fail(FieldBonus, CodeBonusTier)
			return map[int64]decimal.Decimal{}
		}
	}
	return bonus
}

// MaxTierYuan is the highest threshold a recharge tier may have.
const MaxTierYuan = 100_000_000

// accessTiers reads the tiers by cumulative recharge: yuan:rpm:tpm:concurrent
// items (yuan paid from which the tier applies, whole fen; the others
// positive whole numbers below 2^31), thresholds distinct; empty or
// "none" is no tiers. They are returned ascending by threshold.
func (p *parser) accessTiers() []ledger.Tier {
	raw := strings.NewReplacer("：", ":").Replace(p.in[FieldRechargeTiers])
	items := listItems(raw)
	if len(items) == 1 && strings.EqualFold(items[0], "none") {
		items = nil
	}
	if len(items) > MaxTiers {
		p.fail(FieldRechargeTiers, CodeTooMany)
		return nil
	}
	tiers := make([]ledger.Tier, 0, len(items))
	for _, it := range items {
		parts := strings.Split(it, ":")
		if len(parts) != 4 {
			p.fail(FieldRechargeTiers, CodeTierFormat)
			return nil
		}
		yuan, err := format.ParseDecimal(parts[0])
		if err != nil || yuan.IsNegative() || yuan.GreaterThan(decimal.NewFromInt(MaxTierYuan)) || !yuan.Round(2).Equal(yuan) {
			p.fail(FieldRechargeTiers, CodeTierFormat)
			return nil
		}
		var n [3]int64
		for i, s := range parts[1:] {
			v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
			if err != nil || v <= 0 {
				p.fail(FieldRechargeTiers, CodeTierFormat)
				return nil
			}
			n[i] = v
		}
		fen := yuan.Shift(2).IntPart()
		if slices.ContainsFunc(tiers, func(t ledger.Tier) bool { return t.MinPaidFen == fen }) {
			p.fail(FieldRechargeTiers, CodeTierFormat)
			return nil
		}
		tiers = append(tiers, ledger.Tier{MinPaidFen: fen, RPM: n[0], TPM: n[1], MaxOpen: int(n[2])})
	}
	slices.SortFunc(tiers, func(a, b ledger.Tier) int { return cmp.Compare(a.MinPaidFen, b.MinPaidFen) })
	return tiers
}

// bank checks the account: all of name, bank and number, or none (then
// bank transfer is not offered).
func (p *parser) bank(b Bank) {
	given := 0
	for _, s := range []string{b.Name, b.Bank, b.Number} {
		if s != "" {
			given++
		}
	}
	if given > 0 && given < 3 {
		for _, f := range []struct{ field, text string }{{FieldBankName, b.Name}, {FieldBankBank, b.Bank}, {FieldBankNumber, b.Number}} {
			if f.text == "" {
				p.fail(f.field, CodeBankIncomplete)
			}
		}
	}
	for _, r := range b.Number {
		if (r < '0' || r > '9') && r != ' ' && r != '-' {
			p.fail(FieldBankNumber, CodeBankNumber)
			break
		}
	}
}

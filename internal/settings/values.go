// Package settings owns the business settings admins edit in the back
// office (/admin/settings): the top-up tiers and bonus, the receiving bank
// account, the approval limits, the trial cap, grace credit and the expiry
// reminder days.
//
// Every change is a new row of business_settings (append-only: key, JSON
// value, who, when, why, and the row it replaced) written with an audit row
// in one transaction. A key's effective value is its newest row, else the
// environment's value (config), so environment values are the defaults at
// first start. The Store keeps the effective values in memory for the
// services that read them on every operation (payments, the back office,
// the ledger, the alerts); a change reloads them at once in this process and
// other processes reload them when they hear invalidate.Settings (within the
// cache lifetime at the latest, should that word be lost).
package settings

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/journal"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/referral"
)

// Key names one stored setting (business_settings.key).
type Key string

// The keys.
const (
	KeyTopupTiers        Key = "topup.tiers"                 // offered amounts (fen)
	KeyTopupBonus        Key = "topup.bonus"                 // bonus percent per tier
	KeyBonusExpiryDays   Key = "topup.bonus_expiry_days"     // lifetime of a bonus lot (0: never expires)
	KeyBankAccount       Key = "bank.account"                // the receiving account for transfers
	KeySupportGrant      Key = "limits.support_grant"        // support grant limit and day limits (credits)
	KeyManualRecharge    Key = "limits.manual_recharge"      // manual recharge limit and day limits (fen)
	KeyRateCardDiscount  Key = "limits.rate_card_discount"   // deepest own-card discount (percent) without approval
	KeyCreditLine        Key = "limits.credit_line"          // largest credit line (fen) granted without approval
	KeyTrialCap          Key = "trial.cap"                   // credit cap of a new unverified account
	KeyGrace             Key = "grace"                       // grace credit and its lifetime
	KeyExpiryReminderDay Key = "alerts.expiry_reminder_days" // days before expiry a reminder goes out
	KeyPlanRenewalDays   Key = "plans.renewal_days"          // days before a term ends its renewal order is made
	KeyPlanGraceDays     Key = "plans.grace_days"            // days an unpaid plan stays in force after its term
	KeyAccessTiers       Key = "access.tiers"                // tiers by cumulative recharge (ledger_tiers)
	KeyEnforcement       Key = "access.enforcement"          // the global enforcement mode (enforce, shadow, off)
	KeyReferralReward    Key = "referral.reward"             // the inviter's reward: percent of the first top-up, capped
	KeyRunwayDays        Key = "alerts.runway_days"          // balance.runway_low goes out when the balance lasts fewer days (0 off)
	KeyJournalAccounts   Key = "journal.accounts"            // account codes of the journal export (journal.Accounts)
	KeyJournalVATRate    Key = "journal.vat_rate"            // output VAT rate of the journal export (percent)
)

// Group is one form of the settings screen: the keys it changes together.
type Group string

// The groups, in the order the screen shows them.
const (
	GroupTopup    Group = "topup"
	GroupBank     Group = "bank"
	GroupLimits   Group = "limits"
	GroupAccounts Group = "accounts"
	GroupPlans    Group = "plans"
	GroupAccess   Group = "access"
	GroupReferral Group = "referral"
	GroupAlerts   Group = "alerts"
	GroupJournal  Group = "journal"
)

// Groups are the screen's forms in order.
var Groups = []Group{GroupTopup, GroupBank, GroupLimits, GroupAccounts, GroupPlans, GroupAccess, GroupReferral, GroupAlerts, GroupJournal}

// Keys lists the keys a group changes, in order.
func (g Group) Keys() []Key {
	switch g {
	case GroupTopup:
		return []Key{KeyTopupTiers, KeyTopupBonus, KeyBonusExpiryDays}
	case GroupBank:
		return []Key{KeyBankAccount}
	case GroupLimits:
		return []Key{KeySupportGrant, KeyManualRecharge, KeyRateCardDiscount, KeyCreditLine}
	case GroupAccounts:
		return []Key{KeyTrialCap, KeyGrace, KeyExpiryReminderDay}
	case GroupPlans:
		return []Key{KeyPlanRenewalDays, KeyPlanGraceDays}
	case GroupAccess:
		return []Key{KeyAccessTiers, KeyEnforcement}
	case GroupReferral:
		return []Key{KeyReferralReward}
	case GroupAlerts:
		return []Key{KeyRunwayDays}
	case GroupJournal:
		return []Key{KeyJournalAccounts, KeyJournalVATRate}
	}
	return nil
}

// AllKeys are every key, in the screen's order.
func AllKeys() []Key {
	var out []Key
	for _, g := range Groups {
		out = append(out, g.Keys()...)
	}
	return out
}

// Bank is the receiving bank account (payments.BankAccount, stored).
type Bank struct {
	Name   string `json:"name"`
	Bank   string `json:"bank"`
	Branch string `json:"branch"`
	Number string `json:"number"`
}

// GrantLimits are the support grant limits, in credits: per grant, per
// staff member and day, per account and day (backoffice.Settings).
type GrantLimits struct {
	Limit      decimal.Decimal `json:"limit"`
	StaffDay   decimal.Decimal `json:"staff_day"`
	AccountDay decimal.Decimal `json:"account_day"`
}

// RechargeLimits are the manual recharge limits, in fen.
type RechargeLimits struct {
	LimitFen      int64 `json:"limit_fen"`
	StaffDayFen   int64 `json:"staff_day_fen"`
	AccountDayFen int64 `json:"account_day_fen"`
}

// Grace is the grace credit: Credits in one lot lasting Hours; 0 credits
// turns it off.
type Grace struct {
	Credits decimal.Decimal `json:"credits"`
	Hours   int             `json:"hours"`
}

// Values are the business settings, one field per key. The slices and the
// map are shared: callers must not change them.
type Values struct {
	Tiers           []int64                   // fen, ascending
	Bonus           map[int64]decimal.Decimal // tier (fen) → percent
	BonusExpiryDays int                       // 0: a bonus lot never expires
	Bank            Bank
	SupportGrant    GrantLimits
	ManualRecharge  RechargeLimits
	// RateCardDiscount is the deepest discount (percent below the public
	// card) an account's own rate card applies without a second admin
	// (backoffice.Settings.RateCardDiscountPct).
	RateCardDiscount decimal.Decimal
	// CreditLineLimitFen is the largest credit line finance grants without
	// a second finance user (backoffice.Settings.CreditLineLimitFen).
	CreditLineLimitFen int64
	TrialCap           decimal.Decimal
	Grace              Grace
	ReminderDays       int
	// RenewalDays and PlanGraceDays are the plans' renewal terms
	// (plans.RenewalTerms).
	RenewalDays   int
	PlanGraceDays int
	// AccessTiers are the tiers by cumulative recharge, ascending (none:
	// no tiers); a change is applied to the ledger's tier table in the
	// same transaction (Options.Apply).
	AccessTiers []ledger.Tier
	// Enforcement is the global enforcement mode (ledger.Options.
	// CurrentEnforcement); an account's own mode, or its enterprise's,
	// wins.
	Enforcement ledger.Enforcement
	// Referral is the inviter's reward for an invitee's first paid top-up
	// (referral.Options.Current).
	Referral referral.Reward
	// RunwayDays: the balance.runway_low alert goes out when the balance
	// lasts fewer days than this at the last 7 days' pace (0: never).
	RunwayDays int
	// JournalCodes are the account codes of the journal export, by
	// account (journal.Accounts.Codes); JournalVATRate its output VAT
	// rate in percent.
	JournalCodes   map[journal.Account]string
	JournalVATRate decimal.Decimal
}

// field is the address of k's field in v (nil for an unknown key).
func (v *Values) field(k Key) any {
	switch k {
	case KeyTopupTiers:
		return &v.Tiers
	case KeyTopupBonus:
		return &v.Bonus
	case KeyBonusExpiryDays:
		return &v.BonusExpiryDays
	case KeyBankAccount:
		return &v.Bank
	case KeySupportGrant:
		return &v.SupportGrant
	case KeyManualRecharge:
		return &v.ManualRecharge
	case KeyRateCardDiscount:
		return &v.RateCardDiscount
	case KeyCreditLine:
		return &v.CreditLineLimitFen
	case KeyTrialCap:
		return &v.TrialCap
	case KeyGrace:
		return &v.Grace
	case KeyExpiryReminderDay:
		return &v.ReminderDays
	case KeyPlanRenewalDays:
		return &v.RenewalDays
	case KeyPlanGraceDays:
		return &v.PlanGraceDays
	case KeyAccessTiers:
		return &v.AccessTiers
	case KeyEnforcement:
		return &v.Enforcement
	case KeyReferralReward:
		return &v.Referral
	case KeyRunwayDays:
		return &v.RunwayDays
	case KeyJournalAccounts:
		return &v.JournalCodes
	case KeyJournalVATRate:
		return &v.JournalVATRate
	}
	return nil
}

// encode is k's value in v as stored (json: map keys sorted, decimals in
// their shortest spelling, so equal values encode equally).
func (v Values) encode(k Key) ([]byte, error) {
	f := v.field(k)
	if f == nil {
		return nil, fmt.Errorf("settings: unknown key %q", k)
	}
	return json.Marshal(f)
}

// decode sets k's field in v from its stored value. It decodes into a
// fresh field, never into v's: v's slices and maps may be shared.
func (v *Values) decode(k Key, raw []byte) error {
	var fresh Values
	f := fresh.field(k)
	if f == nil {
		return fmt.Errorf("settings: unknown key %q", k)
	}
	if err := json.Unmarshal(raw, f); err != nil {
		return fmt.Errorf("settings: decode %s: %w", k, err)
	}
	reflect.ValueOf(v.field(k)).Elem().Set(reflect.ValueOf(f).Elem())
	return nil
}

// Products are the top-up products payments offers (payments.Options.Current).
func (v Values) Products() payments.Products {
	validity := time.Duration(v.BonusExpiryDays) * 24 * time.Hour
	if v.BonusExpiryDays == 0 {
		validity = -1
	}
	return payments.Products{Tiers: v.Tiers, Bonus: v.Bonus, BonusValidity: validity,
		BankAccount: payments.BankAccount{Name: v.Bank.Name, Bank: v.Bank.Bank, Branch: v.Bank.Branch, Number: v.Bank.Number}}
}

// Backoffice is base with the approval limits of v (backoffice.Options.Current).
func (v Values) Backoffice(base backoffice.Settings) backoffice.Settings {
	base.SupportGrantLimit = v.SupportGrant.Limit
	base.SupportGrantStaffDayLimit = v.SupportGrant.StaffDay
	base.SupportGrantAccountDayLimit = v.SupportGrant.AccountDay
	base.ManualRechargeLimitFen = v.ManualRecharge.LimitFen
	base.ManualRechargeStaffDayLimitFen = v.ManualRecharge.StaffDayFen
	base.ManualRechargeAccountDayLimitFen = v.ManualRecharge.AccountDayFen
	base.RateCardDiscountPct = v.RateCardDiscount
	base.CreditLineLimitFen = v.CreditLineLimitFen
	return base
}

// GracePolicy is the ledger's grace policy (ledger.Options.CurrentGrace).
func (v Values) GracePolicy() ledger.GracePolicy {
	if !v.Grace.Credits.IsPositive() || v.Grace.Hours <= 0 {
		return ledger.GracePolicy{}
	}
	return ledger.GracePolicy{Enabled: true, Amount: v.Grace.Credits, Lifetime: time.Duration(v.Grace.Hours) * time.Hour}
}

// EnforcementMode is the global enforcement mode (enforce when unset).
func (v Values) EnforcementMode() ledger.Enforcement {
	if v.Enforcement == "" {
		return ledger.EnforceAll
	}
	return v.Enforcement
}

// RenewalTerms are the plans' renewal terms (plans.Options.RenewalTerms).
func (v Values) RenewalTerms() plans.RenewalTerms {
	return plans.RenewalTerms{LeadDays: v.RenewalDays, GraceDays: v.PlanGraceDays}
}

// Journal are the journal export's account codes and VAT rate
// (journal.Options.Accounts); unset codes are the defaults'.
func (v Values) Journal() journal.Accounts {
	return journal.Accounts{Codes: v.JournalCodes, VATRate: v.JournalVATRate}
}

// DefaultRunwayDays is alerts.runway_days until an admin changes it.
const DefaultRunwayDays = 3

// Defaults are the values the configuration gives (the environment's): the
// effective value of every key that was never changed.
func Defaults(p payments.Options, b backoffice.Settings, trialCap decimal.Decimal, grace ledger.GracePolicy, reminderDays int) Values {
	tiers, bonus := p.Tiers, p.Bonus
	if tiers == nil {
		tiers = payments.DefaultTiers
	}
	if bonus == nil {
		bonus = payments.DefaultBonus
	}
	days := int(payments.DefaultBonusValidity / (24 * time.Hour))
	switch {
	case p.BonusValidity < 0:
		days = 0
	case p.BonusValidity > 0:
		days = int(p.BonusValidity / (24 * time.Hour))
	}
	if reminderDays <= 0 {
		reminderDays = 7
	}
	v := Values{Tiers: tiers, Bonus: bonus, BonusExpiryDays: days,
		Bank:         Bank{Name: p.BankAccount.Name, Bank: p.BankAccount.Bank, Branch: p.BankAccount.Branch, Number: p.BankAccount.Number},
		SupportGrant: GrantLimits{Limit: b.SupportGrantLimit, StaffDay: b.SupportGrantStaffDayLimit, AccountDay: b.SupportGrantAccountDayLimit},
		ManualRecharge: RechargeLimits{LimitFen: b.ManualRechargeLimitFen, StaffDayFen: b.ManualRechargeStaffDayLimitFen,
			AccountDayFen: b.ManualRechargeAccountDayLimitFen},
		RateCardDiscount: b.RateCardDiscountPct, CreditLineLimitFen: b.CreditLineLimitFen,
		TrialCap: trialCap, ReminderDays: reminderDays,
		RenewalDays: plans.DefaultRenewalLeadDays, PlanGraceDays: plans.DefaultGraceDays, Enforcement: ledger.EnforceAll,
		Referral: referral.DefaultReward, RunwayDays: DefaultRunwayDays}
	if v.CreditLineLimitFen <= 0 {
		v.CreditLineLimitFen = backoffice.DefaultCreditLineLimitFen
	}
	ja := journal.DefaultAccounts()
	v.JournalCodes, v.JournalVATRate = ja.Codes, ja.VATRate
	if grace.Enabled {
		v.Grace = Grace{Credits: grace.Amount, Hours: int(grace.Lifetime / time.Hour)}
	}
	return v
}

// Form is a group's fields as the form shows them (field name → text), in
// the syntax Parse reads back.
func (v Values) Form(g Group) map[string]string {
	yuan := func(fen int64) string { return decimal.New(fen, -2).String() }
	switch g {
	case GroupTopup:
		tiers := make([]string, len(v.Tiers))
		for i, t := range v.Tiers {
			tiers[i] = yuan(t)
		}
		var bonus []string
		for _, t := range slices.Sorted(maps.Keys(v.Bonus)) {
			bonus = append(bonus, yuan(t)+":"+v.Bonus[t].String())
		}
		return map[string]string{FieldTiers: strings.Join(tiers, ", "), FieldBonus: strings.Join(bonus, ", "),
			FieldBonusExpiryDays: strconv.Itoa(v.BonusExpiryDays)}
	case GroupBank:
		return map[string]string{FieldBankName: v.Bank.Name, FieldBankBank: v.Bank.Bank, FieldBankBranch: v.Bank.Branch,
			FieldBankNumber: v.Bank.Number}
	case GroupLimits:
		return map[string]string{FieldGrantLimit: v.SupportGrant.Limit.String(), FieldGrantStaffDay: v.SupportGrant.StaffDay.String(),
			FieldGrantAccountDay: v.SupportGrant.AccountDay.String(), FieldRechargeLimit: yuan(v.ManualRecharge.LimitFen),
			FieldRechargeStaffDay: yuan(v.ManualRecharge.StaffDayFen), FieldRechargeAccountDay: yuan(v.ManualRecharge.AccountDayFen),
			FieldRateCardDiscount: v.RateCardDiscount.String(), FieldCreditLineLimit: yuan(v.CreditLineLimitFen)}
	case GroupAccounts:
		return map[string]string{FieldTrialCap: v.TrialCap.String(), FieldGraceCredits: v.Grace.Credits.String(),
			FieldGraceHours: strconv.Itoa(v.Grace.Hours), FieldReminderDays: strconv.Itoa(v.ReminderDays)}
	case GroupPlans:
		return map[string]string{FieldRenewalDays: strconv.Itoa(v.RenewalDays), FieldPlanGraceDays: strconv.Itoa(v.PlanGraceDays)}
	case GroupAccess:
		tiers := make([]string, len(v.AccessTiers))
		for i, t := range v.AccessTiers {
			tiers[i] = fmt.Sprintf("%s:%d:%d:%d", yuan(t.MinPaidFen), t.RPM, t.TPM, t.MaxOpen)
		}
		return map[string]string{FieldRechargeTiers: strings.Join(tiers, ", "), FieldEnforcement: string(v.EnforcementMode())}
	case GroupReferral:
		return map[string]string{FieldReferralPercent: v.Referral.Percent.String(), FieldReferralCap: v.Referral.Cap.String()}
	case GroupAlerts:
		return map[string]string{FieldRunwayDays: strconv.Itoa(v.RunwayDays)}
	case GroupJournal:
		acc := v.Journal()
		out := map[string]string{FieldVATRate: acc.VATRate.String()}
		for _, a := range journal.AllAccounts {
			out[JournalField(a)] = acc.Code(a)
		}
		return out
	}
	return nil
}

// Text is k's value in v as one line for the history list (form syntax;
// amounts in yuan, credits as numbers).
func (v Values) Text(k Key) string {
	switch k {
	case KeyTopupTiers:
		return v.Form(GroupTopup)[FieldTiers]
	case KeyTopupBonus:
		if len(v.Bonus) == 0 {
			return "-"
		}
		return v.Form(GroupTopup)[FieldBonus]
	case KeyBonusExpiryDays:
		return strconv.Itoa(v.BonusExpiryDays)
	case KeyBankAccount:
		b := v.Bank
		if b.Name == "" && b.Bank == "" && b.Number == "" {
			return "-"
		}
		return strings.TrimSpace(b.Name + " / " + b.Bank + " " + b.Branch + " / " + b.Number)
	case KeySupportGrant:
		return format.Credits(v.SupportGrant.Limit) + " / " + format.Credits(v.SupportGrant.StaffDay) + " / " +
			format.Credits(v.SupportGrant.AccountDay)
	case KeyManualRecharge:
		r := v.ManualRecharge
		return format.Money(decimal.New(r.LimitFen, -2)) + " / " + format.Money(decimal.New(r.StaffDayFen, -2)) + " / " +
			format.Money(decimal.New(r.AccountDayFen, -2))
	case KeyRateCardDiscount:
		return v.RateCardDiscount.String() + "%"
	case KeyCreditLine:
		return format.Money(decimal.New(v.CreditLineLimitFen, -2))
	case KeyTrialCap:
		return format.Credits(v.TrialCap)
	case KeyGrace:
		return format.Credits(v.Grace.Credits) + " / " + strconv.Itoa(v.Grace.Hours) + "h"
	case KeyExpiryReminderDay:
		return strconv.Itoa(v.ReminderDays)
	case KeyPlanRenewalDays:
		return strconv.Itoa(v.RenewalDays)
	case KeyPlanGraceDays:
		return strconv.Itoa(v.PlanGraceDays)
	case KeyAccessTiers:
		if len(v.AccessTiers) == 0 {
			return "-"
		}
		return v.Form(GroupAccess)[FieldRechargeTiers]
	case KeyEnforcement:
		return string(v.EnforcementMode())
	case KeyReferralReward:
		if !v.Referral.Percent.IsPositive() {
			return "-"
		}
		return v.Referral.Percent.String() + "% / " + format.Credits(v.Referral.Cap)
	case KeyRunwayDays:
		return strconv.Itoa(v.RunwayDays)
	case KeyJournalAccounts:
		acc := v.Journal()
		parts := make([]string, len(journal.AllAccounts))
		for i, a := range journal.AllAccounts {
			parts[i] = acc.Code(a)
		}
		return strings.Join(parts, " / ")
	case KeyJournalVATRate:
		return v.Journal().VATRate.String() + "%"
	}
	return ""
}

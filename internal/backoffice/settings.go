package backoffice

import (
	"time"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/reconcile"
)

// Settings are the back office's limits and throttles.
type Settings struct {
	// SupportGrantLimit is the largest grant (credits) that applies without
	// approval; a larger one waits for a finance user. LIMIT_SUPPORT_GRANT,
	// default 50000.
	SupportGrantLimit decimal.Decimal
	// ManualRechargeLimitFen is the largest manual recharge (fen) that
	// applies without approval; a larger one waits for a second finance
	// user. LIMIT_MANUAL_RECHARGE_FEN, default 100000 (¥1,000.00).
	ManualRechargeLimitFen int64
	// SupportGrantStaffDayLimit is how many credits one staff member may
	// grant without approval in one Asia/Shanghai calendar day, and
	// SupportGrantAccountDayLimit how many one account may receive so
	// (from all staff together). Approved grants count toward the day they
	// are approved on. A grant that would take a day's total over either
	// limit applies up to it; the rest waits for a finance user.
	// LIMIT_SUPPORT_GRANT_STAFF_DAY and LIMIT_SUPPORT_GRANT_ACCOUNT_DAY,
	// default 50000 each (one grant at the per-action limit a day).
	SupportGrantStaffDayLimit, SupportGrantAccountDayLimit decimal.Decimal
	// ManualRechargeStaffDayLimitFen and ManualRechargeAccountDayLimitFen
	// are the same day limits for manual recharges, in fen; a recharge
	// that would cross one waits for a second finance user as a whole (a
	// statement line is one payment). LIMIT_MANUAL_RECHARGE_STAFF_DAY_FEN
	// and LIMIT_MANUAL_RECHARGE_ACCOUNT_DAY_FEN, default 100000 each.
	ManualRechargeStaffDayLimitFen, ManualRechargeAccountDayLimitFen int64
	// RedeemMaxFailuresPerAccount failed redemptions by one customer within
	// RedeemWindow refuse further attempts. REDEEM_MAX_FAILURES_ACCOUNT, default 10.
	RedeemMaxFailuresPerAccount int
	// RedeemMaxFailuresPerIP failed redemptions from one IP within
	// RedeemWindow refuse further attempts (carrier NAT puts many customers
	// behind one address). REDEEM_MAX_FAILURES_IP, default 30.
	RedeemMaxFailuresPerIP int
	// RedeemWindow is how far back failures count. REDEEM_WINDOW, default 15m.
	RedeemWindow time.Duration
	// ImportLimits bound an uploaded bank statement or channel bill:
	// IMPORT_MAX_ROWS (default 20000) and IMPORT_MAX_UNZIPPED_BYTES (an XLSX
	// workbook decompressed, default 16777216); files are at most 8 MB.
	ImportLimits reconcile.Limits
	// PlanGrantLimitMonths is the longest contract term (months) a plan
	// grant applies without approval; a longer one waits for an admin other
	// than the requester. 0 means DefaultPlanGrantLimitMonths.
	PlanGrantLimitMonths int
	// RateCardDiscountPct is the deepest discount (percent below the
	// public card in force) an account's own rate card applies without a
	// second admin's approval (0: every discount waits);
	// DefaultRateCardDiscountPct by default.
	RateCardDiscountPct decimal.Decimal
	// CreditLineLimitFen is the largest credit line (fen) finance grants
	// without a second finance user's approval (business setting
	// limits.credit_line); DefaultCreditLineLimitFen when 0.
	CreditLineLimitFen int64
}

// DefaultPlanGrantLimitMonths is the plan grant limit when none is set.
const DefaultPlanGrantLimitMonths = 3

// planGrantLimit is PlanGrantLimitMonths, or its default.
func (s Settings) planGrantLimit() int {
	if s.PlanGrantLimitMonths > 0 {
		return s.PlanGrantLimitMonths
	}
	return DefaultPlanGrantLimitMonths
}

// DefaultSettings are the settings when nothing is configured.
func DefaultSettings() Settings {
	return Settings{
		SupportGrantLimit:                decimal.NewFromInt(50000),
		ManualRechargeLimitFen:           100000,
		SupportGrantStaffDayLimit:        decimal.NewFromInt(50000),
		SupportGrantAccountDayLimit:      decimal.NewFromInt(50000),
		ManualRechargeStaffDayLimitFen:   100000,
		ManualRechargeAccountDayLimitFen: 100000,
		RateCardDiscountPct:              DefaultRateCardDiscountPct,
		RedeemMaxFailuresPerAccount:      10,
		RedeemMaxFailuresPerIP:           30,
		RedeemWindow:                     15 * time.Minute,
		ImportLimits:                     reconcile.DefaultLimits(),
	}
}

// ManualRechargeLimit is ManualRechargeLimitFen in yuan.
func (s Settings) ManualRechargeLimit() decimal.Decimal {
	return decimal.New(s.ManualRechargeLimitFen, -2)
}

// grantDayLimits are the cumulative limits on support grants, in credits.
func (s Settings) grantDayLimits() dayLimits {
	return dayLimits{action: ApproveSupportGrant, staff: s.SupportGrantStaffDayLimit, account: s.SupportGrantAccountDayLimit}
}

// rechargeDayLimits are the cumulative limits on manual recharges, in yuan.
func (s Settings) rechargeDayLimits() dayLimits {
	return dayLimits{action: ApproveManualRecharge, staff: decimal.New(s.ManualRechargeStaffDayLimitFen, -2),
		account: decimal.New(s.ManualRechargeAccountDayLimitFen, -2)}
}

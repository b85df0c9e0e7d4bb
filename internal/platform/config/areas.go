package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/identity"
	"github.com/seed75218f88/credits/internal/invoicing"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/payments/alipay"
	"github.com/seed75218f88/credits/internal/payments/wechatpay"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/mail"
	"github.com/seed75218f88/credits/internal/ratelimit"
	"github.com/seed75218f88/credits/internal/signup"
	"github.com/seed75218f88/credits/internal/verification"
)

// source is the environment as LoadFrom was given it.
type source map[string]string

// get is the variable's value with surrounding space removed.
func (s source) get(name string) string { return strings.TrimSpace(s[name]) }

// or is get with a default for an unset or empty variable.
func (s source) or(name, def string) string {
	if v := s.get(name); v != "" {
		return v
	}
	return def
}

// Database is where the database and the project's local files are.
type Database struct {
	// MigrateURL connects as the owner role for `credits migrate`
	// (MIGRATE_DATABASE_URL; default: DATABASE_URL with the owner role).
	MigrateURL string
	// DataDir holds the private PostgreSQL cluster, development mail, the
	// sandbox's keys: CREDITS_ROOT/.data, CREDITS_ROOT defaulting to the
	// nearest folder above the working directory holding go.mod.
	DataDir string
	// ReplicaURL is a streaming standby of the database, as the
	// application role, that staleness-tolerant reads (portal pages,
	// reports, CSV exports) use (DATABASE_REPLICA_URL; empty: every read
	// on the primary). See db.Reader.
	ReplicaURL string
	// ReplicaMaxLag is how far behind the primary the standby may be and
	// still serve reads (DATABASE_REPLICA_MAX_LAG, db.DefaultMaxLag).
	ReplicaMaxLag time.Duration
}

func readDatabase(c *Config, env source) error {
	c.Database.MigrateURL = env.get("MIGRATE_DATABASE_URL")
	c.Database.DataDir = filepath.Join(env.or("CREDITS_ROOT", db.ProjectRoot()), ".data")
	c.Database.ReplicaURL = env.get("DATABASE_REPLICA_URL")
	c.Database.ReplicaMaxLag = db.DefaultMaxLag
	if v := env.get("DATABASE_REPLICA_MAX_LAG"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 100*time.Millisecond || d > time.Hour {
			return errors.New("DATABASE_REPLICA_MAX_LAG must be a duration from 100ms to 1h, such as 5s")
		}
		c.Database.ReplicaMaxLag = d
	}
	return nil
}

// Gateway are the gateway API's settings.
type Gateway struct {
	// DefaultLimit applies to verified accounts without their own limits
	// (DEFAULT_RPM, DEFAULT_TPM), TrialLimit to unverified ones (TRIAL_RPM,
	// TRIAL_TPM).
	DefaultLimit, TrialLimit ratelimit.Limit
	// TrialCap is the most an unverified account may hold and spend, in
	// credits (TRIAL_CREDIT_CAP, default ledger.DefaultTrialCap).
	TrialCap decimal.Decimal
	// ReservationTTL is a reservation's default lifetime (RESERVATION_TTL, 5m).
	ReservationTTL time.Duration
	// ExpiredPolicy is what the sweep does with an expired hold
	// (RESERVATION_EXPIRED_POLICY, release or charge; default release).
	ExpiredPolicy ledger.ExpiredReservationPolicy
	// LateEventWindow is how late a usage event may arrive (LATE_EVENT_WINDOW, 168h).
	LateEventWindow time.Duration
	// ReminderDays is how long before expiry credit is announced
	// (EXPIRY_REMINDER_DAYS, 7).
	ReminderDays int
}

func readGateway(c *Config, env source) error {
	g := Gateway{DefaultLimit: ratelimit.DefaultLimit, TrialLimit: ratelimit.TrialLimit,
		TrialCap: ledger.DefaultTrialCap, ReservationTTL: 5 * time.Minute, ExpiredPolicy: ledger.ExpiredRelease,
		LateEventWindow: 7 * 24 * time.Hour, ReminderDays: 7}
	var err error
	for _, f := range []struct {
		name string
		dst  *int64
	}{{"DEFAULT_RPM", &g.DefaultLimit.RPM}, {"DEFAULT_TPM", &g.DefaultLimit.TPM}, {"TRIAL_RPM", &g.TrialLimit.RPM}, {"TRIAL_TPM", &g.TrialLimit.TPM}} {
		if v := env.get(f.name); v != "" {
			if *f.dst, err = strconv.ParseInt(v, 10, 64); err != nil || *f.dst <= 0 {
				return fmt.Errorf("%s must be a positive whole number per minute", f.name)
			}
		}
	}
	if v := env.get("TRIAL_CREDIT_CAP"); v != "" {
		if g.TrialCap, err = decimal.NewFromString(v); err != nil || !g.TrialCap.IsPositive() {
			return errors.New("TRIAL_CREDIT_CAP must be a positive number of credits such as 10000")
		}
	}
	for _, f := range []struct {
		name string
		dst  *time.Duration
	}{{"RESERVATION_TTL", &g.ReservationTTL}, {"LATE_EVENT_WINDOW", &g.LateEventWindow}} {
		if v := env.get(f.name); v != "" {
			if *f.dst, err = time.ParseDuration(v); err != nil || *f.dst <= 0 {
				return fmt.Errorf("%s must be a positive duration such as 5m or 168h", f.name)
			}
		}
	}
	if v := env.get("RESERVATION_EXPIRED_POLICY"); v != "" {
		g.ExpiredPolicy = ledger.ExpiredReservationPolicy(v)
		if g.ExpiredPolicy != ledger.ExpiredRelease && g.ExpiredPolicy != ledger.ExpiredCharge {
			return errors.New("RESERVATION_EXPIRED_POLICY must be release or charge")
		}
	}
	if v := env.get("EXPIRY_REMINDER_DAYS"); v != "" {
		if g.ReminderDays, err = strconv.Atoi(v); err != nil || g.ReminderDays <= 0 {
			return errors.New("EXPIRY_REMINDER_DAYS must be a positive whole number of days")
		}
	}
	c.Gateway = g
	return nil
}

// readGrace reads GRACE_CREDITS (credits in one grace lot) and GRACE_HOURS
// (its lifetime in whole hours). Both default to 0, which leaves grace off;
// GRACE_CREDITS above 0 turns it on and then needs GRACE_HOURS above 0 (a
// grace lot that never expired would block the next one for good).
func readGrace(c *Config, env source) error {
	var g ledger.GracePolicy
	if v := env.get("GRACE_CREDITS"); v != "" {
		d, err := decimal.NewFromString(v)
		if err != nil || d.IsNegative() || !ledger.Round(d).Equal(d) {
			return errors.New("GRACE_CREDITS must be a number of credits of at least 0 with at most 6 decimals, such as 5000 (0 = no grace credit)")
		}
		g.Amount = d
	}
	var hours int
	if v := env.get("GRACE_HOURS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return errors.New("GRACE_HOURS must be a whole number of hours of at least 0, such as 72 (0 = no grace credit)")
		}
		hours = n
	}
	if !g.Amount.IsPositive() {
		c.Grace = ledger.GracePolicy{}
		return nil
	}
	if hours == 0 {
		return errors.New("GRACE_HOURS must be a whole number of hours above 0 when GRACE_CREDITS is set: it is how long a grace lot lasts")
	}
	g.Enabled = true
	g.Lifetime = time.Duration(hours) * time.Hour
	c.Grace = g
	return nil
}

// readSignup reads SIGNUP_CREDIT and SIGNUP_CREDIT_EXPIRY_DAYS, with
// signup.Default for what is unset.
func readSignup(c *Config, env source) error {
	s := signup.Default
	if v := env.get("SIGNUP_CREDIT"); v != "" {
		d, err := decimal.NewFromString(v)
		if err != nil || d.IsNegative() {
			return errors.New("SIGNUP_CREDIT must be a non-negative number of credits such as 5000")
		}
		s.Credit = d
	}
	if v := env.get("SIGNUP_CREDIT_EXPIRY_DAYS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return errors.New("SIGNUP_CREDIT_EXPIRY_DAYS must be a whole number of days (0 = never expires)")
		}
		s.ExpiryDays = n
	}
	c.Signup = s
	return nil
}

// readPayments reads the top-up settings:
//
//	TOPUP_TIERS=30,100,300,1000        offered amounts in yuan
//	TOPUP_BONUS=100:20                 tier:percent bonus as a promo lot ("none": no bonus)
//	TOPUP_BONUS_EXPIRY_DAYS=90         lifetime of a bonus lot (0: never expires)
//	TOPUP_MIN_FEN=1000                 smallest custom amount (fen)
//	TOPUP_MAX_FEN=5000000              largest QR top-up (fen)
//	TOPUP_TRANSFER_MAX_FEN=100000000   largest bank transfer order (fen)
//	TOPUP_ORDER_TTL=15m                how long a QR order can be paid
//	TOPUP_TRANSFER_TTL=168h            how long a transfer order stays open
//	BANK_ACCOUNT_NAME, BANK_NAME, BANK_ACCOUNT_NO, BANK_BRANCH
//	                                   the corporate account shown for transfers
//
// Unset variables keep payments' defaults. Outside production an unset bank
// account is the clearly fake payments.DemoBankAccount; production offers
// bank transfer only once it is configured.
func readPayments(c *Config, env source) error {
	o := payments.Options{CreditPriceRMB: c.CreditPriceRMB}
	var err error
	if v := env.get("TOPUP_TIERS"); v != "" {
		if o.Tiers, err = payments.ParseTiers(v); err != nil {
			return err
		}
	}
	if v := env.get("TOPUP_BONUS"); v != "" {
		if o.Bonus, err = payments.ParseBonus(v); err != nil {
			return err
		}
	}
	if v := env.get("TOPUP_BONUS_EXPIRY_DAYS"); v != "" {
		days, err := strconv.Atoi(v)
		if err != nil || days < 0 || days > 36500 {
			return errors.New("TOPUP_BONUS_EXPIRY_DAYS must be a whole number of days (0: never expires)")
		}
		o.BonusValidity = time.Duration(days) * 24 * time.Hour
		if days == 0 {
			o.BonusValidity = -1
		}
	}
	for _, f := range []struct {
		name string
		dst  *int64
	}{{"TOPUP_MIN_FEN", &o.MinFen}, {"TOPUP_MAX_FEN", &o.MaxFen}, {"TOPUP_TRANSFER_MAX_FEN", &o.TransferMaxFen}} {
		if v := env.get(f.name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return fmt.Errorf("%s must be a positive whole number of fen", f.name)
			}
			*f.dst = n
		}
	}
	for _, f := range []struct {
		name string
		dst  *time.Duration
	}{{"TOPUP_ORDER_TTL", &o.OrderTTL}, {"TOPUP_TRANSFER_TTL", &o.TransferTTL}} {
		if v := env.get(f.name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < time.Minute {
				return fmt.Errorf("%s must be a duration of at least 1m, such as 15m or 168h", f.name)
			}
			*f.dst = d
		}
	}
	o.BankAccount = payments.BankAccount{Name: env.get("BANK_ACCOUNT_NAME"), Bank: env.get("BANK_NAME"),
		Branch: env.get("BANK_BRANCH"), Number: env.get("BANK_ACCOUNT_NO")}
	if c.Env != Production && !o.BankAccount.Configured() {
		o.BankAccount = payments.DemoBankAccount
	}
	if o.MinFen != 0 && o.MaxFen != 0 && o.MinFen > o.MaxFen {
		return errors.New("TOPUP_MIN_FEN must not exceed TOPUP_MAX_FEN")
	}
	c.Payments = o
	return nil
}

// Paysim is where the payment sandbox (`credits paysim`) listens, is
// reached and keeps its development keys.
type Paysim struct {
	Addr      string // PAYSIM_ADDR, default 127.0.0.1:8090
	PublicURL string // PAYSIM_PUBLIC_URL, default http://Addr
	KeyDir    string // PAYSIM_KEY_DIR, default DataDir/paysim
}

// readChannels reads the WECHATPAY_* and ALIPAY_* settings (see
// wechatpay.Settings and alipay.Settings) and the sandbox's PAYSIM_*.
// A channel whose merchant id is unset stays unconfigured; with
// PAYMENT_SANDBOX payments.BuildChannels fills it from the sandbox's
// development keys. Unset notify URLs default to BASE_URL + the notify paths
// there too (BASE_URL may still change: serve --addr).
func readChannels(c *Config, env source) error {
	c.WeChatPay = wechatpay.Settings{
		BaseURL: env.get("WECHATPAY_BASE_URL"), MchID: env.get("WECHATPAY_MCH_ID"), AppID: env.get("WECHATPAY_APP_ID"),
		PrivateKeyFile: env.get("WECHATPAY_PRIVATE_KEY_FILE"), CertSerial: env.get("WECHATPAY_CERT_SERIAL"),
		APIv3KeyFile: env.get("WECHATPAY_APIV3_KEY_FILE"), PlatformPublicKeyFile: env.get("WECHATPAY_PLATFORM_PUBLIC_KEY_FILE"),
		PlatformSerial: env.get("WECHATPAY_PLATFORM_SERIAL"), NotifyURL: env.get("WECHATPAY_NOTIFY_URL"),
		PapayPlanID: env.get("WECHATPAY_PAPAY_PLAN_ID"), ContractNotifyURL: env.get("WECHATPAY_CONTRACT_NOTIFY_URL"),
	}
	c.Alipay = alipay.Settings{
		GatewayURL: env.get("ALIPAY_GATEWAY_URL"), AppID: env.get("ALIPAY_APP_ID"), SellerID: env.get("ALIPAY_SELLER_ID"),
		PrivateKeyFile: env.get("ALIPAY_PRIVATE_KEY_FILE"), PublicKeyFile: env.get("ALIPAY_PUBLIC_KEY_FILE"),
		NotifyURL: env.get("ALIPAY_NOTIFY_URL"), AgreementNotifyURL: env.get("ALIPAY_AGREEMENT_NOTIFY_URL"),
	}
	c.Paysim.Addr = env.or("PAYSIM_ADDR", "127.0.0.1:8090")
	c.Paysim.PublicURL = strings.TrimRight(env.or("PAYSIM_PUBLIC_URL", "http://"+c.Paysim.Addr), "/")
	c.Paysim.KeyDir = env.or("PAYSIM_KEY_DIR", filepath.Join(c.Database.DataDir, "paysim"))
	return nil
}

// AutoTopUp are the channels' limits on agreement debits (auto top-up and
// plan renewal by agreement), in fen, and how often a failing debit is
// tried before auto top-up pauses:
//
//	AUTOTOPUP_WECHAT_PER_DEBIT_FEN  default 50000 (¥500)
//	AUTOTOPUP_WECHAT_DAILY_FEN      default 200000 (¥2,000)
//	AUTOTOPUP_ALIPAY_PER_DEBIT_FEN  default 200000 (¥2,000)
//	AUTOTOPUP_ALIPAY_DAILY_FEN      default 500000 (¥5,000)
//	AUTOTOPUP_MAX_ATTEMPTS          default 4
//	AUTOTOPUP_RETRY_BASE            default 1m: retries wait 1×, 5×, then 30× this
type AutoTopUp struct {
	WeChatPerDebitFen, WeChatDailyFen int64
	AlipayPerDebitFen, AlipayDailyFen int64
	MaxAttempts                       int
	RetryBase                         time.Duration
}

func readAutoTopUp(c *Config, env source) error {
	for _, f := range []struct {
		name string
		def  int64
		dst  *int64
	}{
		{"AUTOTOPUP_WECHAT_PER_DEBIT_FEN", 50000, &c.AutoTopUp.WeChatPerDebitFen},
		{"AUTOTOPUP_WECHAT_DAILY_FEN", 200000, &c.AutoTopUp.WeChatDailyFen},
		{"AUTOTOPUP_ALIPAY_PER_DEBIT_FEN", 200000, &c.AutoTopUp.AlipayPerDebitFen},
		{"AUTOTOPUP_ALIPAY_DAILY_FEN", 500000, &c.AutoTopUp.AlipayDailyFen},
	} {
		v, err := strconv.ParseInt(env.or(f.name, strconv.FormatInt(f.def, 10)), 10, 64)
		if err != nil || v < 0 {
			return fmt.Errorf("%s: not a whole number of fen", f.name)
		}
		*f.dst = v
	}
	n, err := strconv.Atoi(env.or("AUTOTOPUP_MAX_ATTEMPTS", "4"))
	if err != nil || n < 1 || n > 20 {
		return errors.New("AUTOTOPUP_MAX_ATTEMPTS: a whole number from 1 to 20")
	}
	c.AutoTopUp.MaxAttempts = n
	d, err := time.ParseDuration(env.or("AUTOTOPUP_RETRY_BASE", "1m"))
	if err != nil || d <= 0 {
		return errors.New("AUTOTOPUP_RETRY_BASE: a positive duration such as 1m")
	}
	c.AutoTopUp.RetryBase = d
	return nil
}

// readInvoicing reads the seller printed on invoices:
//
//	INVOICE_SELLER_NAME           our company name (销售方名称)
//	INVOICE_SELLER_TAX_ID         our unified social credit code (checked)
//	INVOICE_SELLER_ADDRESS_PHONE  地址、电话
//	INVOICE_SELLER_BANK_ACCOUNT   开户行及账号
//	INVOICE_SELLER_ISSUER         开票人 (default: the issuing staff member)
//	INVOICE_SELLER_PAYEE          收款人
//	INVOICE_SELLER_REVIEWER       复核
//	INVOICE_TAX_RATE              VAT rate, e.g. 0.06 (default)
//	INVOICE_ITEM_NAME             printed item (default invoicing.DefaultItemName)
//
// Without a seller name and tax id, only platform PDFs can be issued.
func readInvoicing(c *Config, env source) error {
	o := invoicing.Options{
		Seller: invoicing.Seller{
			Name: env.get("INVOICE_SELLER_NAME"), TaxID: identity.Normalize(env.get("INVOICE_SELLER_TAX_ID")),
			AddressPhone: env.get("INVOICE_SELLER_ADDRESS_PHONE"), BankAccount: env.get("INVOICE_SELLER_BANK_ACCOUNT"),
			Issuer: env.get("INVOICE_SELLER_ISSUER"), Payee: env.get("INVOICE_SELLER_PAYEE"), Reviewer: env.get("INVOICE_SELLER_REVIEWER"),
		},
		ItemName: env.get("INVOICE_ITEM_NAME"),
	}
	if o.Seller.TaxID != "" {
		if _, err := identity.ParseCreditCode(o.Seller.TaxID); err != nil {
			return fmt.Errorf("INVOICE_SELLER_TAX_ID is not a valid unified social credit code (%s)", identity.Code(err))
		}
	}
	if v := env.get("INVOICE_TAX_RATE"); v != "" {
		r, err := decimal.NewFromString(v)
		if err != nil || !r.IsPositive() || r.GreaterThanOrEqual(decimal.NewFromInt(1)) {
			return fmt.Errorf("INVOICE_TAX_RATE must be a fraction such as 0.06, not %q", v)
		}
		o.TaxRate = r
	}
	c.Invoicing = o
	return nil
}

// readVerification reads the real-name verification settings:
//
//	VERIFICATION_BONUS_CREDITS      credits granted once on verification (default 0: none)
//	VERIFICATION_BONUS_EXPIRY_DAYS  days until the bonus lot expires (default 0: never)
//	VERIFICATION_LICENCE_MAX_BYTES  largest licence upload (default 5242880, 5 MiB)
//	PII_REVEAL_ROLES                comma-separated staff roles that may see full
//	                                numbers (default "admin")
//	VERIFY_ENDPOINT, VERIFY_APP_KEY, VERIFY_APP_SECRET
//	                                the HTTP provider (unset: the sandbox)
func readVerification(c *Config, env source) error {
	var o verification.Options
	if v := env.get("VERIFICATION_BONUS_CREDITS"); v != "" {
		d, err := decimal.NewFromString(v)
		if err != nil || d.IsNegative() || d.Exponent() < -6 {
			return fmt.Errorf("VERIFICATION_BONUS_CREDITS must be a non-negative number of credits with at most 6 decimals, not %q", v)
		}
		o.Bonus.Amount = d
	}
	var err error
	if o.Bonus.ExpiryDays, err = wholeNumber(env, "VERIFICATION_BONUS_EXPIRY_DAYS", 0); err != nil {
		return err
	}
	if o.MaxLicenceBytes, err = wholeNumber(env, "VERIFICATION_LICENCE_MAX_BYTES", verification.DefaultMaxLicenceBytes); err != nil {
		return err
	}
	if o.MaxLicenceBytes == 0 {
		return errors.New("VERIFICATION_LICENCE_MAX_BYTES must be positive")
	}
	for r := range strings.SplitSeq(env.get("PII_REVEAL_ROLES"), ",") {
		if r = strings.TrimSpace(r); r != "" {
			o.RevealRoles = append(o.RevealRoles, r)
		}
	}
	if len(o.RevealRoles) == 0 {
		o.RevealRoles = verification.DefaultRevealRoles
	}
	o.AllowedTypes = verification.DefaultAllowedTypes
	c.Verification = o
	c.VerifyProvider = identity.HTTPConfig{Endpoint: env.get("VERIFY_ENDPOINT"), AppKey: env.get("VERIFY_APP_KEY"), AppSecret: env.get("VERIFY_APP_SECRET")}
	if c.VerifyProvider.Endpoint == "" && c.Env == Production {
		return errors.New("APP_ENV=production needs VERIFY_ENDPOINT, VERIFY_APP_KEY and VERIFY_APP_SECRET: the sandbox verification provider is for development")
	}
	return nil
}

// wholeNumber reads a non-negative whole number, def when unset.
func wholeNumber(env source, name string, def int) (int, error) {
	v := env.get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s must be a non-negative whole number, not %q", name, v)
	}
	return n, nil
}

// readBackoffice reads the back office's limits and throttles:
// LIMIT_SUPPORT_GRANT, LIMIT_SUPPORT_GRANT_STAFF_DAY,
// LIMIT_SUPPORT_GRANT_ACCOUNT_DAY (credits), LIMIT_MANUAL_RECHARGE_FEN,
// LIMIT_MANUAL_RECHARGE_STAFF_DAY_FEN, LIMIT_MANUAL_RECHARGE_ACCOUNT_DAY_FEN
// (fen), REDEEM_MAX_FAILURES_ACCOUNT, REDEEM_MAX_FAILURES_IP, REDEEM_WINDOW,
// IMPORT_MAX_ROWS and IMPORT_MAX_UNZIPPED_BYTES; unset ones take
// backoffice.DefaultSettings.
func readBackoffice(c *Config, env source) error {
	s := backoffice.DefaultSettings()
	for _, f := range []struct {
		name string
		dst  *decimal.Decimal
	}{
		{"LIMIT_SUPPORT_GRANT", &s.SupportGrantLimit},
		{"LIMIT_SUPPORT_GRANT_STAFF_DAY", &s.SupportGrantStaffDayLimit},
		{"LIMIT_SUPPORT_GRANT_ACCOUNT_DAY", &s.SupportGrantAccountDayLimit},
	} {
		if v := env.get(f.name); v != "" {
			d, err := decimal.NewFromString(v)
			if err != nil || d.IsNegative() || d.Exponent() < -6 {
				return fmt.Errorf("%s must be a non-negative number of credits (at most 6 decimals), not %q", f.name, v)
			}
			*f.dst = d
		}
	}
	for _, f := range []struct {
		name string
		dst  func(int64)
	}{
		{"LIMIT_MANUAL_RECHARGE_FEN", func(n int64) { s.ManualRechargeLimitFen = n }},
		{"LIMIT_MANUAL_RECHARGE_STAFF_DAY_FEN", func(n int64) { s.ManualRechargeStaffDayLimitFen = n }},
		{"LIMIT_MANUAL_RECHARGE_ACCOUNT_DAY_FEN", func(n int64) { s.ManualRechargeAccountDayLimitFen = n }},
		{"REDEEM_MAX_FAILURES_ACCOUNT", func(n int64) { s.RedeemMaxFailuresPerAccount = int(n) }},
		{"REDEEM_MAX_FAILURES_IP", func(n int64) { s.RedeemMaxFailuresPerIP = int(n) }},
		{"IMPORT_MAX_ROWS", func(n int64) { s.ImportLimits.MaxRows = int(n) }},
		{"IMPORT_MAX_UNZIPPED_BYTES", func(n int64) { s.ImportLimits.MaxUnzippedBytes = n }},
	} {
		if v := env.get(f.name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 || n > 1<<40 || strings.HasPrefix(f.name, "IMPORT_") && n == 0 {
				return fmt.Errorf("%s must be a non-negative whole number (positive for IMPORT_*), not %q", f.name, v)
			}
			f.dst(n)
		}
	}
	if v := env.get("REDEEM_WINDOW"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("REDEEM_WINDOW must be a positive duration such as 15m, not %q", v)
		}
		s.RedeemWindow = d
	}
	c.Backoffice = s
	return nil
}

// readSMTP reads SMTP_HOST, SMTP_PORT (default 587; 465 means implicit
// TLS), SMTP_TLS (starttls|tls|none), SMTP_USER, SMTP_PASSWORD_FILE (a file
// holding the password, so it never sits in the environment) and MAIL_FROM.
// Without SMTP_HOST mail goes to the development sender (files under
// DataDir/mail).
func readSMTP(c *Config, env source) error {
	m := mail.SMTPConfig{Host: env.get("SMTP_HOST")}
	if m.Host == "" {
		return nil
	}
	m.Port = 587
	if p := env.get("SMTP_PORT"); p != "" {
		var err error
		if m.Port, err = strconv.Atoi(p); err != nil || m.Port <= 0 || m.Port > 65535 {
			return errors.New("SMTP_PORT must be a port number such as 587 or 465")
		}
	}
	m.TLS = env.get("SMTP_TLS")
	if m.TLS == "" {
		m.TLS = mail.TLSStartTLS
		if m.Port == 465 {
			m.TLS = mail.TLSImplicit
		}
	}
	m.User = env.get("SMTP_USER")
	if f := env.get("SMTP_PASSWORD_FILE"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("SMTP_PASSWORD_FILE cannot be read: %w", err)
		}
		m.Password = strings.TrimRight(string(b), "\r\n")
	}
	if m.User != "" && m.Password == "" {
		return errors.New("SMTP_USER is set but SMTP_PASSWORD_FILE is missing or empty")
	}
	m.From = env.get("MAIL_FROM")
	if m.From == "" {
		return errors.New("MAIL_FROM is required with SMTP_HOST, e.g. MAIL_FROM='Billing <billing@example.com>'")
	}
	if _, err := mail.NewSMTP(m); err != nil {
		return err
	}
	c.SMTP = m
	return nil
}

// NATS is where usage events are queued: with URL set, POST /v1/usage/events
// stores each event in a JetStream stream and answers 202, and every
// `credits serve` charges them from there (internal/usagestream).
type NATS struct {
	// URL is the NATS server with JetStream (NATS_URL, such as
	// nats://127.0.0.1:4222); empty: usage is charged in the request.
	URL string
	// Prefix names the subjects and streams (NATS_PREFIX, default credits),
	// so deployments can share a NATS server.
	Prefix string
}

func readNATS(c *Config, env source) error {
	c.NATS = NATS{URL: env.get("NATS_URL"), Prefix: env.or("NATS_PREFIX", "credits")}
	if c.NATS.URL != "" && !strings.HasPrefix(c.NATS.URL, "nats://") && !strings.HasPrefix(c.NATS.URL, "tls://") {
		return errors.New("NATS_URL must be a nats:// or tls:// URL such as nats://127.0.0.1:4222")
	}
	for _, r := range c.NATS.Prefix {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return errors.New("NATS_PREFIX must be lower-case letters, digits, _ or - (such as credits)")
		}
	}
	return nil
}

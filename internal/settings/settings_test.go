package settings_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/journal"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/settings"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

var seq atomic.Int64

// env is what the configuration gives in these tests.
func env() settings.Values {
	return settings.Defaults(payments.Options{BankAccount: payments.DemoBankAccount}, backoffice.DefaultSettings(),
		decimal.NewFromInt(10000), ledger.GracePolicy{}, 7)
}

type bundle struct {
	ctx   context.Context
	pool  *pgxpool.Pool
	store *settings.Store
	users *auth.Service
}

// setup gives each test a database of its own: settings are global.
func setup(t *testing.T) *bundle {
	t.Helper()
	pool, _ := dbtest.Own(t)
	users := auth.New(pool, auth.Options{Argon2: auth.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}})
	b := &bundle{ctx: context.Background(), pool: pool, users: users, store: settings.New(pool, env(), settings.Options{})}
	_, err := b.store.Load(b.ctx)
	require.NoError(t, err)
	return b
}

func (b *bundle) staff(t *testing.T, roles ...auth.Role) backoffice.Actor {
	t.Helper()
	u, err := b.users.CreateStaff(b.ctx, auth.StaffRequest{Email: fmt.Sprintf("staff%d@example.com", seq.Add(1)),
		Password: "correct horse battery", Name: "Staff", Roles: roles})
	require.NoError(t, err)
	return backoffice.Actor{User: u, IP: "192.0.2.10"}
}

// form is the group's form as the screen fills it from v, with changes.
func form(v settings.Values, g settings.Group, changes map[string]string) map[string]string {
	f := v.Form(g)
	for k, x := range changes {
		f[k] = x
	}
	return f
}

func codes(t *testing.T, err error) map[string]string {
	t.Helper()
	fe, ok := fielderr.As(err)
	require.True(t, ok, "a field error: %v", err)
	out := map[string]string{}
	for _, f := range fe.Fields {
		out[f.Name] = f.Code
	}
	return out
}

func TestParseReportsEveryFieldAtOnce(t *testing.T) {
	t.Parallel()
	base := env()
	cases := []struct {
		name  string
		group settings.Group
		in    map[string]string
		want  map[string]string
	}{
		{"topup", settings.GroupTopup, map[string]string{"tiers": "30,abc", "bonus": "100=20", "bonus_expiry_days": "99999"},
			map[string]string{"tiers": settings.CodeNumber, "bonus": settings.CodeBonusFormat, "bonus_expiry_days": settings.CodeRange}},
		{"bonus on a tier not offered", settings.GroupTopup, map[string]string{"tiers": "30,100", "bonus": "300:20", "bonus_expiry_days": "90"},
			map[string]string{"bonus": settings.CodeBonusTier}},
		{"tier out of range and fractions of a fen", settings.GroupTopup, map[string]string{"tiers": "0.5", "bonus": "", "bonus_expiry_days": "1.5"},
			map[string]string{"tiers": settings.CodeRange, "bonus_expiry_days": settings.CodePlaces}},
		{"bank half given, bad number", settings.GroupBank, map[string]string{"bank_name": "某公司", "bank_number": "62x"},
			map[string]string{"bank_bank": settings.CodeBankIncomplete, "bank_number": settings.CodeBankNumber}},
		{"limits", settings.GroupLimits, map[string]string{"grant_limit": "-1", "grant_staff_day": "", "grant_account_day": "1.0000001",
			"recharge_limit": "1.001", "recharge_staff_day": "x", "recharge_account_day": "100000000", "rate_card_discount": "100",
			"credit_line_limit": "0"},
			map[string]string{"grant_limit": settings.CodeRange, "grant_staff_day": settings.CodeRequired, "grant_account_day": settings.CodePlaces,
				"recharge_limit": settings.CodePlaces, "recharge_staff_day": settings.CodeNumber, "recharge_account_day": settings.CodeRange,
				"rate_card_discount": settings.CodeRange, "credit_line_limit": settings.CodeRange}},
		{"credit line limit too large", settings.GroupLimits, map[string]string{"grant_limit": "1", "grant_staff_day": "1", "grant_account_day": "1",
			"recharge_limit": "1", "recharge_staff_day": "1", "recharge_account_day": "1", "rate_card_discount": "1",
			"credit_line_limit": "100000000.01"},
			map[string]string{"credit_line_limit": settings.CodeRange}},
		{"accounts", settings.GroupAccounts, map[string]string{"trial_cap": "0", "grace_credits": "500", "grace_hours": "0", "reminder_days": "400"},
			map[string]string{"trial_cap": settings.CodeRange, "grace_hours": settings.CodeGraceHours, "reminder_days": settings.CodeRange}},
		{"plans", settings.GroupPlans, map[string]string{"renewal_days": "0", "plan_grace_days": "31"},
			map[string]string{"renewal_days": settings.CodeRange, "plan_grace_days": settings.CodeRange}},
		{"plans too far and fractional", settings.GroupPlans, map[string]string{"renewal_days": "61", "plan_grace_days": "1.5"},
			map[string]string{"renewal_days": settings.CodeRange, "plan_grace_days": settings.CodePlaces}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := settings.Parse(c.group, c.in, base)
			require.ErrorIs(t, err, fielderr.ErrInvalid)
			require.Equal(t, c.want, codes(t, err))
			fe, _ := fielderr.As(err)
			for _, f := range fe.Fields {
				if f.Code == settings.CodeRange {
					require.NotEmpty(t, f.Args["min"], "a range error names its range")
					require.NotEmpty(t, f.Args["max"])
				}
			}
			if c.name == "limits" {
				require.Equal(t, map[string]string{"min": "0", "max": "100,000,000"}, fe.Fields[0].Args)
			}
		})
	}
}

func TestParseAcceptsWhatPeopleType(t *testing.T) {
	t.Parallel()
	base := env()
	v, err := settings.Parse(settings.GroupTopup, map[string]string{"tiers": "５０，２００、 1000", "bonus": "２００：１５％", "bonus_expiry_days": "０"}, base)
	require.NoError(t, err)
	require.Equal(t, []int64{5000, 20000, 100000}, v.Tiers)
	require.Equal(t, "15", v.Bonus[20000].String())
	require.Len(t, v.Bonus, 1)
	require.Equal(t, time.Duration(-1), v.Products().BonusValidity, "0 days: the bonus never expires")
	require.Equal(t, payments.DefaultTiers, base.Tiers, "parsing leaves the base alone")

	v, err = settings.Parse(settings.GroupTopup, map[string]string{"tiers": "30", "bonus": "none", "bonus_expiry_days": "30"}, base)
	require.NoError(t, err)
	require.NotNil(t, v.Bonus)
	require.Empty(t, v.Bonus, "none: no bonus (not the default bonus)")
	require.Empty(t, v.Products().Bonus)

	v, err = settings.Parse(settings.GroupAccounts, map[string]string{"trial_cap": "２０，０００", "grace_credits": "0", "grace_hours": "0", "reminder_days": "3"}, base)
	require.NoError(t, err)
	require.Equal(t, "20000", v.TrialCap.String())
	require.False(t, v.GracePolicy().Enabled)

	require.Equal(t, plans.RenewalTerms{LeadDays: plans.DefaultRenewalLeadDays, GraceDays: plans.DefaultGraceDays}, base.RenewalTerms(),
		"renewal 7 days ahead, 3 days' grace by default")
	v, err = settings.Parse(settings.GroupPlans, map[string]string{"renewal_days": "１４", "plan_grace_days": "0"}, base)
	require.NoError(t, err)
	require.Equal(t, plans.RenewalTerms{LeadDays: 14, GraceDays: 0}, v.RenewalTerms(), "0 days: no grace")

	v, err = settings.Parse(settings.GroupLimits, map[string]string{"grant_limit": "2000", "grant_staff_day": "3000", "grant_account_day": "4000",
		"recharge_limit": "500.50", "recharge_staff_day": "600", "recharge_account_day": "700", "rate_card_discount": "１５",
		"credit_line_limit": "２００，０００.５"}, base)
	require.NoError(t, err)
	bo := v.Backoffice(backoffice.DefaultSettings())
	require.Equal(t, int64(20_000_050), bo.CreditLineLimitFen, "limits.credit_line")
	require.Equal(t, int64(backoffice.DefaultCreditLineLimitFen), base.CreditLineLimitFen, "¥100,000 by default")
	require.Equal(t, "¥100,000.00", base.Text(settings.KeyCreditLine))
	require.Equal(t, "15", bo.RateCardDiscountPct.String(), "limits.rate_card_discount")
	require.Equal(t, "20", base.RateCardDiscount.String(), "20 % by default")
	require.Equal(t, int64(50050), bo.ManualRechargeLimitFen)
	require.Equal(t, "3000", bo.SupportGrantStaffDayLimit.String())
	require.Equal(t, backoffice.DefaultSettings().RedeemWindow, bo.RedeemWindow, "what the screen does not edit stays")
}

// The environment's values are in force until a change; a change is
// stored with who, when and why, audited, and in force at once; the
// history lists every change newest first; the table refuses rewrites.
func TestChangeOverridesTheEnvironmentWithHistoryAndAudit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	admin := b.staff(t, auth.RoleAdmin)
	require.Equal(t, env().Tiers, b.store.Current().Tiers)
	st, err := b.store.Load(b.ctx)
	require.NoError(t, err)
	require.Empty(t, st.Changed, "nothing stored: the environment's values")

	// Only admins.
	_, err = b.store.Change(b.ctx, settings.GroupTopup, form(env(), settings.GroupTopup, map[string]string{"tiers": "50"}), "why",
		b.staff(t, auth.RoleFinance))
	require.ErrorIs(t, err, backoffice.ErrForbidden)

	// A reason is required, and a form that changes nothing is refused.
	_, err = b.store.Change(b.ctx, settings.GroupTopup, form(env(), settings.GroupTopup, map[string]string{"tiers": "50, 100"}), " ", admin)
	require.Equal(t, map[string]string{"reason": settings.CodeRequired}, codes(t, err))
	_, err = b.store.Change(b.ctx, settings.GroupTopup, form(env(), settings.GroupTopup, nil), "nothing", admin)
	require.Equal(t, map[string]string{"form": settings.CodeUnchanged}, codes(t, err))

	changed, err := b.store.Change(b.ctx, settings.GroupTopup, form(env(), settings.GroupTopup,
		map[string]string{"tiers": "50, 100, 500", "bonus": "500:10"}), "双十二活动", admin)
	require.NoError(t, err)
	require.Equal(t, []settings.Key{settings.KeyTopupTiers, settings.KeyTopupBonus}, changed, "the expiry days did not change")
	cur := b.store.Current()
	require.Equal(t, []int64{5000, 10000, 50000}, cur.Tiers)
	require.Equal(t, "10", cur.Products().Bonus[50000].String())
	require.Equal(t, env().BonusExpiryDays, cur.BonusExpiryDays)

	_, err = b.store.Change(b.ctx, settings.GroupTopup, form(cur, settings.GroupTopup, map[string]string{"tiers": "50, 100"}),
		"活动结束", admin)
	require.ErrorIs(t, err, fielderr.ErrInvalid, "the bonus names a tier no longer offered")
	_, err = b.store.Change(b.ctx, settings.GroupTopup, form(cur, settings.GroupTopup, map[string]string{"tiers": "50, 100", "bonus": ""}),
		"活动结束", admin)
	require.NoError(t, err)

	hist, err := b.store.History(b.ctx, settings.KeyTopupTiers, 10)
	require.NoError(t, err)
	require.Len(t, hist, 2)
	require.Equal(t, "活动结束", hist[0].Reason)
	require.Equal(t, admin.User.Email, hist[0].ChangedByEmail)
	require.Equal(t, hist[1].ID, *hist[0].PreviousID)
	require.Nil(t, hist[1].PreviousID, "the first change replaced the environment's value")
	v, err := hist[1].Values(env())
	require.NoError(t, err)
	require.Equal(t, []int64{5000, 10000, 50000}, v.Tiers)

	// A new store (another process, a restart) reads the stored values.
	other := settings.New(b.pool, env(), settings.Options{})
	st, err = other.Load(b.ctx)
	require.NoError(t, err)
	require.Equal(t, []int64{5000, 10000}, st.Values.Tiers)
	require.Empty(t, st.Values.Bonus)
	require.Contains(t, st.Changed, settings.KeyTopupBonus)
	require.NotContains(t, st.Changed, settings.KeyTrialCap)
	require.Equal(t, env().TrialCap, st.Values.TrialCap)

	// Audit rows: one per changed key, with the old and new value.
	rows, err := b.pool.Query(b.ctx, `SELECT reason, detail FROM admin_audit_log WHERE action = 'setting_changed' AND detail->>'key' = 'topup.tiers' ORDER BY id`)
	require.NoError(t, err)
	type audit struct {
		Reason string
		Detail struct {
			Old, New    json.RawMessage
			FromDefault bool `json:"from_default"`
		}
	}
	var audits []audit
	for rows.Next() {
		var a audit
		var raw []byte
		require.NoError(t, rows.Scan(&a.Reason, &raw))
		require.NoError(t, json.Unmarshal(raw, &a.Detail))
		audits = append(audits, a)
	}
	require.NoError(t, rows.Err())
	require.Len(t, audits, 2)
	require.JSONEq(t, `[3000,10000,30000,100000]`, string(audits[0].Detail.Old))
	require.JSONEq(t, `[5000,10000,50000]`, string(audits[0].Detail.New))
	require.True(t, audits[0].Detail.FromDefault)
	require.JSONEq(t, `[5000,10000]`, string(audits[1].Detail.New))

	// Append-only, for a superuser too.
	_, err = b.pool.Exec(b.ctx, `UPDATE business_settings SET reason = 'x'`)
	require.ErrorContains(t, err, "append-only")
	_, err = b.pool.Exec(b.ctx, `DELETE FROM business_settings`)
	require.ErrorContains(t, err, "append-only")
}

// A form carries the change of each key it was shown with: a save over a
// change made since is refused, not silently undone; the same form shown
// again goes through.
func TestChangeRefusesToOverwriteAChangeNotSeen(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a1, a2 := b.staff(t, auth.RoleAdmin), b.staff(t, auth.RoleAdmin)
	seen := func(st settings.State, in map[string]string) map[string]string {
		for _, k := range settings.GroupAccounts.Keys() {
			in[settings.SeenField(k)] = fmt.Sprint(st.Changed[k].ID)
		}
		return in
	}
	shown, err := b.store.Load(b.ctx)
	require.NoError(t, err)
	_, err = b.store.Change(b.ctx, settings.GroupAccounts, seen(shown, form(shown.Values, settings.GroupAccounts,
		map[string]string{"grace_credits": "500", "grace_hours": "24"})), "grace on", a1)
	require.NoError(t, err)
	_, err = b.store.Change(b.ctx, settings.GroupAccounts, seen(shown, form(shown.Values, settings.GroupAccounts,
		map[string]string{"trial_cap": "30000"})), "bigger trial", a2)
	require.Equal(t, map[string]string{"form": settings.CodeStale}, codes(t, err), "a2's form would turn grace off again")
	require.True(t, b.store.Current().GracePolicy().Enabled)

	again, err := b.store.Load(b.ctx)
	require.NoError(t, err)
	_, err = b.store.Change(b.ctx, settings.GroupAccounts, seen(again, form(again.Values, settings.GroupAccounts,
		map[string]string{"trial_cap": "30000"})), "bigger trial", a2)
	require.NoError(t, err)
	cur := b.store.Current()
	require.Equal(t, "30000", cur.TrialCap.String())
	require.Equal(t, "500", cur.Grace.Credits.String(), "a1's change stays")
}

// 64 admins change the trial cap at once: every change is one row of a
// single line of history (each row follows the one before it), each has
// its audit row, and the value in force is the newest row's, in this
// process and in a fresh one.
func TestConcurrentChangesToOneKeyFormOneHistory(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const n = 64
	actors := make([]backoffice.Actor, n)
	for i := range actors {
		actors[i] = b.staff(t, auth.RoleAdmin)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			in := form(env(), settings.GroupAccounts, map[string]string{"trial_cap": fmt.Sprint(20000 + i)})
			_, errs[i] = b.store.Change(b.ctx, settings.GroupAccounts, in, fmt.Sprintf("change %d", i), actors[i])
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "writer %d", i)
	}
	hist, err := b.store.History(b.ctx, settings.KeyTrialCap, 1000)
	require.NoError(t, err)
	require.Len(t, hist, n)
	seen := map[string]bool{}
	for i, h := range hist {
		v, err := h.Values(env())
		require.NoError(t, err)
		seen[v.TrialCap.String()] = true
		if i == len(hist)-1 {
			require.Nil(t, h.PreviousID)
		} else {
			require.NotNil(t, h.PreviousID)
			require.Equal(t, hist[i+1].ID, *h.PreviousID, "row %d follows the row before it", h.ID)
		}
	}
	require.Len(t, seen, n, "every writer's value is in the history once")
	newest, err := hist[0].Values(env())
	require.NoError(t, err)
	require.Equal(t, newest.TrialCap.String(), b.store.Current().TrialCap.String(), "the newest row is in force")
	fresh := settings.New(b.pool, env(), settings.Options{})
	st, err := fresh.Load(b.ctx)
	require.NoError(t, err)
	require.Equal(t, newest.TrialCap.String(), st.Values.TrialCap.String())
	require.Equal(t, hist[0].ID, st.Changed[settings.KeyTrialCap].ID)
	var audits int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM admin_audit_log WHERE action = 'setting_changed' AND detail->>'key' = 'trial.cap'`).Scan(&audits))
	require.Equal(t, n, audits)
	// Other keys of the group did not change.
	for _, k := range []settings.Key{settings.KeyGrace, settings.KeyExpiryReminderDay} {
		h, err := b.store.History(b.ctx, k, 10)
		require.NoError(t, err)
		require.Empty(t, h, k)
	}
	// The database itself refuses a fork in the history.
	_, err = b.pool.Exec(b.ctx, `INSERT INTO business_settings (key, value, previous_id, changed_by, changed_by_email, changed_at, reason)
		VALUES ('trial.cap', '"1"', $1, $2, 'x', now(), 'fork')`, hist[1].ID, actors[0].User.ID)
	var pgErr interface{ SQLState() string }
	require.True(t, errors.As(err, &pgErr) && pgErr.SQLState() == "23505", "a second change after one row: %v", err)
}

// Another process's change reaches this one within the cache lifetime,
// without this one waiting for the database.
func TestCurrentReloadsAfterItsLifetime(t *testing.T) {
	t.Parallel()
	b := setup(t)
	reader := settings.New(b.pool, env(), settings.Options{CacheTTL: 50 * time.Millisecond})
	_, err := reader.Load(b.ctx)
	require.NoError(t, err)
	_, err = b.store.Change(b.ctx, settings.GroupAccounts, form(env(), settings.GroupAccounts, map[string]string{"reminder_days": "3"}),
		"earlier reminders", b.staff(t, auth.RoleAdmin))
	require.NoError(t, err)
	require.Equal(t, 3, b.store.Current().ReminderDays, "the writing process at once")
	require.Eventually(t, func() bool { return reader.Current().ReminderDays == 3 }, 5*time.Second, 20*time.Millisecond)
}

// TestJournalAccountsAreSettings: the journal's account codes and VAT rate
// are a group of the screen: every field checked at once, a change stored
// with its history and in force at once (Values.Journal).
func TestJournalAccountsAreSettings(t *testing.T) {
	t.Parallel()
	b := setup(t)
	admin := b.staff(t, auth.RoleAdmin)
	require.Equal(t, "2204.01", b.store.Current().Journal().Code(journal.TopupLiability), "the default chart")
	require.Equal(t, "6", b.store.Current().Journal().VATRate.String())

	bad := form(env(), settings.GroupJournal, map[string]string{settings.JournalField(journal.ClearingWechat): "10 12",
		settings.JournalField(journal.OutputVAT): "", settings.FieldVATRate: "101"})
	_, err := b.store.Change(b.ctx, settings.GroupJournal, bad, "why", admin)
	require.Equal(t, map[string]string{settings.JournalField(journal.ClearingWechat): settings.CodeAccountCode,
		settings.JournalField(journal.OutputVAT): settings.CodeRequired, settings.FieldVATRate: settings.CodeRange}, codes(t, err))

	changed, err := b.store.Change(b.ctx, settings.GroupJournal, form(env(), settings.GroupJournal, map[string]string{
		settings.JournalField(journal.ClearingWechat): "１００２．０３", settings.FieldVATRate: "3"}), "小规模纳税人", admin)
	require.NoError(t, err)
	require.Equal(t, []settings.Key{settings.KeyJournalAccounts, settings.KeyJournalVATRate}, changed)
	acc := b.store.Current().Journal()
	require.Equal(t, "1002.03", acc.Code(journal.ClearingWechat), "full-width digits and dot accepted")
	require.Equal(t, "1012.02", acc.Code(journal.ClearingAlipay), "the others kept")
	require.Equal(t, "3", acc.VATRate.String())
	require.Contains(t, b.store.Current().Text(settings.KeyJournalAccounts), "1002.03")
}

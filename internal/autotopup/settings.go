package autotopup

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
)

// Settings are what the customer set for auto top-up.
type Settings struct {
	// ThresholdCredits, or else ThresholdShare (0–1, of the last top-up's
	// credits), is the level below which a top-up is made.
	ThresholdCredits *decimal.Decimal `db:"threshold_credits"`
	ThresholdShare   *decimal.Decimal `db:"threshold_share"`
	TierFen          int64            `db:"tier_fen"`        // the top-up bought each time
	MonthlyCapFen    int64            `db:"monthly_cap_fen"` // at most this much a Beijing month
	UpdatedAt        time.Time        `db:"updated_at"`
}

// Threshold is the threshold in credits given the last top-up's credits;
// zero when it is a share and there was no top-up yet.
func (s Settings) Threshold(lastTopUpCredits decimal.Decimal) decimal.Decimal {
	if s.ThresholdCredits != nil {
		return *s.ThresholdCredits
	}
	if s.ThresholdShare != nil {
		return lastTopUpCredits.Mul(*s.ThresholdShare).Round(6)
	}
	return decimal.Zero
}

// Threshold modes of the form.
const (
	ModeCredits = "credits"
	ModePercent = "percent"
)

// SettingsInput is the settings form as typed.
type SettingsInput struct {
	Mode       string // ModeCredits or ModePercent
	Threshold  string // credits, or a percent 1–99
	TierYuan   string
	MonthlyCap string // yuan
}

const settingsColumns = `threshold_credits, threshold_share, tier_fen, monthly_cap_fen, updated_at`

// GetSettings returns the account's settings. Errors: ErrNotFound (none yet).
func (s *Service) GetSettings(ctx context.Context, accountID int64) (Settings, error) {
	return getSettings(ctx, s.pool, accountID)
}

func getSettings(ctx context.Context, q db.DBTX, accountID int64) (Settings, error) {
	rows, _ := q.Query(ctx, `SELECT `+settingsColumns+` FROM autotopup_settings WHERE account_id = $1`, accountID)
	st, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Settings])
	if errors.Is(err, pgx.ErrNoRows) {
		return st, ErrNotFound
	}
	return st, err
}

// parseYuan reads a positive amount of whole fen.
func parseYuan(v string) (int64, bool) {
	d, err := decimal.NewFromString(strings.TrimSpace(v))
	if err != nil || !d.IsPositive() || !d.Equal(d.Round(2)) {
		return 0, false
	}
	return d.Shift(2).IntPart(), true
}

// Validate checks the input and returns the settings, or every failed
// field at once (*fielderr.Errors). The tier must be a top-up amount the
// payments service accepts and within the per-debit limit of channel (when
// one is known); the cap must allow at least one tier.
func (s *Service) Validate(in SettingsInput, channel payments.Channel) (Settings, error) {
	fe := fielderr.New("autotopup")
	var st Settings
	v, err := decimal.NewFromString(strings.TrimSpace(in.Threshold))
	switch {
	case in.Mode != ModeCredits && in.Mode != ModePercent:
		fe.Add("mode", "invalid")
	case err != nil || !v.IsPositive():
		fe.Add("threshold", "autotopup_threshold_positive")
	case in.Mode == ModePercent && (!v.IsInteger() || v.GreaterThan(decimal.NewFromInt(99))):
		fe.Add("threshold", "autotopup_threshold_percent", "min", "1", "max", "99")
	case in.Mode == ModePercent:
		share := v.Div(decimal.NewFromInt(100))
		st.ThresholdShare = &share
	default:
		c := v.Round(6)
		st.ThresholdCredits = &c
	}
	tier, ok := parseYuan(in.TierYuan)
	if !ok {
		fe.Add("tier", "autotopup_tier_invalid")
	} else if _, err := s.payments.Quote(tier); err != nil {
		fe.Add("tier", "autotopup_tier_invalid")
	} else if lim := s.opts.Limits[channel].PerDebitFen; lim > 0 && tier > lim {
		fe.Add("tier", "autotopup_tier_over_limit", "max", yuan(lim))
	}
	st.TierFen = tier
	capFen, ok := parseYuan(in.MonthlyCap)
	switch {
	case !ok:
		fe.Add("monthly_cap", "autotopup_cap_invalid")
	case tier > 0 && capFen < tier:
		fe.Add("monthly_cap", "autotopup_cap_below_tier", "tier", yuan(tier))
	}
	st.MonthlyCapFen = capFen
	if len(fe.Fields) > 0 {
		return Settings{}, fe
	}
	return st, nil
}

// SaveSettings validates and stores the account's settings, recording the
// change in the history and the audit log. Errors: *fielderr.Errors,
// database errors.
func (s *Service) SaveSettings(ctx context.Context, accountID int64, in SettingsInput, who Actor) (Settings, error) {
	channel := payments.Channel("")
	if a, err := s.Current(ctx, accountID); err == nil && a.InForce() {
		channel = a.Channel
	}
	st, err := s.Validate(in, channel)
	if err != nil {
		return st, fmt.Errorf("autotopup: settings: %w", err)
	}
	err = db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		const upsert = `
INSERT INTO autotopup_settings (account_id, threshold_credits, threshold_share, tier_fen, monthly_cap_fen, updated_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (account_id) DO UPDATE SET threshold_credits = EXCLUDED.threshold_credits, threshold_share = EXCLUDED.threshold_share,
  tier_fen = EXCLUDED.tier_fen, monthly_cap_fen = EXCLUDED.monthly_cap_fen, updated_at = EXCLUDED.updated_at`
		if _, err := tx.Exec(ctx, upsert, accountID, st.ThresholdCredits, st.ThresholdShare, st.TierFen, st.MonthlyCapFen, s.now()); err != nil {
			return err
		}
		detail := map[string]any{"tier_fen": st.TierFen, "monthly_cap_fen": st.MonthlyCapFen}
		if st.ThresholdCredits != nil {
			detail["threshold_credits"] = st.ThresholdCredits.String()
		} else {
			detail["threshold_percent"] = st.ThresholdShare.Shift(2).String()
		}
		return s.historyTx(ctx, tx, accountID, HistorySettings, detail, who, "autotopup_settings_changed")
	})
	if err != nil {
		return st, fmt.Errorf("autotopup: settings: %w", err)
	}
	return st, nil
}

package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/platform/format"
)

// AlertSettings are an account's low-balance alert settings.
type AlertSettings struct {
	// Percents are shares (1–99) of the balance after the latest top-up or
	// grant; crossing below each sends one alert. At most MaxAlertPercents.
	Percents []int
	// Credits, when set, is an absolute threshold in credits.
	Credits *decimal.Decimal
	// Recipients are mailed besides (or, without MailOwner, instead of)
	// the account's own user. At most MaxAlertRecipients.
	Recipients []string
	// MailOwner mails the account's own user.
	MailOwner bool
}

// Bounds of AlertSettings.
const (
	MaxAlertPercents   = 4
	MaxAlertRecipients = 5
)

// DefaultAlertSettings apply to an account that set none: 20 % and 5 %, to
// its own user.
func DefaultAlertSettings() AlertSettings {
	return AlertSettings{Percents: []int{20, 5}, MailOwner: true}
}

// threshold is one point below which an alert goes out.
type threshold struct {
	percent int             // a share of the baseline, or
	credits decimal.Decimal // an absolute amount (percent 0)
}

// amount is the threshold in credits for a baseline.
func (t threshold) amount(baseline decimal.Decimal) decimal.Decimal {
	if t.percent > 0 {
		return baseline.Mul(decimal.NewFromInt(int64(t.percent))).Div(decimal.NewFromInt(100))
	}
	return t.credits
}

// id names the threshold in event ids: the percent (as before settings
// existed) or c<credits>.
func (t threshold) id() string {
	if t.percent > 0 {
		return strconv.Itoa(t.percent)
	}
	return "c" + t.credits.String()
}

// thresholds are the settings' thresholds for a baseline, highest first:
// level n means the first n have been crossed.
func (s AlertSettings) thresholds(baseline decimal.Decimal) []threshold {
	out := make([]threshold, 0, len(s.Percents)+1)
	for _, p := range s.Percents {
		out = append(out, threshold{percent: p})
	}
	if s.Credits != nil {
		out = append(out, threshold{credits: *s.Credits})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].amount(baseline).GreaterThan(out[j].amount(baseline)) })
	return out
}

// ParseAlertSettings reads the portal's form: percents and recipients as
// comma-separated lists, credits empty for none. Every failing field is
// reported at once (a *fielderr.Errors).
func ParseAlertSettings(percents, credits, recipients string, mailOwner bool) (AlertSettings, error) {
	errs := fielderr.New("alerts")
	s := AlertSettings{MailOwner: mailOwner}
	for _, f := range splitList(percents) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 99 {
			errs.Add("percents", "alert_percent_range", "min", "1", "max", "99")
			break
		}
		if !slices.Contains(s.Percents, n) {
			s.Percents = append(s.Percents, n)
		}
	}
	if len(s.Percents) > MaxAlertPercents {
		errs.Add("percents", "alert_percent_count", "max", strconv.Itoa(MaxAlertPercents))
	}
	sort.Sort(sort.Reverse(sort.IntSlice(s.Percents)))
	if credits = strings.TrimSpace(credits); credits != "" {
		d, err := format.ParseDecimal(credits)
		if err != nil || !d.IsPositive() || d.GreaterThan(ledger.MaxCredits) || !ledger.Round(d).Equal(d) {
			errs.Add("credits", "alert_credits_range", "max", ledger.MaxCredits.String())
		} else {
			s.Credits = &d
		}
	}
	for _, r := range splitList(recipients) {
		a, err := mail.ParseAddress(r)
		if err != nil || a.Name != "" || len(r) > 254 {
			errs.Add("recipients", "alert_recipient_invalid", "value", r)
			break
		}
		if !slices.Contains(s.Recipients, strings.ToLower(a.Address)) {
			s.Recipients = append(s.Recipients, strings.ToLower(a.Address))
		}
	}
	if len(s.Recipients) > MaxAlertRecipients {
		errs.Add("recipients", "alert_recipient_count", "max", strconv.Itoa(MaxAlertRecipients))
	}
	if len(s.Percents) == 0 && s.Credits == nil && errs.Code("percents") == "" && errs.Code("credits") == "" {
		errs.Add("percents", "alert_threshold_required")
	}
	if !s.MailOwner && len(s.Recipients) == 0 && errs.Code("recipients") == "" {
		errs.Add("recipients", "alert_recipient_required")
	}
	return s, errs.Err()
}

// splitList splits on commas, semicolons, spaces and their full-width forms.
func splitList(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool {
		return r == ',' || r == ';' || r == ' ' || r == '\n' || r == '，' || r == '；' || r == '、' || r == '\u3000'
	})
}

const selectAlertSettings = `
SELECT percents, threshold_credits, recipients, mail_owner FROM balance_alert_settings WHERE pool_id = $1`

// AlertSettings returns the account's low-balance alert settings (the
// defaults when it set none). accountID must be a pool (an individual or an
// enterprise): alerts watch pools.
func (s *Service) AlertSettings(ctx context.Context, accountID int64) (AlertSettings, error) {
	return alertSettings(ctx, s.pool, accountID)
}

func alertSettings(ctx context.Context, q db.DBTX, poolID int64) (AlertSettings, error) {
	var (
		percents []int16
		credits  *decimal.Decimal
		out      AlertSettings
	)
	err := q.QueryRow(ctx, selectAlertSettings, poolID).Scan(&percents, &credits, &out.Recipients, &out.MailOwner)
	if errors.Is(err, pgx.ErrNoRows) {
		return DefaultAlertSettings(), nil
	}
	if err != nil {
		return AlertSettings{}, fmt.Errorf("gateway: alert settings: %w", err)
	}
	for _, p := range percents {
		out.Percents = append(out.Percents, int(p))
	}
	out.Credits = credits
	return out, nil
}

const upsertAlertSettings = `
INSERT INTO balance_alert_settings (pool_id, percents, threshold_credits, recipients, mail_owner, updated_by, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, now())
ON CONFLICT (pool_id) DO UPDATE SET percents = EXCLUDED.percents, threshold_credits = EXCLUDED.threshold_credits,
  recipients = EXCLUDED.recipients, mail_owner = EXCLUDED.mail_owner, updated_by = EXCLUDED.updated_by, updated_at = now()`

// SetAlertSettings stores the account's low-balance alert settings (parsed
// by ParseAlertSettings), as set by the portal user userID. They apply from
// the next ledger event on; thresholds count from the latest top-up or
// grant, so one crossed before the change is not announced again unless the
// change puts it deeper in the list.
func (s *Service) SetAlertSettings(ctx context.Context, accountID, userID int64, set AlertSettings) error {
	percents := make([]int16, len(set.Percents))
	for i, p := range set.Percents {
		percents[i] = int16(p)
	}
	recipients := set.Recipients
	if recipients == nil {
		recipients = []string{}
	}
	if _, err := s.pool.Exec(ctx, upsertAlertSettings, accountID, percents, set.Credits, recipients, set.MailOwner, userID); err != nil {
		return fmt.Errorf("gateway: set alert settings: %w", err)
	}
	return nil
}

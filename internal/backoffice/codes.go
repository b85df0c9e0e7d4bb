package backoffice

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/internal/platform/csvexport"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/refcode"
)

// CodeLength is the number of characters of a redemption code, drawn with
// crypto/rand from refcode.Alphabet (31 characters without 0/O, 1/I/L):
// 16·log2(31) ≈ 79 bits, far beyond guessing under the redemption throttle.
// Codes are shown as XXXX-XXXX-XXXX-XXXX and stored only as SHA-256.
const CodeLength = 16

// MaxBatchCount is the most codes one batch may hold.
const MaxBatchCount = 100000

// BatchRequest describes a batch of redemption codes.
type BatchRequest struct {
	Campaign string
	// Amount is the credits each code grants (a promo lot).
	Amount decimal.Decimal
	// The lot expires at LotExpiresAt, or LotExpiresDays after redemption;
	// set at most one (neither: the lot never expires).
	LotExpiresAt   *time.Time
	LotExpiresDays int
	// CodeExpiresAt is when the codes stop working; nil: never.
	CodeExpiresAt  *time.Time
	OnePerCustomer bool
	Count          int
	Actor          Actor
	// PlanCode and PlanDays make a plan batch instead: each code grants the
	// latest version of the plan for PlanDays days (plans.CompDaysTx);
	// Amount must then be zero and no lot expiry set.
	PlanCode string
	PlanDays int
}

// Batch is a stored batch of redemption codes with its redemption count.
type Batch struct {
	ID             int64           `db:"id"`
	Campaign       string          `db:"campaign"`
	Amount         decimal.Decimal `db:"amount"`
	LotExpiresAt   *time.Time      `db:"lot_expires_at"`
	LotExpiresDays *int            `db:"lot_expires_days"`
	CodeExpiresAt  *time.Time      `db:"code_expires_at"`
	OnePerCustomer bool            `db:"one_per_customer"`
	Count          int             `db:"count"`
	Redeemed       int             `db:"redeemed"`
	CreatedBy      int64           `db:"created_by"`
	CreatedByEmail string          `db:"created_by_email"`
	CreatedAt      time.Time       `db:"created_at"`
	// PlanCode and PlanDays: a plan batch (empty and 0 for credits).
	PlanCode string `db:"plan_code"`
	PlanDays int    `db:"plan_days"`
}

// GeneratedBatch is a new batch with its codes in plain text. They are
// shown this once: only their hashes are stored.
type GeneratedBatch struct {
	Batch Batch
	Codes []string // formatted XXXX-XXXX-XXXX-XXXX
	// CSV is the codes as a CSV file (UTF-8 with BOM) for download.
	CSV []byte
}

// GenerateBatch creates a batch of redemption codes and returns them in
// plain text with a CSV export, once. Finance and admin users may generate.
// Errors: ErrForbidden, ErrInvalidBatch, ErrInvalidAmount, ErrInvalidExpiry.
func (s *Service) GenerateBatch(ctx context.Context, r BatchRequest) (GeneratedBatch, error) {
	var out GeneratedBatch
	if err := r.Actor.require(auth.RoleFinance, auth.RoleAdmin); err != nil {
		return out, err
	}
	r.Campaign = strings.TrimSpace(r.Campaign)
	errs := fielderr.New("backoffice")
	if r.Campaign == "" || r.Count <= 0 || r.Count > MaxBatchCount || r.LotExpiresDays < 0 ||
		(r.LotExpiresAt != nil && r.LotExpiresDays > 0) {
		errs.Merge(ErrInvalidBatch)
	}
	if r.PlanCode != "" || r.PlanDays != 0 {
		if r.PlanCode == "" {
			errs.Merge(ErrPlanCodeUnknown)
		}
		if r.PlanDays < 1 || r.PlanDays > plans.MaxCompDays {
			errs.Merge(ErrPlanDaysRange)
		}
		if !r.Amount.IsZero() || r.LotExpiresAt != nil || r.LotExpiresDays != 0 {
			errs.Merge(ErrInvalidBatch)
		}
	} else {
		errs.Merge(checkCredits(r.Amount))
	}
	now := s.now()
	if (r.LotExpiresAt != nil && !r.LotExpiresAt.After(now)) || (r.CodeExpiresAt != nil && !r.CodeExpiresAt.After(now)) {
		errs.Merge(ErrInvalidExpiry)
	}
	if err := errs.Err(); err != nil {
		return out, err
	}
	var days *int
	if r.LotExpiresDays > 0 {
		days = &r.LotExpiresDays
	}
	codes := make([]string, r.Count)
	rows := make([][]any, r.Count)
	for i := range codes {
		c := newCode()
		codes[i] = formatCode(c)
		rows[i] = []any{nil, hashCode(c), c[CodeLength-4:], r.OnePerCustomer}
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		const ins = `
INSERT INTO redemption_batches (campaign, amount, lot_expires_at, lot_expires_days, code_expires_at,
                                one_per_customer, count, created_by, created_by_email, created_at, plan_code, plan_days)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
RETURNING id, campaign, amount, lot_expires_at, lot_expires_days, code_expires_at, one_per_customer, count,
          0 AS redeemed, created_by, created_by_email, created_at, coalesce(plan_code, '') AS plan_code,
          coalesce(plan_days, 0) AS plan_days`
		var planCode *string
		var planDays *int
		if r.PlanCode != "" {
			planCode, planDays = &r.PlanCode, &r.PlanDays
		}
		q, _ := tx.Query(ctx, ins, r.Campaign, r.Amount, utcPtr(r.LotExpiresAt), days, utcPtr(r.CodeExpiresAt),
			r.OnePerCustomer, r.Count, r.Actor.User.ID, r.Actor.User.Email, now, planCode, planDays)
		b, err := pgx.CollectExactlyOneRow(q, pgx.RowToStructByName[Batch])
		if err != nil {
			return fmt.Errorf("backoffice: new batch: %w", err)
		}
		for _, row := range rows {
			row[0] = b.ID
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"redemption_codes"},
			[]string{"batch_id", "code_hash", "hint", "one_per_customer"}, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("backoffice: store codes: %w", err)
		}
		out.Batch = b
		e := staffEntry(r.Actor, ActionCodeBatchCreated, 0)
		e.Reason = r.Campaign
		detail := map[string]any{"batch_id": b.ID, "amount": r.Amount, "count": r.Count,
			"total": r.Amount.Mul(decimal.NewFromInt(int64(r.Count))), "one_per_customer": r.OnePerCustomer}
		if r.PlanCode != "" {
			detail["plan"], detail["plan_days"] = r.PlanCode, r.PlanDays
		}
		e.Detail = detail
		_, err = Audit(ctx, tx, e)
		return err
	})
	if err != nil {
		return GeneratedBatch{}, err
	}
	out.Codes = codes
	var buf bytes.Buffer
	if err := CodesCSV(&buf, out.Batch, codes); err != nil {
		return GeneratedBatch{}, err
	}
	out.CSV = buf.Bytes()
	return out, nil
}

// CodesCSV writes a batch's codes as CSV (UTF-8 with a BOM): code,
// campaign, credits, code expiry.
func CodesCSV(w io.Writer, b Batch, codes []string) error {
	if _, err := io.WriteString(w, bom); err != nil {
		return err
	}
	cw := csvexport.NewWriter(w)
	exp := ""
	if b.CodeExpiresAt != nil {
		exp = b.CodeExpiresAt.In(Shanghai).Format("2006-01-02 15:04")
	}
	_ = cw.Write([]string{"code", "campaign", "credits", "code_expires_at (Asia/Shanghai)"})
	what := b.Amount.String()
	if b.PlanCode != "" {
		what = fmt.Sprintf("plan %s × %d days", b.PlanCode, b.PlanDays)
	}
	for _, c := range codes {
		_ = cw.Write([]string{c, b.Campaign, what, exp})
	}
	cw.Flush()
	return cw.Error()
}

// Batches lists redemption batches, newest first, with how many codes were
// redeemed.
func (s *Service) Batches(ctx context.Context, limit int) ([]Batch, error) {
	if limit <= 0 {
		limit = 100
	}
	const q = `
SELECT b.id, b.campaign, b.amount, b.lot_expires_at, b.lot_expires_days, b.code_expires_at, b.one_per_customer,
       b.count, (SELECT count(*) FROM redemption_codes c WHERE c.batch_id = b.id AND c.redeemed_at IS NOT NULL)::int AS redeemed,
       b.created_by, b.created_by_email, b.created_at, coalesce(b.plan_code, '') AS plan_code, coalesce(b.plan_days, 0) AS plan_days
FROM redemption_batches b ORDER BY b.id DESC LIMIT $1`
	rows, _ := s.pool.Query(ctx, q, limit)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Batch])
	if err != nil {
		return nil, fmt.Errorf("backoffice: batches: %w", err)
	}
	return out, nil
}

func newCode() string {
	b := make([]byte, CodeLength)
	for i := range b {
		b[i] = refcode.Alphabet[randIndex(len(refcode.Alphabet))]
	}
	return string(b)
}

// randIndex returns a uniform value in [0, n) by rejection sampling.
func randIndex(n int) int {
	limit := 256 - 256%n
	var b [1]byte
	for {
		_, _ = rand.Read(b[:]) // never fails since Go 1.24
		if int(b[0]) < limit {
			return int(b[0]) % n
		}
	}
}

func formatCode(c string) string {
	return c[0:4] + "-" + c[4:8] + "-" + c[8:12] + "-" + c[12:16]
}

func hashCode(normalized string) []byte {
	h := sha256.Sum256([]byte(normalized))
	return h[:]
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	return ptr(t.UTC())
}

// Redemption is what a successful redemption added: a promo lot, or for
// a plan code the subscription (and its first grant's plan lot, when the
// plan grants credits).
type Redemption struct {
	BatchID      int64
	Campaign     string
	Lot          ledger.Lot
	Subscription *plans.Subscription
}

type codeRow struct {
	ID             int64           `db:"id"`
	BatchID        int64           `db:"batch_id"`
	RedeemedAt     *time.Time      `db:"redeemed_at"`
	Campaign       string          `db:"campaign"`
	Amount         decimal.Decimal `db:"amount"`
	LotExpiresAt   *time.Time      `db:"lot_expires_at"`
	LotExpiresDays *int            `db:"lot_expires_days"`
	CodeExpiresAt  *time.Time      `db:"code_expires_at"`
	PlanCode       string          `db:"plan_code"`
	PlanDays       int             `db:"plan_days"`
}

// Redeem redeems a code for a customer's account from ip: the code's promo
// lot is added, the code is spent, and the redemption is audited, in one
// transaction. The code is read the way people type it (case, spaces,
// hyphens and full-width characters do not matter). Each code works once
// (of concurrent redemptions one wins), a one-per-customer batch once per
// account. Failed attempts count against the account and the IP; over
// Settings' limits within RedeemWindow every attempt is refused.
// Errors: ErrRedeemThrottled, ErrInvalidCode, ErrCodeUsed, ErrCodeExpired,
// ErrAlreadyRedeemed, ErrAccountNotFound.
func (s *Service) Redeem(ctx context.Context, accountID int64, code, ip string) (Redemption, error) {
	var out Redemption
	if err := s.redeemThrottled(ctx, accountID, ip); err != nil {
		return out, err
	}
	norm := refcode.Normalize(code)
	var err error
	if len(norm) != CodeLength {
		err = ErrInvalidCode
	} else {
		out, err = s.redeem(ctx, accountID, norm, ip)
	}
	if fe, ok := fielderr.As(err); ok && fe.Code("code") != "" {
		if ferr := s.recordRedeemFailure(ctx, accountID, ip, fe.Code("code")); ferr != nil {
			return out, ferr
		}
	}
	return out, err
}

func (s *Service) redeem(ctx context.Context, accountID int64, norm, ip string) (Redemption, error) {
	var out Redemption
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		const sel = `
SELECT c.id, c.batch_id, c.redeemed_at, b.campaign, b.amount, b.lot_expires_at, b.lot_expires_days, b.code_expires_at,
       coalesce(b.plan_code, '') AS plan_code, coalesce(b.plan_days, 0) AS plan_days
FROM redemption_codes c JOIN redemption_batches b ON b.id = c.batch_id
WHERE c.code_hash = $1
FOR UPDATE OF c`
		rows, _ := tx.Query(ctx, sel, hashCode(norm))
		c, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[codeRow])
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrInvalidCode
		}
		if err != nil {
			return fmt.Errorf("backoffice: redeem: %w", err)
		}
		now := s.now()
		switch {
		case c.RedeemedAt != nil:
			return ErrCodeUsed
		case c.CodeExpiresAt != nil && !c.CodeExpiresAt.After(now):
			return ErrCodeExpired
		}
		_, err = tx.Exec(ctx, `UPDATE redemption_codes SET redeemed_at = $2, redeemed_by = $3 WHERE id = $1`, c.ID, now, accountID)
		if db.IsUniqueViolation(err, "redemption_codes_one_per_customer_key") {
			return ErrAlreadyRedeemed
		}
		if err != nil {
			return fmt.Errorf("backoffice: redeem: %w", err)
		}
		if c.PlanCode != "" {
			out, err = s.redeemPlanTx(ctx, tx, accountID, c, norm, ip)
			return err
		}
		exp := c.LotExpiresAt
		if c.LotExpiresDays != nil {
			exp = ptr(now.AddDate(0, 0, *c.LotExpiresDays))
		}
		key := "redeem:" + strconv.FormatInt(c.ID, 10)
		a, err := s.creditTx(ctx, tx, ledger.CreditRequest{
			AccountID: accountID, Kind: ledger.LotPromo, Amount: c.Amount, ExpiresAt: exp, EventType: ledger.EventGrant,
			SourceRef: "redemption_batch:" + strconv.FormatInt(c.BatchID, 10), Actor: "customer",
			ReasonCode: "redemption_code", IdempotencyKey: key,
		})
		if errors.Is(err, ledger.ErrNotFound) {
			return ErrAccountNotFound
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE redemption_codes SET lot_id = $2 WHERE id = $1`, c.ID, a.lot.ID); err != nil {
			return fmt.Errorf("backoffice: redeem: %w", err)
		}
		out = Redemption{BatchID: c.BatchID, Campaign: c.Campaign, Lot: a.lot}
		_, err = Audit(ctx, tx, Entry{ActorKind: ActorCustomer, IP: ip, Action: ActionCodeRedeemed, AccountID: accountID,
			BalanceBefore: &a.before, BalanceAfter: &a.after, Reason: c.Campaign,
			Detail: map[string]any{"batch_id": c.BatchID, "code_id": c.ID, "code_hint": norm[CodeLength-4:],
				"amount": c.Amount, "lot_id": a.lot.ID, "expires_at": exp}})
		return err
	})
	if errors.Is(err, ErrAccountNotFound) {
		return out, ErrAccountNotFound
	}
	return out, err
}

// redeemThrottled refuses when the account or the IP has too many recent
// failures.
func (s *Service) redeemThrottled(ctx context.Context, accountID int64, ip string) error {
	st := s.opt.Settings
	since := s.now().Add(-st.RedeemWindow)
	var byAccount, byIP int
	const q = `
SELECT (SELECT count(*) FROM redemption_failures WHERE account_id = $1 AND at > $3),
       (SELECT count(*) FROM redemption_failures WHERE $2::inet IS NOT NULL AND ip = $2 AND at > $3)`
	if err := s.pool.QueryRow(ctx, q, accountID, ipArg(ip), since).Scan(&byAccount, &byIP); err != nil {
		return fmt.Errorf("backoffice: redeem throttle: %w", err)
	}
	if byAccount >= st.RedeemMaxFailuresPerAccount || (ipArg(ip) != nil && byIP >= st.RedeemMaxFailuresPerIP) {
		return ErrRedeemThrottled
	}
	return nil
}

func (s *Service) recordRedeemFailure(ctx context.Context, accountID int64, ip, reason string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO redemption_failures (account_id, ip, reason, at) VALUES ($1, $2, $3, $4)`,
		accountID, ipArg(ip), reason, s.now())
	if err != nil {
		return fmt.Errorf("backoffice: record redeem failure: %w", err)
	}
	return nil
}

func ipArg(ip string) *netip.Addr {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return nil
	}
	return &a
}

package backoffice

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/reconcile"
)

// ChannelOrders gives channel reconciliation our side of a bill: every
// payment and refund we recorded through channel with its time in [from, to).
type ChannelOrders interface {
	OrderRecords(ctx context.Context, channel reconcile.Channel, from, to time.Time) ([]reconcile.OrderRecord, error)
}

// DifferenceKind is which of the three lists a difference is on.
type DifferenceKind string

// Difference kinds.
const (
	OnlyChannel   DifferenceKind = "only_channel"   // the channel billed it; we have no record
	OnlyOurs      DifferenceKind = "only_ours"      // we recorded it; the channel did not bill it
	AmountDiffers DifferenceKind = "amount_differs" // both know it, with different amounts
)

// Difference is one stored disagreement between a channel bill and our orders.
type Difference struct {
	ID               int64                `db:"id"`
	ImportID         int64                `db:"import_id"`
	Channel          reconcile.Channel    `db:"channel"`
	Kind             DifferenceKind       `db:"kind"`
	TradeStatus      reconcile.BillStatus `db:"trade_status"`
	OutTradeNo       string               `db:"out_trade_no"`
	RefundNo         string               `db:"refund_no"`
	ChannelTradeNo   string               `db:"channel_trade_no"`
	ChannelAmount    decimal.NullDecimal  `db:"channel_amount"`
	OurAmount        decimal.NullDecimal  `db:"our_amount"`
	TradedAt         *time.Time           `db:"traded_at"`
	State            string               `db:"state"` // open or resolved
	ResolutionReason string               `db:"resolution_reason"`
	ResolvedBy       *int64               `db:"resolved_by"`
	ResolvedAt       *time.Time           `db:"resolved_at"`
	CreatedAt        time.Time            `db:"created_at"`
}

// ChannelImportResult is what a channel bill import found.
type ChannelImportResult struct {
	ImportID int64
	Channel  reconcile.Channel
	// From and To bound the Asia/Shanghai days the bill covers.
	From, To time.Time
	Lines    int
	// New counts the differences stored by this import per kind; a
	// difference already stored by an earlier import is not counted again.
	New map[DifferenceKind]int
	// Differences are this bill's differences (new and already known).
	Differences []Difference
}

// ImportChannelBill reads a WeChat Pay or Alipay daily bill, compares it
// with our orders of the days it covers (ChannelOrders) and stores the
// differences (once: a re-import adds none). Finance only.
// Errors: ErrForbidden, ErrNoChannelOrders, ErrEmptyBill, reconcile's parse errors.
func (s *Service) ImportChannelBill(ctx context.Context, file io.Reader, filename string, actor Actor) (ChannelImportResult, error) {
	var res ChannelImportResult
	if err := actor.require(auth.RoleFinance); err != nil {
		return res, err
	}
	if s.opt.ChannelOrders == nil {
		return res, ErrNoChannelOrders
	}
	lines, err := reconcile.ParseChannelBill(file, filename, s.Settings().ImportLimits)
	if err != nil {
		return res, err
	}
	if len(lines) == 0 {
		return res, ErrEmptyBill
	}
	res.Channel, res.Lines = lines[0].Channel, len(lines)
	minT, maxT := lines[0].Time, lines[0].Time
	for _, l := range lines {
		if l.Time.Before(minT) {
			minT = l.Time
		}
		if l.Time.After(maxT) {
			maxT = l.Time
		}
	}
	res.From = dayStart(minT)
	res.To = dayStart(maxT).AddDate(0, 0, 1)
	ours, err := s.opt.ChannelOrders.OrderRecords(ctx, res.Channel, res.From, res.To)
	if err != nil {
		return res, fmt.Errorf("backoffice: channel orders: %w", err)
	}
	diff := reconcile.CompareBills(ours, lines)
	type row struct {
		kind                     DifferenceKind
		status                   reconcile.BillStatus
		outTradeNo, refundNo     string
		channelTradeNo           string
		channelAmount, ourAmount *decimal.Decimal
		at                       *time.Time
	}
	var rows []row
	for _, b := range diff.OnlyChannel {
		rows = append(rows, row{OnlyChannel, b.Status, b.OutTradeNo, b.RefundNo, b.ChannelTradeNo, ptr(b.Amount), nil, ptr(b.Time)})
	}
	for _, o := range diff.OnlyOurs {
		rows = append(rows, row{OnlyOurs, o.Status, o.OutTradeNo, o.RefundNo, "", nil, ptr(o.Amount), nil})
	}
	for _, m := range diff.AmountMismatch {
		rows = append(rows, row{AmountDiffers, m.Theirs.Status, m.Theirs.OutTradeNo, m.Theirs.RefundNo, m.Theirs.ChannelTradeNo,
			ptr(m.Theirs.Amount), ptr(m.Ours.Amount), ptr(m.Theirs.Time)})
	}
	res.New = map[DifferenceKind]int{}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		for k := range res.New {
			delete(res.New, k)
		}
		now := s.now()
		if err := tx.QueryRow(ctx, `INSERT INTO channel_bill_imports (channel, filename, period_from, period_to, lines, imported_by, imported_at)
VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, res.Channel, filename, res.From, res.To, len(lines), actor.User.ID, now).Scan(&res.ImportID); err != nil {
			return fmt.Errorf("backoffice: channel import: %w", err)
		}
		var keys []string
		for _, r := range rows {
			refund := ""
			if r.status == reconcile.BillRefund {
				refund = r.refundNo
			}
			tag, err := tx.Exec(ctx, `INSERT INTO channel_differences (import_id, channel, kind, trade_status, out_trade_no, refund_no,
    channel_trade_no, channel_amount, our_amount, traded_at, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT ON CONSTRAINT channel_differences_key DO NOTHING`,
				res.ImportID, res.Channel, r.kind, r.status, r.outTradeNo, refund, r.channelTradeNo, r.channelAmount, r.ourAmount, r.at, now)
			if err != nil {
				return fmt.Errorf("backoffice: store difference: %w", err)
			}
			if tag.RowsAffected() == 1 {
				res.New[r.kind]++
			}
			keys = append(keys, string(r.kind)+"|"+string(r.status)+"|"+r.outTradeNo+"|"+refund)
		}
		q, _ := tx.Query(ctx, `SELECT `+differenceColumns+` FROM channel_differences
WHERE channel = $1 AND kind || '|' || trade_status || '|' || out_trade_no || '|' || refund_no = ANY ($2)
ORDER BY kind, out_trade_no`, res.Channel, keys)
		var err error
		if res.Differences, err = pgx.CollectRows(q, pgx.RowToStructByName[Difference]); err != nil {
			return fmt.Errorf("backoffice: differences: %w", err)
		}
		e := staffEntry(actor, ActionChannelBillImported, 0)
		e.Reason = filename
		e.Detail = map[string]any{"import_id": res.ImportID, "channel": res.Channel, "lines": len(lines),
			"from": res.From, "to": res.To, "only_channel": len(diff.OnlyChannel), "only_ours": len(diff.OnlyOurs),
			"amount_differs": len(diff.AmountMismatch)}
		_, err = Audit(ctx, tx, e)
		return err
	})
	return res, err
}

func dayStart(t time.Time) time.Time {
	l := t.In(Shanghai)
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, Shanghai).UTC()
}

const differenceColumns = `id, import_id, channel, kind, trade_status, out_trade_no, refund_no, channel_trade_no,
	channel_amount, our_amount, traded_at, state, resolution_reason, resolved_by, resolved_at, created_at`

// DifferenceFilter narrows Differences; zero fields do not filter.
type DifferenceFilter struct {
	Channel reconcile.Channel
	Kind    DifferenceKind
	State   string // "open" or "resolved"
	Limit   int    // default 200
}

// Differences lists channel differences, newest first.
func (s *Service) Differences(ctx context.Context, f DifferenceFilter) ([]Difference, error) {
	if f.Limit <= 0 {
		f.Limit = 200
	}
	rows, _ := s.pool.Query(ctx, `SELECT `+differenceColumns+` FROM channel_differences
WHERE ($1 = '' OR channel = $1) AND ($2 = '' OR kind = $2) AND ($3 = '' OR state = $3)
ORDER BY id DESC LIMIT $4`, string(f.Channel), string(f.Kind), f.State, f.Limit)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Difference])
	if err != nil {
		return nil, fmt.Errorf("backoffice: differences: %w", err)
	}
	return out, nil
}

// ResolveDifference closes a channel difference with a required reason,
// audited. Finance only. Errors: ErrForbidden, ErrReasonRequired,
// ErrDifferenceNotFound, ErrDifferenceResolved.
func (s *Service) ResolveDifference(ctx context.Context, id int64, reason string, actor Actor) error {
	if err := actor.require(auth.RoleFinance); err != nil {
		return err
	}
	if reason = strings.TrimSpace(reason); reason == "" {
		return ErrReasonRequired
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `SELECT `+differenceColumns+` FROM channel_differences WHERE id = $1 FOR UPDATE`, id)
		d, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Difference])
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrDifferenceNotFound
		}
		if err != nil {
			return fmt.Errorf("backoffice: difference: %w", err)
		}
		if d.State != "open" {
			return ErrDifferenceResolved
		}
		if _, err := tx.Exec(ctx, `UPDATE channel_differences SET state = 'resolved', resolution_reason = $2, resolved_by = $3, resolved_at = $4
WHERE id = $1`, id, reason, actor.User.ID, s.now()); err != nil {
			return fmt.Errorf("backoffice: resolve difference: %w", err)
		}
		e := staffEntry(actor, ActionDifferenceResolved, 0)
		e.Reason = reason
		e.Detail = map[string]any{"difference_id": id, "channel": d.Channel, "kind": d.Kind, "out_trade_no": d.OutTradeNo,
			"refund_no": d.RefundNo, "channel_amount": d.ChannelAmount, "our_amount": d.OurAmount}
		_, err = Audit(ctx, tx, e)
		return err
	})
}

package statement

import (
	"context"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/creditline"
	"github.com/seed75218f88/credits/internal/ledger"
)

// CreditLine is a statement's credit line section (授信): the line and what
// was used of it at the month's two boundaries, what the account owned
// (its balance less the line: negative while in debt), and the bills
// issued or paid in the month with their state at the month's end. Every
// credit figure is the ledger's (the credit bucket and the line's
// credit_line events); Compute reconciles them.
type CreditLine struct {
	LineOpening, LineClosing   decimal.Decimal // the line in credits
	UsedOpening, UsedClosing   decimal.Decimal // line − what is left of it
	OwnedOpening, OwnedClosing decimal.Decimal // balance − line: negative when in debt
	Consumed                   decimal.Decimal // the month's consumption of the line
	Restored                   decimal.Decimal // given back to the line by bills paid
	Bills                      []StatementBill
	IssuedFen, PaidFen         int64 // the month's bills issued, and bills paid in the month
}

// StatementBill is a bill issued or paid in the month, with its state at
// the month's end (so a closed month's statement never changes).
type StatementBill struct {
	creditline.Bill
	StateAtEnd creditline.Status
	IssuedIn   bool // issued in the month
	PaidIn     bool // paid in the month
}

// stateAt is where the bill stood at t, by its dates.
func stateAt(b creditline.Bill, t time.Time) creditline.Status {
	switch {
	case b.PaidAt != nil && b.PaidAt.Before(t):
		return creditline.StatusPaid
	case !t.Before(b.GraceUntil):
		return creditline.StatusFrozen
	case !t.Before(b.DueAt):
		return creditline.StatusOverdue
	}
	return creditline.StatusOpen
}

// creditLine builds the section of a statement whose buckets carry a
// credit lot (nil when the account has no line); the line at each
// boundary is the sum of its credit_line movements so far.
func (s *Service) creditLine(ctx context.Context, st Statement, lineOpening decimal.Decimal, start, end time.Time) (*CreditLine, error) {
	if _, has := st.Closing.ByBucket[ledger.LotCredit]; !has {
		return nil, nil
	}
	c := &CreditLine{LineOpening: lineOpening, LineClosing: lineOpening.Add(st.Movement(CatCreditLine).Total)}
	c.UsedOpening = c.LineOpening.Sub(st.Opening.Of(ledger.LotCredit))
	c.UsedClosing = c.LineClosing.Sub(st.Closing.Of(ledger.LotCredit))
	c.OwnedOpening = st.Opening.Total.Sub(c.LineOpening)
	c.OwnedClosing = st.Closing.Total.Sub(c.LineClosing)
	for _, m := range st.Movements {
		if m.Category == CatConsumption {
			c.Consumed = m.Of(ledger.LotCredit).Neg()
		}
	}
	c.Restored = st.Movement(CatCreditRestore).Total
	if s.CreditLines == nil {
		return c, nil
	}
	bills, err := s.CreditLines.ReportBills(ctx, end, st.AccountID)
	if err != nil {
		return nil, fmt.Errorf("statement: credit line: %w", err)
	}
	for _, b := range bills {
		issued := !b.IssuedAt.Before(start) && b.IssuedAt.Before(end)
		paid := b.PaidAt != nil && !b.PaidAt.Before(start) && b.PaidAt.Before(end)
		if !issued && !paid {
			continue
		}
		c.Bills = append(c.Bills, StatementBill{Bill: b, StateAtEnd: stateAt(b, end), IssuedIn: issued, PaidIn: paid})
		if issued {
			c.IssuedFen += b.AmountFen
		}
		if paid {
			c.PaidFen += b.AmountFen
		}
	}
	return c, nil
}

package web

import (
	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/access"
	"github.com/seed75218f88/credits/internal/ledger"
	pv "github.com/seed75218f88/credits/views/portal"
)

// tierCard is the overview's tier card for an account that is its own
// pool (an individual or an enterprise): the tier its cumulative recharge
// reaches and what the next needs; nil without tiers or for a sub-account.
func (s *Server) tierCard(c echo.Context, acct ledger.Account) (*pv.TierCard, error) {
	if acct.ID != acct.PoolID {
		return nil, nil
	}
	tiers, err := s.portal.ledger.Tiers(c.Request().Context())
	if err != nil {
		return nil, err
	}
	st, ok := access.StatusOf(tiers, acct.PaidFen)
	if !ok {
		return nil, nil
	}
	yuan := func(fen int64) decimal.Decimal { return decimal.New(fen, -2) }
	card := &pv.TierCard{Level: st.Level, PaidRMB: yuan(st.PaidFen)}
	if st.Current != nil {
		card.RPM, card.TPM, card.MaxOpen = st.Current.RPM, st.Current.TPM, st.Current.MaxOpen
	}
	if st.Next != nil {
		card.HasNext, card.NeedRMB = true, yuan(st.NeedFen)
		card.Next = pv.TierLimits{Level: st.Level + 1, MinRMB: yuan(st.Next.MinPaidFen), RPM: st.Next.RPM, TPM: st.Next.TPM,
			MaxOpen: st.Next.MaxOpen}
	}
	return card, nil
}

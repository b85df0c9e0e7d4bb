package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
)

// SessionView sums the calls of one session_id (an agent's chain of calls)
// in an account: the charged ones from the ledger, the free ones from
// gateway_free_calls. Charged excludes Unpaid (usage the balance could not
// cover, recorded as debt).
type SessionView struct {
	SessionID string `json:"session_id"`
	Account   string `json:"account"`
	SessionTotals
	FirstAt time.Time      `json:"first_at"`
	LastAt  time.Time      `json:"last_at"`
	Models  []SessionModel `json:"models"`
}

// SessionModel is one model's share of a session.
type SessionModel struct {
	Model string `json:"model"`
	SessionTotals
}

// SessionTotals are the sums a session reports in all and per model (its
// fields appear inline in the JSON of both).
type SessionTotals struct {
	Calls          int64           `json:"calls"`
	Requests       int64           `json:"requests"`
	InputTokens    int64           `json:"input_tokens"`
	OutputTokens   int64           `json:"output_tokens"`
	CacheHitTokens int64           `json:"cache_hit_tokens"`
	Charged        decimal.Decimal `json:"charged"`
	Unpaid         decimal.Decimal `json:"unpaid"`
}

// add adds o to t.
func (t *SessionTotals) add(o SessionTotals) {
	t.Calls += o.Calls
	t.Requests += o.Requests
	t.InputTokens += o.InputTokens
	t.OutputTokens += o.OutputTokens
	t.CacheHitTokens += o.CacheHitTokens
	t.Charged = t.Charged.Add(o.Charged)
	t.Unpaid = t.Unpaid.Add(o.Unpaid)
}

// usageEventTypes are the ledger events that record a call's charge; one
// call (one op) may span several rows, one per lot it drew from.
var usageEventTypes = []ledger.EventType{ledger.EventDeduction, ledger.EventUnpaidUsage, ledger.EventReservationExpiredCharge}

// sessionPage is how many ledger events one read of a session takes.
const sessionPage = 1000

// sessionCall is one call of a session.
type sessionCall struct {
	model                    string
	in, out, cache, requests int64
	charged, unpaid          decimal.Decimal
	at                       time.Time
	firstRow                 int64 // the op's lowest event id: its detail is the call's
}

// Session sums the calls of sessionID in the account (an enterprise sees
// its whole pool, a sub-account its own calls), per model and in all.
// Errors: ErrNotFound (no such account, or no call in that session),
// ErrInvalidRequest.
func (s *Service) Session(ctx context.Context, key Key, externalID, sessionID string) (SessionView, error) {
	if sessionID == "" || len(sessionID) > 200 || strings.IndexByte(sessionID, 0) >= 0 {
		return SessionView{}, invalid("session_id", "1 to 200 characters, without NUL")
	}
	a, err := s.account(ctx, key.Mode, externalID)
	if err != nil {
		return SessionView{}, err
	}
	ops := map[int64]*sessionCall{}
	var cursor int64
	for {
		evs, next, err := s.ledger.Events(ctx, a.acct.ID, ledger.EventFilter{SessionID: sessionID, Types: usageEventTypes}, cursor, sessionPage)
		if err != nil {
			return SessionView{}, err
		}
		for _, e := range evs {
			c := ops[e.OpID]
			if c == nil {
				c = &sessionCall{model: e.Model, at: e.OccurredAt}
				ops[e.OpID] = c
			}
			if e.Type == ledger.EventUnpaidUsage {
				c.unpaid = c.unpaid.Add(e.Unpaid)
			} else {
				c.charged = c.charged.Sub(e.Amount)
				c.unpaid = c.unpaid.Add(e.Unpaid)
			}
			if c.firstRow == 0 || e.ID < c.firstRow {
				c.firstRow = e.ID
				var d UsageDetail
				if len(e.Detail) > 0 && json.Unmarshal(e.Detail, &d) == nil {
					c.in, c.out, c.cache, c.requests = d.InputTokens, d.OutputTokens, d.CacheHitTokens, d.Requests
				}
			}
		}
		if next == 0 {
			break
		}
		cursor = next
	}
	calls := make([]sessionCall, 0, len(ops))
	for _, c := range ops {
		calls = append(calls, *c)
	}
	free, err := s.freeSessionCalls(ctx, a.acct, sessionID)
	if err != nil {
		return SessionView{}, err
	}
	calls = append(calls, free...)
	if len(calls) == 0 {
		return SessionView{}, fmt.Errorf("gateway: no calls in session %q: %w", sessionID, ErrNotFound)
	}
	return summarize(externalID, sessionID, calls), nil
}

func summarize(account, sessionID string, calls []sessionCall) SessionView {
	v := SessionView{SessionID: sessionID, Account: account, Models: []SessionModel{}}
	byModel := map[string]*SessionModel{}
	for _, c := range calls {
		m := byModel[c.model]
		if m == nil {
			m = &SessionModel{Model: c.model}
			byModel[c.model] = m
		}
		m.add(SessionTotals{Calls: 1, Requests: c.requests, InputTokens: c.in, OutputTokens: c.out, CacheHitTokens: c.cache,
			Charged: c.charged, Unpaid: c.unpaid})
		if v.FirstAt.IsZero() || c.at.Before(v.FirstAt) {
			v.FirstAt = c.at
		}
		if c.at.After(v.LastAt) {
			v.LastAt = c.at
		}
	}
	for _, m := range byModel {
		v.add(m.SessionTotals)
		v.Models = append(v.Models, *m)
	}
	slices.SortFunc(v.Models, func(a, b SessionModel) int {
		if a.Model < b.Model {
			return -1
		}
		if a.Model > b.Model {
			return 1
		}
		return 0
	})
	v.FirstAt, v.LastAt = v.FirstAt.UTC(), v.LastAt.UTC()
	return v
}

// selectFreeSession lists a session's committed free calls in the pool
// ($1), of one account ($2, or all when $3).
const selectFreeSession = `
SELECT model, input_tokens, output_tokens, cache_hit_tokens, requests, occurred_at
FROM gateway_free_calls
WHERE pool_id = $1 AND ($3 OR account_id = $2) AND session_id = $4 AND state = 'committed'
  AND (requests > 0 OR input_tokens + output_tokens + cache_hit_tokens > 0)`

func (s *Service) freeSessionCalls(ctx context.Context, acct ledger.Account, sessionID string) ([]sessionCall, error) {
	rows, _ := s.pool.Query(ctx, selectFreeSession, acct.PoolID, acct.ID, acct.ID == acct.PoolID, sessionID)
	calls, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (sessionCall, error) {
		var c sessionCall
		err := r.Scan(&c.model, &c.in, &c.out, &c.cache, &c.requests, &c.at)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("gateway: session free calls: %w", err)
	}
	return calls, nil
}

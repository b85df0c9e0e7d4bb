package plans

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// SubscriberFilter narrows Subscribers; zero fields do not filter.
type SubscriberFilter struct {
	PlanCode string
	State    State // "" lists those in force or past due (not expired); "all" every one
	Cycle    Cycle
	// RenewsWithinDays lists active subscriptions whose term ends within
	// that many days from now (0: no filter).
	RenewsWithinDays int
	// Query finds an account by its id, external id or name (a part of it).
	Query string
	// After is the cursor of the next page (the last id seen).
	After int64
	Limit int // default 50, at most 200
}

// Subscriber is one subscription with its account, as the back office
// lists it.
type Subscriber struct {
	Subscription
	AccountName string `db:"account_name"`
	ExternalID  string `db:"external_id"`
	AccountKind string `db:"account_kind"`
}

// SubscriberPage is one page of Subscribers; Next is the cursor of the
// next page (0 when this is the last).
type SubscriberPage struct {
	Rows []Subscriber
	Next int64
}

// StateAll lists subscriptions in every state.
const StateAll State = "all"

// Subscribers lists subscriptions newest first, filtered, a page at a time.
//
// Errors: database errors wrapped with "plans: subscribers:".
func (s *Subscriptions) Subscribers(ctx context.Context, f SubscriberFilter) (SubscriberPage, error) {
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 50
	}
	if strings.IndexByte(f.Query, 0) >= 0 {
		return SubscriberPage{}, nil // PostgreSQL text cannot hold NUL: no account's name or id has one
	}
	now := s.now().UTC()
	where := []string{"true"}
	args := []any{}
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	switch f.State {
	case "":
		where = append(where, "s.state <> 'expired'")
	case StateAll:
	default:
		where = append(where, "s.state = "+arg(string(f.State)))
	}
	if f.PlanCode != "" {
		where = append(where, "s.plan_code = "+arg(f.PlanCode))
	}
	if f.Cycle != "" {
		where = append(where, "s.cycle = "+arg(string(f.Cycle)))
	}
	if f.RenewsWithinDays > 0 {
		where = append(where, "s.state = 'active' AND s.term_end > "+arg(now)+" AND s.term_end <= "+
			arg(now.Add(time.Duration(f.RenewsWithinDays)*24*time.Hour)))
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		cond := "a.name ILIKE " + arg("%"+escapeLike(q)+"%") + " OR a.external_id = " + arg(q)
		if id, err := strconv.ParseInt(q, 10, 64); err == nil {
			cond += " OR a.id = " + arg(id)
		}
		where = append(where, "("+cond+")")
	}
	if f.After > 0 {
		where = append(where, "s.id < "+arg(f.After))
	}
	q := `SELECT s.id, s.account_id, s.plan_code, s.plan_version, s.cycle, s.anchor, s.started_at, s.term_end, s.state,
coalesce(s.next_plan_code, '') AS next_plan_code, coalesce(s.next_plan_version, 0) AS next_plan_version,
coalesce(s.next_cycle, '') AS next_cycle, s.grace_until, s.extended_start, s.extended_end, s.created_at, s.updated_at, a.name AS account_name, coalesce(a.external_id, '') AS external_id, a.kind::text AS account_kind
FROM subscriptions s JOIN ledger_account_view a ON a.id = s.account_id
WHERE ` + strings.Join(where, " AND ") + ` ORDER BY s.id DESC LIMIT ` + arg(f.Limit+1)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return SubscriberPage{}, fmt.Errorf("plans: subscribers: %w", err)
	}
	subs, err := pgx.CollectRows(rows, pgx.RowToStructByName[Subscriber])
	if err != nil {
		return SubscriberPage{}, fmt.Errorf("plans: subscribers: %w", err)
	}
	var page SubscriberPage
	if len(subs) > f.Limit {
		subs = subs[:f.Limit]
		page.Next = subs[len(subs)-1].ID
	}
	for i := range subs {
		subs[i].Subscription = subs[i].Subscription.utc()
	}
	page.Rows = subs
	return page, nil
}

// escapeLike escapes LIKE's wildcards in s.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// AccountHistory returns the events of every subscription the account has
// had, newest first (at most 200).
//
// Errors: database errors wrapped with "plans: account history:".
func (s *Subscriptions) AccountHistory(ctx context.Context, accountID int64) ([]Event, error) {
	rows, err := s.pool.Query(ctx, `SELECT e.id, e.subscription_id, e.kind, e.plan_code, e.plan_version, e.term_end, e.actor, e.note, e.at
FROM subscription_events e JOIN subscriptions s ON s.id = e.subscription_id
WHERE s.account_id = $1 ORDER BY e.id DESC LIMIT 200`, accountID)
	if err != nil {
		return nil, fmt.Errorf("plans: account history: %w", err)
	}
	es, err := pgx.CollectRows(rows, pgx.RowToStructByName[Event])
	for i := range es {
		es[i].TermEnd, es[i].At = es[i].TermEnd.UTC(), es[i].At.UTC()
	}
	if err != nil {
		return nil, fmt.Errorf("plans: account history: %w", err)
	}
	return es, nil
}

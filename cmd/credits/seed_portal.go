package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/app"
	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/team"
)

// Demo portal sign-ins made by seedPortal.
const (
	demoCustomerLogin   = "demo@example.com"
	demoEnterpriseLogin = "corp@example.com"
	demoPassword        = "demo-password-1"
)

// demoModels are models with a rough price in credits per call, for the
// demo usage history.
var demoModels = []struct {
	name    string
	perCall int64
}{
	{"deepseek-chat", 4}, {"qwen-plus", 3}, {"kimi-k2", 9}, {"glm-4-plus", 6}, {"doubao-1.5-pro-32k", 2},
}

// seedPortal makes a demo customer (sign-up credit, a paid top-up, 30 days
// of usage across models, promo spent before paid) and a demo enterprise
// with two departments; it is idempotent (every write has a fixed key).
func seedPortal(ctx context.Context, ap *app.App) (seedResult, error) {
	pool, l, a, su := ap.Pool, ap.Ledger, ap.Auth, ap.Signup
	res := seedResult{SignIns: []string{
		"customer    " + demoCustomerLogin + " / " + demoPassword,
		"enterprise  " + demoEnterpriseLogin + " / " + demoPassword,
	}}

	// The demo history is written at the times it happened (seedClock), so
	// that a past day's balance agrees with the usage listed on it: the
	// accounts open demoHistoryDays ago, the usage follows day by day, and
	// the clock returns to the present when the step ends.
	defer seedClock.Set(time.Time{})
	opened := time.Now().UTC().AddDate(0, 0, -demoHistoryDays).Truncate(time.Second)

	// The individual customer.
	u, err := a.UserByLogin(ctx, demoCustomerLogin)
	if errors.Is(err, auth.ErrNotFound) {
		seedClock.Set(opened)
		u, err = su.Register(ctx, auth.RegisterRequest{Login: demoCustomerLogin, Password: demoPassword, Name: "演示用户"})
	}
	if err != nil {
		return res, err
	}
	seedClock.Set(opened.Add(time.Minute))
	// Paid credit needs a verified account (实名): the demo accounts are.
	if err := verifyDemo(ctx, ap, u.AccountID, "demo-customer"); err != nil {
		return res, err
	}
	seedClock.Set(opened.Add(2 * time.Minute))
	top, err := l.Credit(ctx, ledger.CreditRequest{AccountID: u.AccountID, Kind: ledger.LotPaid, Amount: decimal.NewFromInt(100000),
		SourceRef: "demo-order-1", Actor: "seed", ReasonCode: "topup", IdempotencyKey: "demo-topup-1"})
	if err != nil {
		return res, err
	}
	// The history follows the top-up, which a later run replays with its
	// first time: every run writes the same calls at the same times.
	n, err := demoUsage(ctx, l, top.Lot.CreatedAt, []demoAccount{{u.AccountID, "demo", 30, 12}})
	if err != nil {
		return res, err
	}
	res.Lines = append(res.Lines, fmt.Sprintf("customer %s (account %d): %d usage charges over 30 days", demoCustomerLogin, u.AccountID, n))

	// The enterprise with two departments.
	seedClock.Set(opened)
	ent, err := l.UpsertAccountByExternalID(ctx, ledger.ModeLive, "demo-enterprise", ledger.AccountSpec{Kind: ledger.AccountEnterprise, Name: "演示科技有限公司"})
	if err != nil {
		return res, err
	}
	seedClock.Set(opened.Add(time.Minute))
	if _, err := a.UserByLogin(ctx, demoEnterpriseLogin); errors.Is(err, auth.ErrNotFound) {
		if _, err := a.Register(ctx, auth.RegisterRequest{Login: demoEnterpriseLogin, Password: demoPassword, Name: "企业管理员", AccountID: ent.ID}); err != nil {
			return res, err
		}
	} else if err != nil {
		return res, err
	}
	if err := verifyDemo(ctx, ap, ent.ID, "demo-enterprise"); err != nil {
		return res, err
	}
	seedClock.Set(opened.Add(2 * time.Minute))
	entTop, err := l.Credit(ctx, ledger.CreditRequest{AccountID: ent.ID, Kind: ledger.LotPaid, Amount: decimal.NewFromInt(500000),
		SourceRef: "demo-order-2", Actor: "seed", ReasonCode: "topup", IdempotencyKey: "demo-topup-ent"})
	if err != nil {
		return res, err
	}
	us := ap.Usage
	var depts []demoAccount
	for i, d := range []struct {
		ext, name string
		alloc     int64
		rpm, tpm  int
	}{{"demo-dept-rd", "研发部", 200000, 120, 400000}, {"demo-dept-mkt", "市场部", 50000, 30, 100000}} {
		alloc := decimal.NewFromInt(d.alloc)
		sub, err := l.UpsertAccountByExternalID(ctx, ledger.ModeLive, d.ext, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: ent.ID, Name: d.name, Allocation: &alloc})
		if err != nil {
			return res, err
		}
		rpm, tpm := int64(d.rpm), int64(d.tpm)
		if err := gateway.NewLimitStore(pool).Set(ctx, sub.ID, gateway.Limits{RPM: &rpm, TPM: &tpm}); err != nil {
			return res, err
		}
		depts = append(depts, demoAccount{sub.ID, d.ext, 20, 8 - 4*i})
	}
	if _, err := demoUsage(ctx, l, entTop.Lot.CreatedAt.AddDate(0, 0, demoHistoryDays-20), depts); err != nil {
		return res, err
	}
	if err := us.Refresh(ctx, ent.ID); err != nil {
		return res, err
	}
	res.Lines = append(res.Lines, fmt.Sprintf("enterprise %s (account %d) with departments 研发部 and 市场部", demoEnterpriseLogin, ent.ID))

	// The demo customer is also a developer of the enterprise, limited to
	// 研发部: the portal's header switches between the two accounts.
	if err := seedTeamMember(ctx, ap, u, ent.ID, depts[0].id); err != nil {
		return res, err
	}
	res.Lines = append(res.Lines, fmt.Sprintf("customer %s is also a developer of the enterprise (研发部 only): switch accounts in the portal's header", demoCustomerLogin))
	return res, nil
}

// seedTeamMember makes u a developer of enterprise ent limited to sub, once:
// invited by the enterprise's owner and accepted, as in the portal.
func seedTeamMember(ctx context.Context, ap *app.App, u auth.User, ent, sub int64) error {
	if _, err := ap.Team.Resolve(ctx, u.ID, u.AccountID, ent); err == nil {
		return nil
	} else if !errors.Is(err, team.ErrNotMember) {
		return err
	}
	owner, err := ap.Auth.UserByLogin(ctx, demoEnterpriseLogin)
	if err != nil {
		return err
	}
	_, token, err := ap.Team.Invite(ctx, team.Actor{UserID: owner.ID, Email: owner.Email}, ent,
		team.InviteRequest{Email: u.Email, Role: team.RoleDeveloper, Limit: []int64{sub}})
	if err != nil {
		return err
	}
	_, err = ap.Team.Accept(ctx, u, "", token)
	return err
}

// verifyDemo marks a demo account verified once (reseeding adds nothing).
func verifyDemo(ctx context.Context, ap *app.App, accountID int64, reference string) error {
	ok, err := ap.Verification.IsVerified(ctx, accountID)
	if err != nil || ok {
		return err
	}
	_, err = ap.Verification.MarkVerifiedExternally(ctx, accountID, reference, "seed")
	return err
}

// demoHistoryDays is how long ago the demo accounts opened.
const demoHistoryDays = 31

// demoAccount is an account that demoUsage charges: about perDay calls a
// day for days days.
type demoAccount struct {
	id           int64
	prefix       string
	days, perDay int
}

// demoCall is one generated call.
type demoCall struct {
	account int64
	at      time.Time
	req     ledger.ChargeRequest
}

// demoUsage charges the accounts' calls day by day from start, with a fixed
// random seed and keys (a second seed run repeats every charge with the same
// arguments, and the ledger replays it instead of refusing the key). The
// calls of all accounts are written in the order they happened, each at its
// own time on seedClock, so the pool's history reads as if it had been
// recorded live.
func demoUsage(ctx context.Context, l *ledger.Ledger, start time.Time, accounts []demoAccount) (int, error) {
	start = start.UTC().Truncate(time.Second)
	var calls []demoCall
	for _, a := range accounts {
		rng := rand.New(rand.NewPCG(uint64(a.id), 42))
		for day := range a.days {
			n := a.perDay/2 + rng.IntN(a.perDay+1)
			for i := range n {
				m := demoModels[rng.IntN(len(demoModels))]
				in, out := int64(200+rng.IntN(6000)), int64(50+rng.IntN(1500))
				cache := int64(rng.IntN(int(in/2) + 1))
				// perCall × (0.5 … 2.5), in thousandths of a credit.
				credits := decimal.New(m.perCall*int64(500+rng.IntN(2001)), -3)
				detail, _ := json.Marshal(map[string]any{"input_tokens": in, "output_tokens": out, "cache_hit_tokens": cache,
					"requests": 1, "rate_card_version": 1, "outcome": "completed"})
				session := ""
				if rng.IntN(3) == 0 {
					session = fmt.Sprintf("%s-sess-%d-%d", a.prefix, day, i/3)
				}
				at := start.AddDate(0, 0, day+1).Add(-time.Duration(1+rng.IntN(20*3600)) * time.Second)
				key := fmt.Sprintf("%s-usage-%d-%d", a.prefix, day, i)
				calls = append(calls, demoCall{account: a.id, at: at, req: ledger.ChargeRequest{AccountID: a.id, Amount: credits,
					IdempotencyKey: key, Model: m.name, SessionID: session, RequestID: "req-" + key, OccurredAt: at, Detail: detail}})
			}
		}
	}
	slices.SortStableFunc(calls, func(x, y demoCall) int { return x.at.Compare(y.at) })
	// A demo history seeded within the last days stops at the present: no
	// call happens in the future.
	now := time.Now()
	calls = slices.DeleteFunc(calls, func(c demoCall) bool { return c.at.After(now) })
	for i, c := range calls {
		seedClock.Set(c.at)
		if _, err := l.Charge(ctx, c.req); err != nil {
			return i, err
		}
	}
	return len(calls), nil
}

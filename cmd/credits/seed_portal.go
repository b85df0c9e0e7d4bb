package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/app"
	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/ledger"
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

	// The individual customer.
	u, err := a.UserByLogin(ctx, demoCustomerLogin)
	if errors.Is(err, auth.ErrNotFound) {
		u, err = su.Register(ctx, auth.RegisterRequest{Login: demoCustomerLogin, Password: demoPassword, Name: "演示用户"})
	}
	if err != nil {
		return res, err
	}
	// Paid credit needs a verified account (实名): the demo accounts are.
	if err := verifyDemo(ctx, ap, u.AccountID, "demo-customer"); err != nil {
		return res, err
	}
	if _, err := l.Credit(ctx, ledger.CreditRequest{AccountID: u.AccountID, Kind: ledger.LotPaid, Amount: decimal.NewFromInt(100000),
		SourceRef: "demo-order-1", Actor: "seed", ReasonCode: "topup", IdempotencyKey: "demo-topup-1"}); err != nil {
		return res, err
	}
	n, err := demoUsage(ctx, l, u.AccountID, "demo", 30, 12)
	if err != nil {
		return res, err
	}
	res.Lines = append(res.Lines, fmt.Sprintf("customer %s (account %d): %d usage charges over 30 days", demoCustomerLogin, u.AccountID, n))

	// The enterprise with two departments.
	ent, err := l.UpsertAccountByExternalID(ctx, ledger.ModeLive, "demo-enterprise", ledger.AccountSpec{Kind: ledger.AccountEnterprise, Name: "演示科技有限公司"})
	if err != nil {
		return res, err
	}
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
	if _, err := l.Credit(ctx, ledger.CreditRequest{AccountID: ent.ID, Kind: ledger.LotPaid, Amount: decimal.NewFromInt(500000),
		SourceRef: "demo-order-2", Actor: "seed", ReasonCode: "topup", IdempotencyKey: "demo-topup-ent"}); err != nil {
		return res, err
	}
	us := ap.Usage
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
		if _, err := demoUsage(ctx, l, sub.ID, d.ext, 20, 8-4*i); err != nil {
			return res, err
		}
	}
	if err := us.Refresh(ctx, ent.ID); err != nil {
		return res, err
	}
	res.Lines = append(res.Lines, fmt.Sprintf("enterprise %s (account %d) with departments 研发部 and 市场部", demoEnterpriseLogin, ent.ID))
	return res, nil
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

// demoUsage charges about perDay calls a day for the last days days, with a
// fixed random seed and keys so that reseeding changes nothing.
func demoUsage(ctx context.Context, l *ledger.Ledger, account int64, prefix string, days, perDay int) (int, error) {
	rng := rand.New(rand.NewPCG(uint64(account), 42))
	// The history is anchored on the account's creation, not on the clock,
	// so a second seed run repeats every charge with the same arguments and
	// the ledger replays it instead of refusing the key.
	acc, err := l.Account(ctx, account)
	if err != nil {
		return 0, err
	}
	now := acc.CreatedAt.UTC().Truncate(time.Second)
	n := 0
	for d := days - 1; d >= 0; d-- {
		calls := perDay/2 + rng.IntN(perDay+1)
		for i := range calls {
			m := demoModels[rng.IntN(len(demoModels))]
			in, out := int64(200+rng.IntN(6000)), int64(50+rng.IntN(1500))
			cache := int64(rng.IntN(int(in/2) + 1))
			// perCall × (0.5 … 2.5), in thousandths of a credit.
			credits := decimal.New(m.perCall*int64(500+rng.IntN(2001)), -3)
			detail, _ := json.Marshal(map[string]any{"input_tokens": in, "output_tokens": out, "cache_hit_tokens": cache,
				"requests": 1, "rate_card_version": 1, "outcome": "completed"})
			session := ""
			if rng.IntN(3) == 0 {
				session = fmt.Sprintf("%s-sess-%d-%d", prefix, d, i/3)
			}
			at := now.AddDate(0, 0, -d).Add(-time.Duration(rng.IntN(20*3600)) * time.Second)
			key := fmt.Sprintf("%s-usage-%d-%d", prefix, d, i)
			if _, err := l.Charge(ctx, ledger.ChargeRequest{AccountID: account, Amount: credits, IdempotencyKey: key,
				Model: m.name, SessionID: session, RequestID: "req-" + key, OccurredAt: at, Detail: detail}); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

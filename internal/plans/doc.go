// Package plans is the subscription-plan catalogue and the pure rules every
// later part of plans (subscribing, renewal, spending quota) is built on.
//
// # Catalogue
//
// A plan is known by its code ("basic"). Its content — names, tier, monthly
// and yearly price in fen, plan credits per month, RPM/TPM, display features
// and items with quotas — lives in numbered versions that are immutable once
// published: the database refuses UPDATE, DELETE and TRUNCATE on them and
// refuses a new item or quota for a version published in another
// transaction (migrations/000980_plans.sql). Staff edit a Draft (one per
// code), and Publish turns it into the code's next version in one
// transaction. A new draft starts as a copy of the latest version. A
// subscription references (plan code, version) and keeps its version until
// its next renewal.
//
// # Periods, proration and refunds
//
// PeriodAt and PeriodContaining compute billing periods: anniversaries of the
// first day in Asia/Shanghai, clamped to the month's end. UpgradePrice,
// UpgradeCredits and YearlyRefund are the money rules, each rounded once,
// half to even (fen for money, ledger.Scale places for credits). The README's
// "Plans (foundations)" section states the rules.
//
// # Subscriptions and grants
//
// Subscriptions (subscription.go) gives an account a plan (Subscribe; Comp
// for staff) and grants its plan credits month by month as ledger plan lots
// expiring at the month's end, exactly once per (subscription, month):
// GrantKey is the ledger idempotency key, subscription_grants records the
// month, and the subscription's row lock serialises grants. GrantDue, run by
// the plans_grant_due job, grants the months that began and runs the period
// boundary; every change of a subscription writes a subscription event in
// its transaction.
//
// # Renewal and grace
//
// renewal.go: the job makes each active subscription's renewal order
// (subscription_renewals, one per subscription and period start) the lead
// days before its term end, as renewalPlan sells it, with a reminder
// (Notice → Notifier: mail and signed webhook); RenewPaidTx applies a paid
// one in the payment's transaction, only while the term end equals the
// period start paid (so once); a free renewal is applied by the job at the
// term end; an unpaid term goes past due for the grace days, then expires.
// The README's "Renewal and grace" states the rules.
//
// # Changing plans
//
// changes.go: Classify and PriceChange say how a change applies (an
// upgrade at once, prorated; anything else at the term's end) and what it
// costs; ChangePlan schedules a change or applies a free upgrade,
// UpgradePaidTx applies a paid one in the payment's transaction (once per
// order and per from-version and period: subscription_upgrades), Cancel
// and Resume turn renewal off and on. Every change re-prices the unpaid
// renewal order; RenewPaidTx refuses a renewal order made for the plan
// before the change. The README's "Changing plans" states the rules.
//
// # Quota windows
//
// Window.Bounds and Window.FreeAt say which uses a window counts at an
// instant and when a refused call would fit. Design of the spending side
// (not built yet), so that quotas are exact under concurrency and survive a
// restart:
//
//   - Calendar and period windows (day, week, period) are counters, one row
//     per (subscription, item, quota, window start). A hold is one statement,
//     INSERT … ON CONFLICT (…) DO UPDATE SET used = used + $n WHERE
//     used + $n <= quota_limit RETURNING used: the row lock serialises
//     concurrent holds on one window, and no row returned means exhausted.
//     A window's row is never reset: the next window is a new row (new
//     start), and old rows are purged by a job.
//   - Rolling windows count uses: one row per hold (subscription, item,
//     at, amount, reservation), counted WHERE at > $now - N hours. A hold
//     first locks the subscription's quota row (SELECT … FOR UPDATE on one
//     row per subscription and item), sums the window, inserts if it fits,
//     so 64 concurrent calls never pass the limit; the refusal's "frees at"
//     is Window.FreeAt over the counted uses. Uses older than the longest
//     rolling window are purged by a job.
//   - A commit settles the actual amount on the same rows (tokens known only
//     at the end); a released or expired reservation gives its hold back.
//     All of it happens inside the ledger reservation's transaction, so what
//     paid (quota, plan credits, wallet) is decided atomically.
package plans

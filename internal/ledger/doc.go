// Package ledger is the append-only credit ledger every other part of the
// product stands on: accounts, lots, reservations, charges, refunds,
// expiry, balances and verification, correct under concurrency, retries and
// crashes.
//
// # Units and rounding
//
// Credits are decimals with Scale = 6 places (shopspring/decimal in Go,
// numeric(24,6) in SQL); no float touches an amount. Every amount entering
// an operation is rounded once, half to even, by Round. The credit price is
// a setting (DefaultCreditPriceRMB = ¥0.001): CreditsForRMB and
// RMBForCredits convert, the latter rounding half-even to the fen.
//
// # Where the SQL is
//
// Tables, types, domains and triggers are numbered migrations
// (migrations/000200_ledger.sql onwards). Every PL/pgSQL function the
// operations run has one live definition, in
// internal/ledger/schema/functions.sql: db.Migrate applies that file
// (CREATE OR REPLACE, in one transaction) after the numbered migrations
// every time `credits migrate` runs, the test template includes it (its
// name hashes the file), and serve refuses a database whose functions are
// not the binary's (db.RequireMigrated compares a checksum). Change a
// function there; change a table in a new migration. The file is a package
// of its own (schema) because the test template needs it and this
// package's tests import dbtest. The two trigger functions stay with their
// triggers in the migrations.
//
// # Tables
//
// Every table carries pool_id first in its primary key and indexes: the
// account whose lots are spent — the account itself, or the enterprise for
// a sub-account. No hot-path query joins across pools, so the ledger can be
// distributed by pool_id (Citus) later.
//
// Kinds, modes, statuses and event types are enum types rather than
// CHECK (x IN ...) lists, and the sign rules on amounts are domains
// (ledger_nonneg: balance, reserved, allocation, remaining; ledger_positive:
// lot and reservation amounts) rather than table CHECKs: PostgreSQL
// re-prepares a table's CHECK expressions on every statement that writes
// it, while a type's check is compiled once. The rule that a sub-account
// and only a sub-account has a parent is a trigger on insert and on updates
// naming kind or parent_id.
//
//	ledger_accounts     id, pool_id, kind individual|enterprise|sub, parent_id,
//	                    mode live|test, external_id (unique per mode), name,
//	                    status active|frozen, allocation (sub: what it may still
//	                    spend; NULL = no limit), trial_cap (set while in
//	                    trial) and trial_used, and the pool's running state:
//	                    balance (sum of lot remainders), reserved, has_paid,
//	                    grace_used, last_at (the pool's ledger clock)
//	ledger_lots         (pool_id, id), account_id, kind paid|promo|plan|grace,
//	                    amount, remaining (excluding holds), refunded,
//	                    expires_at, source_ref, actor, reason_code, created_at,
//	                    paid_fen (a paid lot's price: RMB paid, in fen),
//	                    refunded_fen (what of it refunds took back)
//	ledger_reservations (pool_id, id), account_id, amount, holds jsonb
//	                    [{lot, amount}], status open|committed|released|
//	                    expired|expired_charged, expires_at, model, session,
//	                    request, and the idempotency record of the commit or
//	                    release that closed it (close_key, close_op,
//	                    close_hash, close_result)
//	ledger_idempotency  (pool_id, account_id, key), op, args_hash, result jsonb
//	ledger_events       (pool_id, at, id), account_id, lot_id, op_id, type,
//	                    amount (signed change of the pool's credit outside
//	                    holds; a transfer's: of the account's allocation),
//	                    balance_after, unpaid, reservation_id, idempotency_key,
//	                    actor, reason_code, source_ref, model, request_id,
//	                    session_id, detail jsonb, occurred_at, at (ledger
//	                    time, monotonic per pool), recorded_at (wall clock);
//	                    partitioned by Shanghai month of at (partition.go);
//	                    the primary key pages a pool's events and answers
//	                    BalanceAt (within a pool (at, id) is the id order),
//	                    a BRIN on id finds an event by id alone, and
//	                    (pool_id, account_id, id) indexes sub-account rows
//	                    only (account_id <> pool_id)
//
// ledger_events and ledger_idempotency are append-only: the shared
// append_only() trigger (migration 000105) raises on UPDATE, DELETE and
// TRUNCATE, so not even the table's owner (or a superuser, short of
// disabling the trigger) rewrites history; corrections are new events. The
// server connects as the application role, which has no UPDATE or DELETE
// on them and cannot disable or drop the trigger (internal/platform/db).
// One operation writes one row per lot it touches, all sharing op_id, so a
// deduction can be shown as "70 from promo, 30 from paid".
//
// Invariants Verify checks (credits ledger verify), each in one SQL pass,
// all in one read-only snapshot; each Mismatch names the pool, the
// invariant and both values (verify.go). An event's amount is the signed
// change of its pool's credit outside holds — a reservation event takes
// the hold out of its lot, a reservation_release puts it back — except a
// transfer's, which is the change of an account's allocation and counts as
// 0 for the pool:
//
//   - event chain: in id order, each event's balance_after is the pool's
//     previous event's balance_after (0 before the first) plus its amount;
//   - balance = events: a pool's balance is the sum of its events' amounts;
//   - balance = last balance_after: ... and its last event's balance_after
//     (0 without events);
//   - balance = lots: ... and the sum of its lots' remainders;
//   - reserved = open reservations: a pool's reserved is the sum of its
//     open reservations' amounts;
//   - lot remaining: each lot's remaining is the sum of the amounts of the
//     events on that lot;
//   - holds: each reservation's holds add up to its amount;
//   - held lot: each lot a reservation holds is a lot of its pool;
//   - transfer: the two events of a transfer add up to 0.
//
// Event ids grow in commit order within a pool because every write holds
// the pool's row lock until it commits; the chain relies on it.
//
// # Retention
//
// A billed request's idempotency record and its closed reservation leave
// the hot tables once no retry can reach them: Retire (`credits ledger
// retire`, as the owner role) moves those older than the retry window
// (DefaultRetryWindow: the late-event window plus a day) to
// ledger_reservations_archive and ledger_idempotency_archive
// (ledger_retire). A later retry is refused with ErrRetryWindowPassed,
// never applied again: a keyed call finds its key in the archive
// (ledger_replay reads it only when the hot table misses), a commit or
// release finds its reservation id at or below
// ledger_retention.reservations_through. DELETE on the hot tables passes
// only the owner with the job's setting (ledger_retire_guard, migration
// 001550); ledger_idempotency stays append-only otherwise.
//
// # Reads for other packages
//
// The tables are the ledger's own: no other package names them in SQL
// (TestNoLedgerTablesOutside fails if one does). Other packages call the
// read and lock functions of reads.go — AccountByID, PoolBalance, Frozen,
// Head, LastEventID, EventFeed and LockPoolTx, each on a pool or inside the
// caller's transaction — or, where a report joins the ledger with its own
// tables in one statement (revenue reports, usage rollups, expiry
// reminders), read the views of migration 000920: ledger_account_view,
// ledger_lot_view and ledger_event_view. The views are plain projections,
// which the planner inlines, so a query keeps its plan; the application
// role may only SELECT from them.
//
// # Operations
//
// Each mutating operation is one PL/pgSQL function taking and returning
// jsonb (ledger_credit, ledger_reserve, ledger_commit, ledger_release,
// ledger_charge, ledger_refund, ledger_transfer, ledger_set_account,
// ledger_expire_due, ledger_sweep_reservations). Each first locks the
// pool's account row, which serialises every write to that pool across
// processes; refusals come back as {"error": code}, mapped to the sentinels
// in errors.go, so a refused operation never aborts a transaction.
//
//   - Spending order: SpendOrder/SpendsBefore — soonest expiry first, no
//     expiry last; on equal expiry granted kinds (grace, promo, plan) before
//     paid; then oldest, then lowest id. ledger_take orders the same way; the
//     model-based test checks they agree, on an individual account and on an
//     enterprise pool spent by sub-accounts within their allocations. Expired lots are not spendable even
//     before the expiry sweep writes their expiry events.
//   - Reserve holds from lots (reservation events, negative); Commit writes a
//     reservation_release (+hold) and a deduction (−charged) per held lot,
//     charges an excess from available lots, and records what cannot be paid
//     as an unpaid_usage event (amount 0, unpaid > 0) — balances never go
//     negative. Charge (usage that already happened) does the same without a
//     hold. SweepReservations releases (or, by policy, charges) holds past
//     their TTL; a later Commit still charges.
//   - Idempotency: a key is unique per account; the same key and arguments
//     return the stored first result (Replayed = true), other arguments
//     ErrIdempotencyConflict. The arguments compared are those that define
//     the operation: for Reserve account, amount, TTL, model, session,
//     request and detail (as canonical JSON); for Charge the same plus the
//     time the usage occurred; for Credit account, kind, amount, expiry,
//     event type, source and price (PaidFen, when given); for Refund lot,
//     amount, source, fen and bonus revocation (when given); for
//     Transfer both accounts and the amount. Actor and reason are not
//     compared, so a retry noticed by another process replays. Commit and Release key themselves by
//     reservation id and keep their record on the reservation row; a
//     caller-chosen commit key is also recorded in ledger_idempotency.
//   - Price: a paid lot records what was paid for it (CreditRequest.PaidFen).
//     LotValue allocates it to the credits leaving the lot, in ledger order:
//     use and expiry by cumulative rounding (the first c credits are worth
//     FenShare(paid_fen, c, amount)), a refund at the fen it states, and the
//     event that empties the lot takes the rest — so the revenue report and
//     refunds value a lot at its own price, exactly. Refunds recorded before
//     lots had a price state no fen; the report values them on an axis of
//     refunds alone (LotValue.UnstatedRefundFen).
//   - Refund and bonus: a refund may revoke, in the same operation (op_id),
//     the share of the bonus lot granted with the paid lot
//     (RefundRequest.Bonus): an expiry event with reason "refund_bonus",
//     counted in the bonus lot's refunded; the refund event's detail records
//     its fen and the bonus figures (revoked, charged, bonus_fen). Payments
//     decides the share (README, "Refunds and bonus").
//   - Grace: with the policy on, a pool that has paid before and reaches zero
//     gets one grace lot (grant event, reason "grace"), never a second before
//     its next paid top-up, never while one is active; grace lots are not
//     refundable and are not revenue (kind grace).
//   - Trial: an account created while Options.TrialCap is set (the server's
//     TRIAL_CREDIT_CAP) is in trial until EndTrial, which verification calls
//     in the transaction that records the account verified. In trial it
//     spends granted lots only (promo, plan, grace), and trial_used — what
//     it was charged in trial plus what its open reservations hold — may
//     not pass trial_cap. ledger_reserve and ledger_charge check both and
//     raise trial_used under the pool's row lock, in the transaction of
//     the hold or charge, so no interleaving of concurrent calls overshoots
//     (ErrTrialCapReached, ErrTrialPaidCredit: both ErrTrial). A commit
//     moves its hold out of trial_used and its charge in; beyond the hold
//     it charges granted credit up to the cap and records the rest as
//     unpaid usage; a release, or the TTL sweep releasing, gives the hold's
//     room back. The batched fast paths hand an account in trial to these
//     general functions (one column test on the row they already read).
//     Migration 000205 put existing unverified accounts in trial at
//     DefaultTrialCap.
//   - Enterprise pools: sub-accounts spend the enterprise's lots within their
//     allocation (the stricter limit wins); Transfer moves allocation between
//     accounts of one enterprise as a pair of transfer events.
//   - BalanceAt: every event stores balance_after and the ledger time "at" is
//     monotonic per pool (max of the clock and the pool's last_at), so every
//     row is a checkpoint and BalanceAt is one probe of (pool_id, at, id).
//
// # Throughput
//
// Writes are coalesced in-process: all operations for one pool go to the
// same writer (Options.Writers), which sends whatever is queued as one call
// of ledger_apply(ops text[], requests jsonb[], pools bigint[]) — one
// statement, one transaction, one WAL flush — with the batch sorted by pool
// so pools are locked in ascending order. Options.InFlight = 2 lets a
// writer gather and start its next batch on a second connection while the
// previous COMMIT waits for its WAL flush; a pool is never in two batches in
// flight, so one pool's operations still run one at a time, in order. It
// measured slower than one batch in flight on two shared cores, so the
// default is 1.
//
// Inside a batch, consecutive reserves and commits (pools ascending) run
// set-based (ledger_rc_run): their pools are locked in one statement, the
// commits' reservations, the reserves' keys and the pools' lots are read in
// one statement each, every operation runs in memory on its pool's running
// state (balance, reserved, last_at, budget counters) and lots, in order,
// and the rows are written with one statement per table — a dozen
// statements per batch instead of a dozen per operation. Only the common
// case goes this way; a pool with a sub-account's operation, an account in
// trial, an allocation, an enforcement override, a tier cap on open
// reservations, a credit line, a lot expiring within the batch, a custom
// commit key, a commit beyond its hold or a repeated commit runs its part of
// the batch through the per-operation functions instead (ledger_reserve_t,
// ledger_commit_t, which keep a pool's running state in a variable and hand
// the rarer cases to ledger_reserve and ledger_commit), after the common
// pools' rows are written; a request with a grace policy goes to the
// general function. Consecutive charges of one account run the same way
// (ledger_charge_run). The set statements keep generic plans with
// sequential scans off: planned once per connection, often while the
// tables are small, they must stay key probes as the tables grow.
//
// A writer that has taken the first queued operation drains the queue,
// then yields the processor (runtime.Gosched, up to four times while more
// keep arriving) and drains again before it sends the batch: closing a
// batch's results readies its clients on the writer's own processor, and
// without the yield the first of them to queue its next operation would
// start a batch of one while the rest wait a whole batch behind it.
//
// An account's pool picks its writer. Reserve, Charge and Credit presume an
// account they have not seen before is its own pool instead of looking it
// up first (a reserve's result names the pool when it is, a charge's
// always, a credit's lot carries it; it is then cached;
// after a reserve of a sub-account the pool is looked up): the route only
// decides the writer and the lock order inside a batch, while the row lock
// on the real pool keeps a misrouted sub-account's operation correct.
//
// Refusals are results; if the call raises, each operation is rerun alone,
// so one bad request cannot fail its neighbours. Durability stays on.
// CreateAccountTx, CreditTx, RefundTx, SetStatusTx and TransferTx instead run inside
// the caller's transaction. See BENCH.md for measured figures.
package ledger

package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// LotKind is where credit came from; it decides spending order and refunds.
type LotKind string

// Lot kinds.
const (
	LotPaid  LotKind = "paid"  // a top-up; refundable
	LotPromo LotKind = "promo" // granted: sign-up, bonus, goodwill
	LotPlan  LotKind = "plan"  // a plan's allowance
	LotGrace LotKind = "grace" // grace credit; never refundable, never revenue
	// LotCredit is a pool's postpaid credit line (授信): one lot, spent
	// after every other, whose remaining is the unused line. It is set by
	// SetCreditLineTx and given back by RestoreCreditTx, never by Credit.
	LotCredit LotKind = "credit"
)

// EventType is the kind of a ledger event row.
type EventType string

// Event types.
const (
	EventPurchase                 EventType = "purchase"
	EventGrant                    EventType = "grant"
	EventDeduction                EventType = "deduction"
	EventReservation              EventType = "reservation"
	EventReservationRelease       EventType = "reservation_release"
	EventReservationExpiredCharge EventType = "reservation_expired_charge"
	EventRefund                   EventType = "refund"
	EventExpiry                   EventType = "expiry"
	EventAdjustment               EventType = "adjustment"
	EventTransfer                 EventType = "transfer"
	EventUnpaidUsage              EventType = "unpaid_usage"
	EventAllocation               EventType = "allocation"
	EventStatus                   EventType = "status"
	EventCreditLine               EventType = "credit_line"    // a credit line set or changed
	EventCreditRestore            EventType = "credit_restore" // a paid bill gives its line back
)

// Lot is one bucket of credit with its own kind, expiry and remainder.
// Remaining excludes what reservations hold. Refunded is the credit
// refunds took back: a paid lot's refunds, or the share of a bonus lot
// revoked with the paid lot it came with.
type Lot struct {
	ID         int64           `json:"id" db:"id"`
	PoolID     int64           `json:"pool_id" db:"pool_id"`
	AccountID  int64           `json:"account_id" db:"account_id"`
	Kind       LotKind         `json:"kind" db:"kind"`
	Amount     decimal.Decimal `json:"amount" db:"amount"`
	Remaining  decimal.Decimal `json:"remaining" db:"remaining"`
	Refunded   decimal.Decimal `json:"refunded" db:"refunded"`
	ExpiresAt  *time.Time      `json:"expires_at" db:"expires_at"`
	SourceRef  string          `json:"source_ref" db:"source_ref"`
	Actor      string          `json:"actor" db:"actor"`
	ReasonCode string          `json:"reason_code" db:"reason_code"`
	CreatedAt  time.Time       `json:"created_at" db:"created_at"`

	// PaidFen is the RMB paid for a paid lot, in fen (nil: not recorded;
	// never set on other kinds); RefundedFen is how much of it refunds
	// took back (money paid back plus any bonus deduction). See LotValue.
	PaidFen     *int64 `json:"paid_fen" db:"paid_fen"`
	RefundedFen int64  `json:"refunded_fen" db:"refunded_fen"`
}

// CreditRequest adds credit to an account as a new lot.
type CreditRequest struct {
	AccountID int64
	Kind      LotKind
	Amount    decimal.Decimal
	ExpiresAt *time.Time
	// EventType is purchase (paid top-ups), grant or adjustment.
	EventType      EventType
	SourceRef      string // payment order, grant, campaign
	Actor          string
	ReasonCode     string
	IdempotencyKey string
	// PaidFen is the RMB paid for a paid lot, in fen, recorded on the lot so
	// that its consumption, expiry and refunds are valued at its own price
	// (see LotValue). 0 records no price; other kinds refuse it.
	PaidFen int64
}

// CreditResult is the new lot and the operation id of its event.
type CreditResult struct {
	OpID     int64 `json:"op_id"`
	Lot      Lot   `json:"lot"`
	Replayed bool  `json:"replayed"`
}

// Operations the writers run (ledger_<op> in SQL).
const (
	opCredit   = "credit"
	opReserve  = "reserve"
	opCommit   = "commit"
	opRelease  = "release"
	opCharge   = "charge"
	opRefund   = "refund"
	opTransfer = "transfer"
	opSetAcct  = "set_account"
)

// singleSQL runs one operation on its own.
var singleSQL = map[string]string{
	opCredit:   `SELECT ledger_credit($1::jsonb)`,
	opReserve:  `SELECT ledger_reserve($1::jsonb)`,
	opCommit:   `SELECT ledger_commit($1::jsonb)`,
	opRelease:  `SELECT ledger_release($1::jsonb)`,
	opCharge:   `SELECT ledger_charge($1::jsonb)`,
	opRefund:   `SELECT ledger_refund($1::jsonb)`,
	opTransfer: `SELECT ledger_transfer($1::jsonb)`,
	opSetAcct:  `SELECT ledger_set_account($1::jsonb)`,
}

const (
	sqlCredit   = `SELECT ledger_credit($1::jsonb)`
	sqlReserve  = `SELECT ledger_reserve($1::jsonb)`
	sqlCommit   = `SELECT ledger_commit($1::jsonb)`
	sqlRelease  = `SELECT ledger_release($1::jsonb)`
	sqlCharge   = `SELECT ledger_charge($1::jsonb)`
	sqlRefund   = `SELECT ledger_refund($1::jsonb)`
	sqlTransfer = `SELECT ledger_transfer($1::jsonb)`
)

func (l *Ledger) creditPayload(r CreditRequest) (payload, error) {
	amount, err := checkAmount(r.Amount)
	if err != nil {
		return nil, err
	}
	if r.IdempotencyKey == "" {
		return nil, ErrMissingIdempotencyKey
	}
	switch r.Kind {
	case LotPaid, LotPromo, LotPlan, LotGrace:
	default:
		return nil, fmt.Errorf("%w: lot kind %q", ErrInvalidArgument, r.Kind)
	}
	switch r.EventType {
	case "":
		r.EventType = EventGrant
		if r.Kind == LotPaid {
			r.EventType = EventPurchase
		}
	case EventPurchase, EventGrant, EventAdjustment:
	default:
		return nil, fmt.Errorf("%w: credit event type %q", ErrInvalidArgument, r.EventType)
	}
	if r.PaidFen < 0 || (r.PaidFen != 0 && r.Kind != LotPaid) {
		return nil, fmt.Errorf("%w: paid fen %d on a %s lot", ErrInvalidArgument, r.PaidFen, r.Kind)
	}
	var exp any
	if r.ExpiresAt != nil {
		exp = r.ExpiresAt.UTC()
	}
	p := payload{"account_id": r.AccountID, "kind": r.Kind, "amount": amount.String(), "expires_at": exp,
		"event_type": r.EventType, "source_ref": r.SourceRef, "actor": r.Actor, "reason_code": r.ReasonCode}
	identity := []any{"credit", r.AccountID, r.Kind, amount.String(), exp, r.EventType, r.SourceRef}
	if r.PaidFen != 0 {
		// Only when set, so that the keys of credits made before lots had a
		// price keep their hash.
		p["paid_fen"] = r.PaidFen
		identity = append(identity, r.PaidFen)
	}
	return l.stamp(p, r.IdempotencyKey, identity...), nil
}

// Credit adds a lot (a top-up, a grant or an adjustment) to the account; a
// sub-account's credit lands in its enterprise's pool and raises its
// allocation. Frozen accounts can still be credited. Errors:
// ErrInvalidAmount, ErrInvalidArgument, ErrMissingIdempotencyKey,
// ErrNotFound, ErrIdempotencyConflict.
func (l *Ledger) Credit(ctx context.Context, r CreditRequest) (CreditResult, error) {
	var res CreditResult
	p, err := l.creditPayload(r)
	if err != nil {
		return res, fmt.Errorf("ledger: credit: %w", err)
	}
	// As in Reserve: an account not seen before is presumed to be its own
	// pool; the new lot names the real one, which is then cached.
	pool, known := l.cachedPool(r.AccountID)
	raw, err := l.exec(ctx, pool, opCredit, p)
	if err == nil {
		err = decode(raw, &res)
	}
	if err != nil {
		return res, fmt.Errorf("ledger: credit: %w", err)
	}
	if !known && res.Lot.PoolID != 0 {
		l.pools.Store(r.AccountID, res.Lot.PoolID)
	}
	return res, nil
}

// CreditTx is Credit inside the caller's transaction tx, so that payments
// can credit atomically with marking an order paid. It waits for the pool's
// row lock, which it then holds until tx ends. Errors: as Credit.
func (l *Ledger) CreditTx(ctx context.Context, tx pgx.Tx, r CreditRequest) (CreditResult, error) {
	var res CreditResult
	p, err := l.creditPayload(r)
	if err != nil {
		return res, fmt.Errorf("ledger: credit: %w", err)
	}
	raw, err := l.execTx(ctx, tx, sqlCredit, p)
	if err == nil {
		err = decode(raw, &res)
	}
	if err != nil {
		return res, fmt.Errorf("ledger: credit: %w", err)
	}
	return res, nil
}

// ReserveRequest holds credits for a streaming call.
type ReserveRequest struct {
	AccountID      int64
	Amount         decimal.Decimal
	IdempotencyKey string
	TTL            time.Duration // Options.DefaultTTL when zero
	Model          string
	SessionID      string
	RequestID      string
	Detail         json.RawMessage // stored on the events as given (token estimate, rate card version)
	// Project and Key are the labels the gateway sends (at most
	// MaxLabelLen characters each): stored on the reservation and its
	// events, and the scopes of budgets (see Budget).
	Project string
	Key     string
	// ShadowRefusal records, with the hold, a refusal the caller let
	// through in shadow mode (the gateway's plan_quota_exhausted).
	ShadowRefusal string
}

// Hold is what a reservation holds from one lot.
type Hold struct {
	LotID  int64           `json:"lot"`
	Amount decimal.Decimal `json:"amount"`
	Kind   LotKind         `json:"kind"` // empty in holds made before kinds were recorded
}

// Reservation is a hold on credits until commit, release or its TTL.
type Reservation struct {
	ID        int64           `json:"reservation_id"`
	AccountID int64           `json:"account_id"`
	OpID      int64           `json:"op_id"`
	Amount    decimal.Decimal `json:"amount"`
	ExpiresAt time.Time       `json:"expires_at"`
	Holds     []Hold          `json:"holds"`
	Replayed  bool            `json:"replayed"`
	// ShadowRefusal is the refusal shadow mode let through (its code:
	// insufficient_credits, allocation_exceeded, concurrency_limit,
	// budget_exceeded, plan_quota_exhausted); "" when none. A call credit
	// would have refused holds nothing (Amount 0, Requested the amount
	// asked for).
	ShadowRefusal string          `json:"shadow_refusal"`
	Requested     decimal.Decimal `json:"requested"`
}

// PlanHeld is the part of the reservation held from plan lots.
func (r Reservation) PlanHeld() decimal.Decimal {
	sum := decimal.Zero
	for _, h := range r.Holds {
		if h.Kind == LotPlan {
			sum = sum.Add(h.Amount)
		}
	}
	return sum
}

// Reserve holds amount from the account's lots in spending order. A retry
// with the same key replays only if account, amount, TTL, model, session,
// request and detail are all the same. An account in trial holds from
// granted lots only and within its trial cap (see Options.TrialCap).
// Errors: ErrInsufficientCredits, ErrAllocationExceeded and
// ErrTrialCapReached (as *ShortfallError with what is available),
// ErrTrialPaidCredit, ErrAccountFrozen, ErrInvalidAmount,
// ErrMissingIdempotencyKey, ErrNotFound, ErrIdempotencyConflict,
// ErrRetryWindowPassed (the key was used before the retry window and
// archived), ErrInvalidArgument (a label too long or with control characters), and
// ErrBudgetExceeded (as *BudgetExceededError) when a hard-stop budget over
// the call's account, project or key would pass its cap, and
// ErrConcurrencyLimit when the pool's tier caps its open reservations and
// that many are open.
func (l *Ledger) Reserve(ctx context.Context, r ReserveRequest) (Reservation, error) {
	var res Reservation
	amount, err := checkAmount(r.Amount)
	if err == nil && r.IdempotencyKey == "" {
		err = ErrMissingIdempotencyKey
	}
	if err == nil && (!ValidLabel(r.Project) || !ValidLabel(r.Key)) {
		err = ErrInvalidArgument
	}
	if err != nil {
		return res, fmt.Errorf("ledger: reserve: %w", err)
	}
	ttl := r.TTL
	if ttl <= 0 {
		ttl = l.opts.DefaultTTL
	}
	// An account seen for the first time is presumed to be its own pool
	// (the usual case) rather than looked up first: the route only picks a
	// writer and the lock order within a batch, and the database's lock
	// on the real pool keeps the operation correct either way. The result
	// names the pool when it is the account itself.
	pool, known := l.cachedPool(r.AccountID)
	p := payload{"account_id": r.AccountID, "amount": amount.String(), "ttl_seconds": ttl.Seconds(),
		"model": r.Model, "session_id": r.SessionID, "request_id": r.RequestID, "detail": r.Detail}
	identity := []any{"reserve", r.AccountID, amount.String(), r.TTL, r.Model, r.SessionID, r.RequestID, canonical(r.Detail)}
	if r.Project != "" || r.Key != "" { // labelled calls only, so keys stored before labels keep their hash
		p["project"], p["key_label"] = r.Project, r.Key
		identity = append(identity, r.Project, r.Key)
	}
	if r.ShadowRefusal != "" {
		p["shadow_refusal"] = r.ShadowRefusal
	}
	p = l.stamp(p, r.IdempotencyKey, identity...)
	raw, err := l.exec(ctx, pool, opReserve, p)
	var out struct {
		Reservation
		Pool int64 `json:"pool"`
	}
	if err == nil {
		err = decode(raw, &out)
	}
	res = out.Reservation
	if err != nil {
		return res, fmt.Errorf("ledger: reserve: %w", err)
	}
	if res.ShadowRefusal != "" && !res.Replayed {
		l.countShadow(res.ShadowRefusal)
	}
	if !known {
		if out.Pool != 0 {
			pool = out.Pool
			l.pools.Store(r.AccountID, pool)
		} else if pool, err = l.poolOf(ctx, r.AccountID); err != nil {
			// Commit and Release look the reservation's pool up instead.
			return res, nil
		}
	}
	l.resPool.Store(res.ID, pool)
	return res, nil
}

// CommitRequest charges a reservation.
type CommitRequest struct {
	ReservationID int64
	Actual        decimal.Decimal
	// IdempotencyKey defaults to "commit:<reservation id>", so a reservation
	// commits once; a second commit with another amount is a conflict.
	IdempotencyKey string
	Detail         json.RawMessage
}

// CommitResult says what a commit charged, gave back, and could not charge.
type CommitResult struct {
	OpID          int64           `json:"op_id"`
	ReservationID int64           `json:"reservation_id"`
	Charged       decimal.Decimal `json:"charged"`
	Released      decimal.Decimal `json:"released"`
	Unpaid        decimal.Decimal `json:"unpaid"`
	Available     decimal.Decimal `json:"available"`
	// PlanCharged is the part of Charged taken from plan lots; the rest
	// came from the wallet (paid, promo and grace lots).
	PlanCharged decimal.Decimal `json:"plan_charged"`
	Replayed    bool            `json:"replayed"`
}

// Commit charges the actual amount of a reservation and releases the rest
// of its hold. An actual above the hold is charged from the available
// balance (within a sub-account's allocation); what cannot be paid is
// recorded as an unpaid_usage event and returned as Unpaid, never as a
// negative balance. A commit after the TTL sweep released the hold charges
// the whole actual from the available balance. For an account in trial
// that excess is charged from granted credit and only up to its trial cap;
// the rest is Unpaid. Errors: ErrNotFound,
// ErrReservationClosed (already committed or released), ErrIdempotencyConflict,
// ErrInvalidAmount (negative actual, or above MaxCredits),
// ErrRetryWindowPassed (the reservation, or the record of a custom commit
// key, was archived by the retention job: this is a retry from outside the
// window, and it is not applied).
func (l *Ledger) Commit(ctx context.Context, r CommitRequest) (CommitResult, error) {
	var res CommitResult
	actual := Round(r.Actual)
	if actual.IsNegative() || actual.GreaterThan(MaxCredits) {
		return res, fmt.Errorf("ledger: commit: %w", ErrInvalidAmount)
	}
	key := r.IdempotencyKey
	if key == "" {
		key = "commit:" + strconv.FormatInt(r.ReservationID, 10)
	}
	pool, err := l.poolOfReservation(ctx, r.ReservationID)
	if err != nil {
		return res, fmt.Errorf("ledger: commit: %w", l.retiredReservation(ctx, r.ReservationID, err))
	}
	p := l.stamp(payload{"reservation_id": r.ReservationID, "actual": actual.String(), "detail": r.Detail},
		key, "commit", r.ReservationID, actual.String())
	raw, err := l.exec(ctx, pool, opCommit, p)
	if err == nil {
		err = decode(raw, &res)
	}
	if err != nil {
		return res, fmt.Errorf("ledger: commit: %w", l.retiredReservation(ctx, r.ReservationID, err))
	}
	l.resPool.Delete(r.ReservationID)
	return res, nil
}

// ReleaseResult says what a release gave back.
type ReleaseResult struct {
	OpID      int64           `json:"op_id"`
	Released  decimal.Decimal `json:"released"`
	Available decimal.Decimal `json:"available"`
	Replayed  bool            `json:"replayed"`
}

// Release frees a reservation's hold without charging. Releasing twice
// returns the first result. Errors: ErrNotFound, ErrReservationClosed
// (committed, or released by the TTL sweep), ErrRetryWindowPassed (the
// reservation was archived by the retention job).
func (l *Ledger) Release(ctx context.Context, reservationID int64) (ReleaseResult, error) {
	var res ReleaseResult
	pool, err := l.poolOfReservation(ctx, reservationID)
	if err != nil {
		return res, fmt.Errorf("ledger: release: %w", l.retiredReservation(ctx, reservationID, err))
	}
	p := l.stamp(payload{"reservation_id": reservationID}, "release:"+strconv.FormatInt(reservationID, 10), "release", reservationID)
	raw, err := l.exec(ctx, pool, opRelease, p)
	if err == nil {
		err = decode(raw, &res)
	}
	if err != nil {
		return res, fmt.Errorf("ledger: release: %w", l.retiredReservation(ctx, reservationID, err))
	}
	l.resPool.Delete(reservationID)
	return res, nil
}

// ChargeRequest deducts usage that already happened (batch ingestion of
// non-streaming calls).
type ChargeRequest struct {
	AccountID      int64
	Amount         decimal.Decimal
	IdempotencyKey string
	Model          string
	SessionID      string
	RequestID      string
	OccurredAt     time.Time // when the usage happened; now when zero
	Detail         json.RawMessage
	// Project and Key label the usage, as ReserveRequest's.
	Project string
	Key     string
}

// ChargeResult says what a charge deducted and what it could not.
type ChargeResult struct {
	OpID      int64           `json:"op_id"`
	Charged   decimal.Decimal `json:"charged"`
	Unpaid    decimal.Decimal `json:"unpaid"`
	Available decimal.Decimal `json:"available"`
	// PlanCharged is the part of Charged taken from plan lots.
	PlanCharged decimal.Decimal `json:"plan_charged"`
	Replayed    bool            `json:"replayed"`
	// ShadowRefusal is "budget_exceeded" when shadow mode let through a
	// charge a hard-stop budget would have refused; "" otherwise.
	ShadowRefusal string `json:"shadow_refusal"`
}

// Charge deducts amount from the account's lots in spending order. Since
// the usage already happened, a shortfall is not refused: what the balance
// (or a sub-account's allocation) cannot cover is recorded as unpaid_usage
// and returned as Unpaid. An account in trial is charged from granted credit
// only, and a charge beyond its trial cap or needing its paid credit is
// refused like its reservation would be. Errors: ErrAccountFrozen,
// ErrTrialCapReached (as *ShortfallError), ErrTrialPaidCredit,
// ErrInvalidAmount, ErrMissingIdempotencyKey, ErrNotFound,
// ErrIdempotencyConflict, ErrRetryWindowPassed (as Reserve's),
// ErrInvalidArgument (a label), ErrBudgetExceeded (as *BudgetExceededError,
// like Reserve's).
func (l *Ledger) Charge(ctx context.Context, r ChargeRequest) (ChargeResult, error) {
	j, known, err := l.chargeJob(r)
	if err != nil {
		return ChargeResult{}, fmt.Errorf("ledger: charge: %w", err)
	}
	raw, err := l.submit(ctx, j)
	return l.chargeResult(r, known, raw, err)
}

// ChargeOutcome is one request's answer from ChargeMany: Err is nil or one
// of Charge's errors.
type ChargeOutcome struct {
	Result ChargeResult
	Err    error
}

// ChargeMany charges each request exactly as Charge would, and answers in
// the same order. The requests are queued back to back, so a pool's charges
// reach its writer together and commit in few transactions (one lock of
// the pool, one write of its row and no lookups per batch:
// ledger_charge_run, which writes a run's event rows, lot remainders and
// idempotency records with one statement each) instead of one goroutine
// and round of coalescing each.
// At most MaxBatch of one call wait in the writers' queues at a time, so a
// large batch does not hold other callers' operations (a gateway's reserve)
// behind all of its charges. Charges of one pool apply in the order given;
// a repeated idempotency key within the requests replays the first. Each
// request's errors are Charge's.
func (l *Ledger) ChargeMany(ctx context.Context, rs []ChargeRequest) []ChargeOutcome {
	out := make([]ChargeOutcome, len(rs))
	jobs := make([]*job, len(rs))
	known := make([]bool, len(rs))
	settle := func(i int) {
		raw, err := l.await(ctx, jobs[i])
		out[i].Result, out[i].Err = l.chargeResult(rs[i], known[i], raw, err)
	}
	queued := make([]int, 0, l.opts.MaxBatch) // in flight, oldest first
	for i, r := range rs {
		var err error
		if jobs[i], known[i], err = l.chargeJob(r); err != nil {
			out[i].Err = fmt.Errorf("ledger: charge: %w", err)
			continue
		}
		if len(queued) == l.opts.MaxBatch {
			settle(queued[0])
			queued = queued[1:]
		}
		if err := l.enqueue(ctx, jobs[i]); err != nil {
			out[i].Err = fmt.Errorf("ledger: charge: %w", err)
			continue
		}
		queued = append(queued, i)
	}
	for _, i := range queued {
		settle(i)
	}
	return out
}

// chargeJob checks a charge request and builds its job; known says
// whether the account's pool was known (else the account is presumed to be
// its own pool, as in Reserve, and the result names the real one).
func (l *Ledger) chargeJob(r ChargeRequest) (*job, bool, error) {
	amount, err := checkAmount(r.Amount)
	if err == nil && r.IdempotencyKey == "" {
		err = ErrMissingIdempotencyKey
	}
	if err == nil && (!ValidLabel(r.Project) || !ValidLabel(r.Key)) {
		err = ErrInvalidArgument
	}
	if err != nil {
		return nil, false, err
	}
	pool, known := l.cachedPool(r.AccountID)
	arg, err := l.chargeArg(r, amount.String())
	if err != nil {
		return nil, false, err
	}
	return &job{pool: pool, op: opCharge, arg: arg, done: make(chan struct{})}, known, nil
}

// chargeResult decodes a charge's answer, counts a shadow refusal and
// caches the account's pool.
func (l *Ledger) chargeResult(r ChargeRequest, known bool, raw []byte, err error) (ChargeResult, error) {
	var out struct {
		ChargeResult
		Pool int64 `json:"pool"`
	}
	if err == nil && !fastChargeResult(raw, &out.ChargeResult, &out.Pool) {
		out.ChargeResult, out.Pool = ChargeResult{}, 0
		err = decode(raw, &out)
	}
	res := out.ChargeResult
	if err != nil {
		return res, fmt.Errorf("ledger: charge: %w", err)
	}
	if res.ShadowRefusal != "" && !res.Replayed {
		l.countShadow(res.ShadowRefusal)
	}
	if !known && out.Pool != 0 {
		l.pools.Store(r.AccountID, out.Pool)
	}
	return res, nil
}

// RefundRequest gives back the unconsumed part of a paid lot and, with
// Bonus, takes back the share of the bonus lot granted with it.
type RefundRequest struct {
	LotID  int64
	Amount decimal.Decimal
	// Fen is what the refunded credits are worth at the lot's price, in fen
	// (what is paid back plus Bonus.ChargedFen), added to the lot's
	// RefundedFen and recorded on the refund event (detail "fen"). 0 records
	// nothing (a lot without a price).
	Fen            int64
	Bonus          *BonusRevocation
	IdempotencyKey string
	Actor          string
	Reason         string
	SourceRef      string // the refund order
}

// BonusRevocation is the share of a bonus lot a refund takes back, in the
// same operation as the refund: Revoked unspent credits leave the bonus
// lot as an expiry event with reason "refund_bonus"; Charged credits of
// the share were already spent, and ChargedFen, what they cost at the paid
// lot's price, is kept out of the money paid back. Charged and ChargedFen
// are recorded on the refund event (detail "bonus_charged", "bonus_fen").
type BonusRevocation struct {
	LotID      int64
	Revoked    decimal.Decimal
	Charged    decimal.Decimal
	ChargedFen int64
}

// ReasonRefundBonus is the reason code of the expiry event that revokes a
// bonus lot's share on a refund (BonusRevocation).
const ReasonRefundBonus = "refund_bonus"

// RefundResult is the refunded amount and what remains in the lot.
type RefundResult struct {
	OpID      int64           `json:"op_id"`
	LotID     int64           `json:"lot_id"`
	Refunded  decimal.Decimal `json:"refunded"`
	Remaining decimal.Decimal `json:"remaining"`
	// BonusRevoked is what left the bonus lot (zero without a Bonus).
	BonusRevoked decimal.Decimal `json:"bonus_revoked"`
	Replayed     bool            `json:"replayed"`
}

func (l *Ledger) refundPayload(r RefundRequest) (payload, error) {
	amount, err := checkAmount(r.Amount)
	if err == nil && r.IdempotencyKey == "" {
		err = ErrMissingIdempotencyKey
	}
	if err != nil {
		return nil, err
	}
	if r.Fen < 0 {
		return nil, fmt.Errorf("%w: refund of %d fen", ErrInvalidArgument, r.Fen)
	}
	p := payload{"lot_id": r.LotID, "amount": amount.String(), "actor": r.Actor, "reason_code": r.Reason, "source_ref": r.SourceRef}
	identity := []any{"refund", r.LotID, amount.String(), r.SourceRef}
	// Price and bonus join the payload (and the idempotency hash) only when
	// set, so that refunds made before they existed keep their hash.
	if r.Fen != 0 {
		p["fen"] = r.Fen
		identity = append(identity, r.Fen)
	}
	if b := r.Bonus; b != nil {
		revoked, charged := Round(b.Revoked), Round(b.Charged)
		if b.LotID == 0 || b.LotID == r.LotID || revoked.IsNegative() || charged.IsNegative() || b.ChargedFen < 0 || b.ChargedFen > r.Fen {
			return nil, fmt.Errorf("%w: bonus revocation %+v", ErrInvalidArgument, *b)
		}
		p["bonus"] = map[string]any{"lot_id": b.LotID, "revoked": revoked.String(), "charged": charged.String(), "charged_fen": b.ChargedFen}
		identity = append(identity, b.LotID, revoked.String(), charged.String(), b.ChargedFen)
	}
	return l.stamp(p, r.IdempotencyKey, identity...), nil
}

// Refund removes amount from a paid lot's unconsumed remainder (credits
// held by open reservations are not refundable until released) and, with
// Bonus, revokes the bonus lot's share in the same operation (op_id).
// Errors: ErrNotFound, ErrNotRefundable (not a paid lot),
// ErrRefundExceedsLot (as *ShortfallError), ErrInvalidAmount,
// ErrInvalidArgument (Fen beyond the lot's price; a bonus lot of another
// pool, a paid one, or one with less left than Revoked),
// ErrMissingIdempotencyKey, ErrIdempotencyConflict.
func (l *Ledger) Refund(ctx context.Context, r RefundRequest) (RefundResult, error) {
	var res RefundResult
	p, err := l.refundPayload(r)
	if err != nil {
		return res, fmt.Errorf("ledger: refund: %w", err)
	}
	var pool int64
	if err := l.pool.QueryRow(ctx, `SELECT pool_id FROM ledger_lots WHERE id = $1`, r.LotID).Scan(&pool); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			err = ErrNotFound
		}
		return res, fmt.Errorf("ledger: refund: %w", err)
	}
	raw, err := l.exec(ctx, pool, opRefund, p)
	if err == nil {
		err = decode(raw, &res)
	}
	if err != nil {
		return res, fmt.Errorf("ledger: refund: %w", err)
	}
	return res, nil
}

// RefundTx is Refund inside the caller's transaction tx (payments marks
// the refund order in the same transaction). Errors: as Refund.
func (l *Ledger) RefundTx(ctx context.Context, tx pgx.Tx, r RefundRequest) (RefundResult, error) {
	var res RefundResult
	p, err := l.refundPayload(r)
	if err != nil {
		return res, fmt.Errorf("ledger: refund: %w", err)
	}
	raw, err := l.execTx(ctx, tx, sqlRefund, p)
	if err == nil {
		err = decode(raw, &res)
	}
	if err != nil {
		return res, fmt.Errorf("ledger: refund: %w", err)
	}
	return res, nil
}

// RevokeRequest takes back what is left of a granted (plan or promo) lot
// before it expires, or at most Amount of it.
type RevokeRequest struct {
	LotID int64
	// Amount, when positive, bounds what is taken (rounded as every amount
	// is); zero takes all that is left.
	Amount         decimal.Decimal
	IdempotencyKey string
	Actor          string
	// Reason is the expiry event's reason code (e.g. "plan_refund").
	Reason    string
	SourceRef string
}

// RevokeResult is what a revocation took.
type RevokeResult struct {
	// OpID is 0 when the lot had nothing left (no event was written).
	OpID     int64           `json:"op_id"`
	LotID    int64           `json:"lot_id"`
	Revoked  decimal.Decimal `json:"revoked"`
	Replayed bool            `json:"replayed"`
}

// RevokeTx takes back, inside the caller's transaction tx, what is left of
// a plan or promo lot (at most r.Amount when positive), as an expiry event
// with reason r.Reason; credit held by open reservations stays with them. A
// lot with nothing left revokes 0 and writes nothing. Errors: ErrNotFound, ErrInvalidArgument (a paid lot:
// paid credit leaves by a refund), ErrMissingIdempotencyKey,
// ErrIdempotencyConflict.
func (l *Ledger) RevokeTx(ctx context.Context, tx pgx.Tx, r RevokeRequest) (RevokeResult, error) {
	var res RevokeResult
	if r.IdempotencyKey == "" {
		return res, fmt.Errorf("ledger: revoke: %w", ErrMissingIdempotencyKey)
	}
	if r.Reason == "" {
		return res, fmt.Errorf("ledger: revoke: %w: a reason code is required", ErrInvalidArgument)
	}
	if r.Amount.IsNegative() {
		return res, fmt.Errorf("ledger: revoke: %w", ErrInvalidAmount)
	}
	p := payload{"lot_id": r.LotID, "actor": r.Actor, "reason_code": r.Reason, "source_ref": r.SourceRef}
	identity := []any{"revoke", r.LotID, r.Reason, r.SourceRef}
	if amount := Round(r.Amount); amount.IsPositive() {
		p["amount"] = amount.String()
		identity = append(identity, amount.String())
	}
	p = l.stamp(p, r.IdempotencyKey, identity...)
	raw, err := l.execTx(ctx, tx, `SELECT ledger_revoke($1::jsonb)`, p)
	if err == nil {
		err = decode(raw, &res)
	}
	if err != nil {
		return res, fmt.Errorf("ledger: revoke: %w", err)
	}
	return res, nil
}

// TransferRequest moves spending allocation between two accounts of one
// enterprise (the enterprise itself or its sub-accounts).
type TransferRequest struct {
	From, To       int64
	Amount         decimal.Decimal
	IdempotencyKey string
	Actor          string
	Reason         string
}

// TransferResult gives both allocations after the transfer (nil = no limit).
type TransferResult struct {
	OpID           int64            `json:"op_id"`
	FromAllocation *decimal.Decimal `json:"from_allocation"`
	ToAllocation   *decimal.Decimal `json:"to_allocation"`
	Replayed       bool             `json:"replayed"`
}

// Transfer moves amount of spending allocation from one account of an
// enterprise to another, written as a pair of transfer events (−amount on
// From, +amount on To) with the actor. Sub-accounts spend the enterprise's
// pool, so a transfer moves the right to spend, not lots: the enterprise
// account itself has no limit. Errors: ErrCrossEnterpriseTransfer,
// ErrAllocationExceeded, ErrNotFound, ErrInvalidAmount,
// ErrMissingIdempotencyKey, ErrIdempotencyConflict.
func (l *Ledger) Transfer(ctx context.Context, r TransferRequest) (TransferResult, error) {
	var res TransferResult
	amount, err := checkAmount(r.Amount)
	if err == nil && r.IdempotencyKey == "" {
		err = ErrMissingIdempotencyKey
	}
	if err != nil {
		return res, fmt.Errorf("ledger: transfer: %w", err)
	}
	pool, err := l.poolOf(ctx, r.From)
	if err != nil {
		return res, fmt.Errorf("ledger: transfer: %w", err)
	}
	raw, err := l.exec(ctx, pool, opTransfer, l.transferPayload(r, amount))
	if err == nil {
		err = decode(raw, &res)
	}
	if err != nil {
		return res, fmt.Errorf("ledger: transfer: %w", err)
	}
	return res, nil
}

// TransferTx is Transfer inside the caller's transaction tx, so the caller
// can record it (an audit row) atomically with it; it locks the
// enterprise's pool row until tx ends. Errors: as Transfer.
func (l *Ledger) TransferTx(ctx context.Context, tx pgx.Tx, r TransferRequest) (TransferResult, error) {
	var res TransferResult
	amount, err := checkAmount(r.Amount)
	if err == nil && r.IdempotencyKey == "" {
		err = ErrMissingIdempotencyKey
	}
	if err == nil {
		var raw []byte
		raw, err = l.execTx(ctx, tx, sqlTransfer, l.transferPayload(r, amount))
		if err == nil {
			err = decode(raw, &res)
		}
	}
	if err != nil {
		return res, fmt.Errorf("ledger: transfer: %w", err)
	}
	return res, nil
}

func (l *Ledger) transferPayload(r TransferRequest, amount decimal.Decimal) payload {
	p := payload{"from": r.From, "to": r.To, "amount": amount.String(), "actor": r.Actor, "reason_code": r.Reason}
	return l.stamp(p, r.IdempotencyKey, "transfer", r.From, r.To, amount.String())
}

// ExpireDue writes an expiry event for the remainder of up to batch lots
// past their expiry and returns how many it expired. It is idempotent and
// safe to run from several processes at once; call it until it returns 0.
func (l *Ledger) ExpireDue(ctx context.Context, batch int) (int, error) {
	if batch <= 0 {
		batch = 500
	}
	var n int
	err := l.pool.QueryRow(ctx, `SELECT ledger_expire_due($1, $2)`, l.now(), batch).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("ledger: expire: %w", err)
	}
	return n, nil
}

// SweepReservations closes up to batch open reservations past their TTL by
// the ExpiredReservations policy and returns how many it closed. Safe to
// run from several processes at once.
func (l *Ledger) SweepReservations(ctx context.Context, batch int) (int, error) {
	if batch <= 0 {
		batch = 500
	}
	var n int
	err := l.pool.QueryRow(ctx, `SELECT ledger_sweep_reservations($1, $2, $3)`, l.now(), string(l.opts.ExpiredReservations), batch).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("ledger: sweep reservations: %w", err)
	}
	return n, nil
}

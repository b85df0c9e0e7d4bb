package autotopup

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/mail"
	"github.com/seed75218f88/credits/internal/webhook"
)

const agreementColumns = `id, account_id, channel, agreement_no, contract_id, state, pause_reason, signed_at, terminated_at,
unsign_requested_at, created_at, updated_at`

func queryAgreement(ctx context.Context, q db.DBTX, sql string, args ...any) (Agreement, error) {
	rows, _ := q.Query(ctx, sql, args...)
	a, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Agreement])
	if errors.Is(err, pgx.ErrNoRows) {
		return a, ErrNotFound
	}
	return a, err
}

// Actor is who changes auto top-up: the customer (their user id and
// address) or the system (zero).
type Actor struct {
	UserID int64
	Email  string
	IP     string
}

// Signing is a started signing: the agreement and the URL to render as a
// QR code (and to open on a phone).
type Signing struct {
	Agreement Agreement
	URL       string
}

// newAgreementNo makes our agreement number: "A", the Beijing date and 12
// random digits (letters and digits only, ≤32, as WeChat Pay asks).
func (s *Service) newAgreementNo() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1e12))
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf("A%s%012d", s.now().In(chinaTime).Format("20060102"), n.Int64())
}

// StartSigning records a pending agreement with channel and asks the
// channel for its signing page. Errors: ErrAgreementInForce,
// payments.ErrChannelUnavailable, payments.ErrChannel.
func (s *Service) StartSigning(ctx context.Context, accountID int64, channel payments.Channel, display string, who Actor, returnURL string) (Signing, error) {
	ch, err := s.payments.AgreementChannel(channel)
	if err != nil {
		return Signing{}, fmt.Errorf("autotopup: sign: %w", err)
	}
	var a Agreement
	err = db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var inForce bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM autotopup_agreements WHERE account_id = $1 AND state IN ('signed', 'paused'))`, accountID).Scan(&inForce); err != nil {
			return err
		}
		if inForce {
			return ErrAgreementInForce
		}
		var err error
		a, err = queryAgreement(ctx, tx, `INSERT INTO autotopup_agreements (account_id, channel, agreement_no) VALUES ($1, $2, $3) RETURNING `+agreementColumns,
			accountID, channel, s.newAgreementNo())
		if err != nil {
			return err
		}
		return s.historyTx(ctx, tx, accountID, HistorySigningStarted, map[string]any{"channel": channel, "agreement_no": a.AgreementNo}, who, "autotopup_signing_started")
	})
	if err != nil {
		return Signing{}, fmt.Errorf("autotopup: sign: %w", err)
	}
	u, err := ch.SignURL(ctx, payments.AgreementSign{AgreementNo: a.AgreementNo, AccountID: accountID, Display: display, ClientIP: who.IP, ReturnURL: returnURL})
	if err != nil {
		return Signing{Agreement: a}, fmt.Errorf("autotopup: sign: %w: %w", payments.ErrChannel, err)
	}
	return Signing{Agreement: a, URL: u}, nil
}

// Current returns the account's agreement in force, or else its newest
// one. Errors: ErrNotFound (never signed).
func (s *Service) Current(ctx context.Context, accountID int64) (Agreement, error) {
	return queryAgreement(ctx, s.pool, `SELECT `+agreementColumns+` FROM autotopup_agreements WHERE account_id = $1
		ORDER BY (state IN ('signed', 'paused')) DESC, id DESC LIMIT 1`, accountID)
}

// HandleAgreementNotify verifies and applies a signing or termination
// notify of channel (the raw headers and body). Answer the channel with
// success when err is nil. Errors: payments.ErrBadSignature,
// payments.ErrMalformedNotify, payments.ErrChannelUnavailable, database errors.
func (s *Service) HandleAgreementNotify(ctx context.Context, channel payments.Channel, h http.Header, body []byte) error {
	ch, err := s.payments.AgreementChannel(channel)
	if err != nil {
		return fmt.Errorf("autotopup: %s agreement notify: %w", channel, err)
	}
	ev, err := ch.ParseAgreementNotify(h, body)
	if err != nil {
		return fmt.Errorf("autotopup: %s agreement notify: %w", channel, err)
	}
	return s.ApplyAgreementEvent(ctx, ev)
}

// ApplyAgreementEvent applies a verified signing or termination: a pending
// agreement becomes signed (when the account has none other in force), a
// signed or paused one terminated — a termination by the customer at the
// channel is mailed and sent as a webhook. A repeat changes nothing.
// Unknown agreements are ignored (logged). Errors: database errors.
func (s *Service) ApplyAgreementEvent(ctx context.Context, ev payments.AgreementEvent) error {
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		a, err := queryAgreement(ctx, tx, `SELECT `+agreementColumns+` FROM autotopup_agreements WHERE agreement_no = $1 FOR UPDATE`, ev.AgreementNo)
		if errors.Is(err, ErrNotFound) {
			s.opts.Logger.Warn("autotopup: notify for an unknown agreement", "channel", ev.Channel, "agreement_no", ev.AgreementNo)
			return nil
		}
		if err != nil {
			return err
		}
		if a.Channel != ev.Channel {
			return fmt.Errorf("%w: agreement %s is %s, notify from %s", payments.ErrMalformedNotify, a.AgreementNo, a.Channel, ev.Channel)
		}
		at := ev.At
		if at.IsZero() {
			at = s.now()
		}
		switch {
		case ev.Signed && a.State == StatePending:
			var inForce bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM autotopup_agreements WHERE account_id = $1 AND state IN ('signed', 'paused'))`, a.AccountID).Scan(&inForce); err != nil {
				return err
			}
			if inForce { // signed twice in parallel: the second one stays out of force
				s.opts.Logger.Warn("autotopup: second agreement signed", "account_id", a.AccountID, "agreement_no", a.AgreementNo)
				return nil
			}
			if _, err := tx.Exec(ctx, `UPDATE autotopup_agreements SET state = 'signed', contract_id = $2, signed_at = $3, updated_at = now() WHERE id = $1`,
				a.ID, ev.ContractID, at); err != nil {
				return err
			}
			// Arm the pool: the next crossing below the threshold tops up.
			if _, err := tx.Exec(ctx, `INSERT INTO autotopup_pool_state (pool_id, armed) VALUES ($1, true)
				ON CONFLICT (pool_id) DO UPDATE SET armed = true, updated_at = now()`, a.AccountID); err != nil {
				return err
			}
			return s.historyTx(ctx, tx, a.AccountID, HistorySigned, map[string]any{"channel": a.Channel, "agreement_no": a.AgreementNo}, Actor{}, "autotopup_signed")
		case !ev.Signed && a.InForce():
			return s.terminateTx(ctx, tx, a, at, ev.ByCustomer && a.UnsignRequestedAt == nil)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("autotopup: apply agreement %s: %w", ev.AgreementNo, err)
	}
	return nil
}

// terminateTx ends an agreement in tx; atChannel says the customer (or the
// channel) ended it there, which the customer is told of.
func (s *Service) terminateTx(ctx context.Context, tx pgx.Tx, a Agreement, at time.Time, atChannel bool) error {
	if _, err := tx.Exec(ctx, `UPDATE autotopup_agreements SET state = 'terminated', terminated_at = $2, updated_at = now() WHERE id = $1`, a.ID, at); err != nil {
		return err
	}
	by := "customer_portal"
	if atChannel {
		by = "channel"
	}
	detail := map[string]any{"channel": a.Channel, "agreement_no": a.AgreementNo, "by": by}
	if err := s.historyTx(ctx, tx, a.AccountID, HistoryTerminated, detail, Actor{}, "autotopup_terminated"); err != nil {
		return err
	}
	if !atChannel {
		return nil
	}
	return s.noticeTx(ctx, tx, a.AccountID, "autotopup.agreement_terminated", "evt_autotopup_terminated_"+a.AgreementNo,
		map[string]any{"agreement_no": a.AgreementNo, "channel": a.Channel}, "mail.autotopup_terminated", map[string]any{"Channel": string(a.Channel)})
}

// Pause stops top-ups of the account's signed agreement (the agreement
// stays signed at the channel). Errors: ErrNotFound, ErrInvalidState.
func (s *Service) Pause(ctx context.Context, accountID int64, who Actor) (Agreement, error) {
	return s.setState(ctx, accountID, StateSigned, StatePaused, PauseByCustomer, HistoryPaused, who)
}

// Resume restarts top-ups of a paused agreement. Errors: ErrNotFound,
// ErrInvalidState.
func (s *Service) Resume(ctx context.Context, accountID int64, who Actor) (Agreement, error) {
	return s.setState(ctx, accountID, StatePaused, StateSigned, "", HistoryResumed, who)
}

func (s *Service) setState(ctx context.Context, accountID int64, from, to State, reason, kind string, who Actor) (Agreement, error) {
	var a Agreement
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		a, err = queryAgreement(ctx, tx, `SELECT `+agreementColumns+` FROM autotopup_agreements WHERE account_id = $1 AND state IN ('signed', 'paused') FOR UPDATE`, accountID)
		if err != nil {
			return err
		}
		if a.State != from {
			return fmt.Errorf("%w: %s", ErrInvalidState, a.State)
		}
		if _, err := tx.Exec(ctx, `UPDATE autotopup_agreements SET state = $2, pause_reason = $3, updated_at = now() WHERE id = $1`, a.ID, to, reason); err != nil {
			return err
		}
		if to == StateSigned {
			if _, err := tx.Exec(ctx, `INSERT INTO autotopup_pool_state (pool_id, armed) VALUES ($1, true)
				ON CONFLICT (pool_id) DO UPDATE SET armed = true, updated_at = now()`, accountID); err != nil {
				return err
			}
		}
		a.State, a.PauseReason = to, reason
		return s.historyTx(ctx, tx, accountID, kind, map[string]any{"agreement_no": a.AgreementNo, "reason": reason}, who, "autotopup_"+kind)
	})
	if err != nil {
		return a, fmt.Errorf("autotopup: %s: %w", kind, err)
	}
	return a, nil
}

// Unsign ends the account's agreement at the channel and here. Errors:
// ErrNotFound, payments.ErrChannelUnavailable, payments.ErrChannel.
func (s *Service) Unsign(ctx context.Context, accountID int64, who Actor) error {
	a, err := queryAgreement(ctx, s.pool, `SELECT `+agreementColumns+` FROM autotopup_agreements WHERE account_id = $1 AND state IN ('signed', 'paused')`, accountID)
	if err != nil {
		return fmt.Errorf("autotopup: unsign: %w", err)
	}
	ch, err := s.payments.AgreementChannel(a.Channel)
	if err != nil {
		return fmt.Errorf("autotopup: unsign: %w", err)
	}
	// Recorded first: the channel's termination notify may overtake our
	// own update, and must not be taken for an unsigning at the channel.
	if _, err := s.pool.Exec(ctx, `UPDATE autotopup_agreements SET unsign_requested_at = $2, updated_at = now() WHERE id = $1`, a.ID, s.now()); err != nil {
		return fmt.Errorf("autotopup: unsign: %w", err)
	}
	if err := ch.Terminate(ctx, a.AgreementNo, *a.ContractID); err != nil {
		return fmt.Errorf("autotopup: unsign: %w: %w", payments.ErrChannel, err)
	}
	err = db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		cur, err := queryAgreement(ctx, tx, `SELECT `+agreementColumns+` FROM autotopup_agreements WHERE id = $1 FOR UPDATE`, a.ID)
		if err != nil {
			return err
		}
		if cur.InForce() { // else the termination notify overtook us
			if err := s.terminateTx(ctx, tx, cur, s.now(), false); err != nil {
				return err
			}
		}
		// Who asked is audited either way.
		return s.auditTx(ctx, tx, accountID, "autotopup_unsigned", map[string]any{"agreement_no": a.AgreementNo}, who)
	})
	if err != nil {
		return fmt.Errorf("autotopup: unsign: %w", err)
	}
	return nil
}

// historyTx appends a history line and the matching audit row.
func (s *Service) historyTx(ctx context.Context, tx pgx.Tx, accountID int64, kind string, detail map[string]any, who Actor, action string) error {
	b, err := json.Marshal(detail)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO autotopup_history (account_id, at, kind, detail) VALUES ($1, $2, $3, $4)`, accountID, s.now(), kind, b); err != nil {
		return err
	}
	return s.auditTx(ctx, tx, accountID, action, detail, who)
}

// AuditActions are the actions auto top-up writes to the audit log: one for
// each history kind ("autotopup_" + kind), the unsigning asked for in the
// portal and a plan renewal's debit requested (renewal.go). The back office's audit page names and filters them.
var AuditActions = []backoffice.Action{
	"autotopup_" + HistorySigningStarted, "autotopup_" + HistorySigned, "autotopup_" + HistoryTerminated, "autotopup_unsigned",
	"autotopup_" + HistoryPaused, "autotopup_" + HistoryResumed, "autotopup_" + HistorySettings,
	"autotopup_" + HistoryDebitRequested, "autotopup_" + HistoryDebitSucceeded, "autotopup_" + HistoryDebitFailed, "autotopup_" + HistorySkipped,
	"autotopup_renewal_requested", "autotopup_" + HistoryPreDebitNotice,
}

func (s *Service) auditTx(ctx context.Context, tx pgx.Tx, accountID int64, action string, detail map[string]any, who Actor) error {
	e := backoffice.Entry{ActorKind: backoffice.ActorSystem, Action: backoffice.Action(action), AccountID: accountID, Detail: detail}
	if who.UserID != 0 {
		e.ActorKind, e.ActorID, e.ActorEmail, e.IP = backoffice.ActorCustomer, who.UserID, who.Email, who.IP
	}
	_, err := backoffice.Audit(ctx, tx, e)
	return err
}

// History returns the account's newest history lines, newest first.
func (s *Service) History(ctx context.Context, accountID int64, limit int) ([]HistoryEntry, error) {
	rows, _ := s.pool.Query(ctx, `SELECT id, at, kind, detail FROM autotopup_history WHERE account_id = $1 ORDER BY id DESC LIMIT $2`, accountID, limit)
	h, err := pgx.CollectRows(rows, pgx.RowToStructByName[HistoryEntry])
	if err != nil {
		return nil, fmt.Errorf("autotopup: history: %w", err)
	}
	return h, nil
}

const selectRecipient = `SELECT email, locale FROM users WHERE account_id = $1 AND email IS NOT NULL AND NOT disabled ORDER BY id LIMIT 1`

// noticeTx tells the customer: a webhook event (id derived from what caused
// it, so a replay cannot deliver twice) and a mail in their language.
func (s *Service) noticeTx(ctx context.Context, tx pgx.Tx, accountID int64, eventType, eventID string, payload map[string]any, mailKey string, data map[string]any) error {
	if s.webhooks != nil {
		if err := s.webhooks.EnqueueEventTx(ctx, tx, &webhook.Event{ID: eventID, AccountID: accountID, Type: eventType, Payload: payload}); err != nil {
			return err
		}
	}
	var email, locale string
	err := tx.QueryRow(ctx, selectRecipient, accountID).Scan(&email, &locale)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	if data == nil {
		data = map[string]any{}
	}
	data["PortalURL"] = s.opts.PortalURL
	return mail.EnqueueTx(ctx, s.jobs, tx, mail.Compose(s.opts.I18n.Localizer(locale), mailKey, data, email))
}

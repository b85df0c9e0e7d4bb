package verification

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/identity"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
)

// Field limits, in characters.
const (
	MaxPersonName  = 30
	MaxCompanyName = 100
	MaxReference   = 200
	maxFilename    = 200
)

// Blind-index domains: the same string as an ID number and as a credit code
// gives different index values.
const (
	indexResidentID = "resident_id"
	indexCreditCode = "credit_code"
)

// submission is a locally validated identity, in clear, before sealing.
type submission struct {
	subject        Subject
	name           string
	nameDisplay    string
	number         string
	numberMasked   string
	index          string
	legalRep       string
	legalRepMasked string
	licence        []byte
	contentType    string
	filename       string
}

// onNumber adds to ErrIdentityInUse the failure of the form's number field
// (code identity_in_use), so a form shows it there; other errors pass as
// they are.
func onNumber(err error, field string) error {
	if !errors.Is(err, ErrIdentityInUse) {
		return err
	}
	return fmt.Errorf("%w: %w", err, fielderr.One("verification", field, CodeIdentityInUse))
}

func checkText(fields *fielderr.Errors, field, v string, max int) {
	switch {
	case v == "":
		fields.Add(field, CodeRequired)
	case utf8.RuneCountInString(v) > max:
		fields.Add(field, CodeTooLong, "max", strconv.Itoa(max))
	}
}

// SubmitPerson submits an individual's legal name and resident identity
// number. The number is validated locally first (format, region, birth date,
// check digit), then sent to the provider: verified makes the account
// verified and grants the bonus (once per account); rejected records the
// provider's reason and allows another submission; undecided or no answer
// leaves it pending in the review queue. It returns the new status (masked).
// Errors: *fielderr.Errors, ErrAlreadyVerified, ErrPending,
// ErrIdentityInUse.
func (s *Service) SubmitPerson(ctx context.Context, accountID int64, name, idNumber string) (Status, error) {
	name = strings.TrimSpace(name)
	id, fields := s.checkPerson(name, idNumber)
	if !fields.Empty() {
		return Status{}, fmt.Errorf("verification: submit person: %w", fields)
	}
	sub := submission{
		subject: SubjectIndividual, name: name, nameDisplay: identity.MaskName(name),
		number: id.Number, numberMasked: identity.MaskID(id.Number), index: s.index.Sum(indexResidentID, id.Number),
	}
	st, err := s.submit(ctx, accountID, sub, func(ctx context.Context) (identity.Result, error) {
		return s.provider.VerifyPerson(ctx, name, id.Number)
	})
	if err != nil {
		return Status{}, fmt.Errorf("verification: submit person: %w", onNumber(err, "id_number"))
	}
	return st, nil
}

// CheckPerson validates what SubmitPerson would be given, without storing
// or sending anything (a form that may not submit yet still reports every
// field). Errors: *fielderr.Errors.
func (s *Service) CheckPerson(name, idNumber string) error {
	_, fields := s.checkPerson(strings.TrimSpace(name), idNumber)
	return fields.Err()
}

func (s *Service) checkPerson(name, idNumber string) (identity.ResidentID, *fielderr.Errors) {
	fields := fielderr.New("verification")
	checkText(fields, "name", name, MaxPersonName)
	id, err := identity.ParseResidentID(idNumber, s.now())
	if err != nil {
		code := identity.Code(err)
		if strings.TrimSpace(idNumber) == "" {
			code = CodeRequired
		}
		fields.Add("id_number", code)
	}
	return id, fields
}

// SubmitCompany submits an enterprise: company name, unified social credit
// code, legal representative and business licence file. The code is
// validated locally (GB 32100 check character); the licence must be at most
// Options.MaxLicenceBytes and, by its content (not its name or the client's
// header), one of Options.AllowedTypes. Then as SubmitPerson. Errors:
// *fielderr.Errors, ErrAlreadyVerified, ErrPending,
// ErrIdentityInUse.
func (s *Service) SubmitCompany(ctx context.Context, accountID int64, companyName, creditCode, legalRep string, licence []byte, filename string) (Status, error) {
	companyName, legalRep = strings.TrimSpace(companyName), strings.TrimSpace(legalRep)
	code, contentType, fields := s.checkCompany(companyName, creditCode, legalRep, licence)
	if !fields.Empty() {
		return Status{}, fmt.Errorf("verification: submit company: %w", fields)
	}
	sub := submission{
		subject: SubjectEnterprise, name: companyName, nameDisplay: companyName,
		number: code.Code, numberMasked: identity.MaskCreditCode(code.Code), index: s.index.Sum(indexCreditCode, code.Code),
		legalRep: legalRep, legalRepMasked: identity.MaskName(legalRep),
		licence: licence, contentType: contentType, filename: cleanFilename(filename),
	}
	st, err := s.submit(ctx, accountID, sub, func(ctx context.Context) (identity.Result, error) {
		return s.provider.VerifyCompany(ctx, companyName, code.Code, legalRep)
	})
	if err != nil {
		return Status{}, fmt.Errorf("verification: submit company: %w", onNumber(err, "credit_code"))
	}
	return st, nil
}

// CheckCompany validates what SubmitCompany would be given, without storing
// or sending anything. Errors: *fielderr.Errors.
func (s *Service) CheckCompany(companyName, creditCode, legalRep string, licence []byte) error {
	_, _, fields := s.checkCompany(strings.TrimSpace(companyName), creditCode, strings.TrimSpace(legalRep), licence)
	return fields.Err()
}

func (s *Service) checkCompany(companyName, creditCode, legalRep string, licence []byte) (identity.CreditCode, string, *fielderr.Errors) {
	fields := fielderr.New("verification")
	checkText(fields, "company_name", companyName, MaxCompanyName)
	code, err := identity.ParseCreditCode(creditCode)
	if err != nil {
		c := identity.Code(err)
		if strings.TrimSpace(creditCode) == "" {
			c = CodeRequired
		}
		fields.Add("credit_code", c)
	}
	checkText(fields, "legal_rep", legalRep, MaxPersonName)
	contentType := ""
	switch {
	case len(licence) == 0:
		fields.Add("licence", CodeRequired)
	case len(licence) > s.opts.MaxLicenceBytes:
		fields.Add("licence", CodeLicenceTooLarge)
	default:
		contentType = sniff(licence)
		if !slices.Contains(s.opts.AllowedTypes, contentType) {
			fields.Add("licence", CodeLicenceType)
		}
	}
	return code, contentType, fields
}

// sniff returns the media type of b by its content (WHATWG MIME sniffing, as
// net/http implements it), without parameters.
func sniff(b []byte) string {
	t, _, _ := strings.Cut(http.DetectContentType(b), ";")
	return strings.TrimSpace(t)
}

// cleanFilename keeps the base name of an uploaded file, without control
// characters, at most maxFilename characters.
func cleanFilename(name string) string {
	name = path.Base(strings.ReplaceAll(name, `\`, "/"))
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, name)
	if name == "." || name == "/" {
		name = ""
	}
	if r := []rune(name); len(r) > maxFilename {
		name = string(r[len(r)-maxFilename:])
	}
	return name
}

const sqlOpenState = `SELECT state FROM verifications WHERE account_id = $1 AND state IN ('pending', 'verified')`

const sqlIdentityElsewhere = `SELECT EXISTS (SELECT 1 FROM verifications WHERE number_index = $1 AND state = 'verified' AND account_id <> $2)`

// checkOpen returns ErrAlreadyVerified or ErrPending when the account has an
// open verification.
func checkOpen(ctx context.Context, q db.DBTX, accountID int64) error {
	var st State
	err := q.QueryRow(ctx, sqlOpenState, accountID).Scan(&st)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil
	case err != nil:
		return err
	case st == StateVerified:
		return ErrAlreadyVerified
	default:
		return ErrPending
	}
}

func checkIdentityFree(ctx context.Context, q db.DBTX, index string, accountID int64) error {
	var taken bool
	if err := q.QueryRow(ctx, sqlIdentityElsewhere, index, accountID).Scan(&taken); err != nil {
		return err
	}
	if taken {
		return ErrIdentityInUse
	}
	return nil
}

const sqlNextID = `SELECT nextval(pg_get_serial_sequence('verifications', 'id'))`

const sqlInsert = `INSERT INTO verifications (id, account_id, source, subject, state, reason, provider_reference,
	name_sealed, name_display, number_sealed, number_index, number_masked, legal_rep_sealed, legal_rep_masked,
	licence_sealed, licence_content_type, licence_size, licence_sha256, licence_filename, key_id,
	submitted_at, decided_at, decided_by)
VALUES ($1, $2, 'self', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)`

// aad binds a sealed value to its row, account and column, so a ciphertext
// copied elsewhere does not open.
func aad(id, accountID int64, field string) []byte {
	return fmt.Appendf(nil, "verifications/%d/account/%d/%s", id, accountID, field)
}

func (s *Service) submit(ctx context.Context, accountID int64, sub submission, verify func(context.Context) (identity.Result, error)) (Status, error) {
	// Cheap refusals before calling the provider (checked again under the lock).
	if err := checkOpen(ctx, s.pool, accountID); err != nil {
		return Status{}, err
	}
	if err := checkIdentityFree(ctx, s.pool, sub.index, accountID); err != nil {
		return Status{}, err
	}
	res, err := verify(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return Status{}, ctx.Err()
		}
		// No answer is not a rejection: a person reviews it.
		res = identity.Result{Status: identity.StatusUndecided, Reason: ReasonProviderUnavailable}
	}
	state, reason, decidedBy := StatePending, res.Reason, ""
	switch res.Status {
	case identity.StatusVerified:
		state, reason, decidedBy = StateVerified, "", ActorProvider
	case identity.StatusRejected:
		state, decidedBy = StateRejected, ActorProvider
		if reason == "" {
			reason = identity.ReasonNameMismatch
		}
	default:
		if reason == "" {
			reason = identity.ReasonManualReview
		}
	}
	var id int64
	err = db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockAccount(ctx, tx, accountID); err != nil {
			return err
		}
		if err := checkOpen(ctx, tx, accountID); err != nil {
			return err
		}
		if state == StateVerified {
			if err := checkIdentityFree(ctx, tx, sub.index, accountID); err != nil {
				return err
			}
		}
		if err := tx.QueryRow(ctx, sqlNextID).Scan(&id); err != nil {
			return err
		}
		now := s.now()
		var decidedAt any
		if state != StatePending {
			decidedAt = now
		}
		sealed, err := s.seal(id, accountID, sub)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, sqlInsert, id, accountID, sub.subject, state, reason, res.Reference,
			sealed.name, sub.nameDisplay, sealed.number, sub.index, sub.numberMasked, sealed.legalRep, sub.legalRepMasked,
			sealed.licence, nullIfEmpty(sub.contentType), sealed.licenceSize, sealed.licenceHash, sub.filename,
			s.sealer.ActiveKeyID(), now, decidedAt, decidedBy)
		if err != nil {
			return err
		}
		actor := decidedBy
		if actor == "" {
			actor = ActorProvider
		}
		if err := s.event(ctx, tx, id, accountID, StateUnverified, state, reason, res.Reference, actor); err != nil {
			return err
		}
		if state == StateVerified {
			return s.becameVerified(ctx, tx, accountID, id, ActorProvider, true)
		}
		return nil
	})
	if err != nil {
		return Status{}, translate(err)
	}
	return s.Get(ctx, id)
}

// translate maps the named unique indexes to their domain errors.
func translate(err error) error {
	switch {
	case db.IsUniqueViolation(err, "verifications_identity_verified_key"):
		return ErrIdentityInUse
	case db.IsUniqueViolation(err, "verifications_account_open_key"):
		return ErrPending
	}
	return err
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

type sealedValues struct {
	name, number, legalRep, licence []byte
	licenceSize                     any
	licenceHash                     any
}

func (s *Service) seal(id, accountID int64, sub submission) (sealedValues, error) {
	var out sealedValues
	var err error
	if out.name, err = s.sealer.Seal([]byte(sub.name), aad(id, accountID, "name")); err != nil {
		return out, err
	}
	if out.number, err = s.sealer.Seal([]byte(sub.number), aad(id, accountID, "number")); err != nil {
		return out, err
	}
	if sub.legalRep != "" {
		if out.legalRep, err = s.sealer.Seal([]byte(sub.legalRep), aad(id, accountID, "legal_rep")); err != nil {
			return out, err
		}
	}
	if len(sub.licence) > 0 {
		if out.licence, err = s.sealer.Seal(sub.licence, aad(id, accountID, "licence")); err != nil {
			return out, err
		}
		sum := sha256.Sum256(sub.licence)
		out.licenceHash = hex.EncodeToString(sum[:])
		out.licenceSize = len(sub.licence)
	}
	return out, nil
}

const sqlLockRow = `SELECT account_id, state, number_index FROM verifications WHERE id = $1 FOR UPDATE`

const sqlDecide = `UPDATE verifications SET state = $2, reason = $3, decided_at = $4, decided_by = $5 WHERE id = $1`

// Decide records a reviewer's decision on a pending verification: approve
// makes the account verified and grants the bonus (once per account); reject
// needs a reason (a code such as name_mismatch, or text shown to the
// customer) and allows another submission. Errors: ErrNotFound,
// ErrNotPending, ErrReasonRequired, ErrIdentityInUse (the number verified
// another account meanwhile: reject this one).
func (s *Service) Decide(ctx context.Context, verificationID int64, approve bool, reason, reviewer string) (Status, error) {
	reason = strings.TrimSpace(reason)
	if !approve && reason == "" {
		return Status{}, fmt.Errorf("verification: decide: %w", ErrReasonRequired)
	}
	var accountID int64
	if err := s.pool.QueryRow(ctx, `SELECT account_id FROM verifications WHERE id = $1`, verificationID).Scan(&accountID); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			err = ErrNotFound
		}
		return Status{}, fmt.Errorf("verification: decide: %w", err)
	}
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockAccount(ctx, tx, accountID); err != nil {
			return err
		}
		var st State
		var index *string
		if err := tx.QueryRow(ctx, sqlLockRow, verificationID).Scan(&accountID, &st, &index); err != nil {
			return err
		}
		if st != StatePending {
			return ErrNotPending
		}
		to := StateRejected
		if approve {
			to, reason = StateVerified, ""
			if index != nil {
				if err := checkIdentityFree(ctx, tx, *index, accountID); err != nil {
					return err
				}
			}
		}
		if _, err := tx.Exec(ctx, sqlDecide, verificationID, to, reason, s.now(), reviewer); err != nil {
			return err
		}
		if err := s.event(ctx, tx, verificationID, accountID, st, to, reason, "", reviewer); err != nil {
			return err
		}
		if approve {
			return s.becameVerified(ctx, tx, accountID, verificationID, reviewer, true)
		}
		return nil
	})
	if err != nil {
		return Status{}, fmt.Errorf("verification: decide: %w", translate(err))
	}
	return s.Get(ctx, verificationID)
}

const sqlOpenRows = `SELECT id, state, source, provider_reference FROM verifications
WHERE account_id = $1 AND state IN ('pending', 'verified') FOR UPDATE`

const sqlInsertExternal = `INSERT INTO verifications (id, account_id, source, state, provider_reference, submitted_at, decided_at, decided_by)
VALUES ($1, $2, 'external', 'verified', $3, $4, $4, $5)`

// MarkVerifiedExternally records that a gateway API client declared the
// account verified (`verification: {status: verified, reference}`), with the
// client's reference and the actor (e.g. "api:<client id>"), and writes it to
// the history. It is idempotent: an account already verified stays as it is
// (the declaration is still recorded in the history). A pending submission is
// closed as rejected with ReasonSuperseded. No identity is held, so the
// verification bonus (once per identity) is not granted. Errors: *fielderr.Errors
// (reference missing or too long).
func (s *Service) MarkVerifiedExternally(ctx context.Context, accountID int64, reference, actor string) (Status, error) {
	reference = strings.TrimSpace(reference)
	fields := fielderr.New("verification")
	checkText(fields, "reference", reference, MaxReference)
	if !fields.Empty() {
		return Status{}, fmt.Errorf("verification: mark verified: %w", fields)
	}
	var id int64
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockAccount(ctx, tx, accountID); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, sqlOpenRows, accountID)
		if err != nil {
			return err
		}
		type open struct {
			ID        int64  `db:"id"`
			State     State  `db:"state"`
			Source    Source `db:"source"`
			Reference string `db:"provider_reference"`
		}
		opens, err := pgx.CollectRows(rows, pgx.RowToStructByName[open])
		if err != nil {
			return err
		}
		now := s.now()
		for _, o := range opens {
			if o.State == StateVerified {
				id = o.ID
				if err := s.becameVerified(ctx, tx, accountID, o.ID, actor, false); err != nil {
					return err
				}
				return s.event(ctx, tx, o.ID, accountID, StateVerified, StateVerified, "external_confirmation", reference, actor)
			}
			if _, err := tx.Exec(ctx, sqlDecide, o.ID, StateRejected, ReasonSuperseded, now, actor); err != nil {
				return err
			}
			if err := s.event(ctx, tx, o.ID, accountID, o.State, StateRejected, ReasonSuperseded, reference, actor); err != nil {
				return err
			}
		}
		if err := tx.QueryRow(ctx, sqlNextID).Scan(&id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, sqlInsertExternal, id, accountID, reference, now, actor); err != nil {
			return err
		}
		if err := s.becameVerified(ctx, tx, accountID, id, actor, false); err != nil {
			return err
		}
		return s.event(ctx, tx, id, accountID, StateUnverified, StateVerified, "", reference, actor)
	})
	if err != nil {
		return Status{}, fmt.Errorf("verification: mark verified: %w", translate(err))
	}
	return s.Get(ctx, id)
}

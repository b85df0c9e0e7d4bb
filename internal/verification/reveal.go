package verification

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/platform/db"
)

// LicenceFile is a business licence file in clear, for a role allowed to see it.
type LicenceFile struct {
	LicenceInfo
	Data []byte `json:"-"`
}

// AccessLogEntry is one attempt to see personal data in full.
type AccessLogEntry struct {
	ID             int64     `json:"id" db:"id"`
	VerificationID int64     `json:"verification_id" db:"verification_id"`
	AccountID      int64     `json:"account_id" db:"account_id"`
	Field          string    `json:"field" db:"field"` // "number" or "licence"
	Viewer         string    `json:"viewer" db:"viewer"`
	ViewerRoles    []string  `json:"viewer_roles" db:"viewer_roles"`
	IP             string    `json:"ip" db:"ip"`
	Granted        bool      `json:"granted" db:"granted"`
	At             time.Time `json:"at" db:"at"`
}

// sealedRow is what a reveal reads.
type sealedRow struct {
	AccountID          int64   `db:"account_id"`
	NumberSealed       []byte  `db:"number_sealed"`
	LicenceSealed      []byte  `db:"licence_sealed"`
	LicenceContentType *string `db:"licence_content_type"`
	LicenceSHA256      *string `db:"licence_sha256"`
	LicenceFilename    string  `db:"licence_filename"`
}

const sqlSealedRow = `SELECT account_id, number_sealed, licence_sealed, licence_content_type, licence_sha256, licence_filename
FROM verifications WHERE id = $1`

const sqlLogAccess = `INSERT INTO pii_access_log (verification_id, account_id, field, viewer, viewer_roles, ip, granted, at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`

// reveal writes an access-log entry for every attempt, granted or not, in the
// same transaction as the read, so no value leaves without its log line; open
// runs only when granted.
func (s *Service) reveal(ctx context.Context, verificationID int64, field, viewer string, roles []string, ip string, open func(sealedRow) error) error {
	granted := viewer != "" && s.may(field, roles)
	if roles == nil {
		roles = []string{}
	}
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, sqlSealedRow, verificationID)
		r, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[sealedRow])
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, sqlLogAccess, verificationID, r.AccountID, field, viewer, roles, ip, granted, s.now()); err != nil {
			return err
		}
		if !granted {
			return nil
		}
		return open(r)
	})
	if err == nil && !granted {
		return ErrForbidden
	}
	return err
}

// RevealNumber returns the full ID number or credit code of a verification to
// a viewer holding one of Options.RevealRoles (default admin only). Every
// call, granted or denied, is written to pii_access_log (viewer, roles, ip,
// time). Errors: ErrForbidden (logged), ErrNotFound (also for an external
// verification, which holds no number).
func (s *Service) RevealNumber(ctx context.Context, verificationID int64, viewer string, viewerRoles []string, ip string) (string, error) {
	var number string
	err := s.reveal(ctx, verificationID, "number", viewer, viewerRoles, ip, func(r sealedRow) error {
		if r.NumberSealed == nil {
			return ErrNotFound
		}
		pt, err := s.sealer.Open(r.NumberSealed, aad(verificationID, r.AccountID, "number"))
		number = string(pt)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("verification: reveal number: %w", err)
	}
	return number, nil
}

// Licence returns the business licence file of a verification to a viewer
// holding one of Options.LicenceRoles (the deciding roles), checked against its stored SHA-256.
// Every call is written to pii_access_log. Errors: ErrForbidden (logged),
// ErrNotFound, ErrNoLicence.
func (s *Service) Licence(ctx context.Context, verificationID int64, viewer string, viewerRoles []string, ip string) (LicenceFile, error) {
	var f LicenceFile
	err := s.reveal(ctx, verificationID, "licence", viewer, viewerRoles, ip, func(r sealedRow) error {
		if r.LicenceSealed == nil || r.LicenceSHA256 == nil {
			return ErrNoLicence
		}
		pt, err := s.sealer.Open(r.LicenceSealed, aad(verificationID, r.AccountID, "licence"))
		if err != nil {
			return err
		}
		sum := sha256.Sum256(pt)
		if hex.EncodeToString(sum[:]) != *r.LicenceSHA256 {
			return errors.New("licence does not match its stored hash")
		}
		f = LicenceFile{Data: pt, LicenceInfo: LicenceInfo{
			Filename: r.LicenceFilename, SHA256: *r.LicenceSHA256, Size: len(pt),
		}}
		if r.LicenceContentType != nil {
			f.ContentType = *r.LicenceContentType
		}
		return nil
	})
	if err != nil {
		return LicenceFile{}, fmt.Errorf("verification: licence: %w", err)
	}
	return f, nil
}

const sqlAccessLog = `SELECT id, verification_id, account_id, field, viewer, viewer_roles, ip, granted, at
FROM pii_access_log WHERE verification_id = $1 ORDER BY id`

// AccessLog lists every attempt to see a verification's personal data, oldest first.
func (s *Service) AccessLog(ctx context.Context, verificationID int64) ([]AccessLogEntry, error) {
	rows, err := s.pool.Query(ctx, sqlAccessLog, verificationID)
	if err != nil {
		return nil, fmt.Errorf("verification: access log: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[AccessLogEntry])
	if err != nil {
		return nil, fmt.Errorf("verification: access log: %w", err)
	}
	return out, nil
}

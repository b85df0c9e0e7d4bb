package auth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// throttleKey is what attempts are counted under: the normalised login when
// it is valid, otherwise the trimmed lower-cased input (bounded in length).
func throttleKey(login string) string {
	if norm, _, err := NormalizeLogin(login); err == nil {
		return norm
	}
	k := strings.ToLower(foldWidth(strings.TrimSpace(login)))
	if len(k) > 320 {
		k = k[:320]
	}
	return k
}

// ipBlock parses the client address; the block is the address itself for
// IPv4 and its /64 for IPv6 (one customer line gets a whole /64). Both are
// invalid when ip is not an address.
func ipBlock(ip string) (addr netip.Addr, block netip.Prefix) {
	addr, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil {
		return netip.Addr{}, netip.Prefix{}
	}
	addr = addr.Unmap().WithZone("")
	bits := 32
	if addr.Is6() {
		bits = 64
	}
	block, _ = addr.Prefix(bits)
	return addr, block
}

func nullAddr(a netip.Addr) any {
	if !a.IsValid() {
		return nil
	}
	return a
}

func nullPrefix(p netip.Prefix) any {
	if !p.IsValid() {
		return nil
	}
	return p
}

// lockLogin serialises sign-in attempts for one login across instances for
// the rest of the transaction, so parallel guesses cannot all slip under the
// limit.
const lockLogin = `SELECT pg_advisory_xact_lock(hashtextextended('auth.sign_in:' || $1, 0))`

// countFailures counts recent failures for the login (since its last success)
// and for the address block.
const countFailures = `
SELECT
  (SELECT count(*) FROM sign_in_attempts
    WHERE login = $1 AND NOT succeeded AND attempted_at > $3
      AND attempted_at > coalesce((SELECT max(attempted_at) FROM sign_in_attempts
                                   WHERE login = $1 AND succeeded), '-infinity')),
  (SELECT count(*) FROM sign_in_attempts
    WHERE ip_block = $2 AND NOT succeeded AND attempted_at > $3)`

const selectCredentials = `SELECT ` + userColumns + `, coalesce(password_hash, '')
FROM users WHERE email = $1 OR phone = $1`

const recordAttempt = `
INSERT INTO sign_in_attempts (login, ip, ip_block, user_id, succeeded, attempted_at)
VALUES ($1, $2, $3, $4, $5, $6)`

const markSignedIn = `UPDATE users SET last_sign_in_at = $2 WHERE id = $1`

// Authenticate checks a login (email or mobile number, any accepted
// spelling) and password from the client address ip, records the attempt,
// and returns the user. An unknown login costs the same password hashing as
// a known one and fails with the same error. After MaxFailuresPerLogin
// failures for the login (since its last success) or MaxFailuresPerIP from
// the address within ThrottleWindow, attempts are refused without checking
// the password; refused attempts are not recorded, so the window rolls on.
// A hash made with older parameters is replaced on success.
//
// Errors: ErrBadCredentials, ErrSignInThrottled, ErrUserDisabled (only with
// the right password).
func (s *Service) Authenticate(ctx context.Context, login, password, ip string) (User, error) {
	key := throttleKey(login)
	addr, block := ipBlock(ip)
	now := s.now()
	var (
		user   User
		result error
	)
	// The transaction commits the recorded attempt even when the sign-in
	// fails, so failures are reported through result, not fn's error.
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, lockLogin, key); err != nil {
			return err
		}
		var loginFails, ipFails int
		if err := tx.QueryRow(ctx, countFailures, key, nullPrefix(block), now.Add(-s.opt.ThrottleWindow)).
			Scan(&loginFails, &ipFails); err != nil {
			return err
		}
		if loginFails >= s.opt.MaxFailuresPerLogin || ipFails >= s.opt.MaxFailuresPerIP {
			result = ErrSignInThrottled
			return nil
		}
		var hash string
		u, err := scanUserWithHash(tx.QueryRow(ctx, selectCredentials, key), &hash)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		found := err == nil && hash != ""
		if !found {
			hash = s.dummyHash
		}
		ok, stale, err := verifyPassword(password, hash, s.opt.Argon2)
		if err != nil {
			return err
		}
		ok = ok && found
		var userID any
		if u.ID != 0 {
			userID = u.ID
		}
		succeeded := ok && !u.Disabled
		if _, err := tx.Exec(ctx, recordAttempt, key, nullAddr(addr), nullPrefix(block), userID, succeeded, now); err != nil {
			return err
		}
		switch {
		case !ok:
			result = ErrBadCredentials
			return nil
		case u.Disabled:
			result = ErrUserDisabled
			return nil
		}
		if _, err := tx.Exec(ctx, markSignedIn, u.ID, now); err != nil {
			return err
		}
		if stale {
			fresh, err := hashPassword(password, s.opt.Argon2)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, setPasswordHash, u.ID, fresh); err != nil {
				return err
			}
		}
		u.LastSignInAt = now
		user = u
		return nil
	})
	if err != nil {
		return User{}, fmt.Errorf("auth: authenticate: %w", err)
	}
	if result != nil {
		return User{}, result
	}
	return user, nil
}

func scanUserWithHash(row pgx.Row, hash *string) (User, error) {
	return scanUser(rowWithExtra{row: row, extra: hash})
}

// rowWithExtra lets scanUser read a row that has one more column after the
// user columns.
type rowWithExtra struct {
	row   pgx.Row
	extra any
}

func (r rowWithExtra) Scan(dest ...any) error {
	return r.row.Scan(append(dest, r.extra)...)
}

const pruneAttempts = `DELETE FROM sign_in_attempts WHERE attempted_at < $1`

// PruneSignInAttempts deletes attempts older than before (keep at least
// ThrottleWindow; a few days are useful to support), for a periodic job.
func (s *Service) PruneSignInAttempts(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, pruneAttempts, before)
	if err != nil {
		return 0, fmt.Errorf("auth: prune sign-in attempts: %w", err)
	}
	return tag.RowsAffected(), nil
}

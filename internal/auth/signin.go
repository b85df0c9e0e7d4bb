package auth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/platform/db"
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
// IPv4 and its /64 for IPv6 (one customer line gets a whole /64). An address
// that does not parse is invalid and its block is unknownBlock, which all
// such attempts share, so a missing address never turns throttling off.
func ipBlock(ip string) (addr netip.Addr, block netip.Prefix) {
	addr, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil {
		return netip.Addr{}, unknownBlock
	}
	addr = addr.Unmap().WithZone("")
	bits := 32
	if addr.Is6() {
		bits = 64
	}
	block, _ = addr.Prefix(bits)
	return addr, block
}

// unknownBlock is the address block of attempts whose address is unknown.
var unknownBlock = netip.PrefixFrom(netip.IPv6Unspecified(), 128)

func nullAddr(a netip.Addr) any {
	if !a.IsValid() {
		return nil
	}
	return a
}

// lockAddress serialises sign-in attempts from one address block across
// instances for the rest of the transaction, so parallel guesses cannot all
// slip under its limits (the per-login-and-address limit is within it).
const lockAddress = `SELECT pg_advisory_xact_lock(hashtextextended('auth.sign_in.ip:' || $1::text, 0))`

// countLoginFailures counts recent failures for the login from any address
// since its last success (a password reset records one too): what slows
// the next attempt down.
const countLoginFailures = `
SELECT count(*) FROM sign_in_attempts
WHERE login = $1 AND NOT succeeded AND attempted_at > $2
  AND id > coalesce((SELECT max(id) FROM sign_in_attempts WHERE login = $1 AND succeeded), 0)`

// countFailures counts recent failures for the login from the address block
// (since the pair's last success) and for the block.
const countFailures = `
SELECT
  (SELECT count(*) FROM sign_in_attempts
    WHERE login = $1 AND ip_block = $2 AND NOT succeeded AND attempted_at > $3
      AND id > coalesce((SELECT max(id) FROM sign_in_attempts
                         WHERE login = $1 AND ip_block = $2 AND succeeded), 0)),
  (SELECT count(*) FROM sign_in_attempts
    WHERE ip_block = $2 AND NOT succeeded AND attempted_at > $3)`

const selectCredentials = `SELECT ` + userColumns + `, coalesce(password_hash, '')
FROM users WHERE email = $1 OR phone = $1`

// recordAttempt records an attempt as failed before its password is
// checked, so that it counts against the limits at once; a right password
// then marks it succeeded (markSucceeded).
const recordAttempt = `
INSERT INTO sign_in_attempts (login, ip, ip_block, user_id, succeeded, attempted_at)
VALUES ($1, $2, $3, $4, false, $5)
RETURNING id`

const markSucceeded = `UPDATE sign_in_attempts SET succeeded = true WHERE id = $1`

const markSignedIn = `UPDATE users SET last_sign_in_at = $2 WHERE id = $1`

// confirmSignIn records the sign-in only if the password checked is still
// the user's and the user is still enabled.
const confirmSignIn = `UPDATE users SET last_sign_in_at = $3
WHERE id = $1 AND password_hash = $2 AND NOT disabled
RETURNING ` + userColumns

// rehashPassword replaces a hash made with older parameters by one of the
// same password: not a password change, so the session epoch stays.
const rehashPassword = `UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2`

// Authenticate checks a login (email or mobile number, any accepted
// spelling) and password from the client address ip, records the attempt,
// and returns the user. An unknown login costs the same password hashing as
// a known one and fails with the same error. A hash made with older
// parameters is replaced on success.
//
// Throttling, all within ThrottleWindow and across server instances:
//   - MaxFailuresPerLoginIP failures for the login from ip's block (since
//     the login's last success from there), or MaxFailuresPerIP from the
//     block for any logins, refuse the attempt without checking the
//     password; refused attempts are not recorded, so the window rolls on.
//     Both limits hold exactly under concurrency: attempts from one block
//     are counted and recorded one at a time (an advisory lock), and an
//     attempt is recorded as failed before its password is checked.
//   - SlowLoginAfter failures for the login from any addresses only slow
//     the attempt down (see Options.SlowLoginAfter): failures elsewhere never
//     refuse the right password from an address that has not failed. The
//     wait holds no database connection.
//
// Errors: ErrBadCredentials, ErrSignInThrottled, ErrUserDisabled (only with
// the right password), or ctx's error when it ends during the wait.
func (s *Service) Authenticate(ctx context.Context, login, password, ip string) (User, error) {
	key := throttleKey(login)
	addr, block := ipBlock(ip)
	now := s.now()
	since := now.Add(-s.opt.ThrottleWindow)

	var loginFails int
	if err := s.pool.QueryRow(ctx, countLoginFailures, key, since).Scan(&loginFails); err != nil {
		return User{}, fmt.Errorf("auth: authenticate: %w", err)
	}
	if d := s.loginDelay(loginFails); d > 0 {
		if err := s.opt.Sleep(ctx, d); err != nil {
			return User{}, fmt.Errorf("auth: authenticate: %w", err)
		}
	}

	var (
		u         User
		hash      string
		attemptID int64
		throttled bool
	)
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		u, hash, throttled = User{}, "", false
		if _, err := tx.Exec(ctx, lockAddress, block.String()); err != nil {
			return err
		}
		var pairFails, ipFails int
		if err := tx.QueryRow(ctx, countFailures, key, block, since).Scan(&pairFails, &ipFails); err != nil {
			return err
		}
		if pairFails >= s.opt.MaxFailuresPerLoginIP || ipFails >= s.opt.MaxFailuresPerIP {
			throttled = true
			return nil
		}
		var err error
		u, err = scanUserWithHash(tx.QueryRow(ctx, selectCredentials, key), &hash)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		var userID any
		if err == nil {
			userID = u.ID
		}
		return tx.QueryRow(ctx, recordAttempt, key, nullAddr(addr), block, userID, now).Scan(&attemptID)
	})
	if err != nil {
		return User{}, fmt.Errorf("auth: authenticate: %w", err)
	}
	if throttled {
		return User{}, ErrSignInThrottled
	}

	found := u.ID != 0 && hash != ""
	checked := hash
	if !found {
		checked = s.dummyHash
	}
	ok, stale, err := verifyPassword(password, checked, s.opt.Argon2)
	if err != nil {
		return User{}, fmt.Errorf("auth: authenticate: %w", err)
	}
	switch {
	case !ok || !found:
		return User{}, ErrBadCredentials
	case u.Disabled:
		return User{}, ErrUserDisabled
	}

	var fresh string
	if stale {
		if fresh, err = hashPassword(password, s.opt.Argon2); err != nil {
			return User{}, fmt.Errorf("auth: authenticate: %w", err)
		}
	}
	changed := false
	err = db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		u, err = scanUser(tx.QueryRow(ctx, confirmSignIn, u.ID, hash, now))
		if errors.Is(err, ErrNotFound) {
			changed = true // the password changed, or the user was disabled, meanwhile
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, markSucceeded, attemptID); err != nil {
			return err
		}
		if stale {
			_, err = tx.Exec(ctx, rehashPassword, u.ID, hash, fresh)
		}
		return err
	})
	if err != nil {
		return User{}, fmt.Errorf("auth: authenticate: %w", err)
	}
	if changed {
		return User{}, ErrBadCredentials
	}
	return u, nil
}

// loginDelay is how long an attempt for a login with fails recent failures
// waits (Options.SlowLoginAfter).
func (s *Service) loginDelay(fails int) time.Duration {
	n := fails - s.opt.SlowLoginAfter
	if n < 0 {
		return 0
	}
	d := s.opt.SlowLoginDelay
	for ; n > 0 && d < s.opt.MaxSlowLoginDelay; n-- {
		d *= 2
	}
	return min(d, s.opt.MaxSlowLoginDelay)
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

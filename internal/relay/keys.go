package relay

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/budget"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/platform/invalidate"
	"github.com/seed75218f88/credits/internal/platform/readahead"
)

// Key is a customer API key as stored: its prefix, never its secret.
type Key struct {
	ID          int64      `db:"id"`
	AccountID   int64      `db:"account_id"`
	AccountName string     `db:"account_name"`
	Prefix      string     `db:"prefix"`
	Name        string     `db:"name"`
	Project     string     `db:"project"`
	Models      []string   `db:"models"` // the allow-list; empty: every model
	ExpiresAt   *time.Time `db:"expires_at"`
	CreatedAt   time.Time  `db:"created_at"`
	RevokedAt   *time.Time `db:"revoked_at"`
	LastUsedAt  *time.Time `db:"last_used_at"`
}

// Allows reports whether the key may call model.
func (k Key) Allows(model string) bool {
	return len(k.Models) == 0 || slices.Contains(k.Models, model)
}

// Expired reports whether the key has expired at now.
func (k Key) Expired(now time.Time) bool { return k.ExpiresAt != nil && !now.Before(*k.ExpiresAt) }

// KeyForm is the portal's form to create a key, as typed: name, optional
// project label, the model allow-list (names separated by commas, spaces or
// new lines; empty: every model), the last day it works (YYYY-MM-DD in
// Asia/Shanghai; empty: no expiry), the account it spends from, and an
// optional monthly budget over the key (BudgetAmount in BudgetUnit,
// "credits" or "yuan"; empty: none).
type KeyForm struct {
	Name         string
	Project      string
	Models       string
	ExpiresOn    string
	AccountID    int64
	BudgetAmount string
	BudgetUnit   string
}

// KeyBudgetThresholds are the alert thresholds (percent) of the monthly
// budget set with a key; it is a hard stop at 100 %.
const KeyBudgetThresholds = "50, 80, 100"

// Limits of a key's fields.
const (
	KeyNameMaxLen   = 64
	KeyModelsMax    = 50
	keySecretRandom = 48
	// keyPrefixLen is how much of the secret is kept in clear: "sk-" and
	// nine random characters, for lookup and to tell keys apart in lists.
	keyPrefixLen = 12
)

// FieldCodes lists every form field code this package reports, so the web
// layer can check each has a message in both languages.
var FieldCodes = []string{"required", "too_long", "relay_model_unknown", "relay_models_count", "relay_expiry_invalid",
	"relay_expiry_past", "relay_account_invalid", "relay_url_invalid", "relay_mapping_invalid", "relay_number_range",
	"relay_name_taken", "relay_secret_required"}

var shanghai = func() *time.Location {
	l, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		return time.FixedZone("CST", 8*3600)
	}
	return l
}()

// Keys creates, lists, revokes and checks customer API keys. Verified keys
// are cached for Options.KeyCacheTTL; a revocation reaches every process at
// once through invalidate.RelayKey (app.Build calls Forget), the TTL
// bounding it should that word be lost.
type Keys struct {
	pool   db.Querier
	ledger *ledger.Ledger
	models func(ctx context.Context) ([]string, error)
	opts   Options
	cache  sync.Map // [32]byte sha256(secret) -> cachedKey
	// ahead reads keys again ahead of their expiry (entries: [32]byte),
	// one read per key at a time.
	ahead readahead.Group
	// forgetMu and forgets keep a key read before it was revoked from
	// being cached after the revocation was heard: a read stores its key
	// only when no forget happened since the read began.
	forgetMu sync.Mutex
	forgets  uint64
	// budgets sets the monthly budget a key may be created with.
	budgets *budget.Service
}

// SetBudgets gives the store the budget service that sets the monthly
// budget over a key's label in the transaction creating the key (the
// services are built in an order where it comes later).
func (s *Keys) SetBudgets(b *budget.Service) { s.budgets = b }

type cachedKey struct {
	key Key
	at  time.Time
}

// NewKeys returns the key store; models lists the model names a key may
// be limited to (the rate card in force).
func NewKeys(pool db.Querier, l *ledger.Ledger, models func(ctx context.Context) ([]string, error), opts Options) *Keys {
	opts.defaults()
	return &Keys{pool: pool, ledger: l, models: models, opts: opts}
}

const secretChars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newSecret returns "sk-" and 48 base62 characters (285 random bits).
func newSecret() string {
	out := make([]byte, keySecretRandom)
	max := big.NewInt(int64(len(secretChars)))
	for i := range out {
		n, _ := rand.Int(rand.Reader, max)
		out[i] = secretChars[n.Int64()]
	}
	return "sk-" + string(out)
}

// parse validates the form, every field at once, against the models known
// now. owner is the signed-in customer's account.
func (s *Keys) parse(ctx context.Context, owner ledger.Account, f KeyForm) (name, project string, models []string, expires *time.Time, limit *ledger.BudgetSpec, err error) {
	errs := fielderr.New("relay")
	name, project = strings.TrimSpace(f.Name), strings.TrimSpace(f.Project)
	switch {
	case name == "":
		errs.Add("name", "required")
	case utf8.RuneCountInString(name) > KeyNameMaxLen:
		errs.Add("name", "too_long", "max", strconv.Itoa(KeyNameMaxLen))
	}
	if utf8.RuneCountInString(project) > KeyNameMaxLen {
		errs.Add("project", "too_long", "max", strconv.Itoa(KeyNameMaxLen))
	}
	fields := strings.FieldsFunc(f.Models, func(r rune) bool { return r == ',' || r == '，' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
	if len(fields) > KeyModelsMax {
		errs.Add("models", "relay_models_count", "max", strconv.Itoa(KeyModelsMax))
	} else if len(fields) > 0 {
		known, err := s.models(ctx)
		if err != nil {
			return "", "", nil, nil, nil, err
		}
		for _, m := range fields {
			if !slices.Contains(known, m) {
				errs.Add("models", "relay_model_unknown", "value", m)
				break
			}
			if !slices.Contains(models, m) {
				models = append(models, m)
			}
		}
	}
	if on := strings.TrimSpace(f.ExpiresOn); on != "" {
		d, perr := time.ParseInLocation("2006-01-02", on, shanghai)
		switch {
		case perr != nil:
			errs.Add("expires_on", "relay_expiry_invalid")
		default:
			end := d.AddDate(0, 0, 1) // works through the whole day named
			if !end.After(s.opts.Now()) {
				errs.Add("expires_on", "relay_expiry_past")
			} else {
				u := end.UTC()
				expires = &u
			}
		}
	}
	if ok, err := s.mayUse(ctx, owner, f.AccountID); err != nil {
		return "", "", nil, nil, nil, err
	} else if !ok {
		errs.Add("account", "relay_account_invalid")
	}
	if strings.TrimSpace(f.BudgetAmount) != "" {
		spec, err := budget.Parse(budget.Input{Project: project, Key: name, Period: string(ledger.BudgetMonth),
			Amount: f.BudgetAmount, Unit: f.BudgetUnit, Thresholds: KeyBudgetThresholds, HardStop: true}, f.AccountID)
		budgetFields(errs, err)
		limit = &spec
	}
	return name, project, models, expires, limit, errs.Err()
}

// budgetFields adds the budget's failed fields to the key form's: its
// amount and unit are the form's budget and budget_unit, its labels the
// key's project and name.
func budgetFields(errs *fielderr.Errors, err error) {
	fe, ok := fielderr.As(err)
	if !ok {
		return
	}
	names := map[string]string{"amount": "budget", "unit": "budget_unit", "project": "project", "key": "name"}
	for _, f := range fe.Fields {
		field := names[f.Name]
		if field == "" {
			field = "budget"
		}
		args := make([]string, 0, 2*len(f.Args))
		for k, v := range f.Args {
			args = append(args, k, v)
		}
		errs.Add(field, f.Code, args...)
	}
}

// mayUse reports whether owner may make keys for accountID: its own
// account, or a sub-account of its enterprise.
func (s *Keys) mayUse(ctx context.Context, owner ledger.Account, accountID int64) (bool, error) {
	if accountID == owner.ID {
		return true, nil
	}
	if owner.Kind != ledger.AccountEnterprise || accountID <= 0 {
		return false, nil
	}
	a, err := s.ledger.Account(ctx, accountID)
	if errors.Is(err, ledger.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return a.ParentID != nil && *a.ParentID == owner.ID, nil
}

const insertKey = `
INSERT INTO relay_keys (account_id, prefix, hash, name, project, models, expires_at, created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING id`

// Create makes a key for the form's account, which owner (the signed-in
// customer's account) must be or own, and returns it with its secret: shown
// this once, stored only as its SHA-256. The creation is in the audit log.
// With a budget amount it also sets, in the same transaction, the monthly
// hard-stop budget over the key's labels (its project and name, which the
// gateway sends with each call) through budget.Service.SetTx, audited as
// budget_set; keys sharing a name and project share that budget.
// Errors: a *fielderr.Errors (fielderr.ErrInvalid) naming every field in
// error (the budget's amount and unit as budget and budget_unit).
func (s *Keys) Create(ctx context.Context, owner ledger.Account, who Customer, f KeyForm) (Key, string, error) {
	name, project, models, expires, limit, err := s.parse(ctx, owner, f)
	if err != nil {
		return Key{}, "", err
	}
	if limit != nil && s.budgets == nil {
		return Key{}, "", errors.New("relay: create key: no budget service (Keys.SetBudgets)")
	}
	if models == nil {
		models = []string{}
	}
	secret := newSecret()
	sum := sha256.Sum256([]byte(secret))
	var id int64
	err = db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, insertKey, f.AccountID, secret[:keyPrefixLen], sum[:], name, project, models, expires,
			who.UserID).Scan(&id); err != nil {
			return err
		}
		if err := auditCustomer(ctx, tx, who, ActionKeyCreated, f.AccountID, map[string]any{"key_id": id,
			"prefix": secret[:keyPrefixLen], "name": name, "project": project, "models": models}); err != nil {
			return err
		}
		if limit == nil {
			return nil
		}
		_, err := s.budgets.SetTx(ctx, tx, budget.Actor{Kind: backoffice.ActorCustomer, UserID: who.UserID, Email: who.Email,
			IP: who.IP}, owner, *limit)
		return err
	})
	if fe, ok := fielderr.As(err); ok {
		errs := fielderr.New("relay")
		budgetFields(errs, fe)
		return Key{}, "", errs
	}
	if err != nil {
		return Key{}, "", fmt.Errorf("relay: create key: %w", err)
	}
	k, err := s.byID(ctx, id)
	return k, secret, err
}

const keyColumns = `k.id, k.account_id, a.name AS account_name, k.prefix, k.name, k.project, k.models, k.expires_at,
       k.created_at, k.revoked_at, k.last_used_at`

const selectKeyByID = `SELECT ` + keyColumns + ` FROM relay_keys k JOIN ledger_account_view a ON a.id = k.account_id WHERE k.id = $1`

func (s *Keys) byID(ctx context.Context, id int64) (Key, error) {
	rows, _ := s.pool.Query(ctx, selectKeyByID, id)
	k, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Key])
	if errors.Is(err, pgx.ErrNoRows) {
		return Key{}, ErrNotFound
	}
	if err != nil {
		return Key{}, fmt.Errorf("relay: key: %w", err)
	}
	return k, nil
}

// listKeys: an individual's or enterprise's keys are those of its pool
// (its sub-accounts' too); a sub-account's are its own.
const listKeys = `SELECT ` + keyColumns + ` FROM relay_keys k JOIN ledger_account_view a ON a.id = k.account_id
WHERE CASE WHEN $2 THEN k.account_id = $1 ELSE a.pool_id = $1 END
ORDER BY k.revoked_at IS NOT NULL, k.id DESC LIMIT 500`

// List returns the keys owner sees, revoked ones last, newest first: an
// enterprise's include its sub-accounts'. Errors: database errors.
func (s *Keys) List(ctx context.Context, owner ledger.Account) ([]Key, error) {
	sub := owner.Kind == ledger.AccountSub
	scope := owner.PoolID
	if sub {
		scope = owner.ID
	}
	rows, _ := s.opts.Reader.Or(ctx, s.pool).Query(ctx, listKeys, scope, sub)
	keys, err := pgx.CollectRows(rows, pgx.RowToStructByName[Key])
	if err != nil {
		return nil, fmt.Errorf("relay: list keys: %w", err)
	}
	return keys, nil
}

const revokeKey = `UPDATE relay_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING account_id, prefix, name`

// Revoke stops key id, which owner must see (List): at once on this
// process, on every other when they hear invalidate.RelayKey (within
// Options.KeyCacheTTL at the latest). Audited. Errors:
// ErrNotFound, ErrKeyRevoked.
func (s *Keys) Revoke(ctx context.Context, owner ledger.Account, who Customer, id int64) (Key, error) {
	k, err := s.byID(ctx, id)
	if err != nil {
		return Key{}, err
	}
	if ok, err := s.visible(ctx, owner, k); err != nil {
		return Key{}, err
	} else if !ok {
		return Key{}, ErrNotFound
	}
	if k.RevokedAt != nil {
		return Key{}, ErrKeyRevoked
	}
	err = db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var acct int64
		var prefix, name string
		err := tx.QueryRow(ctx, revokeKey, id, s.opts.Now().UTC()).Scan(&acct, &prefix, &name)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrKeyRevoked
		}
		if err != nil {
			return err
		}
		if err := auditCustomer(ctx, tx, who, ActionKeyRevoked, acct, map[string]any{"key_id": id, "prefix": prefix, "name": name}); err != nil {
			return err
		}
		// Every other process drops the key at once (invalidate.RelayKey).
		return invalidate.Publish(ctx, tx, invalidate.RelayKey, strconv.FormatInt(id, 10))
	})
	if err != nil {
		if errors.Is(err, ErrKeyRevoked) {
			return Key{}, err
		}
		return Key{}, fmt.Errorf("relay: revoke key: %w", err)
	}
	s.forget(id)
	return s.byID(ctx, id)
}

func (s *Keys) visible(ctx context.Context, owner ledger.Account, k Key) (bool, error) {
	if k.AccountID == owner.ID {
		return true, nil
	}
	if owner.Kind == ledger.AccountSub {
		return false, nil
	}
	a, err := s.ledger.Account(ctx, k.AccountID)
	if err != nil {
		return false, err
	}
	return a.PoolID == owner.PoolID, nil
}

// Forget drops this process's cached verification of key id (another
// process revoked it: invalidate.RelayKey).
func (s *Keys) Forget(id int64) { s.forget(id) }

// ForgetAll drops every cached verification (words may have been missed:
// invalidate.Hub's empty key).
func (s *Keys) ForgetAll() {
	s.forgetMu.Lock()
	defer s.forgetMu.Unlock()
	s.forgets++
	s.cache.Clear()
}

func (s *Keys) forget(id int64) {
	s.forgetMu.Lock()
	defer s.forgetMu.Unlock()
	s.forgets++
	s.cache.Range(func(k, v any) bool {
		if v.(cachedKey).key.ID == id {
			s.cache.Delete(k)
		}
		return true
	})
}

// readKey reads a live key by its prefix and hash: a wrong secret, a
// revoked or an expired key matches nothing.
const readKey = `SELECT ` + keyColumns + `, k.hash
FROM relay_keys k JOIN ledger_account_view a ON a.id = k.account_id
WHERE k.prefix = $1 AND k.hash = $2 AND k.revoked_at IS NULL
  AND (k.expires_at IS NULL OR k.expires_at > $3)`

// authKey is readKey that also records the use, in one statement, when the
// recorded one is older than $4 (lastUseStep): most reads of a key in use
// then write nothing, so they cost PostgreSQL no row version and no WAL
// flush on a call's path (a call's key is read again once per
// Options.KeyCacheTTL, on every call of a key used less often).
const authKey = `WITH live AS (` + readKey + `),
touched AS (
  UPDATE relay_keys t SET last_used_at = $3 FROM live
  WHERE t.id = live.id AND (t.last_used_at IS NULL OR t.last_used_at < $4)
  RETURNING t.id, t.last_used_at)
SELECT live.id, live.account_id, live.account_name, live.prefix, live.name, live.project, live.models,
       live.expires_at, live.created_at, live.revoked_at,
       coalesce(touched.last_used_at, live.last_used_at) AS last_used_at, live.hash
FROM live LEFT JOIN touched ON touched.id = live.id`

// lastUseStep is how stale a key's recorded last use may get: the portal
// shows it to the minute.
const lastUseStep = 30 * time.Second

// Authenticate returns the key whose secret this is, if it is neither
// revoked nor expired. A verified key is trusted for Options.KeyCacheTTL;
// past half of it, a call still served from the cache starts one read of
// the key in the background, so a key in steady use is never read (nor
// its last_used_at written) on a call's path, and a revocation missed by
// the invalidation word is still obeyed within the TTL. Errors:
// ErrInvalidKey.
func (s *Keys) Authenticate(ctx context.Context, secret string) (Key, error) {
	if len(secret) != 3+keySecretRandom || !strings.HasPrefix(secret, "sk-") {
		return Key{}, ErrInvalidKey
	}
	sum := sha256.Sum256([]byte(secret))
	now := s.opts.Now()
	if v, ok := s.cache.Load(sum); ok {
		c := v.(cachedKey)
		if age := now.Sub(c.at); age < s.opts.KeyCacheTTL {
			if c.key.Expired(now) {
				return Key{}, ErrInvalidKey
			}
			if age >= s.opts.KeyCacheTTL/2 {
				s.refreshAhead(ctx, sum, secret)
			}
			return c.key, nil
		}
		s.cache.Delete(sum)
	}
	return s.verify(ctx, sum, secret)
}

// refreshAhead reads the key again in the background unless a read of it
// is already running; a key found revoked or expired leaves the cache.
func (s *Keys) refreshAhead(ctx context.Context, sum [32]byte, secret string) {
	s.ahead.Start(ctx, sum, func(ctx context.Context) {
		if _, err := s.verify(ctx, sum, secret); errors.Is(err, ErrInvalidKey) {
			s.cache.Delete(sum)
		}
	})
}

// verify reads a live key by its secret, records its use (authKey) and
// caches it.
func (s *Keys) verify(ctx context.Context, sum [32]byte, secret string) (Key, error) {
	now := s.opts.Now()
	s.forgetMu.Lock()
	forgets := s.forgets
	s.forgetMu.Unlock()
	type row struct {
		Key
		Hash []byte `db:"hash"`
	}
	read := func(sql string, args ...any) (row, error) {
		rows, _ := s.pool.Query(ctx, sql, append([]any{secret[:keyPrefixLen], sum[:], now.UTC()}, args...)...)
		return pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[row])
	}
	r, err := read(authKey, now.Add(-lastUseStep).UTC())
	if db.NoPrimary(err) {
		// No primary to record the use: read the key where it can be read
		// (the standby standing in, in a call pinned by the gateway), so
		// the calls that need no write, GET /v1/models, keep working.
		r, err = read(readKey)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return Key{}, ErrInvalidKey
	}
	if err != nil {
		return Key{}, fmt.Errorf("relay: authenticate: %w", err)
	}
	if subtle.ConstantTimeCompare(r.Hash, sum[:]) != 1 || r.RevokedAt != nil || r.Key.Expired(now) {
		return Key{}, ErrInvalidKey // not reached: the statement matched only a live key
	}
	s.forgetMu.Lock()
	if s.forgets == forgets { // no revocation heard while it was read
		s.cache.Store(sum, cachedKey{key: r.Key, at: now})
	}
	s.forgetMu.Unlock()
	return r.Key, nil
}

// EnsureDemoKey stores a key with a secret chosen by the caller for
// accountID unless a key with its prefix exists: the demo key `credits
// gateway --demo` prints on every run in development. Never in production.
// Errors: ErrInvalidKey (a malformed secret).
func (s *Keys) EnsureDemoKey(ctx context.Context, accountID int64, name, secret string) error {
	if len(secret) != 3+keySecretRandom || !strings.HasPrefix(secret, "sk-") {
		return ErrInvalidKey
	}
	sum := sha256.Sum256([]byte(secret))
	const q = `INSERT INTO relay_keys (account_id, prefix, hash, name) VALUES ($1, $2, $3, $4) ON CONFLICT (prefix) DO NOTHING`
	if _, err := s.pool.Exec(ctx, q, accountID, secret[:keyPrefixLen], sum[:], name); err != nil {
		return fmt.Errorf("relay: ensure demo key: %w", err)
	}
	return nil
}

// Models are the model names a key's allow-list may name: those of the
// rate card in force. Errors: pricing errors.
func (s *Keys) Models(ctx context.Context) ([]string, error) { return s.models(ctx) }

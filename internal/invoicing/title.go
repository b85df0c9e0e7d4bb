package invoicing

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/identity"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
)

// TitleInput is a buyer title (发票抬头) as entered.
type TitleInput struct {
	Type        TitleType `json:"type"`
	Name        string    `json:"name"`
	TaxID       string    `json:"tax_id"` // 税号 = unified social credit code; companies only
	Address     string    `json:"address"`
	Phone       string    `json:"phone"`
	BankName    string    `json:"bank_name"`
	BankAccount string    `json:"bank_account"`
}

// Title is a saved buyer title of an account.
type Title struct {
	ID        int64     `json:"id" db:"id"`
	AccountID int64     `json:"account_id" db:"account_id"`
	CreatedAt time.Time `json:"created_at" db:"created_at"`
	UpdatedAt time.Time `json:"updated_at" db:"updated_at"`
	TitleInput
}

// Field limits, in characters.
const (
	maxName        = 100
	maxAddress     = 200
	maxPhone       = 30
	maxBankName    = 100
	maxBankAccount = 40
	maxEmail       = 254
)

var (
	phonePattern       = regexp.MustCompile(`^[0-9+\-() ]{5,30}$`)
	bankAccountPattern = regexp.MustCompile(`^[0-9\- ]{6,40}$`)
)

func addText(fields *fielderr.Errors, field, v string, max int, required bool) {
	switch {
	case v == "" && required:
		fields.Add(field, CodeRequired)
	case utf8.RuneCountInString(v) > max:
		fields.Add(field, CodeTooLong, "max", strconv.Itoa(max))
	}
}

// normalize trims every field, normalises the tax id (full-width folded,
// upper case) and the phone and account numbers' width.
func (in TitleInput) normalize() TitleInput {
	in.Name = strings.TrimSpace(in.Name)
	in.TaxID = identity.Normalize(in.TaxID)
	in.Address = strings.TrimSpace(in.Address)
	in.Phone = strings.TrimSpace(in.Phone)
	in.BankName = strings.TrimSpace(in.BankName)
	in.BankAccount = strings.TrimSpace(in.BankAccount)
	return in
}

// validate checks a title for an invoice of kind: a company needs a valid
// 税号; a 专票 needs a company with address, phone, bank and account.
func (in TitleInput) validate(kind Kind) *fielderr.Errors {
	fields := fielderr.New("invoicing")
	switch in.Type {
	case TitleCompany, TitleIndividual:
	case "":
		fields.Add("title.type", CodeRequired)
	default:
		fields.Add("title.type", CodeInvalid)
	}
	addText(fields, "title.name", in.Name, maxName, true)
	switch {
	case in.Type == TitleCompany && in.TaxID == "":
		fields.Add("title.tax_id", CodeRequired)
	case in.Type == TitleCompany:
		if _, err := identity.ParseCreditCode(in.TaxID); err != nil {
			fields.Add("title.tax_id", "tax_id_"+strings.TrimPrefix(identity.Code(err), "credit_"))
		}
	case in.TaxID != "":
		// An individual's number would be an ID number: not stored here.
		fields.Add("title.tax_id", CodeNotAllowed)
	}
	special := kind == KindSpecial
	if special && in.Type == TitleIndividual {
		fields.Add("title.type", CodeSpecialRequiresCompany)
	}
	addText(fields, "title.address", in.Address, maxAddress, special)
	addText(fields, "title.phone", in.Phone, maxPhone, special)
	if in.Phone != "" && !phonePattern.MatchString(in.Phone) {
		fields.Add("title.phone", CodeInvalid)
	}
	addText(fields, "title.bank_name", in.BankName, maxBankName, special)
	addText(fields, "title.bank_account", in.BankAccount, maxBankAccount, special)
	if in.BankAccount != "" && !bankAccountPattern.MatchString(in.BankAccount) {
		fields.Add("title.bank_account", CodeInvalid)
	}
	return fields
}

// ValidateTitle checks a title for an invoice of kind without saving it, for
// forms that validate as the customer types. It returns *fielderr.Errors or nil.
func ValidateTitle(in TitleInput, kind Kind) error {
	if f := in.normalize().validate(kind); !f.Empty() {
		return f
	}
	return nil
}

func checkEmail(fields *fielderr.Errors, email string) {
	if email == "" {
		fields.Add("email", CodeRequired)
		return
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || len(email) > maxEmail || !strings.Contains(email[strings.LastIndexByte(email, '@'):], ".") {
		fields.Add("email", CodeInvalid)
	}
}

const titleColumns = `id, account_id, type, name, tax_id, address, phone, bank_name, bank_account, created_at, updated_at`

const sqlInsertTitle = `INSERT INTO invoice_titles (account_id, type, name, tax_id, address, phone, bank_name, bank_account, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING ` + titleColumns

const sqlUpdateTitle = `UPDATE invoice_titles SET type = $3, name = $4, tax_id = $5, address = $6, phone = $7,
	bank_name = $8, bank_account = $9, updated_at = $10
WHERE id = $1 AND account_id = $2 RETURNING ` + titleColumns

// titleRow scans a title (TitleInput is embedded, so its columns are listed).
type titleRow struct {
	ID          int64     `db:"id"`
	AccountID   int64     `db:"account_id"`
	Type        TitleType `db:"type"`
	Name        string    `db:"name"`
	TaxID       string    `db:"tax_id"`
	Address     string    `db:"address"`
	Phone       string    `db:"phone"`
	BankName    string    `db:"bank_name"`
	BankAccount string    `db:"bank_account"`
	CreatedAt   time.Time `db:"created_at"`
	UpdatedAt   time.Time `db:"updated_at"`
}

func (r titleRow) title() Title {
	return Title{ID: r.ID, AccountID: r.AccountID, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, TitleInput: TitleInput{
		Type: r.Type, Name: r.Name, TaxID: r.TaxID, Address: r.Address, Phone: r.Phone, BankName: r.BankName, BankAccount: r.BankAccount,
	}}
}

// SaveTitle saves a buyer title of the account: a new one when titleID is 0,
// else it replaces the account's title titleID. It is validated as for a 普票
// (a 专票 request checks the rest). Errors: *fielderr.Errors, ErrNotFound.
func (s *Service) SaveTitle(ctx context.Context, accountID, titleID int64, in TitleInput) (Title, error) {
	in = in.normalize()
	if f := in.validate(KindOrdinary); !f.Empty() {
		return Title{}, fmt.Errorf("invoicing: save title: %w", f)
	}
	var rows pgx.Rows
	if titleID == 0 {
		rows, _ = s.pool.Query(ctx, sqlInsertTitle, accountID, in.Type, in.Name, in.TaxID, in.Address, in.Phone, in.BankName, in.BankAccount, s.now())
	} else {
		rows, _ = s.pool.Query(ctx, sqlUpdateTitle, titleID, accountID, in.Type, in.Name, in.TaxID, in.Address, in.Phone, in.BankName, in.BankAccount, s.now())
	}
	r, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[titleRow])
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Title{}, fmt.Errorf("invoicing: save title: %w", err)
	}
	return r.title(), nil
}

// Titles lists the account's saved titles, oldest first.
func (s *Service) Titles(ctx context.Context, accountID int64) ([]Title, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+titleColumns+` FROM invoice_titles WHERE account_id = $1 ORDER BY id`, accountID)
	rs, err := pgx.CollectRows(rows, pgx.RowToStructByName[titleRow])
	if err != nil {
		return nil, fmt.Errorf("invoicing: titles: %w", err)
	}
	out := make([]Title, len(rs))
	for i, r := range rs {
		out[i] = r.title()
	}
	return out, nil
}

func (s *Service) title(ctx context.Context, q pgx.Tx, accountID, titleID int64) (Title, error) {
	rows, _ := q.Query(ctx, `SELECT `+titleColumns+` FROM invoice_titles WHERE id = $1 AND account_id = $2`, titleID, accountID)
	r, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[titleRow])
	if errors.Is(err, pgx.ErrNoRows) {
		return Title{}, ErrNotFound
	}
	return r.title(), err
}

// DeleteTitle deletes a saved title of the account; invoices keep their copy
// of it. Errors: ErrNotFound.
func (s *Service) DeleteTitle(ctx context.Context, accountID, titleID int64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM invoice_titles WHERE id = $1 AND account_id = $2`, titleID, accountID)
	if err == nil && tag.RowsAffected() == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("invoicing: delete title: %w", err)
	}
	return nil
}

// Package reconcile reads bank statements and payment-channel bills, matches
// bank-transfer lines to transfer orders by their reference code, compares a
// channel's daily bill with our orders, and keeps imported statement lines
// with their matching status.
//
// Parsing and matching are pure functions; only store.go touches the
// database, and nothing here calls the ledger: the caller credits an order
// and marks the line matched in one transaction.
package reconcile

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrUnsupportedFormat is returned for a file that is neither CSV/TSV
	// text nor an XLSX workbook (e.g. a legacy .xls or an HTML page).
	ErrUnsupportedFormat = errors.New("reconcile: unsupported file format")
	// ErrNoHeader is returned when no row of the file looks like a header.
	ErrNoHeader = errors.New("reconcile: no header row found")
	// ErrMissingColumn matches a *MissingColumnError.
	ErrMissingColumn = errors.New("reconcile: required column missing")
	// ErrAmountTooLarge: a line's amount is above MaxAmount (a *RowError's Cause).
	ErrAmountTooLarge = errors.New("reconcile: amount above 999,999,999,999.99")
	// ErrMalformedRow matches a *RowError.
	ErrMalformedRow = errors.New("reconcile: malformed row")
	// ErrNotFound is returned when a statement line does not exist.
	ErrNotFound = errors.New("reconcile: statement line not found")
	// ErrLineNotOpen is returned when a statement line is no longer in the
	// unmatched queue (already matched, resolved or rejected).
	ErrLineNotOpen = errors.New("reconcile: statement line is not unmatched")
	// ErrOrderAlreadyMatched is returned when another statement line already
	// paid the transfer order.
	ErrOrderAlreadyMatched = errors.New("reconcile: transfer order already matched to another line")
	// ErrNoBankAccount is returned by ImportLines for a line that does not say
	// which of our bank accounts it belongs to.
	ErrNoBankAccount = errors.New("reconcile: statement line has no bank account")
	// ErrFileTooLarge matches a *TooLargeError.
	ErrFileTooLarge = errors.New("reconcile: file too large")
	// ErrInvalidResolution is returned for a resolution that lacks what its
	// status requires (an account, a reason, the staff member).
	ErrInvalidResolution = errors.New("reconcile: invalid resolution")
)

// Field names a logical column of a statement or bill, independent of the
// header text a bank uses for it.
type Field string

// Logical columns of a bank statement.
const (
	FieldSerial       Field = "serial"
	FieldDate         Field = "date"
	FieldTime         Field = "time"
	FieldPayerName    Field = "payer_name"
	FieldPayerAccount Field = "payer_account"
	FieldAmount       Field = "amount"
	FieldCredit       Field = "credit"
	FieldDebit        Field = "debit"
	FieldDirection    Field = "direction"
	FieldMemo         Field = "memo"
	FieldAccount      Field = "account" // our own account, when every row names it
)

// fieldLabel is the usual Chinese header of a field, for error messages that
// finance reads next to the bank's file.
var fieldLabel = map[Field]string{
	FieldSerial:       "流水号",
	FieldDate:         "交易日期",
	FieldTime:         "交易时间",
	FieldPayerName:    "对方户名",
	FieldPayerAccount: "对方账号",
	FieldAmount:       "金额/贷方金额",
	FieldCredit:       "贷方金额",
	FieldDebit:        "借方金额",
	FieldDirection:    "借贷标志",
	FieldMemo:         "摘要/附言",
	FieldAccount:      "本方账号",
}

// Label returns the usual Chinese header text for the field.
func (f Field) Label() string {
	if l, ok := fieldLabel[f]; ok {
		return l
	}
	return string(f)
}

// MissingColumnError says which required columns the header row lacks.
type MissingColumnError struct {
	// Row is the 1-based row taken as the header (0 if none was found).
	Row     int
	Columns []Field
}

func (e *MissingColumnError) Error() string {
	names := make([]string, len(e.Columns))
	for i, c := range e.Columns {
		names[i] = fmt.Sprintf("%s (%s)", c.Label(), c)
	}
	return fmt.Sprintf("reconcile: missing column %s in header row %d", strings.Join(names, ", "), e.Row)
}

// Is makes errors.Is(err, ErrMissingColumn) true.
func (e *MissingColumnError) Is(target error) bool { return target == ErrMissingColumn }

// RowError says which row and column of the file could not be read.
type RowError struct {
	Row    int // 1-based row (line) number in the file
	Column Field
	Value  string
	Reason string
	Cause  error // what refused the value, when it is one of this package's errors
}

// Unwrap gives the cause, so errors.Is(err, ErrAmountTooLarge) finds it.
func (e *RowError) Unwrap() error { return e.Cause }

func (e *RowError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("reconcile: row %d: %s", e.Row, e.Reason)
	}
	return fmt.Sprintf("reconcile: row %d, column %s (%s): %s: %q", e.Row, e.Column.Label(), e.Column, e.Reason, e.Value)
}

// Is makes errors.Is(err, ErrMalformedRow) true.
func (e *RowError) Is(target error) bool { return target == ErrMalformedRow }

// Limit names which of Limits a file passed.
type Limit string

// The bounds of Limits.
const (
	LimitFileBytes     Limit = "file_bytes"
	LimitUnzippedBytes Limit = "unzipped_bytes"
	LimitRows          Limit = "rows"
)

// TooLargeError says a file passed one of the Limits; it matches
// ErrFileTooLarge.
type TooLargeError struct {
	Limit Limit
	Max   int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("reconcile: file over the %s limit of %d", e.Limit, e.Max)
}

// Is makes errors.Is(err, ErrFileTooLarge) true.
func (e *TooLargeError) Is(target error) bool { return target == ErrFileTooLarge }

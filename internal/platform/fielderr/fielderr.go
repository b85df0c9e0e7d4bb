// Package fielderr is the one field-errors type every domain returns when a
// submission fails validation: all failed fields at once, each with a stable
// code (mapped to the i18n key error.field.<code> in web) and the arguments
// its message needs (for example the allowed range).
package fielderr

import (
	"errors"
	"strings"
)

// ErrInvalid is matched by every *Errors with errors.Is, so callers can test
// "was this a validation failure" without knowing the domain.
var ErrInvalid = errors.New("invalid input")

// Field is one failed form field.
type Field struct {
	Name string            `json:"field"`
	Code string            `json:"code"`
	Args map[string]string `json:"args,omitempty"`
}

// Errors collects every failed field of one submission, in the order added.
// The zero value is ready to use.
type Errors struct {
	Domain string
	Fields []Field
}

// New returns an empty Errors for the named domain ("auth", "invoicing", …),
// which only prefixes the Error text.
func New(domain string) *Errors { return &Errors{Domain: domain} }

// Add records that field failed with code; args are key, value pairs for the
// message ("min", "1", "max", "1000000"). A field keeps its first code.
func (e *Errors) Add(field, code string, args ...string) *Errors {
	if e.Code(field) != "" {
		return e
	}
	f := Field{Name: field, Code: code}
	if len(args) > 1 {
		f.Args = make(map[string]string, len(args)/2)
		for i := 0; i+1 < len(args); i += 2 {
			f.Args[args[i]] = args[i+1]
		}
	}
	e.Fields = append(e.Fields, f)
	return e
}

// Code returns the code recorded for field, or "" when it passed.
func (e *Errors) Code(field string) string {
	if e == nil {
		return ""
	}
	for _, f := range e.Fields {
		if f.Name == field {
			return f.Code
		}
	}
	return ""
}

// Empty reports whether no field failed.
func (e *Errors) Empty() bool { return e == nil || len(e.Fields) == 0 }

// Err returns e as an error when a field failed, and nil otherwise, so a
// validator can end with `return errs.Err()`.
func (e *Errors) Err() error {
	if e.Empty() {
		return nil
	}
	return e
}

// Error implements error.
func (e *Errors) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Name + ": " + f.Code
	}
	prefix := "invalid input: "
	if e.Domain != "" {
		prefix = e.Domain + ": " + prefix
	}
	return prefix + strings.Join(parts, ", ")
}

// Is makes errors.Is(err, ErrInvalid) true, and errors.Is(err, sentinel)
// true when sentinel is an *Errors of the same domain (a domain's exported
// "this failed", such as backoffice.ErrInvalidAmount) each of whose fields
// matches a failure in e: by code, whichever field it was reported on (a
// form may name the field differently), or, for a sentinel field without a
// code (auth.ErrWeakPassword), by field name with any code.
func (e *Errors) Is(target error) bool {
	if target == ErrInvalid {
		return true
	}
	t, ok := target.(*Errors)
	if !ok || t.Empty() || t.Domain != e.Domain {
		return false
	}
	for _, f := range t.Fields {
		if !e.has(f) {
			return false
		}
	}
	return true
}

func (e *Errors) has(want Field) bool {
	for _, f := range e.Fields {
		if (want.Code != "" && f.Code == want.Code) || (want.Code == "" && f.Name == want.Name) {
			return true
		}
	}
	return false
}

// Merge adds the fields of err when it holds an *Errors (a field already
// failed keeps its first code) and reports whether it did, so a validator can
// collect another check's failures next to its own.
func (e *Errors) Merge(err error) bool {
	other, ok := As(err)
	if !ok {
		return false
	}
	for _, f := range other.Fields {
		if e.Code(f.Name) == "" {
			e.Fields = append(e.Fields, f)
		}
	}
	return true
}

// One is the failure of a single field, for a domain's exported sentinel
// ("ErrInvalidAmount = fielderr.One(\"backoffice\", \"amount\", \"invalid_amount\")")
// that callers match with errors.Is. A sentinel is returned as it is and
// never added to.
func One(domain, field, code string, args ...string) *Errors {
	return New(domain).Add(field, code, args...)
}

// As returns the *Errors inside err, if any.
func As(err error) (*Errors, bool) {
	var fe *Errors
	ok := errors.As(err, &fe)
	return fe, ok
}

package admin

import "github.com/shopspring/decimal"

// JournalForm is the journal's dates (Asia/Shanghai, inclusive) as typed.
type JournalForm struct{ From, To string }

// JournalDayRow is one day of the journal: its booked lines' sums and how
// many memo lines it has.
type JournalDayRow struct {
	Date          string
	Lines, Memos  int
	Debit, Credit decimal.Decimal
}

// JournalAccountRow is one account of the mapping with its code and the
// period's debits and credits.
type JournalAccountRow struct {
	Key, Label, Code string
	Debit, Credit    decimal.Decimal
}

// JournalView is the journal export page: dates, the day totals, the
// account mapping with the period's totals, and the two downloads.
type JournalView struct {
	Frame    Frame
	Form     JournalForm
	Errors   Errors
	Shown    bool
	Days     []JournalDayRow
	Accounts []JournalAccountRow
	VATRate  string
	// Debit and Credit are the period's sums (equal).
	Debit, Credit decimal.Decimal
	// GenericURL and KingdeeURL download the two layouts; SettingsURL
	// (admins only) changes the codes.
	GenericURL, KingdeeURL, SettingsURL string
}

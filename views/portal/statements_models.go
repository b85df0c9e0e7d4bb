package portal

// StatementsView is the monthly statements page: the account's closed
// months, newest first, each with its PDF and XLSX downloads.
type StatementsView struct {
	Frame Frame
	// Sub: a sub-account has no statement of its own (its enterprise's
	// statement shows its consumption).
	Sub    bool
	Months []StatementMonth
}

// StatementMonth is one month's row.
type StatementMonth struct {
	Month   string // 2026-11
	PDFURL  string
	XLSXURL string
	// Archived: the month's events were moved to the archive; it offers
	// no download until staff restore them.
	Archived bool
}

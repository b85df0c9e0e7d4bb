package admin

import (
	"strconv"

	"github.com/shopspring/decimal"
)

// HomeQueue is one count of waiting work on the back-office home, linking to
// the queue (a menu section) that holds it.
type HomeQueue struct {
	Section Section
	// Key is the i18n key of the label; Count the items waiting.
	Key   string
	Count int
}

// CountText is the count as shown.
func (q HomeQueue) CountText() string { return strconv.Itoa(q.Count) }

// HomeView is the back-office home: the waiting work and today's money.
type HomeView struct {
	Queues []HomeQueue
	// Day is the Asia/Shanghai day (2006-01-02) the money covers.
	Day               string
	MoneyIn, MoneyOut decimal.Decimal
	// BankMissing: no receiving bank account is configured, so customers
	// are not offered bank transfer (BANK_* settings).
	BankMissing bool
	// Settings is the settings screen's menu entry (admins change the
	// business settings there, the bank account included).
	Settings Section
}

// SectionFor finds a menu section by its route name.
func SectionFor(route string) Section {
	for _, s := range Sections {
		if s.Route == route {
			return s
		}
	}
	return Section{Route: route}
}

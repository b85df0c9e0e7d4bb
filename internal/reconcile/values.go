package reconcile

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/platform/format"
)

// chinaTime is Beijing time, the one location of format.Shanghai.
var chinaTime = format.Shanghai

var amountRe = regexp.MustCompile(`^\d+(\.\d+)?$`)

var errEmpty = errors.New("empty")

// MaxAmount is the largest amount a statement or bill line may carry: what
// the lines' NUMERIC(14, 2) columns hold. A bigger one is the row's error,
// named with its row and column, never a failed insert.
var MaxAmount = decimal.RequireFromString("999999999999.99")

// parseAmount reads an RMB amount as banks print it: "1,000.00", "¥1000",
// "￥1，000．00", "RMB 1000", "+1000.00", "-500.00" or "(500.00)". It returns
// the signed value, exact to the fen; more than two decimals is an error,
// except for the binary-float noise a spreadsheet number may carry
// ("100.30000000000001").
func parseAmount(s string) (decimal.Decimal, error) {
	s = fold(s)
	s = strings.NewReplacer(",", "", " ", "", "¥", "", "RMB", "", "CNY", "", "元", "", "rmb", "").Replace(s)
	if s == "" || s == "-" || s == "--" {
		return decimal.Decimal{}, errEmpty
	}
	neg := false
	switch {
	case strings.HasPrefix(s, "(") && strings.HasSuffix(s, ")"):
		neg, s = true, s[1:len(s)-1]
	case strings.HasPrefix(s, "-"):
		neg, s = true, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	if !amountRe.MatchString(s) {
		return decimal.Decimal{}, errors.New("not an amount")
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, errors.New("not an amount")
	}
	if d.Exponent() < -2 {
		r := d.Round(2)
		if d.Exponent() > -8 || !d.Sub(r).Abs().LessThan(decimal.New(1, -6)) {
			return decimal.Decimal{}, errors.New("more than two decimal places")
		}
		d = r
	}
	if d.GreaterThan(MaxAmount) {
		return decimal.Decimal{}, ErrAmountTooLarge
	}
	if neg {
		d = d.Neg()
	}
	return d, nil
}

var dateLayouts = []string{"2006-1-2", "2006/1/2", "2006.1.2", "2006年1月2日", "20060102"}
var timeLayouts = []string{"15:04:05", "15:04", "150405", "15.04.05", "15时04分05秒"}

// parseDateTime reads a transaction's date and (optional) time in Beijing
// time and returns it in UTC. The date may already carry the time
// ("2024-03-15 10:23:45"), the time may carry the date, and either may be an
// Excel serial number from an XLSX cell.
func parseDateTime(date, clock string) (time.Time, error) {
	date, clock = fold(strings.TrimSpace(date)), fold(strings.TrimSpace(clock))
	if date == "" {
		date, clock = clock, ""
	}
	if date == "" {
		return time.Time{}, errEmpty
	}
	// A time column holding a full date-time wins over a bare date column.
	if strings.ContainsAny(clock, "-/年") || len(clock) >= 14 {
		date, clock = clock, ""
	}
	d, rest, err := parseDate(date)
	if err != nil {
		return time.Time{}, err
	}
	if rest != "" {
		clock = rest
	}
	if clock == "" {
		return d.UTC(), nil
	}
	off, err := parseClock(clock)
	if err != nil {
		return time.Time{}, err
	}
	return d.Add(off).UTC(), nil
}

// parseDate returns midnight of the date in Beijing time and any time text
// that followed it.
func parseDate(s string) (time.Time, string, error) {
	if serial, err := strconv.ParseFloat(s, 64); err == nil && !strings.ContainsAny(s, "-/") && len(s) != 8 && len(s) != 14 {
		return excelSerial(serial)
	}
	if len(s) == 14 && isDigits(s) { // 20240315102345
		t, err := time.ParseInLocation("20060102150405", s, chinaTime)
		return t, "", err
	}
	datePart, rest, _ := strings.Cut(s, " ")
	if strings.Contains(datePart, "T") {
		datePart, rest, _ = strings.Cut(s, "T")
	}
	for _, l := range dateLayouts {
		if t, err := time.ParseInLocation(l, datePart, chinaTime); err == nil {
			return t, strings.TrimSpace(rest), nil
		}
	}
	return time.Time{}, "", errors.New("not a date")
}

// parseClock returns the time of day as an offset from midnight.
func parseClock(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil && f < 1 && strings.Contains(s, ".") {
		return time.Duration(f*86400+0.5) * time.Second, nil // Excel time fraction
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute + time.Duration(t.Second())*time.Second, nil
		}
	}
	return 0, errors.New("not a time of day")
}

// excelSerial converts an Excel (1900 date system) serial day number, which
// counts from 1899-12-30 once Excel's fictitious 1900-02-29 is past.
func excelSerial(f float64) (time.Time, string, error) {
	if f < 61 || f > 2958465 {
		return time.Time{}, "", errors.New("not a date")
	}
	days := int(f)
	secs := int((f-float64(days))*86400 + 0.5)
	t := time.Date(1899, 12, 30, 0, 0, 0, 0, chinaTime).AddDate(0, 0, days)
	if secs == 0 {
		return t, "", nil
	}
	return t, time.Time{}.Add(time.Duration(secs) * time.Second).Format("15:04:05"), nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

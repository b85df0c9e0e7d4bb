package pdf

import (
	"errors"
	"fmt"
	"strings"

	"github.com/shopspring/decimal"
)

// Errors of Capital.
var (
	// ErrNotFenExact: the amount has non-zero digits below one fen (0.01 yuan).
	ErrNotFenExact = errors.New("invoice pdf: amount is not a whole number of fen")
	// ErrAmountRange: the amount is one trillion (壹万亿) yuan or more.
	ErrAmountRange = errors.New("invoice pdf: amount out of range")
)

const capitalDigits = "零壹贰叁肆伍陆柒捌玖"

var (
	digitRunes = []rune(capitalDigits)
	// units within a four-digit group, from the lowest: 个 拾 佰 仟.
	groupUnits = []string{"", "拾", "佰", "仟"}
	// group names, from the lowest: 个, 万, 亿.
	groupNames = []string{"", "万", "亿"}
	maxCapital = decimal.New(1, 12)
)

// Capital writes an RMB amount in Chinese capital numerals (大写金额) as printed
// on invoices (价税合计（大写）), following the People's Bank of China rules for
// filling in amounts on bills (《支付结算办法》附件一《正确填写票据和结算凭证的基本规定》):
//
//   - amounts ending at 元 or 角 end with 整; amounts with 分 do not:
//     100 → 壹佰元整, 1.50 → 壹元伍角整, 1.05 → 壹元零伍分;
//   - a leading 1 in the tens is written 壹拾 (10 → 壹拾元整);
//   - zeros between non-zero digits are written as a single 零, also across the
//     万 and 亿 boundaries (107000.53 → 壹拾万零柒仟元伍角叁分, one of the two forms
//     the rules give; 1680.32 → 壹仟陆佰捌拾元叁角贰分, the form without the optional 零);
//   - below one yuan there is no 元: 0.05 → 伍分; zero is 零元整;
//   - negative amounts (red-letter invoices) are prefixed 负.
//
// It returns ErrNotFenExact for fractions of a fen and ErrAmountRange from 10^12 yuan.
func Capital(amount decimal.Decimal) (string, error) {
	if !amount.Equal(amount.Round(2)) {
		return "", fmt.Errorf("%w: %s", ErrNotFenExact, amount)
	}
	a := amount.Abs()
	if a.GreaterThanOrEqual(maxCapital) {
		return "", fmt.Errorf("%w: %s", ErrAmountRange, amount)
	}
	fen := a.Shift(2).IntPart()
	if fen == 0 {
		return "零元整", nil
	}
	yuan, jiao, f := fen/100, fen/10%10, fen%10

	var b strings.Builder
	if amount.IsNegative() {
		b.WriteString("负")
	}
	if yuan > 0 {
		b.WriteString(integerCapital(yuan))
		b.WriteString("元")
	}
	switch {
	case jiao > 0:
		b.WriteRune(digitRunes[jiao])
		b.WriteString("角")
	case f > 0 && yuan > 0:
		b.WriteString("零") // 1.05: the zero between 元 and 分 must be written
	}
	if f > 0 {
		b.WriteRune(digitRunes[f])
		b.WriteString("分")
	} else {
		b.WriteString("整")
	}
	return b.String(), nil
}

// integerCapital writes n (1 ≤ n < 10^12) without the 元.
func integerCapital(n int64) string {
	digits := fmt.Sprint(n)
	var b strings.Builder
	zero := false // a run of zeros is waiting to be written as one 零
	groupHasDigit := false
	for i, c := range digits {
		pos := len(digits) - 1 - i // power of ten
		d := c - '0'
		if d == 0 {
			zero = b.Len() > 0
		} else {
			if zero {
				b.WriteString("零")
				zero = false
			}
			b.WriteRune(digitRunes[d])
			b.WriteString(groupUnits[pos%4])
			groupHasDigit = true
		}
		if pos%4 == 0 && pos > 0 {
			if groupHasDigit {
				b.WriteString(groupNames[pos/4])
			}
			groupHasDigit = false
		}
	}
	return b.String()
}

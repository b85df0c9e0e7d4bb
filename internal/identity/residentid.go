package identity

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/width"

	"github.com/seed75218f88/credits/internal/platform/format"
)

// Shanghai is the time zone in which "today" is decided for birth dates:
// the one location of format.Shanghai.
var Shanghai = format.Shanghai

// Sex is derived from the sequence code: odd for men, even for women (GB 11643-1999 §5.4).
type Sex string

// Sexes.
const (
	Male   Sex = "male"
	Female Sex = "female"
)

// ResidentID is a validated 18-character citizen identity number (公民身份号码).
type ResidentID struct {
	Number    string    // normalised: 17 digits and a check character 0-9 or X
	Region    string    // address code, digits 1-6 (GB/T 2260 county level)
	Province  string    // digits 1-2, a province-level code
	BirthDate time.Time // midnight UTC of the date of birth
	Sequence  string    // digits 15-17
	Sex       Sex
}

// String returns the masked number, so a ResidentID printed with fmt (%v, %s,
// %+v) or logged never shows the full number; use the Number field on purpose.
func (id ResidentID) String() string { return MaskID(id.Number) }

// GoString masks the number for %#v as well.
func (id ResidentID) GoString() string { return "identity.ResidentID{" + MaskID(id.Number) + "}" }

// LogValue masks the number in log/slog output.
func (id ResidentID) LogValue() slog.Value { return slog.StringValue(MaskID(id.Number)) }

// provinces are the province-level codes of GB/T 2260-2007 (中华人民共和国行政区划代码)
// as used in resident identity numbers, plus 81/82/83, which the 2018
// 《港澳台居民居住证申领发放办法》 assigns to residence permits of Hong Kong, Macao and
// Taiwan residents (address codes 810000, 820000, 830000).
var provinces = map[string]string{
	"11": "北京", "12": "天津", "13": "河北", "14": "山西", "15": "内蒙古",
	"21": "辽宁", "22": "吉林", "23": "黑龙江",
	"31": "上海", "32": "江苏", "33": "浙江", "34": "安徽", "35": "福建", "36": "江西", "37": "山东",
	"41": "河南", "42": "湖北", "43": "湖南", "44": "广东", "45": "广西", "46": "海南",
	"50": "重庆", "51": "四川", "52": "贵州", "53": "云南", "54": "西藏",
	"61": "陕西", "62": "甘肃", "63": "青海", "64": "宁夏", "65": "新疆",
	"71": "台湾", "81": "香港", "82": "澳门", "83": "台湾居民居住证",
}

// ProvinceName returns the short name of a two-digit province-level code and
// whether the code is known.
func ProvinceName(code string) (string, bool) {
	n, ok := provinces[code]
	return n, ok
}

// idWeights are W_i = 2^(17-i) mod 11 for i = 1..17 (ISO 7064 MOD 11-2, GB 11643-1999 §7).
var idWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// idCheckChars maps (Σ a_i·W_i) mod 11 to the check character: a_18 = (12 - s) mod 11, 10 → X.
const idCheckChars = "10X98765432"

// Normalize folds full-width characters to ASCII, removes white space (including
// the ideographic space U+3000) and upper-cases letters. It is applied by every
// validator in this package before checking.
func Normalize(s string) string {
	s = width.Narrow.String(s)
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return unicode.ToUpper(r)
	}, s)
}

// ResidentIDCheckDigit computes the 18th character for the first 17 digits of a
// resident identity number. It returns ErrIDFormat when first17 is not 17 ASCII digits.
func ResidentIDCheckDigit(first17 string) (byte, error) {
	if len(first17) != 17 {
		return 0, fmt.Errorf("%w: need 17 digits, got %d characters", ErrIDFormat, len(first17))
	}
	sum := 0
	for i := range 17 {
		c := first17[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: character %d is not a digit", ErrIDFormat, i+1)
		}
		sum += int(c-'0') * idWeights[i]
	}
	return idCheckChars[sum%11], nil
}

// ParseResidentID normalises and validates s as an 18-character resident identity
// number, with today (any time zone; its Asia/Shanghai date is used) as the latest
// allowed birth date. Checks run in the order format, region, birth date, check
// character; the first failure is returned, wrapping ErrIDFormat, ErrIDRegion,
// ErrIDBirthDate or ErrIDChecksum. The old 15-digit numbers are refused as ErrIDFormat.
func ParseResidentID(s string, today time.Time) (ResidentID, error) {
	n := Normalize(s)
	if len(n) != 18 {
		return ResidentID{}, fmt.Errorf("%w: need 18 characters, got %d", ErrIDFormat, len([]rune(n)))
	}
	for i := range 17 {
		if n[i] < '0' || n[i] > '9' {
			return ResidentID{}, fmt.Errorf("%w: character %d is not a digit", ErrIDFormat, i+1)
		}
	}
	if last := n[17]; (last < '0' || last > '9') && last != 'X' {
		return ResidentID{}, fmt.Errorf("%w: the last character must be a digit or X", ErrIDFormat)
	}
	if _, ok := provinces[n[:2]]; !ok {
		return ResidentID{}, fmt.Errorf("%w: %s is not a province code", ErrIDRegion, n[:2])
	}
	birth, err := time.Parse("20060102", n[6:14])
	if err != nil {
		return ResidentID{}, fmt.Errorf("%w: not a calendar date", ErrIDBirthDate)
	}
	y, m, d := today.In(Shanghai).Date()
	if birth.Year() < 1900 || birth.After(time.Date(y, m, d, 0, 0, 0, 0, time.UTC)) {
		return ResidentID{}, fmt.Errorf("%w: outside 1900-01-01 .. today", ErrIDBirthDate)
	}
	check, _ := ResidentIDCheckDigit(n[:17])
	if n[17] != check {
		return ResidentID{}, fmt.Errorf("%w", ErrIDChecksum)
	}
	sex := Female
	if (n[16]-'0')%2 == 1 {
		sex = Male
	}
	return ResidentID{
		Number: n, Region: n[:6], Province: n[:2], BirthDate: birth, Sequence: n[14:17], Sex: sex,
	}, nil
}

// ValidateResidentID is ParseResidentID against the current date; it returns the
// normalised number.
func ValidateResidentID(s string) (string, error) {
	id, err := ParseResidentID(s, time.Now())
	return id.Number, err
}

// BuildResidentID returns a checksum-valid number from a six-digit region code,
// a birth date and a sequence number 0-999 (odd for men). It is meant for test
// fixtures and the sandbox; it returns ErrIDFormat for malformed parts.
func BuildResidentID(region string, birth time.Time, seq int) (string, error) {
	if seq < 0 || seq > 999 {
		return "", fmt.Errorf("%w: sequence %d outside 0..999", ErrIDFormat, seq)
	}
	first17 := fmt.Sprintf("%s%s%03d", region, birth.Format("20060102"), seq)
	c, err := ResidentIDCheckDigit(first17)
	if err != nil {
		return "", err
	}
	return first17 + string(c), nil
}

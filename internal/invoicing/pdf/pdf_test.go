package pdf

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	"golang.org/x/image/font/sfnt"
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func sampleInvoice() Invoice {
	six := dec("0.06")
	return Invoice{
		Kind:   Special,
		Number: "25442000000123456789",
		Date:   time.Date(2025, 5, 31, 18, 30, 0, 0, time.UTC), // 1 June in Shanghai
		Buyer: Party{
			Name:         "深圳市星河智能科技有限公司",
			TaxID:        "91440300MA5G12345X",
			AddressPhone: "深圳市南山区科技园南区深南大道 10000 号 0755-86013388",
			BankAccount:  "招商银行深圳分行科技园支行 755912345610801",
		},
		Seller: Party{
			Name:         "北京示例云计算有限公司",
			TaxID:        "91110108MA01ABC125",
			AddressPhone: "北京市海淀区中关村大街 1 号 010-62345678",
			BankAccount:  "中国工商银行北京中关村支行 0200001234567890123",
		},
		Items: []Item{
			ItemFromGross("*信息技术服务*AI 模型调用预付费", dec("100.00"), six),
			ItemFromGross("*信息技术服务*AI 模型调用预付费", dec("1234.56"), six),
		},
		Remarks: "充值单号 TU-20250601-0001、TU-20250601-0002",
		Issuer:  "王会计",
		Payee:   "李出纳",
	}
}

func TestItemFromGross(t *testing.T) {
	t.Parallel()

	it := ItemFromGross("x", dec("100.00"), dec("0.06"))
	require.Equal(t, "94.34", it.Amount.StringFixed(2))
	require.Equal(t, "5.66", it.Tax.StringFixed(2))
	require.True(t, it.Amount.Add(it.Tax).Equal(dec("100")), "amount + tax is what was paid")

	inv := sampleInvoice()
	amount, tax, total := inv.Totals()
	require.Equal(t, "1259.02", amount.StringFixed(2)) // 94.34 + 1164.68 (1234.56 / 1.06 = 1164.679…)
	require.Equal(t, "75.54", tax.StringFixed(2))      // 5.66 + 69.88
	require.Equal(t, "1334.56", total.StringFixed(2))
}

// TestRenderText renders a special invoice, extracts its text with pdftotext
// and checks what the customer reads: title, both companies, number, date,
// item, amounts in figures and capitals.
func TestRenderText(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Fatal("pdftotext is required (apt-get install poppler-utils)")
	}

	inv := sampleInvoice()
	b, drawn, err := render(inv)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(b, []byte("%PDF-")))
	require.Less(t, len(b), 400_000, "the font is subset, not embedded whole")

	text := pdfText(t, b)
	for _, want := range []string{
		"增值税电子专用发票（副本）",
		"深圳市星河智能科技有限公司", "91440300MA5G12345X",
		"北京示例云计算有限公司", "91110108MA01ABC125",
		"25442000000123456789", "2025年06月01日",
		"*信息技术服务*AI", "模型调用预付费",
		"94.34", "5.66", "1164.68", "69.88", "6%",
		"¥1259.02", "¥75.54", "¥1334.56",
		"壹仟叁佰叁拾肆元伍角陆分",
		"价税合计（大写）", "王会计",
	} {
		require.Contains(t, text, want)
	}
	require.NotEmpty(t, drawn)
	assertFontCovers(t, drawn)
}

func TestRenderOrdinaryForIndividual(t *testing.T) {
	t.Parallel()

	inv := Invoice{
		Kind: Ordinary, Number: "00000001", Date: time.Date(2025, 1, 2, 3, 0, 0, 0, time.UTC),
		Buyer:  Party{Name: "张三"},
		Seller: sampleInvoice().Seller,
		Items:  []Item{ItemFromGross("*信息技术服务*AI 模型调用预付费", dec("100"), dec("0.06"))},
	}
	b, drawn, err := render(inv)
	require.NoError(t, err)
	text := pdfText(t, b)
	require.Contains(t, text, "增值税电子普通发票（副本）")
	require.Contains(t, text, "张三")
	require.Contains(t, text, "壹佰元整")
	require.Contains(t, text, "¥100.00")
	require.True(t, drawn['整'])
	assertFontCovers(t, drawn)
}

func TestRenderRefusesInvalid(t *testing.T) {
	t.Parallel()

	for name, mod := range map[string]func(inv *Invoice){
		"SpecialWithoutBuyerBank":  func(inv *Invoice) { inv.Buyer.BankAccount = "" },
		"SpecialWithoutBuyerTaxID": func(inv *Invoice) { inv.Buyer.TaxID = "" },
		"NoItems":                  func(inv *Invoice) { inv.Items = nil },
		"NoNumber":                 func(inv *Invoice) { inv.Number = " " },
		"NoDate":                   func(inv *Invoice) { inv.Date = time.Time{} },
		"SubFen":                   func(inv *Invoice) { inv.Items[0].Amount = dec("94.345") },
		"TaxMismatch":              func(inv *Invoice) { inv.Items[0].Tax = dec("9.00") },
		"UnknownKind":              func(inv *Invoice) { inv.Kind = "receipt" },
		"TooManyItems": func(inv *Invoice) {
			for range maxItems {
				inv.Items = append(inv.Items, inv.Items[0])
			}
		},
	} {
		inv := sampleInvoice()
		mod(&inv)
		_, err := Render(inv)
		require.ErrorIs(t, err, ErrInvalid, name)
	}
}

// TestRenderRefusesMissingGlyph: a character the font lacks (a Linear B
// syllable) fails the render instead of printing a blank.
func TestRenderRefusesMissingGlyph(t *testing.T) {
	t.Parallel()

	inv := sampleInvoice()
	inv.Buyer.Name = "星河\U00010000科技"
	_, err := Render(inv)
	require.ErrorIs(t, err, ErrGlyphMissing)
}

// assertFontCovers parses the embedded TTF's cmap and requires a real glyph
// (not .notdef) for every rune drawn, so a font without ¥ or digits fails here
// even though pdftotext would still extract the characters.
func assertFontCovers(t *testing.T, drawn map[rune]bool) {
	t.Helper()
	f, err := sfnt.Parse(FontTTF())
	require.NoError(t, err)
	var buf sfnt.Buffer
	for _, must := range []rune{'¥', '0', '9', '壹', '（', '）', '%', '*'} {
		require.True(t, drawn[must], "the sample invoice draws %q", must)
	}
	for r := range drawn {
		if r == ' ' {
			continue
		}
		gi, err := f.GlyphIndex(&buf, r)
		require.NoError(t, err)
		require.NotZero(t, gi, "font has no glyph for %q (U+%04X)", r, r)
	}
}

func pdfText(t *testing.T, b []byte) string {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "invoice.pdf")
	require.NoError(t, os.WriteFile(in, b, 0o600))
	out, err := exec.Command("pdftotext", "-layout", in, "-").CombinedOutput()
	require.NoError(t, err, string(out))
	// Layout mode may space out CJK runs; compare without spaces as well.
	return string(out) + "\n" + strings.ReplaceAll(string(out), " ", "")
}

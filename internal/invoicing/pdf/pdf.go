// Package pdf renders our own PDF copy (副本) of a VAT invoice: seller and buyer,
// items with amount, rate and tax, totals in figures and in Chinese capital
// numerals, invoice number and date. The national e-invoice platform's PDF stays
// the legal document; this copy is what finance sends when it issues from here.
//
// Chinese text is drawn with WenQuanYi Micro Hei, embedded (subset) into every
// PDF; see fonts/README.md for its origin and licence. Rendering fails with
// ErrGlyphMissing rather than silently printing a blank for a character the
// font lacks.
package pdf

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"github.com/signintech/gopdf"

	"github.com/seed75218f88/credits/internal/platform/format"
)

//go:embed fonts/wqy-microhei.ttf
var fontTTF []byte

// FontTTF returns the embedded TrueType font (for tests and other renderers).
func FontTTF() []byte { return fontTTF }

// Kind is the invoice type.
type Kind string

// Invoice kinds.
const (
	// Ordinary is 增值税电子普通发票 (普票), for individuals and companies.
	Ordinary Kind = "ordinary"
	// Special is 增值税电子专用发票 (专票), for VAT-registered companies only.
	Special Kind = "special"
)

// Title returns the printed title of the copy, e.g. 增值税电子普通发票（副本）.
func (k Kind) Title() string {
	if k == Special {
		return "增值税电子专用发票（副本）"
	}
	return "增值税电子普通发票（副本）"
}

// Party is a buyer (购买方) or seller (销售方).
type Party struct {
	Name         string // 名称
	TaxID        string // 纳税人识别号 / 统一社会信用代码 (empty for an individual buyer of a 普票)
	AddressPhone string // 地址、电话
	BankAccount  string // 开户行及账号
}

// Item is one invoice line. Amount excludes tax; both Amount and Tax are
// fen-exact. Quantity and UnitPrice are optional (zero: left blank).
type Item struct {
	Name      string // e.g. *信息技术服务*AI 模型调用预付费
	Spec      string // 规格型号
	Unit      string // 单位
	Quantity  decimal.Decimal
	UnitPrice decimal.Decimal // excluding tax
	Amount    decimal.Decimal // 金额, excluding tax
	TaxRate   decimal.Decimal // 0.06 for 6%
	Tax       decimal.Decimal // 税额
}

// ItemFromGross splits a tax-inclusive price (what the customer paid for a
// top-up) into amount and tax at rate: Amount = gross / (1 + rate) rounded to the
// fen (half away from zero, 四舍五入), Tax = gross − Amount, so the two always add
// up to what was paid. Quantity is 1 and UnitPrice equals Amount.
func ItemFromGross(name string, gross, rate decimal.Decimal) Item {
	amount := gross.DivRound(decimal.NewFromInt(1).Add(rate), 10).Round(2)
	return Item{
		Name: name, Unit: "项", Quantity: decimal.NewFromInt(1), UnitPrice: amount,
		Amount: amount, TaxRate: rate, Tax: gross.Sub(amount),
	}
}

// Invoice is everything printed on the copy.
type Invoice struct {
	Kind     Kind
	Number   string    // 发票号码
	Date     time.Time // 开票日期, printed in Asia/Shanghai
	Buyer    Party
	Seller   Party
	Items    []Item
	Remarks  string // 备注
	Issuer   string // 开票人
	Payee    string // 收款人
	Reviewer string // 复核
}

// Totals returns the sums of the items' amounts and taxes, and their sum (价税合计).
func (inv Invoice) Totals() (amount, tax, total decimal.Decimal) {
	for _, it := range inv.Items {
		amount = amount.Add(it.Amount)
		tax = tax.Add(it.Tax)
	}
	return amount, tax, amount.Add(tax)
}

// Errors of Render.
var (
	// ErrInvalid: the invoice misses a required field or its amounts do not add up.
	ErrInvalid = errors.New("invoice pdf: invalid invoice")
	// ErrGlyphMissing: a character to print has no glyph in the embedded font.
	ErrGlyphMissing = errors.New("invoice pdf: character missing from font")
)

// taxTolerance is the largest accepted difference between Amount×TaxRate and
// Tax on one line (the tax authority's ±6 fen tolerance, 误差 ±0.06).
var taxTolerance = decimal.RequireFromString("0.06")

// Validate checks what Render needs; errors wrap ErrInvalid and name the field.
func (inv Invoice) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...)
	}
	switch {
	case inv.Kind != Ordinary && inv.Kind != Special:
		return bad("kind %q", inv.Kind)
	case strings.TrimSpace(inv.Number) == "":
		return bad("invoice number required")
	case inv.Date.IsZero():
		return bad("invoice date required")
	case strings.TrimSpace(inv.Seller.Name) == "" || strings.TrimSpace(inv.Seller.TaxID) == "":
		return bad("seller name and tax id required")
	case strings.TrimSpace(inv.Buyer.Name) == "":
		return bad("buyer name required")
	case len(inv.Items) == 0:
		return bad("at least one item")
	case len(inv.Items) > maxItems:
		return bad("at most %d items on one invoice", maxItems)
	}
	if inv.Kind == Special {
		b := inv.Buyer
		if strings.TrimSpace(b.TaxID) == "" || strings.TrimSpace(b.AddressPhone) == "" || strings.TrimSpace(b.BankAccount) == "" {
			return bad("a special invoice needs the buyer's tax id, address and phone, bank and account")
		}
	}
	for i, it := range inv.Items {
		if strings.TrimSpace(it.Name) == "" {
			return bad("item %d: name required", i+1)
		}
		if !it.Amount.Equal(it.Amount.Round(2)) || !it.Tax.Equal(it.Tax.Round(2)) {
			return bad("item %d: amount and tax must be whole fen", i+1)
		}
		if it.TaxRate.IsNegative() || it.TaxRate.GreaterThanOrEqual(decimal.NewFromInt(1)) {
			return bad("item %d: tax rate %s", i+1, it.TaxRate)
		}
		if it.Amount.Mul(it.TaxRate).Sub(it.Tax).Abs().GreaterThan(taxTolerance) {
			return bad("item %d: tax %s does not match %s × %s", i+1, it.Tax, it.Amount, it.TaxRate)
		}
	}
	_, _, total := inv.Totals()
	if _, err := Capital(total); err != nil {
		return bad("total: %v", err)
	}
	return nil
}

// Render validates inv and returns the PDF bytes of the copy. It returns errors
// wrapping ErrInvalid or ErrGlyphMissing.
func Render(inv Invoice) ([]byte, error) {
	b, _, err := render(inv)
	return b, err
}

// Page geometry, in points, A4 landscape.
const (
	pageW   = 842.0
	pageH   = 595.0
	marginX = 36.0
	boxW    = pageW - 2*marginX
	fontReg = "wqy"
	// maxItems fit on the one page the copy has.
	maxItems = 8
)

var shanghai = format.Shanghai

// doc wraps gopdf, remembering every rune drawn and every rune the font lacks.
type doc struct {
	gp      *gopdf.GoPdf
	size    float64
	drawn   map[rune]bool
	missing map[rune]bool
}

func (d *doc) setSize(size float64) error {
	d.size = size
	return d.gp.SetFont(fontReg, "", size)
}

// text draws s in the box (x, y, w, h) with the given alignment, shrinking the
// font (down to 6 pt) until s fits the width.
func (d *doc) text(x, y, w, h float64, s string, align int) error {
	if s == "" {
		return nil
	}
	for _, r := range s {
		d.drawn[r] = true
	}
	size := d.size
	defer func() { _ = d.setSize(size) }()
	for sz := size; ; sz -= 0.5 {
		if err := d.gp.SetFont(fontReg, "", sz); err != nil {
			return err
		}
		tw, err := d.gp.MeasureTextWidth(s)
		if err != nil {
			return err
		}
		if tw <= w-4 || sz <= 6 {
			break
		}
	}
	d.gp.SetXY(x+2, y)
	return d.gp.CellWithOption(&gopdf.Rect{W: w - 4, H: h}, s, gopdf.CellOption{Align: align | gopdf.Middle})
}

// wrapped draws s over up to n lines in the box, splitting at the width.
func (d *doc) wrapped(x, y, w, h float64, s string, n int) error {
	lines, err := d.gp.SplitText(s, w-4)
	if err != nil || len(lines) <= 1 {
		return d.text(x, y, w, h, s, gopdf.Left)
	}
	if len(lines) > n {
		lines = append(lines[:n-1], strings.Join(lines[n-1:], ""))
	}
	lh := h / float64(len(lines))
	for i, l := range lines {
		if err := d.text(x, y+float64(i)*lh, w, lh, l, gopdf.Left); err != nil {
			return err
		}
	}
	return nil
}

func (d *doc) rect(x, y, w, h float64) {
	d.gp.RectFromUpperLeftWithStyle(x, y, w, h, "D")
}

func (d *doc) line(x1, y1, x2, y2 float64) { d.gp.Line(x1, y1, x2, y2) }

func money(v decimal.Decimal) string { return v.StringFixed(2) }

func rate(v decimal.Decimal) string { return v.Shift(2).String() + "%" }

func optional(v decimal.Decimal) string {
	if v.IsZero() {
		return ""
	}
	return v.String()
}

// render draws the invoice and also returns the set of runes drawn, for tests.
func render(inv Invoice) ([]byte, map[rune]bool, error) {
	if err := inv.Validate(); err != nil {
		return nil, nil, err
	}
	return renderPage(*gopdf.PageSizeA4Landscape, inv.Kind.Title()+" "+inv.Number, func(d *doc) error { return draw(d, inv) })
}

// renderPage starts a one-page document with the embedded font, draws it
// and returns its bytes and the runes drawn; a rune the font lacks fails
// the whole document (ErrGlyphMissing).
func renderPage(size gopdf.Rect, title string, drawPage func(*doc) error) ([]byte, map[rune]bool, error) {
	d := &doc{gp: &gopdf.GoPdf{}, drawn: map[rune]bool{}, missing: map[rune]bool{}}
	d.gp.Start(gopdf.Config{PageSize: size, Unit: gopdf.UnitPT})
	d.gp.SetInfo(gopdf.PdfInfo{Title: title, Creator: "credits"})
	err := d.gp.AddTTFFontDataWithOption(fontReg, fontTTF, gopdf.TtfOption{
		OnGlyphNotFound:           func(r rune) { d.missing[r] = true },
		OnGlyphNotFoundSubstitute: gopdf.DefaultOnGlyphNotFoundSubstitute,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("pdf: font: %w", err)
	}
	d.gp.AddPage()
	if err := drawPage(d); err != nil {
		return nil, nil, fmt.Errorf("pdf: draw: %w", err)
	}
	if len(d.missing) > 0 {
		var rs []string
		for r := range d.missing {
			rs = append(rs, fmt.Sprintf("%q", r))
		}
		return nil, nil, fmt.Errorf("%w: %s", ErrGlyphMissing, strings.Join(rs, " "))
	}
	var buf bytes.Buffer
	if _, err := d.gp.WriteTo(&buf); err != nil {
		return nil, nil, fmt.Errorf("pdf: write: %w", err)
	}
	return buf.Bytes(), d.drawn, nil
}

func draw(d *doc, inv Invoice) error {
	brown := func() { d.gp.SetStrokeColor(150, 80, 40); d.gp.SetTextColor(150, 80, 40) }
	black := func() { d.gp.SetTextColor(20, 20, 20) }
	brown()
	d.gp.SetLineWidth(0.8)

	// Title and header.
	if err := d.setSize(20); err != nil {
		return err
	}
	if err := d.text(marginX, 28, boxW, 30, inv.Kind.Title(), gopdf.Center); err != nil {
		return err
	}
	d.line(pageW/2-150, 60, pageW/2+150, 60)
	d.line(pageW/2-150, 63, pageW/2+150, 63)
	if err := d.setSize(10); err != nil {
		return err
	}
	hx := pageW - marginX - 220
	head := [][2]string{
		{"发票号码：", inv.Number},
		{"开票日期：", inv.Date.In(shanghai).Format("2006年01月02日")},
	}
	for i, kv := range head {
		brown()
		if err := d.text(hx, 30+float64(i)*16, 70, 16, kv[0], gopdf.Left); err != nil {
			return err
		}
		black()
		if err := d.text(hx+66, 30+float64(i)*16, 154, 16, kv[1], gopdf.Left); err != nil {
			return err
		}
	}

	// Buyer and seller side by side.
	top := 80.0
	partyH := 96.0
	half := boxW / 2
	d.rect(marginX, top, boxW, partyH)
	d.line(marginX+half, top, marginX+half, top+partyH)
	for i, p := range []struct {
		label string
		party Party
	}{{"购买方信息", inv.Buyer}, {"销售方信息", inv.Seller}} {
		x := marginX + float64(i)*half
		d.line(x+22, top, x+22, top+partyH)
		brown()
		for j, r := range []rune(p.label) {
			if err := d.text(x, top+8+float64(j)*16, 22, 16, string(r), gopdf.Center); err != nil {
				return err
			}
		}
		rows := [][2]string{
			{"名称：", p.party.Name},
			{"统一社会信用代码/纳税人识别号：", p.party.TaxID},
			{"地址、电话：", p.party.AddressPhone},
			{"开户行及账号：", p.party.BankAccount},
		}
		for j, kv := range rows {
			y := top + 4 + float64(j)*22
			brown()
			lw := 84.0
			if j == 1 {
				lw = 160
			}
			if err := d.text(x+24, y, lw, 22, kv[0], gopdf.Left); err != nil {
				return err
			}
			black()
			if err := d.text(x+24+lw-4, y, half-28-lw, 22, kv[1], gopdf.Left); err != nil {
				return err
			}
		}
	}

	// Items table.
	top += partyH
	cols := []struct {
		title string
		w     float64
		align int
	}{
		{"项目名称", 250, gopdf.Left}, {"规格型号", 70, gopdf.Center}, {"单位", 40, gopdf.Center},
		{"数量", 50, gopdf.Right}, {"单价", 80, gopdf.Right}, {"金额", 90, gopdf.Right},
		{"税率/征收率", 70, gopdf.Center}, {"税额", 0, gopdf.Right},
	}
	used := 0.0
	for _, c := range cols[:len(cols)-1] {
		used += c.w
	}
	cols[len(cols)-1].w = boxW - used
	rowH := 20.0
	itemsH := rowH * float64(maxItems+2)
	d.rect(marginX, top, boxW, itemsH)
	x := marginX
	brown()
	for i, c := range cols {
		if i > 0 {
			d.line(x, top, x, top+itemsH-rowH)
		}
		if err := d.text(x, top, c.w, rowH, c.title, gopdf.Center); err != nil {
			return err
		}
		x += c.w
	}
	d.line(marginX, top+rowH, marginX+boxW, top+rowH)
	black()
	for i, it := range inv.Items {
		y := top + rowH*float64(i+1)
		cells := []string{it.Name, it.Spec, it.Unit, optional(it.Quantity), optional(it.UnitPrice),
			money(it.Amount), rate(it.TaxRate), money(it.Tax)}
		x := marginX
		for j, c := range cols {
			var err error
			if j == 0 {
				err = d.wrapped(x, y, c.w, rowH, cells[j], 2)
			} else {
				err = d.text(x, y, c.w, rowH, cells[j], c.align)
			}
			if err != nil {
				return err
			}
			x += c.w
		}
	}
	amount, tax, total := inv.Totals()
	sumY := top + itemsH - rowH
	d.line(marginX, sumY, marginX+boxW, sumY)
	brown()
	if err := d.text(marginX, sumY, cols[0].w, rowH, "合　　计", gopdf.Center); err != nil {
		return err
	}
	black()
	amountX := marginX + used - cols[len(cols)-2].w - cols[len(cols)-3].w
	if err := d.text(amountX, sumY, cols[5].w, rowH, "¥"+money(amount), gopdf.Right); err != nil {
		return err
	}
	if err := d.text(marginX+used, sumY, cols[7].w, rowH, "¥"+money(tax), gopdf.Right); err != nil {
		return err
	}

	// Total in capitals and figures.
	top += itemsH
	capital, err := Capital(total)
	if err != nil {
		return err
	}
	d.rect(marginX, top, boxW, 26)
	brown()
	if err := d.text(marginX, top, 140, 26, "价税合计（大写）", gopdf.Left); err != nil {
		return err
	}
	if err := d.text(marginX+boxW-240, top, 70, 26, "（小写）", gopdf.Left); err != nil {
		return err
	}
	black()
	if err := d.setSize(11); err != nil {
		return err
	}
	if err := d.text(marginX+140, top, boxW-380, 26, "⊗ "+capital, gopdf.Left); err != nil {
		return err
	}
	if err := d.text(marginX+boxW-175, top, 175, 26, "¥"+money(total), gopdf.Left); err != nil {
		return err
	}
	if err := d.setSize(10); err != nil {
		return err
	}

	// Remarks.
	top += 26
	d.rect(marginX, top, boxW, 50)
	d.line(marginX+22, top, marginX+22, top+50)
	brown()
	for j, r := range []rune("备注") {
		if err := d.text(marginX, top+6+float64(j)*18, 22, 18, string(r), gopdf.Center); err != nil {
			return err
		}
	}
	black()
	if err := d.wrapped(marginX+24, top+2, boxW-26, 46, inv.Remarks, 3); err != nil {
		return err
	}

	// Signatures and the copy notice.
	top += 58
	brown()
	sig := [][2]string{{"收款人：", inv.Payee}, {"复核：", inv.Reviewer}, {"开票人：", inv.Issuer}}
	for i, kv := range sig {
		if err := d.text(marginX+float64(i)*220, top, 220, 18, kv[0]+kv[1], gopdf.Left); err != nil {
			return err
		}
	}
	d.gp.SetTextColor(120, 120, 120)
	if err := d.setSize(8); err != nil {
		return err
	}
	return d.text(marginX, top+22, boxW, 14,
		"本副本由开票方系统生成，供核对使用；发票以全国增值税发票查验平台可查的信息为准。", gopdf.Left)
}

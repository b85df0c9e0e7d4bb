package web_test

import (
	"archive/zip"
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/web/webtest"
)

// xlsxBomb is a small workbook whose sheet unpacks to tens of megabytes.
func xlsxBomb(t *testing.T, rows int) []byte {
	t.Helper()
	var buf bytes.Buffer
	z := zip.NewWriter(&buf)
	w, err := z.Create("xl/worksheets/sheet1.xml")
	require.NoError(t, err)
	fmt.Fprint(w, `<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>`)
	for range rows {
		fmt.Fprint(w, `<row><c><v>1</v></c></row>`)
	}
	fmt.Fprint(w, `</sheetData></worksheet>`)
	require.NoError(t, z.Close())
	return buf.Bytes()
}

// TestImportLimits: a statement past the row limit and an XLSX bomb are
// refused with a message naming the limit, in the user's language, and the
// upload forms state the limits.
func TestImportLimits(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t)
	finance := b.staff(t, "limits", auth.RoleFinance)

	p := finance.Get("/admin/statements")
	require.Contains(t, p.Text(`[data-testid="statement-upload"]`), "文件最大 8 MB，最多 20,000 行。")

	var csv strings.Builder
	csv.WriteString("交易日期,对方户名,贷方金额,摘要,流水号\n")
	for i := range 20_000 {
		fmt.Fprintf(&csv, "2026-12-01,某某科技有限公司,1.00,T%d,S%d\n", i, i)
	}
	r := upload(t, finance, "/admin/statements", "file", "big.csv", []byte(csv.String()))
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
	require.Equal(t, "文件超过 20,000 行的上限，请按日期拆分后再上传。 （所选文件：big.csv，请更正后重新选择。）", r.TestID("error-file"), "the file chosen is named, to be chosen again")

	bomb := xlsxBomb(t, 800_000)
	require.Less(t, len(bomb), 1<<20, "a small upload")
	r = upload(t, finance, "/admin/statements", "file", "bomb.xlsx", bomb)
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
	require.True(t, strings.HasPrefix(r.TestID("error-file"), "XLSX 文件解压后超过 16 MB 的上限，请拆分后再上传。"), r.TestID("error-file"))

	finance.Get("/lang/en")
	r = upload(t, finance, "/admin/channel", "file", "bill.xlsx", bomb)
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
	require.True(t, strings.HasPrefix(r.TestID("error-file"), "The XLSX workbook unpacks to more than the 16 MB limit: split it and upload the parts."), r.TestID("error-file"))
	require.Contains(t, finance.Get("/admin/channel").Text(`[data-testid="bill-upload"]`), "At most 8 MB and 20,000 rows.")
}

// TestImportPagesOnAPhone: both upload pages fit a 390 px screen, in both
// languages, with their limits shown.
func TestImportPagesOnAPhone(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t)
	email := uniqEmail("phonefin")
	const pw = "staff password 1"
	_, err := b.auth.CreateStaff(t.Context(), auth.StaffRequest{Email: email, Password: pw, Name: "财务", Roles: []auth.Role{auth.RoleFinance}})
	require.NoError(t, err)
	ctx := webtest.Browser(t, 60*time.Second)
	webtest.SignIn(t, ctx, b.app.URL, email, pw)
	for _, lang := range []struct{ code, statements, bill string }{
		{"zh-CN", "文件最大 8 MB，最多 20,000 行。", "文件最大 8 MB，最多 20,000 行。"},
		{"en", "At most 8 MB and 20,000 rows.", "At most 8 MB and 20,000 rows."},
	} {
		for _, page := range []struct{ path, form, hint string }{
			{"/admin/statements", `[data-testid="statement-upload"]`, lang.statements},
			{"/admin/channel", `[data-testid="bill-upload"]`, lang.bill},
		} {
			require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.app.URL+"/lang/"+lang.code), chromedp.Navigate(b.app.URL+page.path), chromedp.WaitVisible(chromedp.CSS(page.form))))
			require.Contains(t, webtest.Text(t, ctx, page.form), page.hint, page.path+" "+lang.code)
			webtest.Screenshot(t, ctx, "import"+strings.ReplaceAll(page.path, "/", "-")+"-390-"+lang.code)
			width, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
			require.NoError(t, err)
			wide, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > 391).slice(0, 8).map(e => e.tagName + "." + e.className + "#" + (e.dataset.testid||"") + " " + Math.round(e.getBoundingClientRect().right))`))
			require.LessOrEqual(t, width, 390, page.path+" scrolls sideways on a phone ("+lang.code+"): %v", wide)
		}
	}
}

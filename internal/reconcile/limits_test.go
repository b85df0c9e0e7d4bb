package reconcile

import (
	"archive/zip"
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// bombXLSX writes a workbook of n rows, each a distinct shared string (the
// shape of the 688 KB, 800,000-row statement that took 38 s and 550 MB).
func bombXLSX(t *testing.T, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	z := zip.NewWriter(&buf)
	put := func(name, body string) {
		w, err := z.Create(name)
		require.NoError(t, err)
		_, err = w.Write([]byte(body))
		require.NoError(t, err)
	}
	put("[Content_Types].xml", `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>`)
	put("_rels/.rels", `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`)
	put("xl/workbook.xml", `<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>`)
	put("xl/_rels/workbook.xml.rels", `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>`)
	var sst, sheet strings.Builder
	fmt.Fprintf(&sst, `<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="%d" uniqueCount="%d">`, n, n)
	sheet.WriteString(`<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>`)
	for i := range n {
		fmt.Fprintf(&sst, "<si><t>%d</t></si>", i)
		fmt.Fprintf(&sheet, `<row r="%d"><c r="A%d" t="s"><v>%d</v></c></row>`, i+1, i+1, i)
	}
	sst.WriteString(`</sst>`)
	sheet.WriteString(`</sheetData></worksheet>`)
	put("xl/sharedStrings.xml", sst.String())
	put("xl/worksheets/sheet1.xml", sheet.String())
	require.NoError(t, z.Close())
	return buf.Bytes()
}

// TestLimitsRefuseBombs is not parallel, so the memory it measures is its
// own: the 800,000-row workbook is refused by the row limit having read a
// small part of it, and by the unzip limit before reading any row.
func TestLimitsRefuseBombs(t *testing.T) {
	bomb := bombXLSX(t, 800_000)
	require.Less(t, len(bomb), 8<<20, "small enough to upload")
	var tooLarge *TooLargeError
	allocated := func(f func()) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	mem := allocated(func() {
		_, err := ParseBankStatement(bytes.NewReader(bomb), "bomb.xlsx", Limits{})
		require.ErrorAs(t, err, &tooLarge)
	})
	require.ErrorIs(t, tooLarge, ErrFileTooLarge)
	require.Equal(t, LimitUnzippedBytes, tooLarge.Limit, "refused before a row is read")
	require.Less(t, mem, uint64(64<<20), "allocated refusing the 800,000-row bomb")

	// The largest bomb the unzip limit lets through is refused by the row
	// limit, having parsed its shared strings but not its rows.
	under := bombXLSX(t, 200_000)
	mem = allocated(func() {
		_, err := ParseBankStatement(bytes.NewReader(under), "bomb.xlsx", Limits{})
		require.ErrorAs(t, err, &tooLarge)
	})
	require.Equal(t, LimitRows, tooLarge.Limit)
	require.EqualValues(t, DefaultLimits().MaxRows, tooLarge.Max)
	t.Logf("allocated %d MB refusing the 200,000-row workbook", mem>>20)
	require.Less(t, mem, uint64(512<<20), "allocated (in all, not at once) refusing the workbook under the unzip limit")

	_, err := ParseChannelBill(bytes.NewReader(under), "bill.xlsx", Limits{MaxRows: 1000})
	require.ErrorAs(t, err, &tooLarge)
	require.Equal(t, LimitRows, tooLarge.Limit)

	_, err = ParseBankStatement(bytes.NewReader(bomb), "bomb.xlsx", Limits{MaxFileBytes: 1024})
	require.ErrorAs(t, err, &tooLarge)
	require.Equal(t, LimitFileBytes, tooLarge.Limit)
}

func TestCSVRowLimit(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("交易日期,对方户名,贷方金额,摘要,流水号\n")
	for i := range 11 {
		fmt.Fprintf(&b, "2026-12-01,某某科技有限公司,100.00,T%d,S%d\n", i, i)
	}
	_, err := ParseBankStatement(strings.NewReader(b.String()), "s.csv", Limits{MaxRows: 11})
	var tooLarge *TooLargeError
	require.ErrorAs(t, err, &tooLarge)
	require.Equal(t, LimitRows, tooLarge.Limit)
	require.EqualValues(t, 11, tooLarge.Max)

	lines, err := ParseBankStatement(strings.NewReader(b.String()), "s.csv", Limits{MaxRows: 12})
	require.NoError(t, err, "header and eleven lines fit twelve rows")
	require.Len(t, lines, 11)
}

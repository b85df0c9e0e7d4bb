package identity_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/identity"
)

// today is fixed so birth-date tests do not drift.
var today = time.Date(2025, 6, 1, 12, 0, 0, 0, identity.Shanghai)

func TestParseResidentID(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		in      string
		want    string
		wantErr error
	}{
		{"Valid", "110101199003070011", "110101199003070011", nil},
		{"ValidFemale", "310104198512120023", "310104198512120023", nil},
		{"LeapDay", "440305200002290037", "440305200002290037", nil},
		{"CheckXUpper", "11010519491231002X", "11010519491231002X", nil},
		{"CheckXLowerNormalised", "11010519491231002x", "11010519491231002X", nil},
		{"SpacesAndFullWidth", " １１０１０１ 19900307 0011 ", "110101199003070011", nil},
		{"IdeographicSpace", "110101\u300019900307\u30000011", "110101199003070011", nil},
		{"HongKongResidencePermit", mustBuild(t, "810000", "19800101", 11), "", nil},
		{"TaiwanResidencePermit", mustBuild(t, "830000", "19800101", 12), "", nil},
		{"BornToday", mustBuild(t, "110101", "20250601", 1), "", nil},
		{"Born1900", mustBuild(t, "110101", "19000101", 1), "", nil},

		{"Empty", "", "", identity.ErrIDFormat},
		{"TooShort", "11010119900307001", "", identity.ErrIDFormat},
		{"TooLong", "1101011990030700111", "", identity.ErrIDFormat},
		{"OldFifteenDigit", "110101900307001", "", identity.ErrIDFormat},
		{"LetterInBody", "1101011990O3070011", "", identity.ErrIDFormat},
		{"BadLastChar", "11010119900307001Y", "", identity.ErrIDFormat},
		{"XNotLast", "1101011990030700X1", "", identity.ErrIDFormat},
		{"RegionZero", mustBuild(t, "000000", "19900307", 1), "", identity.ErrIDRegion},
		{"Region16", mustBuild(t, "160101", "19900307", 1), "", identity.ErrIDRegion},
		{"Region99", mustBuild(t, "990101", "19900307", 1), "", identity.ErrIDRegion},
		{"Region72", mustBuild(t, "720000", "19900307", 1), "", identity.ErrIDRegion},
		{"Feb30", checked(t, "11010119990230001"), "", identity.ErrIDBirthDate},
		{"Feb29NonLeap", checked(t, "11010119990229001"), "", identity.ErrIDBirthDate},
		{"Feb29Century", checked(t, "11010119000229001"), "", identity.ErrIDBirthDate},
		{"Month13", checked(t, "11010119901301001"), "", identity.ErrIDBirthDate},
		{"Day00", checked(t, "11010119900100001"), "", identity.ErrIDBirthDate},
		{"Before1900", checked(t, "11010118991231001"), "", identity.ErrIDBirthDate},
		{"Tomorrow", checked(t, "11010120250602001"), "", identity.ErrIDBirthDate},
		{"FarFuture", checked(t, "11010130000101001"), "", identity.ErrIDBirthDate},
		{"WrongCheckDigit", "110101199003070012", "", identity.ErrIDChecksum},
		{"WrongCheckX", "11010119900307001X", "", identity.ErrIDChecksum},
		{"TransposedDigits", "110101199030070011", "", identity.ErrIDBirthDate},
		{"TransposedSequence", "110101199003071001", "", identity.ErrIDChecksum},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := identity.ParseResidentID(tt.in, today)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				require.Equal(t, tt.wantErr.(*identity.ValidationError).Code, identity.Code(err))
				return
			}
			require.NoError(t, err)
			if tt.want != "" {
				require.Equal(t, tt.want, got.Number)
			}
			require.Len(t, got.Number, 18)
		})
	}
}

func TestParseResidentIDFields(t *testing.T) {
	t.Parallel()

	id, err := identity.ParseResidentID("11010519491231002x", today)
	require.NoError(t, err)
	require.Equal(t, "110105", id.Region)
	require.Equal(t, "11", id.Province)
	require.Equal(t, "002", id.Sequence)
	require.Equal(t, identity.Female, id.Sex)
	require.Equal(t, time.Date(1949, 12, 31, 0, 0, 0, 0, time.UTC), id.BirthDate)
	name, ok := identity.ProvinceName(id.Province)
	require.True(t, ok)
	require.Equal(t, "北京", name)
}

// TestBornTodayInShanghai checks "today" is the Asia/Shanghai date: at 23:30 UTC
// on 31 May it is already 1 June in Beijing.
func TestBornTodayInShanghai(t *testing.T) {
	t.Parallel()

	n := mustBuild(t, "110101", "20250601", 1)
	_, err := identity.ParseResidentID(n, time.Date(2025, 5, 31, 23, 30, 0, 0, time.UTC))
	require.NoError(t, err)
	_, err = identity.ParseResidentID(n, time.Date(2025, 5, 31, 15, 30, 0, 0, time.UTC))
	require.ErrorIs(t, err, identity.ErrIDBirthDate)
}

func TestBuildResidentID(t *testing.T) {
	t.Parallel()

	n, err := identity.BuildResidentID("110105", time.Date(1949, 12, 31, 0, 0, 0, 0, time.UTC), 2)
	require.NoError(t, err)
	require.Equal(t, "11010519491231002X", n)

	_, err = identity.BuildResidentID("1101", time.Now(), 1)
	require.ErrorIs(t, err, identity.ErrIDFormat)
	_, err = identity.BuildResidentID("110105", time.Now(), 1000)
	require.ErrorIs(t, err, identity.ErrIDFormat)
}

func TestValidateResidentID(t *testing.T) {
	t.Parallel()

	n, err := identity.ValidateResidentID("11010519491231002x")
	require.NoError(t, err)
	require.Equal(t, "11010519491231002X", n)
	_, err = identity.ValidateResidentID("110101199003070012")
	require.True(t, errors.Is(err, identity.ErrIDChecksum))
}

func TestSandboxFixturesAreValid(t *testing.T) {
	t.Parallel()

	for _, p := range identity.SandboxPeople {
		_, err := identity.ParseResidentID(p.Number, today)
		require.NoError(t, err, p.Name)
	}
	for _, c := range identity.SandboxCompanies {
		_, err := identity.ParseCreditCode(c.Number)
		require.NoError(t, err, c.Name)
	}
}

func mustBuild(t *testing.T, region, birth string, seq int) string {
	t.Helper()
	d, err := time.Parse("20060102", birth)
	require.NoError(t, err)
	n, err := identity.BuildResidentID(region, d, seq)
	require.NoError(t, err)
	return n
}

// checked appends the right check digit to 17 digits whose date may be impossible.
func checked(t *testing.T, first17 string) string {
	t.Helper()
	c, err := identity.ResidentIDCheckDigit(first17)
	require.NoError(t, err)
	return first17 + string(c)
}

func FuzzParseResidentID(f *testing.F) {
	for _, s := range []string{
		"110101199003070011", "11010519491231002x", "11010519491231002X", "110101199003070012",
		"11010119990230001X", "000000199003070011", "１１０１０１１９９００３０７００１１", "", "X", "110101 1990 0307 0011",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := identity.ParseResidentID(s, today)
		if err != nil {
			require.NotEmpty(t, identity.Code(err), "every failure carries a code: %v", err)
			require.Empty(t, id.Number)
			return
		}
		// A valid number is 17 digits and its own check character, and stable under normalisation.
		require.Len(t, id.Number, 18)
		c, err := identity.ResidentIDCheckDigit(id.Number[:17])
		require.NoError(t, err)
		require.Equal(t, c, id.Number[17])
		again, err := identity.ParseResidentID(id.Number, today)
		require.NoError(t, err)
		require.Equal(t, id, again)
		require.False(t, id.BirthDate.After(today))
		masked := identity.MaskID(id.Number)
		require.Equal(t, id.Number[:3]+"***********"+id.Number[14:], masked)
	})
}

// FuzzResidentIDCheckDigit: for any 17 digits, appending the computed check
// character never yields a checksum failure, and any other last character does.
func FuzzResidentIDCheckDigit(f *testing.F) {
	f.Add("11010119900307001", byte('5'))
	f.Add("99999999999999999", byte('X'))
	f.Fuzz(func(t *testing.T, first17 string, other byte) {
		c, err := identity.ResidentIDCheckDigit(first17)
		if err != nil {
			require.ErrorIs(t, err, identity.ErrIDFormat)
			return
		}
		_, err = identity.ParseResidentID(first17+string(c), today)
		require.NotErrorIs(t, err, identity.ErrIDChecksum)
		if other != c && (other >= '0' && other <= '9' || other == 'X') {
			_, err = identity.ParseResidentID(first17+string(other), today)
			require.Error(t, err)
		}
	})
}

// TestResidentIDNeverPrintsInFull: formatting or logging a parsed number shows
// only the masked form.
func TestResidentIDNeverPrintsInFull(t *testing.T) {
	t.Parallel()

	id, err := identity.ParseResidentID("110101199003070011", today)
	require.NoError(t, err)
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("verify", "id", id)
	for _, out := range []string{fmt.Sprint(id), fmt.Sprintf("%+v", id), fmt.Sprintf("%#v", id), fmt.Sprintf("id=%s", id), buf.String()} {
		require.NotContains(t, out, "110101199003070011")
		require.Contains(t, out, "110***********0011")
	}
}

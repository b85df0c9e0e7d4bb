package identity_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/identity"
)

func TestMask(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		got  string
		want string
	}{
		{"ID", identity.MaskID("110101199003071234"), "110***********1234"},
		{"IDLowerX", identity.MaskID("11010519491231002x"), "110***********002X"},
		{"IDFullWidth", identity.MaskID("１１０１０１１９９００３０７１２３４"), "110***********1234"},
		{"IDShortMaskedEntirely", identity.MaskID("1101011990"), "**********"},
		{"IDEmpty", identity.MaskID(""), ""},
		{"CreditCode", identity.MaskCreditCode("91440300708461136T"), "91************136T"},
		{"NameTwo", identity.MaskName("张三"), "张*"},
		{"NameThree", identity.MaskName("张小三"), "张*三"},
		{"NameFour", identity.MaskName("欧阳小明"), "欧**明"},
		{"NameOne", identity.MaskName("张"), "*"},
		{"NameEmpty", identity.MaskName("  "), ""},
		{"Phone", identity.MaskPhone("13812341234"), "138****1234"},
		{"PhoneSpaced", identity.MaskPhone("138 1234 1234"), "138****1234"},
		{"PhoneShort", identity.MaskPhone("12345"), "*****"},
		{"BankAccount", identity.MaskBankAccount("6222 0212 3456 7890 123"), "***************0123"},
		{"BankShort", identity.MaskBankAccount("1234"), "****"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, tt.got)
		})
	}
}

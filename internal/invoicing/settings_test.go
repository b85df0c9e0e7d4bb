package invoicing_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/invoicing"
)

func TestOptionsFromEnv(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	o, err := invoicing.OptionsFromEnv(env(map[string]string{
		"INVOICE_SELLER_NAME": "北京示例云计算有限公司", "INVOICE_SELLER_TAX_ID": "91110108ma01abc125", "INVOICE_TAX_RATE": "0.03",
	}))
	require.NoError(t, err)
	require.Equal(t, "91110108MA01ABC125", o.Seller.TaxID)
	require.Equal(t, "0.03", o.TaxRate.String())
	_, err = invoicing.OptionsFromEnv(env(map[string]string{"INVOICE_SELLER_TAX_ID": "91110108MA01ABC126"}))
	require.ErrorContains(t, err, "INVOICE_SELLER_TAX_ID")
	_, err = invoicing.OptionsFromEnv(env(map[string]string{"INVOICE_TAX_RATE": "6"}))
	require.ErrorContains(t, err, "INVOICE_TAX_RATE")
}

package invoicing

import (
	"fmt"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/identity"
)

// OptionsFromEnv reads the invoicing settings through getenv (os.Getenv):
//
//	INVOICE_SELLER_NAME           our company name (销售方名称)
//	INVOICE_SELLER_TAX_ID         our unified social credit code (checked)
//	INVOICE_SELLER_ADDRESS_PHONE  地址、电话
//	INVOICE_SELLER_BANK_ACCOUNT   开户行及账号
//	INVOICE_SELLER_ISSUER         开票人 (default: the issuing staff member)
//	INVOICE_SELLER_PAYEE          收款人
//	INVOICE_SELLER_REVIEWER       复核
//	INVOICE_TAX_RATE              VAT rate, e.g. 0.06 (default)
//	INVOICE_ITEM_NAME             printed item (default DefaultItemName)
//
// Without a seller name and tax id, only platform PDFs can be issued (Issue
// returns ErrSellerNotConfigured for our own copy). OnIssued is wired in code.
func OptionsFromEnv(getenv func(string) string) (Options, error) {
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }
	o := Options{
		Seller: Seller{
			Name: get("INVOICE_SELLER_NAME"), TaxID: identity.Normalize(get("INVOICE_SELLER_TAX_ID")),
			AddressPhone: get("INVOICE_SELLER_ADDRESS_PHONE"), BankAccount: get("INVOICE_SELLER_BANK_ACCOUNT"),
			Issuer: get("INVOICE_SELLER_ISSUER"), Payee: get("INVOICE_SELLER_PAYEE"), Reviewer: get("INVOICE_SELLER_REVIEWER"),
		},
		ItemName: get("INVOICE_ITEM_NAME"),
	}
	if o.Seller.TaxID != "" {
		if _, err := identity.ParseCreditCode(o.Seller.TaxID); err != nil {
			return o, fmt.Errorf("INVOICE_SELLER_TAX_ID is not a valid unified social credit code (%s)", identity.Code(err))
		}
	}
	if v := get("INVOICE_TAX_RATE"); v != "" {
		r, err := decimal.NewFromString(v)
		if err != nil || !r.IsPositive() || r.GreaterThanOrEqual(decimal.NewFromInt(1)) {
			return o, fmt.Errorf("INVOICE_TAX_RATE must be a fraction such as 0.06, not %q", v)
		}
		o.TaxRate = r
	}
	return o, nil
}

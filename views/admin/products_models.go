package admin

import (
	"github.com/seed75218f88/credits/internal/products"
)

// ProductsView is the product catalogue: each product's latest version,
// the drafts waiting to be published, and the form that starts a new one.
type ProductsView struct {
	Frame    Frame
	Flash    string
	Products []products.Product
	Drafts   []products.Draft
	New      ProductForm
	Errors   Errors
}

// ProductView is one product: its versions (newest first) and the draft
// editor.
type ProductView struct {
	Frame    Frame
	Code     string
	Versions []products.Product
	Draft    *products.Draft
	Form     ProductForm
	Errors   Errors
	Flash    string
}

// ProductForm is the editor's fields as typed.
type ProductForm struct {
	Code, Kind, NameZH, NameEN, DescriptionZH, DescriptionEN   string
	PriceYuan, Credits, CreditDays, JobCount, Days, RefundDays string
	Revision                                                   string
}

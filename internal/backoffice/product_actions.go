package backoffice

// Audit actions of the one-time product catalogue (internal/products),
// recorded by the back office's editor.
const (
	ActionProductDrafted   Action = "product_drafted"   // an admin started a new product's draft
	ActionProductPublished Action = "product_published" // an admin published a product version
)

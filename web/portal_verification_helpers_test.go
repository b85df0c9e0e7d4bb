package web_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/app"
	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/identity"
	"github.com/seed75218f88/credits/internal/invoicing"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/platform/config"
	"github.com/seed75218f88/credits/internal/platform/mail/mailtest"
	"github.com/seed75218f88/credits/internal/pricing"
	"github.com/seed75218f88/credits/internal/ratelimit"
	"github.com/seed75218f88/credits/internal/signup"
	"github.com/seed75218f88/credits/internal/verification"
	"github.com/seed75218f88/credits/web/webtest"
)

// kycBundle is a running server with real verification (sandbox provider),
// payments, invoicing and the gateway API, the way `credits serve` wires
// them, and everything the server logs.
type kycBundle struct {
	app     *webtest.App
	ledger  *ledger.Ledger
	auth    *auth.Service
	verif   *verification.Service
	pay     *payments.Service
	inv     *invoicing.Service
	gw      *gateway.Service
	smtp    *mailtest.Server // set when kycOpts.mail
	logs    *syncBuffer
	sandbox *apiClient // the gateway API with a sandbox (test mode) key
}

type kycOpts struct {
	// mail runs River with the mail worker against a local SMTP server and
	// connects invoicing's OnIssued hook as `credits serve` does. Tests
	// using it must not run in parallel (jobstest).
	mail bool
	// noSeller leaves the seller's details unset: no invoice copy of ours
	// can be generated.
	noSeller bool
}

// kycSeller is our company as printed on generated invoice copies.
var kycSeller = invoicing.Seller{Name: "北京示例云计算有限公司", TaxID: "91110108MA01ABC125",
	AddressPhone: "北京市海淀区中关村大街 1 号 010-62345678", BankAccount: "中国工商银行北京中关村支行 0200001234567890123"}

// verificationBonus is granted once on verification.
var verificationBonus = decimal.NewFromInt(500)

// signupCredit is the promo credit every portal sign-up receives here.
var signupCredit = decimal.NewFromInt(20)

// trialCap is the ledger's trial credit cap in these tests.
var trialCap = decimal.NewFromInt(20)

func setupKYC(t *testing.T, o kycOpts) *kycBundle {
	t.Helper()
	b := &kycBundle{logs: &syncBuffer{}}
	if o.mail {
		b.smtp = mailtest.NewServer(t)
	}
	opts := []webtest.Option{
		webtest.WithLogger(slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		webtest.WithConfig(func(c *config.Config) {
			c.Gateway.TrialCap = trialCap
			c.Verification.Bonus = verification.Bonus{Amount: verificationBonus, ExpiryDays: 365}
			c.Payments.BankAccount = testBank
			c.Invoicing.Seller = kycSeller
			if o.noSeller {
				c.Invoicing.Seller = invoicing.Seller{}
			}
			c.Signup = signup.Settings{Credit: signupCredit, ExpiryDays: 30}
		}),
		webtest.WithOverrides(func(o *app.Overrides) {
			o.Limiter = ratelimit.NewMemory(ratelimit.MemoryOptions{})
			o.KeyCacheTTL = time.Millisecond
			if b.smtp != nil {
				o.Mail = b.smtp.Sender(t)
			}
		}),
	}
	if o.mail {
		// A database of its own, whose jobs the application works: the
		// issued invoice's mail goes out through the SMTP server.
		opts = append(opts, webtest.WithOwnDatabase(), webtest.WithJobs())
	}
	b.app = webtest.Start(t, opts...)
	a := b.app.Services
	b.ledger, b.auth, b.verif, b.pay, b.inv, b.gw = a.Ledger, a.Auth, a.Verification, a.Payments, a.Invoicing, a.Gateway
	_, err := a.Pricing.EnsureDefault(context.Background(), "test", pricing.DefaultCreditPriceRMB)
	require.NoError(t, err)
	_, key, err := b.gw.Keys.Create(context.Background(), ledger.ModeTest, "sandbox "+t.Name())
	require.NoError(t, err)
	b.sandbox = newAPIClient(t, b.app.URL, key)
	return b
}

// syncBuffer collects the server's log lines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// register signs a new individual customer up through the form.
func (b *kycBundle) register(t *testing.T, login string) (*webtest.Client, auth.User) {
	t.Helper()
	c := webtest.NewClient(t, b.app.URL)
	c.Get("/signup")
	p := c.PostForm("/signup", url.Values{"login": {login}, "name": {"Customer"}, "password": {"correct horse 1"}, "password_confirm": {"correct horse 1"}, "consent": {"yes"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	u, err := b.auth.UserByLogin(context.Background(), login)
	require.NoError(t, err)
	return c, u
}

// staff signs a new staff user holding roles in.
func (b *kycBundle) staff(t *testing.T, email string, roles ...auth.Role) *webtest.Client {
	t.Helper()
	_, err := b.auth.CreateStaff(context.Background(), auth.StaffRequest{Email: email, Password: "staff password 1", Name: email, Roles: roles})
	require.NoError(t, err)
	c := webtest.NewClient(t, b.app.URL)
	c.Get("/signin")
	p := c.PostForm("/signin", url.Values{"login": {email}, "password": {"staff password 1"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	return c
}

// paidTopUp makes a bank-transfer top-up of fen and marks it paid.
func (b *kycBundle) paidTopUp(t *testing.T, accountID, fen int64) payments.Order {
	t.Helper()
	ctx := context.Background()
	o, err := b.pay.CreateTransferOrder(ctx, accountID, fen)
	require.NoError(t, err)
	tx, err := b.app.Pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	o, err = b.pay.CompleteTransferOrder(ctx, tx, o.ID, "STMT-"+o.OrderNo, "test")
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	return o
}

var personSeq atomic.Int64

// newPersonID is a valid resident ID number no other test uses (the
// sandbox verifies any valid number with an ordinary sequence code).
func newPersonID(t *testing.T) string {
	t.Helper()
	n := personSeq.Add(1)
	birth := time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(n))
	id, err := identity.BuildResidentID("110101", birth, int(100+n%800))
	require.NoError(t, err)
	return id
}

var companySeq atomic.Int64

// newCreditCode is a valid unified social credit code no other test uses.
func newCreditCode(t *testing.T) string {
	t.Helper()
	n := companySeq.Add(1)
	code, err := identity.BuildCreditCode(fmt.Sprintf("91110108MA%04d%03d", n, 100+n%800))
	require.NoError(t, err)
	return code
}

// pngBytes is a tiny PNG (the sniffed type is what counts).
var pngBytes = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), bytes.Repeat([]byte{0}, 64)...)

// postMultipart posts a multipart form with one file (no file when data is nil).
func postMultipart(t *testing.T, c *webtest.Client, path string, fields map[string]string, fileField, filename string, data []byte) *webtest.Page {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	if fields["_csrf"] == "" {
		require.NoError(t, w.WriteField("_csrf", c.CSRFToken()))
	}
	for k, v := range fields {
		require.NoError(t, w.WriteField(k, v))
	}
	if data != nil {
		fw, err := w.CreateFormFile(fileField, filename)
		require.NoError(t, err)
		_, err = io.Copy(fw, bytes.NewReader(data))
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	req := c.NewRequest(http.MethodPost, path, &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	return c.Do(req)
}

// pdfToText extracts a PDF's text with poppler's pdftotext, once with the
// layout and once with spaces removed (CJK runs may be spaced out).
func pdfToText(t *testing.T, pdf []byte) string {
	t.Helper()
	in := filepath.Join(t.TempDir(), "invoice.pdf")
	require.NoError(t, os.WriteFile(in, pdf, 0o600))
	out, err := exec.Command("pdftotext", "-layout", in, "-").CombinedOutput()
	require.NoError(t, err, string(out))
	return string(out) + "\n" + strings.ReplaceAll(string(out), " ", "")
}

// attr is an attribute of the first matching element ("" when absent).
func attr(sel *goquery.Selection, name string) string {
	v, _ := sel.First().Attr(name)
	return v
}

// val is the value of the named input.
func val(p *webtest.Page, name string) string {
	return attr(p.Doc.Find(`[name="`+name+`"]`), "value")
}

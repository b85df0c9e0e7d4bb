package web_test

import (
	"bytes"
	"context"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	gozxingqr "github.com/makiuchi-d/gozxing/qrcode"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/app"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/payments/alipay"
	"github.com/seed75218f88/credits/internal/payments/paysim"
	"github.com/seed75218f88/credits/internal/payments/wechatpay"
	"github.com/seed75218f88/credits/internal/platform/config"
	"github.com/seed75218f88/credits/internal/signup"
	"github.com/seed75218f88/credits/internal/verification"
	"github.com/seed75218f88/credits/web/webtest"
)

// payKeys are the sandbox's development keys, generated once and kept in
// the system's temporary folder across runs (RSA generation is slow).
var payKeys = sync.OnceValues(func() (paysim.DevKeys, error) {
	return paysim.LoadOrCreateDevKeys(filepath.Join(os.TempDir(), "credits-web-test-paysim"))
})

// testBank is the corporate account the transfer page shows.
var testBank = payments.BankAccount{Name: "上海示例智能科技有限公司", Bank: "招商银行", Branch: "上海张江支行", Number: "1219 0000 0000 888"}

// payBundle is a running server whose payments service talks to a paysim
// sandbox over HTTP; the sandbox's notifies reach the server's
// /pay/notify/... endpoints (or the capture server, see captureNotifies).
type payBundle struct {
	*portalBundle
	sim    *paysim.Server
	simURL string
	wx     *wechatpay.Client
	ali    *alipay.Client
	pay    *payments.Service
	verify *verification.Service
}

// setupPay starts the sandbox and the server; adjust may replace the
// channels or change the options of the payments service.
func setupPay(t *testing.T, adjust ...func(*payments.Channels, *payments.Options)) *payBundle {
	t.Helper()
	return setupPayWith(t, nil, adjust...)
}

// setupPayWith is setupPay with more: it is called with the bundle and the
// application's services once built.
func setupPayWith(t *testing.T, more func(b *payBundle, a *app.App), adjust ...func(*payments.Channels, *payments.Options)) *payBundle {
	t.Helper()
	return setupPayOn(t, nil, more, adjust...)
}

// setupPayOn is setupPayWith on a server started with more options (a
// database of its own, for a test that reads whole back-office lists).
func setupPayOn(t *testing.T, opts []webtest.Option, more func(b *payBundle, a *app.App), adjust ...func(*payments.Channels, *payments.Options)) *payBundle {
	t.Helper()
	keys, err := payKeys()
	require.NoError(t, err)
	b := &payBundle{portalBundle: &portalBundle{}}

	cfg := keys.Config()
	cfg.RetryDelays = []time.Duration{0}
	b.sim = paysim.New(cfg)
	simSrv := httptest.NewServer(b.sim)
	t.Cleanup(simSrv.Close)
	t.Cleanup(b.sim.Wait)
	b.simURL = simSrv.URL

	b.wx, err = keys.WeChatSettings(b.simURL).Client()
	require.NoError(t, err)
	b.ali, err = keys.AlipaySettings(b.simURL).Client()
	require.NoError(t, err)
	ch := payments.Channels{WeChat: payments.WeChatChannel(b.wx), Alipay: payments.AlipayChannel(b.ali, paysim.DevAlipaySeller)}
	b.app = webtest.Start(t, append([]webtest.Option{webtest.WithConfig(func(c *config.Config) {
		c.Payments.BankAccount = testBank
		for _, f := range adjust {
			f(&ch, &c.Payments)
		}
		// No sign-up credit, so every credit on the account comes from top-ups.
		c.Signup = signup.Settings{ExpiryDays: 30}
		c.Invoicing.Seller = kycSeller
	}), webtest.WithOverrides(func(o *app.Overrides) { o.Channels = &ch })}, opts...)...)
	a := b.app.Services
	b.ledger, b.auth, b.pay, b.verify = a.Ledger, a.Auth, a.Payments, a.Verification
	if more != nil {
		more(b, a)
	}
	b.notifyTo(b.app.URL)
	return b
}

// notifyTo points the channels' notify_url at base (for orders created
// from now on: the sandbox keeps each order's notify_url).
func (b *payBundle) notifyTo(base string) {
	b.wx.NotifyURL = base + payments.NotifyPathWeChat
	b.ali.NotifyURL = base + payments.NotifyPathAlipay
}

// customer registers a customer through the form and, unless unverified,
// marks the account verified; it returns the signed-in client and account.
func (b *payBundle) customer(t *testing.T, login string, verified bool) (*webtest.Client, int64) {
	t.Helper()
	c, u := b.register(t, login, "")
	if verified {
		_, err := b.verify.MarkVerifiedExternally(context.Background(), u.AccountID, "test-"+login, "test")
		require.NoError(t, err)
	}
	return c, u.AccountID
}

func (b *payBundle) balance(t *testing.T, acc int64) ledger.Balance {
	t.Helper()
	bal, err := b.ledger.Balance(context.Background(), acc)
	require.NoError(t, err)
	return bal
}

func (b *payBundle) order(t *testing.T, no string) payments.Order {
	t.Helper()
	o, err := b.pay.OrderByNo(context.Background(), no)
	require.NoError(t, err)
	return o
}

// orderUnderReview is a WeChat Pay order of fen for acc that closed and was
// paid anyway, so it waits in needs_review (paid_after_closed).
func (b *payBundle) orderUnderReview(t *testing.T, acc, fen int64) payments.Order {
	t.Helper()
	ctx := context.Background()
	o, err := b.pay.CreateQROrder(ctx, acc, fen, payments.ChannelWeChat)
	require.NoError(t, err)
	_, err = b.pay.ApplyChannelPayment(ctx, payments.ChannelPayment{Channel: payments.ChannelWeChat, OutTradeNo: o.OrderNo,
		State: payments.ChannelClosed, RawState: "CLOSED"}, payments.CauseSync)
	require.NoError(t, err)
	_, err = b.pay.ApplyChannelPayment(ctx, payments.ChannelPayment{Channel: payments.ChannelWeChat, OutTradeNo: o.OrderNo,
		ChannelTradeNo: "wx-late-" + o.OrderNo, State: payments.ChannelPaid, RawState: "SUCCESS", AmountFen: fen, PaidAt: time.Now()}, payments.CauseNotify)
	require.NoError(t, err)
	o = b.order(t, o.OrderNo)
	require.Equal(t, payments.StateNeedsReview, o.State)
	return o
}

func (b *payBundle) verifyLedger(t *testing.T) {
	t.Helper()
	m, err := b.ledger.Verify(context.Background())
	require.NoError(t, err)
	require.Empty(t, m, "ledger verify found mismatches")
}

// captured is one notify as the channel sent it.
type captured struct {
	Header http.Header
	Body   []byte
}

// notifyCapture stands in for our notify endpoint: it keeps what the
// sandbox sends and answers 503, so the test can send it (or a tampered
// copy) to the real endpoint itself.
type notifyCapture struct {
	URL  string
	mu   sync.Mutex
	last map[string]captured
}

func (b *payBundle) captureNotifies(t *testing.T) *notifyCapture {
	t.Helper()
	nc := &notifyCapture{last: map[string]captured{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		nc.mu.Lock()
		nc.last[r.URL.Path] = captured{Header: r.Header.Clone(), Body: body}
		nc.mu.Unlock()
		http.Error(w, "captured by the test", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	nc.URL = srv.URL
	b.notifyTo(srv.URL)
	return nc
}

func (nc *notifyCapture) get(t *testing.T, path string) captured {
	t.Helper()
	nc.mu.Lock()
	defer nc.mu.Unlock()
	got, ok := nc.last[path]
	require.True(t, ok, "no notify captured on %s", path)
	return got
}

// post sends a notify to the server as the channel would.
func (b *payBundle) post(t *testing.T, path string, h http.Header, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.app.URL+path, strings.NewReader(string(body)))
	require.NoError(t, err)
	for k, v := range h {
		if k == "Content-Length" {
			continue
		}
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(got)
}

func requireCredits(t *testing.T, want string, got decimal.Decimal, msg string) {
	t.Helper()
	require.Truef(t, decimal.RequireFromString(want).Equal(got), "%s: want %s, got %s", msg, want, got)
}

// decodeQR reads the text of a QR code PNG with a QR decoder (ZXing's Go
// port), independent of the library that drew it.
func decodeQR(t *testing.T, b []byte) string {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	require.NoError(t, err)
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	require.NoError(t, err)
	res, err := gozxingqr.NewQRCodeReader().Decode(bmp, nil)
	require.NoError(t, err)
	return res.GetText()
}

package payments_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/payments/alipay"
	"github.com/seed75218f88/credits/internal/payments/paysim"
	"github.com/seed75218f88/credits/internal/payments/wechatpay"
	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// devKeys are generated once for the package (RSA generation is slow).
var devKeys = sync.OnceValues(func() (paysim.DevKeys, error) {
	dir, err := os.MkdirTemp("", "payments-test-*")
	if err != nil {
		return paysim.DevKeys{}, err
	}
	return paysim.LoadOrCreateDevKeys(dir)
})

// clock is real time shifted by a movable offset, so that signatures and
// the sandbox stay valid while tests move our side forward.
type clock struct{ off atomic.Int64 }

func (c *clock) Now() time.Time      { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) Add(d time.Duration) { c.off.Add(int64(d)) }

// notified is one notify request as our endpoint received it.
type notified struct {
	Path   string
	Header http.Header
	Body   []byte
}

// notifyServer is our notify endpoint as the web layer will write it: read
// the body, call the service, answer by the error.
type notifyServer struct {
	svc  *payments.Service
	drop atomic.Bool // when set, record the request and answer 503 without applying it

	mu       sync.Mutex
	received []notified
	outcomes []payments.NotifyOutcome
	errs     []error
}

func (n *notifyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	n.mu.Lock()
	n.received = append(n.received, notified{Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	n.mu.Unlock()
	if n.drop.Load() {
		http.Error(w, "dropped by the test", http.StatusServiceUnavailable)
		return
	}
	var out payments.NotifyOutcome
	var err error
	switch r.URL.Path {
	case payments.NotifyPathWeChat:
		out, err = n.svc.HandleWeChatNotify(r.Context(), r.Header, body)
	case payments.NotifyPathAlipay:
		var form url.Values
		if form, err = url.ParseQuery(string(body)); err == nil {
			out, err = n.svc.HandleAlipayNotify(r.Context(), form)
		}
	default:
		http.NotFound(w, r)
		return
	}
	n.mu.Lock()
	n.outcomes = append(n.outcomes, out)
	if err != nil {
		n.errs = append(n.errs, err)
	}
	n.mu.Unlock()
	switch {
	case err == nil && r.URL.Path == payments.NotifyPathAlipay:
		alipay.AnswerSuccess(w)
	case err == nil:
		wechatpay.AnswerSuccess(w)
	case errors.Is(err, payments.ErrBadSignature):
		http.Error(w, "bad signature", http.StatusUnauthorized)
	case errors.Is(err, payments.ErrMalformedNotify):
		http.Error(w, "malformed", http.StatusBadRequest)
	default:
		http.Error(w, "try again", http.StatusInternalServerError)
	}
}

// last returns the last notify received on path.
func (n *notifyServer) last(t *testing.T, path string) notified {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := len(n.received) - 1; i >= 0; i-- {
		if n.received[i].Path == path {
			return n.received[i]
		}
	}
	t.Fatalf("no notify on %s", path)
	return notified{}
}

type setupOpts struct {
	opts payments.Options
	// wrap replaces a channel (e.g. to place a different amount at the channel).
	wrapWeChat, wrapAlipay func(payments.QRChannel) payments.QRChannel
	alipaySeller           string // expected seller id (default the sandbox's)
	// ownDB gives the test a database of its own: for sweeps over every
	// pending refund, which must not meet the package's other tests' rows.
	ownDB bool
	// maxConns, when set, gives the test a pool of at most that many
	// connections on the package's database (for pool exhaustion).
	maxConns int32
	// plans wires plan, renewal and upgrade orders to real subscriptions
	// (b.subs) as app.Build does (Options.UsePlans).
	plans bool
}

type testBundle struct {
	ctx       context.Context
	pool      *pgxpool.Pool
	l         *ledger.Ledger
	clock     *clock
	sim       *paysim.Server
	simURL    string
	wx        *wechatpay.Client
	ali       *alipay.Client
	svc       *payments.Service
	subs      *plans.Subscriptions // with setupOpts.plans
	notify    *notifyServer
	notifyURL string
}

// setup starts the sandbox and our notify endpoint, and builds the service
// with channel clients made from the sandbox's settings.
func setup(t *testing.T, so setupOpts) *testBundle {
	t.Helper()
	keys, err := devKeys()
	require.NoError(t, err)
	b := &testBundle{ctx: context.Background(), clock: &clock{}}
	switch {
	case so.ownDB:
		b.pool, _ = dbtest.Own(t)
	case so.maxConns > 0:
		cfg, err := pgxpool.ParseConfig(dbtest.URL(t))
		require.NoError(t, err)
		cfg.MaxConns = so.maxConns
		b.pool, err = pgxpool.NewWithConfig(b.ctx, cfg)
		require.NoError(t, err)
		t.Cleanup(b.pool.Close)
	default:
		b.pool = dbtest.Pool(t)
	}

	cfg := keys.Config()
	cfg.RetryDelays = []time.Duration{0}
	b.sim = paysim.New(cfg)
	simSrv := httptest.NewServer(b.sim)
	t.Cleanup(simSrv.Close)
	t.Cleanup(b.sim.Wait)
	b.simURL = simSrv.URL

	b.notify = &notifyServer{}
	notifySrv := httptest.NewServer(b.notify)
	t.Cleanup(notifySrv.Close)
	b.notifyURL = notifySrv.URL

	ch, err := payments.BuildChannels(keys.WeChatSettings(b.simURL), keys.AlipaySettings(b.simURL), b.notifyURL, nil)
	require.NoError(t, err)
	b.wx, err = keys.WeChatSettings(b.simURL).Client()
	require.NoError(t, err)
	b.ali, err = keys.AlipaySettings(b.simURL).Client()
	require.NoError(t, err)
	if so.alipaySeller != "" {
		ali, err := keys.AlipaySettings(b.simURL).Client()
		require.NoError(t, err)
		ali.NotifyURL = b.notifyURL + payments.NotifyPathAlipay
		ch.Alipay = payments.AlipayChannel(ali, so.alipaySeller)
	}
	if so.wrapWeChat != nil {
		ch.WeChat = so.wrapWeChat(ch.WeChat)
	}
	if so.wrapAlipay != nil {
		ch.Alipay = so.wrapAlipay(ch.Alipay)
	}

	b.l = ledger.New(b.pool, ledger.Options{Now: b.clock.Now})
	t.Cleanup(b.l.Close)
	opts := so.opts
	if opts.Now == nil {
		opts.Now = b.clock.Now
	}
	if !opts.BankAccount.Configured() { // bank transfer needs a receiving account
		opts.BankAccount = payments.DemoBankAccount
	}
	if so.plans {
		b.subs = plans.NewSubscriptions(b.pool, b.l, plans.Options{Now: b.clock.Now})
		opts.UsePlans(b.subs)
	}
	b.svc = payments.New(b.pool, b.l, ch, opts)
	b.notify.svc = b.svc
	return b
}

func (b *testBundle) account(t *testing.T) int64 {
	t.Helper()
	a, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual, Name: t.Name()})
	require.NoError(t, err)
	return a.ID
}

// confirm pays the order at the sandbox, which delivers the notify.
func (b *testBundle) confirm(t *testing.T, o payments.Order) paysim.Delivery {
	t.Helper()
	d, err := b.sim.Confirm(b.ctx, string(o.Channel), o.OrderNo)
	require.NoError(t, err)
	return d
}

func (b *testBundle) order(t *testing.T, o payments.Order) payments.Order {
	t.Helper()
	got, err := b.svc.OrderByNo(b.ctx, o.OrderNo)
	require.NoError(t, err)
	return got
}

// byKind returns the account's available credit of a lot kind.
func (b *testBundle) byKind(t *testing.T, acc int64, k ledger.LotKind) decimal.Decimal {
	t.Helper()
	bal, err := b.l.Balance(b.ctx, acc)
	require.NoError(t, err)
	return bal.ByKind[k]
}

func (b *testBundle) lots(t *testing.T, acc int64) []ledger.Lot {
	t.Helper()
	lots, err := b.l.Lots(b.ctx, acc)
	require.NoError(t, err)
	return lots
}

func (b *testBundle) verifyClean(t *testing.T) {
	t.Helper()
	m, err := b.l.Verify(b.ctx)
	require.NoError(t, err)
	require.Empty(t, m, "ledger verify found mismatches")
}

func (b *testBundle) causes(t *testing.T, o payments.Order) []string {
	t.Helper()
	tr, err := b.svc.Transitions(b.ctx, o.ID)
	require.NoError(t, err)
	var out []string
	for _, x := range tr {
		from := "-"
		if x.From != nil {
			from = string(*x.From)
		}
		out = append(out, from+">"+string(x.To)+":"+x.Cause)
	}
	return out
}

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func requireDec(t *testing.T, want string, got decimal.Decimal, msg ...any) {
	t.Helper()
	require.Truef(t, d(want).Equal(got), "want %s, got %s %v", want, got, msg)
}

// shortPaid sets up a bundle whose WeChat Pay orders are placed 1 fen short
// at the channel, and pays one of fen there for a new account: the
// mismatch waits in needs_review, its notify acknowledged (retrying cannot
// fix it).
func shortPaid(t *testing.T, fen int64) (*testBundle, int64, payments.Order) {
	t.Helper()
	b := setup(t, setupOpts{wrapWeChat: func(c payments.QRChannel) payments.QRChannel { return amountShift{c, -1} }})
	acc := b.account(t)
	o, err := b.svc.CreateQROrder(b.ctx, acc, fen, payments.ChannelWeChat)
	require.NoError(t, err)
	require.True(t, b.confirm(t, o).Acked, "a mismatch is acknowledged: retrying cannot fix it")
	require.Equal(t, payments.StateNeedsReview, b.order(t, o).State)
	return b, acc, o
}

// amountShift places orders at the channel with a different amount than
// ours, as a bug or a tampering in between would.
type amountShift struct {
	payments.QRChannel
	deltaFen int64
}

func (a amountShift) CreateQR(ctx context.Context, o payments.QROrder) (string, error) {
	o.AmountFen += a.deltaFen
	return a.QRChannel.CreateQR(ctx, o)
}

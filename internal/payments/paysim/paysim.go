// Package paysim is the channel sandbox: an HTTP server that speaks the
// server side of WeChat Pay API v3 (Native and H5) and of the Alipay gateway
// (当面付 and 手机网站支付) with its own keys. It checks our request signatures, keeps orders in
// memory, signs its answers as the providers do, serves a "scan to pay" page
// per order whose Confirm button pays it, and then sends correctly signed
// (and, for WeChat Pay, encrypted) notifies to the notify_url of the order,
// retrying when they are not acknowledged.
//
// Routes:
//
//	POST /v3/pay/transactions/native                     WeChat Pay: create a Native order
//	POST /v3/pay/transactions/h5                         WeChat Pay: create an H5 order (answer h5_url)
//	GET  /v3/pay/transactions/out-trade-no/{no}?mchid=   WeChat Pay: query
//	POST /v3/pay/transactions/out-trade-no/{no}/close    WeChat Pay: close
//	POST /v3/refund/domestic/refunds                     WeChat Pay: refund
//	GET  /v3/refund/domestic/refunds/{no}                WeChat Pay: query a refund
//	POST /gateway.do                                     Alipay: precreate, query, close, refund
//	GET  /gateway.do?method=alipay.trade.wap.pay&…       Alipay WAP (also a posted form): the cashier
//	GET  /pay/{channel}/{no}                             the page the QR code points at
//	POST /pay/{channel}/{no}/confirm                     its Confirm button (303 back to the page)
//	GET  /h5/{channel}/{no}                              the phone cashier (h5_url, WAP)
//	POST /h5/{channel}/{no}/confirm                      its Confirm button (303 to redirect_url / return_url)
//	POST /sim/{channel}/{no}/confirm                     pay and deliver the notify now (JSON, for tests)
//	POST /sim/{channel}/{no}/replay[?fresh=1]            re-send the last notify (JSON, for tests)
//	GET  /sim/keys                                       the sandbox's public keys and ids (JSON)
//	GET  /                                               a list of the orders and agreements
//
// Agreement payments (signing page, debits, unsigning): see agreement.go.
//
// {channel} is "wechat" or "alipay".
package paysim

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Channel names used in the sandbox's URLs.
const (
	ChannelWeChat = "wechat"
	ChannelAlipay = "alipay"
)

// WeChatConfig is the sandbox's WeChat Pay side.
type WeChatConfig struct {
	MchID string // the one merchant accepted
	AppID string // the one appid accepted
	// MerchantPublicKeys maps the merchant certificate serial our requests
	// name in serial_no to the merchant's public key.
	MerchantPublicKeys map[string]*rsa.PublicKey
	PlatformKey        *rsa.PrivateKey // signs answers and notifies
	PlatformSerial     string
	APIv3Key           []byte // encrypts notify resources
}

// AlipayConfig is the sandbox's Alipay side.
type AlipayConfig struct {
	AppID        string
	SellerID     string          // the merchant's 2088… user id, sent in notifies
	AppPublicKey *rsa.PublicKey  // verifies our requests
	AlipayKey    *rsa.PrivateKey // signs answers and notifies
}

// Config configures the sandbox.
type Config struct {
	WeChat WeChatConfig
	Alipay AlipayConfig
	// BaseURL is the sandbox's public URL, used in code_url and qr_code;
	// empty means http://<Host of the creating request>.
	BaseURL string
	// HTTPClient sends notifies (default: 10 s timeout).
	HTTPClient *http.Client
	// RetryDelays are the waits before each notify attempt (default 0, 1 s,
	// 3 s, 10 s: four attempts).
	RetryDelays []time.Duration
	Now         func() time.Time
	Logger      *slog.Logger
	// AgreementDebitLimitFen is the channel's per-debit limit of agreement
	// payments (0: none); a larger debit fails as "limit exceeded".
	AgreementDebitLimitFen int64
}

// Server is the sandbox; it is an http.Handler.
type Server struct {
	cfg    Config
	mux    *http.ServeMux
	mu     sync.Mutex
	wechat map[string]*wxOrder
	alipay map[string]*aliOrder
	// agreements are keyed by agreementKey(channel, our number).
	agreements map[string]*simAgreement
	seq        int64
	pending    sync.WaitGroup
}

// New builds the sandbox from cfg.
func New(cfg Config) *Server {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.RetryDelays == nil {
		cfg.RetryDelays = []time.Duration{0, time.Second, 3 * time.Second, 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), wechat: map[string]*wxOrder{}, alipay: map[string]*aliOrder{}, agreements: map[string]*simAgreement{}}
	s.mux.HandleFunc("POST /v3/pay/transactions/native", s.wxNative)
	s.mux.HandleFunc("GET /v3/pay/transactions/out-trade-no/{no}", s.wxQuery)
	s.mux.HandleFunc("POST /v3/pay/transactions/out-trade-no/{no}/close", s.wxClose)
	s.mux.HandleFunc("POST /v3/refund/domestic/refunds", s.wxRefund)
	s.mux.HandleFunc("GET /v3/refund/domestic/refunds/{no}", s.wxQueryRefund)
	s.mux.HandleFunc("POST /v3/pay/transactions/h5", s.wxH5)
	s.mux.HandleFunc("POST /gateway.do", s.aliGateway)
	s.mux.HandleFunc("GET /gateway.do", s.aliGateway)
	s.mux.HandleFunc("GET /h5/{channel}/{no}", s.phonePage)
	s.mux.HandleFunc("POST /h5/{channel}/{no}/confirm", s.phoneConfirm)
	s.mux.HandleFunc("GET /pay/{channel}/{no}", s.payPage)
	s.mux.HandleFunc("POST /pay/{channel}/{no}/confirm", s.payConfirm)
	s.mux.HandleFunc("POST /sim/{channel}/{no}/confirm", s.simConfirm)
	s.mux.HandleFunc("POST /sim/{channel}/{no}/replay", s.simReplay)
	s.mux.HandleFunc("GET /sim/keys", s.simKeys)
	s.mux.HandleFunc("GET /{$}", s.index)
	s.registerAgreementRoutes()
	return s
}

// ServeHTTP serves the sandbox's routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Wait blocks until notifies sent in the background (after a Confirm button)
// are done; tests and shutdown use it.
func (s *Server) Wait() { s.pending.Wait() }

// Errors of the sandbox's own operations.
var (
	// ErrNoOrder: no order with that number on that channel.
	ErrNoOrder = errors.New("paysim: no such order")
	// ErrNotPayable: the order is paid, closed or expired.
	ErrNotPayable = errors.New("paysim: order cannot be paid")
	// ErrNoNotify: nothing has been sent for that order yet.
	ErrNoNotify = errors.New("paysim: no notify sent yet")
)

// notice is one notify message, kept so that it can be replayed.
type notice struct {
	URL         string
	ContentType string
	Header      http.Header
	Body        []byte
	// resign rebuilds the message with a fresh timestamp and signature.
	resign func() (*notice, error)
}

// Delivery reports how a notify went.
type Delivery struct {
	URL        string `json:"url"`
	Attempts   int    `json:"attempts"`
	Status     int    `json:"status"` // HTTP status of the last attempt (0: no answer)
	Answer     string `json:"answer"` // body of the last answer (first 200 bytes)
	Acked      bool   `json:"acked"`
	LastErrMsg string `json:"error,omitempty"`
}

// deliver posts n until the receiver acknowledges it or the attempts run
// out. ack decides what counts as an acknowledgement for the channel.
func (s *Server) deliver(ctx context.Context, n *notice, ack func(status int, body []byte) bool) Delivery {
	d := Delivery{URL: n.URL}
	if n.URL == "" {
		d.LastErrMsg = "order has no notify_url"
		return d
	}
	for _, wait := range s.cfg.RetryDelays {
		if wait > 0 {
			select {
			case <-ctx.Done():
				d.LastErrMsg = ctx.Err().Error()
				return d
			case <-time.After(wait):
			}
		}
		d.Attempts++
		status, body, err := s.post(ctx, n)
		d.Status, d.Answer = status, string(body[:min(len(body), 200)])
		if err != nil {
			d.LastErrMsg = err.Error()
		} else {
			d.LastErrMsg = ""
		}
		if err == nil && ack(status, body) {
			d.Acked = true
			break
		}
	}
	s.cfg.Logger.Info("paysim: notify", "url", d.URL, "attempts", d.Attempts, "status", d.Status, "acked", d.Acked)
	return d
}

func (s *Server) post(ctx context.Context, n *notice) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.URL, bytes.NewReader(n.Body))
	if err != nil {
		return 0, nil, err
	}
	for k, v := range n.Header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", n.ContentType)
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, b, err
}

// Confirm pays an order as if the customer had confirmed in the app, and
// delivers its notify before returning. Errors: ErrNoOrder, ErrNotPayable.
func (s *Server) Confirm(ctx context.Context, channel, outTradeNo string) (Delivery, error) {
	n, ack, err := s.pay(channel, outTradeNo)
	if err != nil {
		return Delivery{}, err
	}
	return s.deliver(ctx, n, ack), nil
}

// Replay sends the last notify of an order again: byte for byte, or with a
// fresh timestamp and signature when fresh is true. Errors: ErrNoOrder,
// ErrNoNotify.
func (s *Server) Replay(ctx context.Context, channel, outTradeNo string, fresh bool) (Delivery, error) {
	s.mu.Lock()
	var last *notice
	var ack func(int, []byte) bool
	switch channel {
	case ChannelWeChat:
		o, ok := s.wechat[outTradeNo]
		if !ok {
			s.mu.Unlock()
			return Delivery{}, ErrNoOrder
		}
		last, ack = o.last, wxAck
	case ChannelAlipay:
		o, ok := s.alipay[outTradeNo]
		if !ok {
			s.mu.Unlock()
			return Delivery{}, ErrNoOrder
		}
		last, ack = o.last, aliAck
	default:
		s.mu.Unlock()
		return Delivery{}, ErrNoOrder
	}
	s.mu.Unlock()
	if last == nil {
		return Delivery{}, ErrNoNotify
	}
	if fresh && last.resign != nil {
		var err error
		if last, err = last.resign(); err != nil {
			return Delivery{}, err
		}
	}
	return s.deliver(ctx, last, ack), nil
}

// pay marks the order paid and builds its notify.
func (s *Server) pay(channel, outTradeNo string) (*notice, func(int, []byte) bool, error) {
	switch channel {
	case ChannelWeChat:
		n, err := s.wxPay(outTradeNo)
		return n, wxAck, err
	case ChannelAlipay:
		n, err := s.aliPay(outTradeNo)
		return n, aliAck, err
	}
	return nil, nil, ErrNoOrder
}

func (s *Server) simConfirm(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 2*time.Minute)
	defer cancel()
	d, err := s.Confirm(ctx, r.PathValue("channel"), r.PathValue("no"))
	writeSimResult(w, d, err)
}

func (s *Server) simReplay(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 2*time.Minute)
	defer cancel()
	d, err := s.Replay(ctx, r.PathValue("channel"), r.PathValue("no"), r.URL.Query().Get("fresh") != "")
	writeSimResult(w, d, err)
}

func writeSimResult(w http.ResponseWriter, d Delivery, err error) {
	switch {
	case errors.Is(err, ErrNoOrder):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
	case errors.Is(err, ErrNotPayable), errors.Is(err, ErrNoNotify):
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
	default:
		writeJSON(w, http.StatusOK, d)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// baseURL is where the pay pages are reachable.
func (s *Server) baseURL(r *http.Request) string {
	if s.cfg.BaseURL != "" {
		return strings.TrimRight(s.cfg.BaseURL, "/")
	}
	return "http://" + r.Host
}

// nextID returns a per-server sequence number for channel-side ids.
func (s *Server) nextID() int64 {
	s.seq++
	return s.seq
}

func (s *Server) now() time.Time { return s.cfg.Now() }

var errBodyTooLarge = fmt.Errorf("paysim: body too large")

func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20+1))
	if err == nil && len(b) > 1<<20 {
		return nil, errBodyTooLarge
	}
	return b, err
}

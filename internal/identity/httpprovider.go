package identity

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// HTTPProvider is a Provider speaking GIV/1, a generic signed JSON protocol that
// stands in for a commercial verification service (the contract of such services
// is similar: an app key and secret, HMAC-signed requests, a match verdict). An
// adapter for a real vendor would translate the same Result.
//
// # GIV/1 protocol
//
// Requests are POSTs of a UTF-8 JSON body to the configured endpoint plus
//
//	/v1/person/verify    {"name": "张三", "id_number": "110101199003070011"}
//	/v1/company/verify   {"name": "…", "credit_code": "…", "legal_representative": "…"}
//
// with these headers:
//
//	X-Giv-App-Key    the app key
//	X-Giv-Timestamp  Unix time in seconds
//	X-Giv-Nonce      32 lower-case hex characters, never reused
//	X-Giv-Signature  base64(HMAC-SHA256(app secret, canonical request))
//
// The canonical request is five lines, each ending in "\n":
//
//	POST
//	/base/v1/person/verify        (the URL path as sent, no query)
//	1735689600                    (X-Giv-Timestamp)
//	0123456789abcdef0123456789abcdef   (X-Giv-Nonce)
//	hex(SHA-256(body)), lower case
//
// The server refuses with 401 a bad signature, a timestamp more than 300 s from
// its clock, or a nonce it has seen in that window. A 200 reply is JSON
//
//	{"request_id": "…", "result": "match|mismatch|not_found|deregistered|legal_rep_mismatch|unknown"}
//
// signed by the server with X-Giv-Timestamp and X-Giv-Signature =
// base64(HMAC-SHA256(app secret, canonical response)), where the canonical
// response is "RESPONSE\n" + HTTP status + "\n" + timestamp + "\n" + the
// request's nonce + "\n" + hex(SHA-256(reply body)) + "\n". Binding the request
// nonce stops a recorded reply from being replayed to another request. Every
// other status, an unsigned or badly signed reply, or an unknown result is
// treated as no answer (ErrProviderUnavailable).
type HTTPProvider struct {
	endpoint *url.URL
	appKey   string
	secret   []byte
	client   *http.Client
	now      func() time.Time
}

// HTTPConfig configures an HTTPProvider.
type HTTPConfig struct {
	// Endpoint is the base URL, e.g. https://verify.example.com/giv. It must be
	// https, except http to a loopback address (tests, local fakes).
	Endpoint  string
	AppKey    string
	AppSecret string
	// Client defaults to an http.Client with a 10 s timeout.
	Client *http.Client
	// Now defaults to time.Now.
	Now func() time.Time
}

// GIV/1 header names and limits.
const (
	HeaderAppKey    = "X-Giv-App-Key"
	HeaderTimestamp = "X-Giv-Timestamp"
	HeaderNonce     = "X-Giv-Nonce"
	HeaderSignature = "X-Giv-Signature"
	// GIVMaxSkew is the largest clock difference either side accepts.
	GIVMaxSkew = 300 * time.Second
)

// NewHTTPProvider validates cfg and returns the provider. Errors describe the
// setting at fault.
func NewHTTPProvider(cfg HTTPConfig) (*HTTPProvider, error) {
	u, err := url.Parse(strings.TrimRight(cfg.Endpoint, "/"))
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("identity: verification endpoint %q is not an absolute URL", cfg.Endpoint)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())) {
		return nil, fmt.Errorf("identity: verification endpoint must use https (http only to loopback)")
	}
	if cfg.AppKey == "" || len(cfg.AppSecret) < 16 {
		return nil, errors.New("identity: verification app key required and app secret of at least 16 characters")
	}
	p := &HTTPProvider{endpoint: u, appKey: cfg.AppKey, secret: []byte(cfg.AppSecret), client: cfg.Client, now: cfg.Now}
	if p.client == nil {
		p.client = &http.Client{Timeout: 10 * time.Second}
	}
	if p.now == nil {
		p.now = time.Now
	}
	return p, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CanonicalRequest builds the GIV/1 string to sign for a request.
func CanonicalRequest(method, path, timestamp, nonce string, body []byte) string {
	sum := sha256.Sum256(body)
	return method + "\n" + path + "\n" + timestamp + "\n" + nonce + "\n" + hex.EncodeToString(sum[:]) + "\n"
}

// CanonicalResponse builds the GIV/1 string the server signs for its reply.
func CanonicalResponse(status int, timestamp, requestNonce string, body []byte) string {
	sum := sha256.Sum256(body)
	return "RESPONSE\n" + strconv.Itoa(status) + "\n" + timestamp + "\n" + requestNonce + "\n" + hex.EncodeToString(sum[:]) + "\n"
}

// SignGIV returns base64(HMAC-SHA256(secret, canonical)).
func SignGIV(secret []byte, canonical string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(canonical))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

type givReply struct {
	RequestID string `json:"request_id"`
	Result    string `json:"result"`
}

// VerifyPerson implements Provider. Errors wrap ErrProviderUnavailable (or are ctx errors).
func (p *HTTPProvider) VerifyPerson(ctx context.Context, name, idNumber string) (Result, error) {
	return p.call(ctx, "/v1/person/verify", map[string]string{"name": strings.TrimSpace(name), "id_number": Normalize(idNumber)})
}

// VerifyCompany implements Provider. Errors wrap ErrProviderUnavailable (or are ctx errors).
func (p *HTTPProvider) VerifyCompany(ctx context.Context, name, creditCode, legalRep string) (Result, error) {
	return p.call(ctx, "/v1/company/verify", map[string]string{
		"name": strings.TrimSpace(name), "credit_code": Normalize(creditCode), "legal_representative": strings.TrimSpace(legalRep),
	})
}

func (p *HTTPProvider) call(ctx context.Context, suffix string, payload map[string]string) (Result, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return Result{}, fmt.Errorf("identity: verify: %w", err)
	}
	u := *p.endpoint
	u.Path += suffix
	u.RawPath = ""
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return Result{}, fmt.Errorf("identity: verify: %w", err)
	}
	nonce := hex.EncodeToString(raw[:])
	ts := strconv.FormatInt(p.now().Unix(), 10)

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return Result{}, fmt.Errorf("identity: verify: %w", err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set(HeaderAppKey, p.appKey)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderNonce, nonce)
	req.Header.Set(HeaderSignature, SignGIV(p.secret, CanonicalRequest(http.MethodPost, req.URL.EscapedPath(), ts, nonce, body)))

	resp, err := p.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
		return Result{}, fmt.Errorf("%w: %w", ErrProviderUnavailable, err)
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return Result{}, fmt.Errorf("%w: reading reply: %w", ErrProviderUnavailable, err)
	}
	if resp.StatusCode != http.StatusOK {
		return Result{}, fmt.Errorf("%w: HTTP %d", ErrProviderUnavailable, resp.StatusCode)
	}
	if err := p.checkReply(resp, nonce, reply); err != nil {
		return Result{}, err
	}
	var r givReply
	if err := json.Unmarshal(reply, &r); err != nil {
		return Result{}, fmt.Errorf("%w: reply is not GIV/1 JSON", ErrProviderUnavailable)
	}
	res := Result{Reference: r.RequestID}
	switch r.Result {
	case "match":
		res.Status = StatusVerified
	case "mismatch":
		res.Status, res.Reason = StatusRejected, ReasonNameMismatch
	case "not_found":
		res.Status, res.Reason = StatusRejected, ReasonNotFound
	case "deregistered":
		res.Status, res.Reason = StatusRejected, ReasonDeregistered
	case "legal_rep_mismatch":
		res.Status, res.Reason = StatusRejected, ReasonLegalRep
	case "unknown":
		res.Status, res.Reason = StatusUndecided, ReasonManualReview
	default:
		return Result{}, fmt.Errorf("%w: unknown result %q", ErrProviderUnavailable, r.Result)
	}
	return res, nil
}

func (p *HTTPProvider) checkReply(resp *http.Response, nonce string, body []byte) error {
	ts := resp.Header.Get(HeaderTimestamp)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: reply has no timestamp", ErrProviderUnavailable)
	}
	if d := p.now().Sub(time.Unix(sec, 0)); d > GIVMaxSkew || d < -GIVMaxSkew {
		return fmt.Errorf("%w: reply timestamp off by %s", ErrProviderUnavailable, d)
	}
	want := SignGIV(p.secret, CanonicalResponse(resp.StatusCode, ts, nonce, body))
	if !hmac.Equal([]byte(want), []byte(resp.Header.Get(HeaderSignature))) {
		return fmt.Errorf("%w: reply signature does not verify", ErrProviderUnavailable)
	}
	return nil
}

package relay

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/pricing"
)

// Gateway is what a Relay asks of the gateway domain (*gateway.Service).
type Gateway interface {
	AccountKey(ctx context.Context, accountID int64, keyID int64, keyName string) (gateway.Key, error)
	ReserveAccount(ctx context.Context, key gateway.Key, accountID int64, in gateway.ReserveInput) (gateway.ReservationView, error)
	Commit(ctx context.Context, key gateway.Key, id string, in gateway.CommitInput) (gateway.CommitView, error)
	Release(ctx context.Context, key gateway.Key, id string) (gateway.ReleaseView, error)
}

// Deps are the collaborators of a Relay.
type Deps struct {
	Gateway   Gateway
	Pricing   *pricing.Service
	Keys      *Keys
	Upstreams *Upstreams
	Counter   *Counter
	// Client calls the upstreams (nil: a client without an overall
	// timeout; each call is bounded by its upstream's timeout).
	Client *http.Client
	Logger *slog.Logger
}

// Relay serves the OpenAI-compatible endpoints.
type Relay struct {
	d    Deps
	opts Options
	// trusted: account id → when its last reserve succeeded (the
	// speculative start's guard); a refusal forgets it.
	trusted sync.Map
	// speculated counts calls sent upstream before their hold was made.
	speculated atomic.Int64
	// settling tracks the settles and lost reserves waiting for a primary
	// (settleLater); unsettled counts those given up.
	settling  sync.WaitGroup
	unsettled atomic.Int64
}

// New returns a Relay. Errors: a missing collaborator.
func New(d Deps, opts Options) (*Relay, error) {
	opts.defaults()
	if d.Gateway == nil || d.Pricing == nil || d.Keys == nil || d.Upstreams == nil || d.Counter == nil {
		return nil, errors.New("relay: New needs Gateway, Pricing, Keys, Upstreams and Counter")
	}
	if d.Client == nil {
		d.Client = &http.Client{Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment, MaxIdleConns: 512, MaxIdleConnsPerHost: 256,
			IdleConnTimeout: 90 * time.Second, ResponseHeaderTimeout: 0, ForceAttemptHTTP2: true,
		}}
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Relay{d: d, opts: opts}, nil
}

// Handler routes the gateway's endpoints. Each request is pinned to the
// primary with the standby standing in for its reads while no primary
// answers (db.Reader.PinFailover): a key, the upstreams and the rate card
// are then read there, and what must write (a hold) answers 503.
func (r *Relay) Handler() http.Handler {
	mux := r.routes()
	if !r.opts.Reader.Replicated() {
		return mux
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mux.ServeHTTP(w, req.WithContext(r.opts.Reader.PinFailover(req.Context(), 0)))
	})
}

func (r *Relay) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", r.chat)
	mux.HandleFunc("POST /v1/embeddings", r.embeddings)
	mux.HandleFunc("GET /v1/models", r.models)
	mux.HandleFunc("GET /openapi.yaml", serveSpec)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody{Error: errorDetail{Message: "Unknown endpoint.", Type: "invalid_request_error", Code: "unknown_url"}})
	})
	return mux
}

// authenticate reads "Authorization: Bearer sk-…".
func (r *Relay) authenticate(req *http.Request) (Key, error) {
	h := req.Header.Get("Authorization")
	secret, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return Key{}, ErrInvalidKey
	}
	return r.d.Keys.Authenticate(req.Context(), strings.TrimSpace(secret))
}

// readBody reads at most Options.MaxRequestBytes of the body as a JSON
// object: its fields, and the bytes for the endpoint's own reading.
func (r *Relay) readBody(w http.ResponseWriter, req *http.Request) (map[string]json.RawMessage, []byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, req.Body, r.opts.MaxRequestBytes))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, nil, ErrTooLarge
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(b, &body); err != nil || body == nil {
		return nil, nil, fmt.Errorf("%w: the body is not a JSON object", ErrBadRequest)
	}
	return body, b, nil
}

// call is one billed call on its way through.
type call struct {
	requestID string
	key       Key
	gwKey     gateway.Key
	public    string
	body      map[string]json.RawMessage
	raw       []byte // the body as the client sent it
	stream    bool
	wantUsage bool // the client asked for stream_options.include_usage
	// countIn counts the input tokens held (the tokenizer's work: on a
	// speculative start it runs beside the upstream call, not before it);
	// estIn is its answer once the hold's input is built.
	countIn func() int64
	estIn   int64
	maxOut  int64
	in      gateway.ReserveInput
	rsv     gateway.ReservationView
	// reserved answers a speculative reserve running beside the upstream
	// call (nil once read, or when the hold was made first); holdErr is
	// its answer.
	reserved chan error
	holdErr  error
	// upstream is what the upstream calls run in: the request's context
	// without its cancellation (the call outlives its client), cancelled
	// when a speculative reserve is refused, so the upstream is stopped
	// then rather than once it answers.
	upstream context.Context
	// arrived, sent and overhead time the gateway's own part of the time
	// to first token (Options.Observe): sent is when the latest upstream
	// attempt's request was written.
	arrived  time.Time
	sent     time.Time
	overhead Overhead
}

// holdReady waits for a speculative reserve and reports whether the hold
// was made (nil) or refused.
func (c *call) holdReady() error {
	if c.reserved != nil {
		c.holdErr = <-c.reserved
		c.reserved = nil
	}
	return c.holdErr
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "req_" + hex.EncodeToString(b[:])
}

// begin authenticates, reads the body and checks the model. read checks
// the endpoint's fields and sets the output maximum and countIn.
func (r *Relay) begin(w http.ResponseWriter, req *http.Request, read func(c *call) error) (*call, []*liveUpstream, error) {
	arrived := time.Now()
	key, err := r.authenticate(req)
	if err != nil {
		return nil, nil, err
	}
	body, raw, err := r.readBody(w, req)
	if err != nil {
		return nil, nil, err
	}
	c := &call{requestID: newRequestID(), key: key, body: body, raw: raw, arrived: arrived}
	w.Header().Set("x-request-id", c.requestID)
	if err := json.Unmarshal(body["model"], &c.public); err != nil || c.public == "" {
		return nil, nil, fmt.Errorf("%w: model is required", ErrBadRequest)
	}
	if !key.Allows(c.public) {
		return nil, nil, ErrModelNotAllowed
	}
	ups, serving, err := r.d.Upstreams.candidates(req.Context(), c.public)
	if err != nil {
		return nil, nil, err
	}
	if !serving {
		return nil, nil, ErrModelNotFound
	}
	if len(ups) == 0 { // every upstream serving it has its circuit open
		return nil, nil, ErrUpstream
	}
	if err := read(c); err != nil {
		return nil, nil, err
	}
	if c.gwKey, err = r.d.Gateway.AccountKey(req.Context(), key.AccountID, key.ID, key.Name); err != nil {
		return nil, nil, err
	}
	return c, ups, nil
}

// reserve counts the call's input, makes its hold, and remembers whether
// the account's reserves succeed (the speculative start's guard). A
// reserve whose answer was lost may have been made: it is released in the
// background (releaseLost).
func (r *Relay) reserve(ctx context.Context, c *call) error {
	c.estIn = c.countIn()
	c.in = gateway.ReserveInput{
		Model: c.public, MaxInputTokens: c.estIn, MaxOutputTokens: c.maxOut, IdempotencyKey: "relay:" + c.requestID,
		// The key's project label and name label the call: usage shows
		// them and the budgets over a project or a key count it.
		Project: c.key.Project, Key: c.key.Name}
	var err error
	c.rsv, err = r.d.Gateway.ReserveAccount(ctx, c.gwKey, c.key.AccountID, c.in)
	if err != nil {
		r.trusted.Delete(c.key.AccountID)
		if reserveLost(err) {
			r.releaseLost(c)
		}
		return err
	}
	r.trusted.Store(c.key.AccountID, r.opts.Now())
	return nil
}

// reserveLost reports whether a reserve that failed with err may have been
// made all the same: its answer was lost (a connection cut, our own context
// ended while it was under way), as against a refusal or a reserve that
// never reached a server.
func reserveLost(err error) bool {
	switch {
	case db.NotApplied(err): // a connect that timed out is a deadline too
		return false
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return true
	}
	return db.NoPrimary(err)
}

// releaseLost resolves a reserve whose answer was lost, in the background
// as settleLater does: the same reserve again (same idempotency key and
// input: the gateway answers the reservation it made, or makes it), then
// its release. A hold left open would otherwise go to the ledger's sweep,
// which charges it under RESERVATION_EXPIRED_POLICY=charge although the
// call never went upstream (or was stopped). Releasing gives back the
// credits, the budgets' counts and any plan quota the hold took.
func (r *Relay) releaseLost(c *call) {
	var rsv gateway.ReservationView
	r.settleLater(c.requestID, "release of a lost reserve", func(ctx context.Context) error {
		if rsv.ID == "" {
			v, err := r.d.Gateway.ReserveAccount(ctx, c.gwKey, c.key.AccountID, c.in)
			if noHoldUnderKey(err) {
				return nil // refused afresh: nothing is held under the key
			}
			if err != nil {
				return err
			}
			rsv = v
		}
		_, err := r.d.Gateway.Release(ctx, c.gwKey, rsv.ID)
		return err
	})
}

// noHoldUnderKey reports a refusal the ledger gives only after finding no
// reservation under the call's idempotency key (it answers a replay first).
func noHoldUnderKey(err error) bool {
	return errors.Is(err, ledger.ErrInsufficientCredits) || errors.Is(err, ledger.ErrAllocationExceeded) ||
		errors.Is(err, ledger.ErrBudgetExceeded) || errors.Is(err, ledger.ErrConcurrencyLimit)
}

// speculate reports whether a call of the account may go upstream while
// its hold is reserved: its last reserve succeeded within the window, and
// no primary is known to be down (its hold could not be made).
func (r *Relay) speculate(accountID int64) bool {
	if r.opts.NoSpeculation || r.opts.Reader.StandingIn() {
		return false
	}
	at, ok := r.trusted.Load(accountID)
	return ok && r.opts.Now().Sub(at.(time.Time)) < r.opts.SpeculationWindow
}

// run reserves the call's hold and forwards it: one after the other, or
// (speculate) both at once, the client seeing nothing before the hold.
func (r *Relay) run(w http.ResponseWriter, req *http.Request, c *call, ups []*liveUpstream, path string) {
	upstream, stop := context.WithCancel(context.WithoutCancel(req.Context()))
	defer stop()
	c.upstream = upstream
	if r.speculate(c.key.AccountID) {
		r.speculated.Add(1)
		c.reserved = make(chan error, 1)
		go func() {
			err := r.reserve(context.WithoutCancel(req.Context()), c)
			if err != nil {
				stop()
			}
			c.reserved <- err
		}()
	} else if err := r.reserve(req.Context(), c); err != nil {
		writeError(w, err)
		return
	}
	r.forward(w, req, c, ups, path)
}

// Speculated is how many calls went upstream before their hold was made.
func (r *Relay) Speculated() int64 { return r.speculated.Load() }

// chatRequest is what the gateway reads of a chat call; the rest of the
// body is forwarded untouched.
type chatRequest struct {
	Messages            json.RawMessage `json:"messages"`
	Stream              bool            `json:"stream"`
	StreamOptions       *streamOptions  `json:"stream_options"`
	MaxTokens           *int64          `json:"max_tokens"`
	MaxCompletionTokens *int64          `json:"max_completion_tokens"`
	N                   *int64          `json:"n"`
	Tools               json.RawMessage `json:"tools"`
	Functions           json.RawMessage `json:"functions"`
	ResponseFormat      json.RawMessage `json:"response_format"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

func (r *Relay) chat(w http.ResponseWriter, req *http.Request) {
	c, ups, err := r.begin(w, req, func(c *call) error {
		var cr chatRequest
		if err := json.Unmarshal(c.raw, &cr); err != nil {
			return fmt.Errorf("%w: %w", ErrBadRequest, err)
		}
		if len(cr.Messages) == 0 || cr.Messages[0] != '[' || isEmptyList(cr.Messages) {
			return fmt.Errorf("%w: messages must be a list of at least one message", ErrBadRequest)
		}
		if cr.N != nil && *cr.N < 1 {
			return fmt.Errorf("%w: n out of range", ErrBadRequest)
		}
		c.stream = cr.Stream
		c.wantUsage = cr.StreamOptions != nil && cr.StreamOptions.IncludeUsage
		c.countIn = func() int64 { return r.d.Counter.PromptTokens(cr.Messages, cr.Tools, cr.Functions, cr.ResponseFormat) }
		c.maxOut = r.opts.DefaultMaxOutput
		if d, ok := r.opts.OutputDefaults[c.public]; ok {
			c.maxOut = d
		}
		for _, m := range []*int64{cr.MaxCompletionTokens, cr.MaxTokens} {
			if m != nil {
				if *m < 1 || *m > pricing.MaxTokens {
					return fmt.Errorf("%w: max_tokens out of range", ErrBadRequest)
				}
				c.maxOut = *m
				break
			}
		}
		if cr.N != nil && *cr.N > 1 {
			if *cr.N > 128 {
				return fmt.Errorf("%w: n out of range", ErrBadRequest)
			}
			c.maxOut *= *cr.N
		}
		if c.stream {
			// The upstream always reports usage at the end of a stream.
			opts := map[string]json.RawMessage{}
			if raw, ok := c.body["stream_options"]; ok {
				_ = json.Unmarshal(raw, &opts)
			}
			opts["include_usage"] = json.RawMessage("true")
			c.body["stream_options"], _ = json.Marshal(opts)
		}
		return nil
	})
	if err != nil {
		writeError(w, err)
		return
	}
	r.run(w, req, c, ups, "/chat/completions")
}

// isEmptyList reports whether raw is the JSON list [] (with any spacing):
// OpenAI refuses a call with no messages or no input, so the gateway does
// too rather than forward it.
// It reads only the bytes, not the list: chat calls pass it on every request.
func isEmptyList(raw json.RawMessage) bool {
	b := bytes.TrimSpace(raw)
	if len(b) < 2 || b[0] != '[' || b[len(b)-1] != ']' {
		return false
	}
	return len(bytes.TrimSpace(b[1:len(b)-1])) == 0
}

type embeddingsRequest struct {
	Input json.RawMessage `json:"input"`
}

func (r *Relay) embeddings(w http.ResponseWriter, req *http.Request) {
	c, ups, err := r.begin(w, req, func(c *call) error {
		var er embeddingsRequest
		if err := json.Unmarshal(c.body["input"], &er.Input); err != nil || len(er.Input) == 0 ||
			string(er.Input) == "null" || string(er.Input) == `""` || isEmptyList(er.Input) {
			return fmt.Errorf("%w: input is required", ErrBadRequest)
		}
		c.countIn = func() int64 { return r.d.Counter.InputTokens(er.Input) }
		return nil
	})
	if err != nil {
		writeError(w, err)
		return
	}
	r.run(w, req, c, ups, "/embeddings")
}

// modelList is GET /v1/models.
type modelList struct {
	Object string      `json:"object"`
	Data   []modelInfo `json:"data"`
}

type modelInfo struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// models lists what the key may call: served by an enabled upstream,
// priced on the rate card in force, and on the key's allow-list.
func (r *Relay) models(w http.ResponseWriter, req *http.Request) {
	key, err := r.authenticate(req)
	if err != nil {
		writeError(w, err)
		return
	}
	served, err := r.d.Upstreams.PublicModels(req.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	card, err := r.d.Pricing.InForce(req.Context(), r.opts.Now())
	if err != nil {
		writeError(w, err)
		return
	}
	priced := map[string]bool{}
	for _, m := range card.Models {
		priced[m.Model] = true
	}
	out := modelList{Object: "list", Data: []modelInfo{}}
	for _, m := range served {
		if priced[m] && key.Allows(m) {
			out.Data = append(out.Data, modelInfo{ID: m, Object: "model", Created: card.EffectiveAt.Unix(), OwnedBy: "credits"})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// Usage is the usage an upstream reports (OpenAI's shape; DeepSeek's
// prompt_cache_hit_tokens is read too).
type Usage struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	TotalTokens         int64 `json:"total_tokens"`
	PromptTokensDetails *struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details,omitempty"`
	PromptCacheHitTokens int64 `json:"prompt_cache_hit_tokens,omitempty"`
}

// cached is the prompt tokens served from the provider's cache.
func (u Usage) cached() int64 {
	n := u.PromptCacheHitTokens
	if u.PromptTokensDetails != nil && u.PromptTokensDetails.CachedTokens > 0 {
		n = u.PromptTokensDetails.CachedTokens
	}
	return min(max(n, 0), max(u.PromptTokens, 0))
}

// result is how the call ended, for settling it.
type result struct {
	usage    *Usage
	output   strings.Builder // the text produced, for counting without usage
	produced bool            // any output reached us (content, tool calls)
	// unread holds a stream's chunks without usage, read for produced and
	// output only when they are needed: when the stream ends without the
	// upstream's usage (most do report it, and reading every chunk is most
	// of what relaying a stream costs).
	unread     []byte
	unreadEnds []int // where each kept chunk ends in unread
	cut        bool  // the upstream failed after answering
	clientGone bool
	upstream   string // the upstream that answered (recorded on the charge)
}

// upstreamRequest builds the call to u: its model name, its key.
func (r *Relay) upstreamRequest(ctx context.Context, c *call, u *liveUpstream, path string) (*http.Request, error) {
	model, _ := json.Marshal(u.Models[c.public])
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.BaseURL+path, bytes.NewReader(objectWith(c.body, "model", model)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.stream {
		req.Header.Set("Accept", "text/event-stream")
	}
	if u.secret != "" {
		req.Header.Set("Authorization", "Bearer "+u.secret)
	}
	return req, nil
}

// objectWith writes the JSON object of fields, its keys sorted, with
// field key set to value. Every value is JSON already (json.Unmarshal
// checked the client's; the gateway's own are marshalled), so it is copied
// as it is: json.Marshal would check and compact each value again, the
// whole prompt on every call.
func objectWith(fields map[string]json.RawMessage, key string, value json.RawMessage) []byte {
	keys := make([]string, 0, len(fields)+1)
	size := 2 + len(key) + len(value) + 4
	for k, v := range fields {
		if k != key {
			keys = append(keys, k)
			size += len(k) + len(v) + 4
		}
	}
	keys = append(keys, key)
	slices.Sort(keys)
	b := make([]byte, 0, size)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendKey(b, k)
		if k == key {
			b = append(b, value...)
		} else {
			b = append(b, fields[k]...)
		}
	}
	return append(b, '}')
}

// appendKey appends k as a JSON string and a colon: as it is when it needs
// no escaping (the usual field name), else as json.Marshal writes it.
func appendKey(b []byte, k string) []byte {
	plain := true
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			plain = false
			break
		}
	}
	if plain {
		b = append(b, '"')
		b = append(b, k...)
		b = append(b, '"')
	} else {
		q, _ := json.Marshal(k)
		b = append(b, q...)
	}
	return append(b, ':')
}

// forward tries the upstreams in order until one answers. Before the
// first byte reaches the client a connect error, a 5xx or a stream that
// ends before its first event moves on to the next upstream; a 4xx is the
// client's and is passed on. The call is settled whatever happens.
func (r *Relay) forward(w http.ResponseWriter, req *http.Request, c *call, ups []*liveUpstream, path string) {
	var res result
	defer func() {
		if c.holdReady() == nil { // a refused hold has nothing to settle
			r.settle(req.Context(), c, &res)
		}
	}()
	for _, u := range ups {
		done, err := u.breaker.Allow()
		if err != nil {
			continue // opened since the candidates were listed
		}
		// The call outlives the client: a client that leaves mid-stream
		// does not stop the upstream, which is read to its end and billed.
		ctx, cancel := context.WithTimeout(c.upstream, u.Timeout)
		if r.opts.Observe != nil && c.stream {
			ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
				WroteRequest: func(httptrace.WroteRequestInfo) { c.sent = time.Now() }})
		}
		upReq, err := r.upstreamRequest(ctx, c, u, path)
		if err != nil {
			cancel()
			done(nil)
			writeError(w, err)
			return
		}
		resp, err := r.d.Client.Do(upReq)
		if err != nil && c.upstream.Err() != nil { // stopped: the hold was refused
			cancel()
			done(nil)
			break
		}
		if err != nil {
			cancel()
			done(errUpstreamFailed)
			r.d.Logger.Warn("relay: upstream unreachable", "upstream", u.Name, "request_id", c.requestID, "err", err)
			continue
		}
		if resp.StatusCode >= 500 {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			cancel()
			done(errUpstreamFailed)
			r.d.Logger.Warn("relay: upstream failed", "upstream", u.Name, "request_id", c.requestID, "status", resp.StatusCode)
			continue
		}
		answered := time.Now()
		if err := c.holdReady(); err != nil {
			// refused while the upstream was called: stop it at once;
			// the client sees only the refusal
			cancel()
			resp.Body.Close()
			done(nil)
			writeError(w, err)
			return
		}
		if resp.StatusCode != http.StatusOK {
			done(nil)
			r.passError(w, resp)
			resp.Body.Close()
			cancel()
			return
		}
		var ok bool
		res.upstream = u.Name
		if c.stream {
			c.overhead = Overhead{BeforeUpstream: c.sent.Sub(c.arrived), HoldWait: time.Since(answered)}
			ok = r.relayStream(w, req, c, u, resp, &res)
		} else {
			ok = r.relayWhole(w, c, u, resp, &res)
		}
		resp.Body.Close()
		cancel()
		done(failedUnless(ok))
		if ok || res.produced || res.clientGone || res.cut {
			return
		}
		res = result{} // nothing reached the client: try the next upstream
	}
	if err := c.holdReady(); err != nil {
		writeError(w, err)
		return
	}
	writeError(w, ErrUpstream)
}

// errUpstreamFailed is what an upstream's circuit breaker counts.
var errUpstreamFailed = errors.New("relay: upstream call failed")

func failedUnless(ok bool) error {
	if ok {
		return nil
	}
	return errUpstreamFailed
}

// passError hands an upstream's 4xx to the client as it came (OpenAI's
// shape already), bounded.
func (r *Relay) passError(w http.ResponseWriter, resp *http.Response) {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	ct := resp.Header.Get("Content-Type")
	if ct == "" || !json.Valid(b) {
		writeError(w, fmt.Errorf("%w: upstream answered %d", ErrBadRequest, resp.StatusCode))
		return
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(b)
}

// relayWhole forwards a non-streaming answer with the public model name.
// It reports false, having written nothing, when the answer cannot be read.
func (r *Relay) relayWhole(w http.ResponseWriter, c *call, u *liveUpstream, resp *http.Response, res *result) bool {
	b, err := io.ReadAll(io.LimitReader(resp.Body, r.opts.MaxResponseBytes+1))
	if err != nil || int64(len(b)) > r.opts.MaxResponseBytes {
		return false
	}
	var doc map[string]json.RawMessage
	if json.Unmarshal(b, &doc) != nil {
		return false
	}
	if raw, ok := doc["usage"]; ok && string(raw) != "null" {
		var usage Usage
		if json.Unmarshal(raw, &usage) == nil {
			res.usage = &usage
		}
	}
	if res.usage == nil {
		var text struct {
			Choices []struct {
				Message struct {
					Content string `json:"content"`
				} `json:"message"`
			} `json:"choices"`
		}
		_ = json.Unmarshal(b, &text)
		for _, ch := range text.Choices {
			res.output.WriteString(ch.Message.Content)
		}
	}
	res.produced = true
	if u.Models[c.public] != c.public {
		doc["model"], _ = json.Marshal(c.public)
		b, _ = json.Marshal(doc)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(b); err != nil {
		res.clientGone = true
	}
	return true
}

// streamChunk is what the gateway reads of a chunk.
type streamChunk struct {
	Choices []struct {
		Delta struct {
			Content          string          `json:"content"`
			ReasoningContent string          `json:"reasoning_content"`
			ToolCalls        json.RawMessage `json:"tool_calls"`
		} `json:"delta"`
	} `json:"choices"`
	Usage *Usage `json:"usage"`
}

// relayStream passes the upstream's server-sent events to the client one
// by one as they arrive, flushing each (events that arrived together in
// one write: see send). It waits for the first event before
// answering, so an upstream that fails before it is failed over (false).
// The usage chunk is read and, unless the client asked for it, not passed
// on. When the client leaves, the upstream is still read to its end.
func (r *Relay) relayStream(w http.ResponseWriter, req *http.Request, c *call, u *liveUpstream, resp *http.Response, res *result) bool {
	rd := streamReaders.Get().(*bufio.Reader)
	rd.Reset(resp.Body)
	defer func() { rd.Reset(nil); streamReaders.Put(rd) }()
	kept := unreadBuffers.Get().(*unreadBuffer)
	res.unread, res.unreadEnds = kept.data[:0], kept.ends[:0]
	defer func() {
		// Not read once the stream is relayed (readUnread ran, or the
		// usage made reading the chunks needless).
		if cap(res.unread) <= maxPooledUnread {
			kept.data, kept.ends = res.unread[:0], res.unreadEnds[:0]
			unreadBuffers.Put(kept)
		}
		res.unread, res.unreadEnds = nil, nil
	}()
	flusher, _ := w.(http.Flusher)
	model := newRenamer(u.Models[c.public], c.public)
	started, done := false, false
	var firstRead time.Time // when the upstream's first event began
	var event bytes.Buffer
	unflushed := false
	flush := func() {
		if unflushed && !res.clientGone && flusher != nil {
			flusher.Flush()
		}
		unflushed = false
	}
	// send writes b; what was written is flushed before the upstream is
	// read again, unless the end of its next event has arrived already
	// (the upstream is ahead of us): then the two go out in one write, a
	// moment later, and a busy gateway makes fewer system calls exactly
	// when it is short of processor. The first event is flushed at once.
	send := func(b []byte) {
		if res.clientGone {
			return
		}
		if req.Context().Err() != nil {
			res.clientGone = true
			return
		}
		if _, err := w.Write(b); err != nil {
			res.clientGone = true
			return
		}
		unflushed = true
		if !started {
			flush()
		}
	}
	for {
		if unflushed && !eventBuffered(rd) {
			flush() // the next read may wait for the upstream
		}
		line, err := rd.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: read the rest of it.
			rest, err2 := rd.ReadBytes('\n')
			line, err = append(append([]byte{}, line...), rest...), err2
		}
		if len(line) > 0 {
			if firstRead.IsZero() {
				firstRead = time.Now()
			}
			trimmed := bytes.TrimRight(line, "\r\n")
			if len(trimmed) == 0 { // the end of an event
				if event.Len() > 0 {
					out, keep := r.handleEvent(c, event.Bytes(), res, &done, model)
					if keep {
						if !started {
							h := w.Header()
							h.Set("Content-Type", "text/event-stream")
							h.Set("Cache-Control", "no-cache")
							h.Set("X-Accel-Buffering", "no")
							w.WriteHeader(http.StatusOK)
							send(out)
							started = true
							if r.opts.Observe != nil && !res.clientGone {
								c.overhead.FirstEvent = time.Since(firstRead)
								r.opts.Observe(c.overhead)
							}
						} else {
							send(out)
						}
					}
					event.Reset()
				}
			} else if int64(event.Len()+len(line)) <= r.opts.MaxResponseBytes {
				event.Write(trimmed)
				event.WriteByte('\n')
			}
		}
		if err != nil {
			break
		}
	}
	if !done && event.Len() > 0 { // a last event without its blank line
		out, keep := r.handleEvent(c, event.Bytes(), res, &done, model)
		if keep && started {
			send(out)
		}
	}
	flush()
	if !started {
		return false // nothing reached the client: fail over
	}
	if res.usage == nil {
		r.readUnread(res)
	}
	if !done && res.usage == nil {
		res.cut = true
		msg, _ := json.Marshal(errorBody{Error: errorDetail{Message: "The upstream ended the stream early; what was produced is charged.",
			Type: "api_error", Code: "upstream_error"}})
		send(append(append([]byte("data: "), msg...), '\n', '\n'))
		flush()
	}
	return true
}

// streamReaders are the buffers streams are read through (32 KiB each,
// one per stream in flight).
var streamReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 32<<10) }}

// unreadBuffer holds a stream's chunks kept for reading at its end
// (result.unread and unreadEnds); unreadBuffers keeps them from stream to
// stream, up to maxPooledUnread bytes each, so a stream does not grow its
// own from nothing.
type unreadBuffer struct {
	data []byte
	ends []int
}

var unreadBuffers = sync.Pool{New: func() any { return &unreadBuffer{} }}

const maxPooledUnread = 64 << 10

// eventBuffered reports whether rd holds the end of an event already read
// from the upstream (a blank line), so reading it will not wait.
func eventBuffered(rd *bufio.Reader) bool {
	b, _ := rd.Peek(rd.Buffered())
	return bytes.Contains(b, []byte("\n\n")) || bytes.Contains(b, []byte("\n\r\n"))
}

// handleEvent reads one event (its lines, without the blank line) and
// returns what to send the client (with the blank line) and whether to.
func (r *Relay) handleEvent(c *call, ev []byte, res *result, done *bool, model *renamer) ([]byte, bool) {
	data := dataOf(ev)
	if data == nil {
		return append(ev, '\n'), true // comments, retry: pass on
	}
	if bytes.Equal(data, []byte("[DONE]")) {
		*done = true
		return append(ev, '\n'), true
	}
	out := ev
	if !mayHoldUsage(data) {
		r.keepUnread(res, data)
		return model.renamed(out), true
	}
	var ch streamChunk
	if json.Unmarshal(data, &ch) != nil {
		return append(ev, '\n'), true
	}
	r.readChunk(res, &ch)
	if ch.Usage != nil {
		res.usage = ch.Usage
		if !c.wantUsage {
			if len(ch.Choices) == 0 {
				return nil, false // the usage chunk the client did not ask for
			}
			var doc map[string]json.RawMessage
			if json.Unmarshal(data, &doc) == nil {
				delete(doc, "usage")
				b, _ := json.Marshal(doc)
				out = append([]byte("data: "), b...)
				out = append(out, '\n')
			}
		}
	}
	return model.renamed(out), true
}

// renamer replaces the upstream's model name in an event by the public
// one; its patterns are made once per stream, and the renamed events are
// written into its two buffers, reused from event to event (an event is
// written to the client before the next is renamed).
type renamer struct {
	from, to [2][]byte
	buf      [2][]byte
}

func newRenamer(upstream, public string) *renamer {
	r := &renamer{}
	if upstream == public {
		return r
	}
	from, _ := json.Marshal(upstream)
	to, _ := json.Marshal(public)
	for i, key := range []string{`"model":`, `"model": `} {
		r.from[i] = append([]byte(key), from...)
		r.to[i] = append([]byte(key), to...)
	}
	return r
}

// renamed gives the event with the upstream's model name replaced by the
// public one (its first occurrence in each spelling), and its blank line.
// What it returns is valid until its next call.
func (r *renamer) renamed(ev []byte) []byte {
	for i, from := range r.from {
		if from == nil {
			break
		}
		if j := bytes.Index(ev, from); j >= 0 {
			out := append(r.buf[i][:0], ev[:j]...)
			out = append(append(out, r.to[i]...), ev[j+len(from):]...)
			r.buf[i], ev = out, out
		}
	}
	return append(ev, '\n')
}

// mayHoldUsage reports whether a chunk's data may carry a usage object: a
// "usage" key whose value is not null. It never misses one (the key as
// upstreams write it); a false positive only costs a full read.
func mayHoldUsage(data []byte) bool {
	for rest := data; ; {
		i := bytes.Index(rest, []byte(`"usage"`))
		if i < 0 {
			return false
		}
		rest = bytes.TrimLeft(rest[i+len(`"usage"`):], " \t\r\n")
		if v, ok := bytes.CutPrefix(rest, []byte(":")); ok {
			if v = bytes.TrimLeft(v, " \t\r\n"); !bytes.HasPrefix(v, []byte("null")) {
				return true
			}
		}
	}
}

// keepUnread keeps a chunk's data for reading at the end; past 1 MiB the
// kept chunks are read at once, so a long stream holds little.
func (r *Relay) keepUnread(res *result, data []byte) {
	res.unread = append(res.unread, data...)
	res.unreadEnds = append(res.unreadEnds, len(res.unread))
	if len(res.unread) > 1<<20 {
		r.readUnread(res)
	}
}

// readUnread reads the kept chunks into produced and output.
func (r *Relay) readUnread(res *result) {
	from := 0
	for _, end := range res.unreadEnds {
		var ch streamChunk
		if json.Unmarshal(res.unread[from:end], &ch) == nil {
			r.readChunk(res, &ch)
		}
		from = end
	}
	res.unread, res.unreadEnds = res.unread[:0], res.unreadEnds[:0]
}

// readChunk records what a chunk produced.
func (r *Relay) readChunk(res *result, ch *streamChunk) {
	for _, choice := range ch.Choices {
		d := choice.Delta
		if d.Content != "" || d.ReasoningContent != "" || len(d.ToolCalls) > 0 && string(d.ToolCalls) != "null" {
			res.produced = true
			if int64(res.output.Len()) < r.opts.MaxResponseBytes {
				res.output.WriteString(d.ReasoningContent)
				res.output.WriteString(d.Content)
				if len(d.ToolCalls) > 0 && string(d.ToolCalls) != "null" {
					res.output.Write(d.ToolCalls)
				}
			}
		}
	}
}

// dataOf joins an event's data lines, or nil when it has none. An event
// of one data line (what upstreams send) is read in place.
func dataOf(ev []byte) []byte {
	ev = bytes.TrimRight(ev, "\n")
	if v, ok := bytes.CutPrefix(ev, []byte("data:")); ok && bytes.IndexByte(v, '\n') < 0 {
		return bytes.TrimPrefix(v, []byte(" "))
	}
	var data []byte
	found := false
	for _, line := range bytes.Split(ev, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("data:")); ok {
			if found {
				data = append(data, '\n')
			}
			data = append(data, bytes.TrimPrefix(v, []byte(" "))...)
			found = true
		}
	}
	if !found {
		return nil
	}
	return data
}

// settle charges the call what it produced, or releases its hold when it
// produced nothing: the upstream's usage when reported, else the input
// estimate and the output as counted here. A settle that finds no primary
// (a failover) or times out is tried again in the background (settleLater).
func (r *Relay) settle(ctx context.Context, c *call, res *result) {
	outcome := gateway.OutcomeCompleted
	switch {
	case res.cut:
		outcome = gateway.OutcomeUpstreamError
	case res.clientGone:
		outcome = gateway.OutcomeClientDisconnected
	}
	var in gateway.CommitInput
	switch {
	case res.usage != nil:
		cached := res.usage.cached()
		in = gateway.CommitInput{InputTokens: max(res.usage.PromptTokens, 0) - cached, CacheHitTokens: cached,
			OutputTokens: max(res.usage.CompletionTokens, 0)}
	case res.produced:
		in = gateway.CommitInput{InputTokens: c.estIn, OutputTokens: r.d.Counter.Count(res.output.String())}
	}
	op, apply := "commit", func(ctx context.Context) error {
		_, err := r.d.Gateway.Commit(ctx, c.gwKey, c.rsv.ID, in)
		return err
	}
	if res.usage == nil && !res.produced {
		op, apply = "release", func(ctx context.Context) error {
			_, err := r.d.Gateway.Release(ctx, c.gwKey, c.rsv.ID)
			return err
		}
	}
	in.Outcome, in.Upstream = outcome, res.upstream
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	err := apply(tctx)
	cancel()
	switch {
	case err == nil:
	case worthRetrying(err):
		r.settleLater(c.requestID, op, apply)
	default:
		// The hold stays until the ledger's sweep closes it by policy.
		r.d.Logger.Error("relay: "+op, "request_id", c.requestID, "err", err)
	}
}

// settleLater tries a settle that found no primary (or a lost reserve's
// release, releaseLost) again, with growing pauses, until a primary takes
// it or Options.SettleRetry has passed; the call's answer is not held up
// meanwhile. The ledger's reserve, commit and release are idempotent (one
// ledger idempotency key each), so a try whose answer was lost is
// harmless. One given up leaves the hold to the ledger's sweep
// (RESERVATION_TTL, RESERVATION_EXPIRED_POLICY).
func (r *Relay) settleLater(requestID, op string, apply func(context.Context) error) {
	r.settling.Add(1)
	go func() {
		defer r.settling.Done()
		deadline := time.Now().Add(r.opts.SettleRetry)
		pause := 100 * time.Millisecond
		for {
			time.Sleep(pause)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := apply(ctx)
			cancel()
			if err == nil {
				r.d.Logger.Info("relay: "+op+" done once a primary answered", "request_id", requestID)
				return
			}
			if !worthRetrying(err) || time.Now().After(deadline) {
				r.unsettled.Add(1)
				r.d.Logger.Error("relay: "+op+" given up: the hold is left to the reservation sweep", "request_id", requestID, "err", err)
				return
			}
			pause = min(2*pause, 2*time.Second)
		}
	}()
}

// worthRetrying reports an error a later try may not meet: no primary,
// a try cut off by its own timeout, a reserve's rate limit.
func worthRetrying(err error) bool {
	return db.NoPrimary(err) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, gateway.ErrRateLimited)
}

// WaitSettles waits, until ctx ends, for the settles and lost reserves'
// releases still waiting for a primary (a gateway shutting down during a
// failover).
func (r *Relay) WaitSettles(ctx context.Context) error {
	done := make(chan struct{})
	go func() { r.settling.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Unsettled is how many settles and lost reserves' releases were given up
// (their holds left to the ledger's sweep).
func (r *Relay) Unsettled() int64 { return r.unsettled.Load() }

package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultPrefix prefixes every key the Redis limiter writes.
const DefaultPrefix = "credits:rl:"

// Redis is the shared Limiter: each key's buckets live in one Redis hash and
// are refilled and debited by one Lua script, atomically, against the Redis
// server's clock (TIME), so every instance sees the same buckets and clock
// skew between instances does not matter. Idle keys expire once full again.
type Redis struct {
	client redis.UniversalClient
	prefix string
}

// NewRedis returns a limiter storing its buckets under prefix in client.
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	return &Redis{client: client, prefix: prefix}
}

// allowScript mirrors Memory.AllowAll (the bucket rules in ratelimit.go) in
// Lua, over one or more keys at once; times in microseconds. KEYS[i] = a
// key's hash; ARGV[1] = tokens, ARGV[2i], ARGV[2i+1] = rpm, tpm of KEYS[i].
// Returns {allowed (0|1), retry_after_microseconds, refused key (0-based)}.
// All keys of one call must live on one Redis node (REDIS_URL names one).
var allowScript = redis.NewScript(`
local tokens = tonumber(ARGV[1])
local minute = 60000000
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local r, tk, rpms, tpms = {}, {}, {}, {}
local wait, refused = 0, 0
for i = 1, #KEYS do
  local rpm, tpm = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local h = redis.call('HMGET', KEYS[i], 'r', 't', 'ts', 'lr', 'lt')
  local ri, ti, ts = tonumber(h[1]), tonumber(h[2]), tonumber(h[3])
  local lr, lt = tonumber(h[4]) or 0, tonumber(h[5]) or 0
  if ts == nil then ts = now end
  if ri == nil or (lr <= 0 and rpm > 0) then ri = rpm end
  if ti == nil or (lt <= 0 and tpm > 0) then ti = tpm end
  local elapsed = math.max(0, now - ts)
  if rpm > 0 then ri = math.min(rpm, ri + elapsed * rpm / minute) end
  if tpm > 0 then ti = math.min(tpm, ti + elapsed * tpm / minute) end
  local w = 0
  if rpm > 0 and ri < 1 then w = (1 - ri) * minute / rpm end
  if tpm > 0 and tokens > 0 then
    local need = math.min(tokens, tpm)
    if ti < need then w = math.max(w, (need - ti) * minute / tpm) end
  end
  if w > wait then wait, refused = w, i - 1 end
  r[i], tk[i], rpms[i], tpms[i] = ri, ti, rpm, tpm
end
for i = 1, #KEYS do
  local rpm, tpm = rpms[i], tpms[i]
  if wait == 0 then
    if rpm > 0 then r[i] = r[i] - 1 end
    if tpm > 0 and tokens > 0 then tk[i] = tk[i] - tokens end
  end
  local refill = 0
  if rpm > 0 then refill = (rpm - r[i]) * minute / rpm end
  if tpm > 0 then refill = math.max(refill, (tpm - tk[i]) * minute / tpm) end
  redis.call('HSET', KEYS[i], 'r', tostring(r[i]), 't', tostring(tk[i]), 'ts', tostring(now), 'lr', tostring(rpm), 'lt', tostring(tpm))
  redis.call('PEXPIRE', KEYS[i], math.ceil(refill / 1000) + 1000)
end
local allowed = 0
if wait == 0 then allowed = 1 end
return {allowed, math.ceil(wait), refused}
`)

// Allow implements Limiter.
//
// Errors: ErrEmptyKey; Redis errors wrapped with "ratelimit: redis:" — the
// caller decides whether to fail open or closed (the API answers 503).
func (l *Redis) Allow(ctx context.Context, key string, limit Limit, tokens int64) (Decision, error) {
	return l.AllowAll(ctx, tokens, Check{Key: key, Limit: limit})
}

// AllowAll implements Limiter, in one script run: atomic across the keys.
//
// Errors: ErrEmptyKey, ErrDuplicateKey; Redis errors as for Allow.
func (l *Redis) AllowAll(ctx context.Context, tokens int64, checks ...Check) (Decision, error) {
	if err := validate(checks); err != nil {
		return Decision{}, err
	}
	keys := make([]string, 0, len(checks))
	args := make([]any, 1, 1+2*len(checks))
	args[0] = max(0, tokens)
	index := make([]int, 0, len(checks)) // script key -> checks index
	for i, c := range checks {
		if c.Limit.Unlimited() {
			continue
		}
		keys = append(keys, l.prefix+c.Key)
		args = append(args, max(0, c.Limit.RPM), max(0, c.Limit.TPM))
		index = append(index, i)
	}
	if len(keys) == 0 {
		return Decision{Allowed: true}, nil
	}
	res, err := allowScript.Run(ctx, l.client, keys, args...).Int64Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit: redis: %w", err)
	}
	if len(res) != 3 || res[2] < 0 || int(res[2]) >= len(index) {
		return Decision{}, fmt.Errorf("ratelimit: redis: unexpected script reply %v", res)
	}
	if res[0] == 1 {
		return Decision{Allowed: true}, nil
	}
	return Decision{RetryAfter: time.Duration(res[1]) * time.Microsecond, Refused: index[res[2]]}, nil
}

// Close closes the Redis client.
func (l *Redis) Close() error { return l.client.Close() }

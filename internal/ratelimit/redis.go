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

// allowScript mirrors bucket.take (ratelimit.go) in Lua; times in
// microseconds. KEYS[1] = the hash; ARGV = rpm, tpm, tokens.
// Returns {allowed (0|1), retry_after_microseconds}.
var allowScript = redis.NewScript(`
local rpm = tonumber(ARGV[1])
local tpm = tonumber(ARGV[2])
local tokens = tonumber(ARGV[3])
local minute = 60000000
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local h = redis.call('HMGET', KEYS[1], 'r', 't', 'ts', 'lr', 'lt')
local r, tk, ts = tonumber(h[1]), tonumber(h[2]), tonumber(h[3])
local lr, lt = tonumber(h[4]) or 0, tonumber(h[5]) or 0
if ts == nil then ts = now end
if r == nil or (lr <= 0 and rpm > 0) then r = rpm end
if tk == nil or (lt <= 0 and tpm > 0) then tk = tpm end
local elapsed = math.max(0, now - ts)
if rpm > 0 then r = math.min(rpm, r + elapsed * rpm / minute) end
if tpm > 0 then tk = math.min(tpm, tk + elapsed * tpm / minute) end
local wait = 0
if rpm > 0 and r < 1 then wait = (1 - r) * minute / rpm end
if tpm > 0 and tokens > 0 then
  local need = math.min(tokens, tpm)
  if tk < need then wait = math.max(wait, (need - tk) * minute / tpm) end
end
local allowed = 0
if wait == 0 then
  allowed = 1
  if rpm > 0 then r = r - 1 end
  if tpm > 0 and tokens > 0 then tk = tk - tokens end
end
local refill = 0
if rpm > 0 then refill = (rpm - r) * minute / rpm end
if tpm > 0 then refill = math.max(refill, (tpm - tk) * minute / tpm) end
redis.call('HSET', KEYS[1], 'r', tostring(r), 't', tostring(tk), 'ts', tostring(now), 'lr', tostring(rpm), 'lt', tostring(tpm))
redis.call('PEXPIRE', KEYS[1], math.ceil(refill / 1000) + 1000)
return {allowed, math.ceil(wait)}
`)

// Allow implements Limiter.
//
// Errors: ErrEmptyKey; Redis errors wrapped with "ratelimit: redis:" — the
// caller decides whether to fail open or closed (the API answers 503).
func (l *Redis) Allow(ctx context.Context, key string, limit Limit, tokens int64) (Decision, error) {
	if key == "" {
		return Decision{}, ErrEmptyKey
	}
	if limit.Unlimited() {
		return Decision{Allowed: true}, nil
	}
	res, err := allowScript.Run(ctx, l.client, []string{l.prefix + key},
		max(0, limit.RPM), max(0, limit.TPM), max(0, tokens)).Int64Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit: redis: %w", err)
	}
	if len(res) != 2 {
		return Decision{}, fmt.Errorf("ratelimit: redis: unexpected script reply %v", res)
	}
	if res[0] == 1 {
		return Decision{Allowed: true}, nil
	}
	return Decision{RetryAfter: time.Duration(res[1]) * time.Microsecond}, nil
}

// Close closes the Redis client.
func (l *Redis) Close() error { return l.client.Close() }

package config

import (
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Relay are the settings of `credits gateway`, the OpenAI-compatible
// gateway, and of its development upstream `credits upstreamsim`.
type Relay struct {
	// Addr is where the gateway listens (RELAY_ADDR, 127.0.0.1:8081).
	Addr string
	// SimAddr is where `credits upstreamsim` listens (UPSTREAMSIM_ADDR,
	// 127.0.0.1:8092).
	SimAddr string
	// DefaultMaxOutput is the output tokens held for a call naming no
	// max_tokens (RELAY_DEFAULT_MAX_OUTPUT, 4096).
	DefaultMaxOutput int64
	// KeyCacheTTL is how long a verified customer API key is trusted
	// (RELAY_KEY_CACHE_TTL, 1s; at most 2s, the revocation promise).
	KeyCacheTTL time.Duration
	// PublicURL is the gateway's base URL as customers call it, shown on
	// the portal's API keys page (RELAY_PUBLIC_URL, http://<Addr>/v1).
	PublicURL string
	// Speculate sends a call upstream while its hold is being reserved,
	// for accounts whose last reserve succeeded within a minute
	// (RELAY_SPECULATE, true); see relay.Options.NoSpeculation.
	Speculate bool
}

func readRelay(c *Config, env source) error {
	r := Relay{Addr: env.or("RELAY_ADDR", "127.0.0.1:8081"), SimAddr: env.or("UPSTREAMSIM_ADDR", "127.0.0.1:8092"),
		DefaultMaxOutput: 4096, KeyCacheTTL: time.Second, Speculate: true}
	for _, a := range []struct{ name, v string }{{"RELAY_ADDR", r.Addr}, {"UPSTREAMSIM_ADDR", r.SimAddr}} {
		if _, _, err := net.SplitHostPort(a.v); err != nil {
			return errors.New(a.name + " must be host:port such as 127.0.0.1:8081")
		}
	}
	if v := env.get("RELAY_DEFAULT_MAX_OUTPUT"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 || n > 1_000_000 {
			return errors.New("RELAY_DEFAULT_MAX_OUTPUT must be a whole number of tokens from 1 to 1000000")
		}
		r.DefaultMaxOutput = n
	}
	if v := env.get("RELAY_KEY_CACHE_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > 2*time.Second {
			return errors.New("RELAY_KEY_CACHE_TTL must be a duration above 0 and at most 2s, such as 1s")
		}
		r.KeyCacheTTL = d
	}
	if v := env.get("RELAY_SPECULATE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("RELAY_SPECULATE must be true or false")
		}
		r.Speculate = b
	}
	r.PublicURL = strings.TrimRight(env.or("RELAY_PUBLIC_URL", "http://"+r.Addr+"/v1"), "/")
	if u, err := url.Parse(r.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("RELAY_PUBLIC_URL must be an http(s) URL such as https://api.example.com/v1")
	}
	c.Relay = r
	return nil
}

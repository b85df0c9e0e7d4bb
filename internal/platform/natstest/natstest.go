// Package natstest gives tests the NATS server with JetStream they run
// against (NATS_TEST_URL, default nats://127.0.0.1:4222; `make test` starts
// one) and a subject prefix of their own, so parallel tests never share a
// stream.
package natstest

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/url"
	"os"
	"testing"
	"time"
)

// URL is the test NATS server. Without one answering the test skips,
// unless REQUIRE_NATS=1 (make test sets it), which fails it instead.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("NATS_TEST_URL")
	if u == "" {
		u = "nats://127.0.0.1:4222"
	}
	host := u
	if p, err := url.Parse(u); err == nil && p.Host != "" {
		host = p.Host
	}
	c, err := net.DialTimeout("tcp", host, time.Second)
	if err != nil {
		if os.Getenv("REQUIRE_NATS") == "1" {
			t.Fatalf("no NATS at %s (%v): start nats-server -js (make test does) or unset REQUIRE_NATS", u, err)
		}
		t.Skipf("no NATS at %s (%v): set NATS_TEST_URL, or REQUIRE_NATS=1 to fail", u, err)
	}
	_ = c.Close()
	return u
}

// Prefix is a subject prefix no other test uses.
func Prefix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "t" + hex.EncodeToString(b)
}

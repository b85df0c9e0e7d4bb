package relay_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/piicrypto"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/pricing"
	"github.com/seed75218f88/credits/internal/ratelimit"
	"github.com/seed75218f88/credits/internal/relay"
	"github.com/seed75218f88/credits/internal/relay/upstreamsim"
)

// TestHelperRelayProcess is the gateway process TestGatewayKilledMidStream
// kills: it serves a relay over RELAY_HELPER_DB and prints its address.
func TestHelperRelayProcess(t *testing.T) {
	url := os.Getenv("RELAY_HELPER_DB")
	if url == "" {
		t.Skip("run by TestGatewayKilledMidStream")
	}
	ctx := context.Background()
	pool, err := db.Open(ctx, url)
	require.NoError(t, err)
	l := ledger.New(pool, ledger.Options{})
	ps := pricing.New(pool)
	gw, err := gateway.New(gateway.Deps{Pool: pool, Ledger: l, Pricing: ps, Limiter: ratelimit.NewMemory(ratelimit.MemoryOptions{})},
		gateway.Options{Secret: []byte("relay-test-secret-0123456789"), ReservationTTL: time.Minute})
	require.NoError(t, err)
	c, err := relay.NewCounter()
	require.NoError(t, err)
	r, err := relay.New(relay.Deps{Gateway: gw, Pricing: ps, Keys: relay.NewKeys(pool, l, nil, relay.Options{}),
		Upstreams: relay.NewUpstreams(pool, piicrypto.Dev(), relay.Options{}), Counter: c}, relay.Options{})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	fmt.Printf("ADDR %s\n", ln.Addr())
	_ = http.Serve(ln, r.Handler()) // until killed
}

// A gateway killed mid-stream cannot settle: the hold stays until the
// ledger's sweep closes it at the reservation's TTL by the policy (release
// here), so the customer pays nothing for it and nothing stays held.
// Not parallel: its sweep runs on a clock moved past every TTL in the
// package's shared database and would close the other tests' open holds.
func TestGatewayKilledMidStream(t *testing.T) {
	b := setup(t)
	b.upstream(t, "killed", "ernie-4.0-8k=sim-chat", 0)
	acct, secret := b.customer(t, "1000")
	before, _ := b.balance(t, acct.ID)

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperRelayProcess$", "-test.v")
	cmd.Env = append(os.Environ(), "RELAY_HELPER_DB="+dbAppURL(t))
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	started := time.Now()
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(out)
	var addr string
	for sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
			addr = a
			break
		}
	}
	require.NotEmpty(t, addr, "the helper gateway started")
	t.Logf("helper up after %s", time.Since(started))
	go func() {
		for sc.Scan() { // keep the pipe drained
		}
	}()

	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/chat/completions",
		strings.NewReader(chatBody("ernie-4.0-8k", "long sim:tokens=500 sim:delay=20ms", true, `,"max_tokens":500`)))
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	for seen := 0; seen < 2; {
		line, err := rd.ReadString('\n')
		require.NoError(t, err)
		if strings.Contains(line, upstreamsim.Token) {
			seen++
		}
	}
	t.Logf("streaming after %s", time.Since(started))
	_, held := b.balance(t, acct.ID)
	require.True(t, held.IsPositive(), "the call holds credit while it streams")

	require.NoError(t, cmd.Process.Kill()) // SIGKILL: no chance to settle
	_, _ = cmd.Process.Wait()
	time.Sleep(100 * time.Millisecond)
	avail, held2 := b.balance(t, acct.ID)
	require.True(t, held.Equal(held2), "nothing settled the hold")
	require.True(t, avail.Equal(before.Sub(held)))

	t.Logf("killed after %s", time.Since(started))
	b.clock.Advance(2 * time.Minute) // past the reservation's TTL
	_, err = b.ledger.SweepReservations(context.Background(), 0)
	require.NoError(t, err)
	avail, held3 := b.balance(t, acct.ID)
	require.True(t, held3.IsZero(), "the sweep closed the hold")
	require.True(t, avail.Equal(before), "released by policy: nothing charged")
}

package relay_test

import (
	"bufio"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/relay/upstreamsim"
)

// curl -N (no buffering) sees the stream's events as they come, ends with
// [DONE], and the call is billed like any other.
func TestCurlNStreams(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is needed: apt-get install -y curl")
	}
	b := setup(t)
	b.upstream(t, "curl", "qwen-max=sim-chat", 0)
	acct, secret := b.customer(t, "1000")
	before, _ := b.balance(t, acct.ID)
	text := "via curl sim:tokens=8 sim:delay=100ms"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "curl", "-sS", "-N", b.url+"/v1/chat/completions",
		"-H", "Authorization: Bearer "+secret, "-H", "Content-Type: application/json",
		"-d", chatBody("qwen-max", text, true, ""))
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(out)
	var firstToken time.Duration
	var lines []string
	for sc.Scan() {
		l := sc.Text()
		if firstToken == 0 && strings.Contains(l, upstreamsim.Token) {
			firstToken = time.Since(start)
		}
		if strings.HasPrefix(l, "data: ") {
			lines = append(lines, l)
		}
	}
	require.NoError(t, cmd.Wait())
	total := time.Since(start)
	require.Equal(t, "data: [DONE]", lines[len(lines)-1])
	require.Less(t, firstToken, total-500*time.Millisecond, "the first token arrived long before the last: no buffering")
	after := b.waitSettled(t, acct.ID)
	require.True(t, before.Sub(after).Equal(b.cost(t, "qwen-max", promptTokens(text), 0, 8)))
}

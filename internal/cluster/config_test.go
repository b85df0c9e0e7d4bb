package cluster

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPortsAreDistinct: every member of a cluster listens on its own port,
// and the fault tests' cluster shares none with make cluster's.
func TestPortsAreDistinct(t *testing.T) {
	seen := map[int]string{}
	for _, base := range []int{DefaultBase, testBase} {
		p := PortsOf(base, 9, 9)
		all := append(append(append([]int{p.PGWrite, p.PGRead, p.Web, p.Gateway, p.Stats, p.NATS, p.NATSMonitor, p.Redis, p.UpstreamSim},
			p.EtcdClient[:]...), p.EtcdPeer[:]...), append(p.Patroni[:], p.Postgres[:]...)...)
		all = append(append(all, p.Serve...), p.Gateways...)
		for _, port := range all {
			require.NotContains(t, seen, port, "port %d twice", port)
			seen[port] = "x"
			require.True(t, port >= 27000 && port < 30000, "port %d outside 27000-29999", port)
		}
	}
}

// TestConfigsRender: the Patroni and HAProxy files name every member, and
// HAProxy accepts its file (when it is installed).
func TestConfigsRender(t *testing.T) {
	c, err := Config{Dir: t.TempDir()}.withDefaults()
	require.NoError(t, err)
	p := c.Ports()
	yml, err := render(patroniYAML, map[string]any{"N": 1, "REST": p.Patroni[0], "PG": p.Postgres[0],
		"Etcd": hostList(p.EtcdClient[:]), "Data": "/d", "Bin": "/b", "Dir": "/x", "Socket": "/x"})
	require.NoError(t, err)
	require.Contains(t, string(yml), "synchronous_mode: true")
	require.Contains(t, string(yml), "hosts: 127.0.0.1:27311,127.0.0.1:27312,127.0.0.1:27313")
	cfg, err := render(haproxyCfg, map[string]any{"Sock": c.haproxySocket(), "P": p})
	require.NoError(t, err)
	for _, want := range []string{"server serve3 127.0.0.1:27403 check", "server gateway2 127.0.0.1:27422 check",
		"option httpchk GET /readyz", "option httpchk GET /primary", "server pg2 127.0.0.1:27346 check port 27342"} {
		require.Contains(t, string(cfg), want)
	}
	bin, err := lookPath("haproxy")
	if err != nil {
		t.Log("haproxy is not installed: its own check of the file is skipped")
		return
	}
	f := filepath.Join(c.Dir, "haproxy.cfg")
	require.NoError(t, os.WriteFile(f, cfg, 0o644))
	out, err := exec.Command(bin, "-c", "-f", f).CombinedOutput()
	require.NoError(t, err, string(out))
	require.True(t, strings.Contains(string(out), "valid") || len(out) == 0, string(out))
}

// TestDatabaseURLNamesBothServers: the application's URL lists both
// PostgreSQL servers and asks for the one that accepts writes.
func TestDatabaseURLNamesBothServers(t *testing.T) {
	c, err := Config{Dir: t.TempDir()}.withDefaults()
	require.NoError(t, err)
	u := c.DatabaseURL("credits_app")
	require.Contains(t, u, "@127.0.0.1:27345,127.0.0.1:27346/credits?")
	require.Contains(t, u, "target_session_attrs=read-write")
}

// TestPostgresFoldersOutsideAClosedCheckout: as root, a cluster folder the
// postgres user cannot reach (a checkout under /root) puts the PostgreSQL
// nodes in the temporary directory instead.
func TestPostgresFoldersOutsideAClosedCheckout(t *testing.T) {
	open, err := os.MkdirTemp("", "cluster-test-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(open) })
	require.NoError(t, os.Chmod(open, 0o755))
	closed := filepath.Join(open, "closed")
	require.NoError(t, os.Mkdir(closed, 0o700))
	require.False(t, reachableByOthers(filepath.Join(closed, "cluster")))
	if os.Geteuid() != 0 {
		t.Skip("only root runs PostgreSQL as another user")
	}
	if !reachableByOthers(open) {
		t.Skip("the temporary directory itself is closed to others")
	}
	require.Equal(t, filepath.Join(open, "c"), Config{Dir: filepath.Join(open, "c")}.pgRoot())
	other := Config{Dir: filepath.Join(closed, "cluster")}.pgRoot()
	require.True(t, strings.HasPrefix(other, os.TempDir()), other)
}

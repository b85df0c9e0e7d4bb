package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/seed75218f88/credits/internal/platform/db"
)

// Binaries the cluster needs, from Debian's packages (make cluster installs
// them): patroni, etcd-server, haproxy, nats-server, redis-server and
// postgresql.
var Binaries = []string{"patroni", "etcd", "haproxy", "nats-server", "redis-server"}

// Up starts a fresh cluster under c.Dir (removing what an earlier one left
// there) and returns once every member answers: etcd, a Patroni leader with
// a synchronous standby, HAProxy, NATS, Redis, the migrated and seeded
// database and every serve and gateway instance behind HAProxy. On failure
// it stops what it started. Progress goes to out.
func Up(ctx context.Context, c Config, out io.Writer) (Config, error) {
	c, err := c.withDefaults()
	if err != nil {
		return c, err
	}
	if running := c.running(); len(running) > 0 {
		return c, fmt.Errorf("cluster: already running in %s (%v): run make cluster-down (credits cluster down) first", c.Dir, running)
	}
	for _, b := range Binaries {
		if _, err := lookPath(b); err != nil {
			return c, fmt.Errorf("cluster: %s is missing: `make cluster` installs patroni, etcd-server, haproxy, nats-server and redis-server from Debian", b)
		}
	}
	if err := c.wipe(); err != nil {
		return c, err
	}
	ok := false
	defer func() {
		if !ok {
			fmt.Fprintf(out, "cluster: start failed; stopping what started (logs in %s)\n", c.path("log"))
			c.Down()
		}
	}()
	steps := []struct {
		what string
		run  func(context.Context, Config) error
	}{
		{"etcd ×3", startEtcd},
		{"Patroni: primary and synchronous standby", startPatroni},
		{"HAProxy", startHAProxy},
		{"NATS JetStream and Redis", startNATSRedis},
		{"database: roles, migrations, demo data", prepareDatabase},
		{"serve and gateway instances", startInstances},
	}
	for _, s := range steps {
		t0 := time.Now()
		if err := s.run(ctx, c); err != nil {
			return c, fmt.Errorf("%s: %w", s.what, err)
		}
		fmt.Fprintf(out, "cluster: %s up (%.1f s)\n", s.what, time.Since(t0).Seconds())
	}
	ok = true
	return c, nil
}

// marker names the folder as a cluster's, so that Up only ever removes a
// folder an earlier Up made.
const marker = ".credits-cluster"

func (c Config) wipe() error {
	if entries, err := os.ReadDir(c.Dir); err == nil && len(entries) > 0 {
		if _, err := os.Stat(c.path(marker)); err != nil {
			return fmt.Errorf("cluster: %s is not empty and was not made by `credits cluster up`: choose another folder", c.Dir)
		}
	}
	if err := os.RemoveAll(c.Dir); err != nil {
		return err
	}
	if root := c.pgRoot(); root != c.Dir {
		if err := os.RemoveAll(root); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(c.path(marker), nil, 0o644)
}

func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/usr/bin", "/usr/local/bin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", name)
}

// members lists every member in the order they start.
func (c Config) members() []string {
	names := []string{"etcd1", "etcd2", "etcd3", "pg1", "pg2", "haproxy", "nats", "redis", "upstreamsim"}
	for i := range c.Serves {
		names = append(names, fmt.Sprintf("serve%d", i+1))
	}
	for i := range c.Gateways {
		names = append(names, fmt.Sprintf("gateway%d", i+1))
	}
	return names
}

func (c Config) running() []string {
	var r []string
	for _, n := range c.members() {
		if c.Alive(n) {
			r = append(r, n)
		}
	}
	return r
}

func startEtcd(ctx context.Context, c Config) error {
	p := c.Ports()
	initial := ""
	for i := range 3 {
		if i > 0 {
			initial += ","
		}
		initial += fmt.Sprintf("e%d=http://127.0.0.1:%d", i+1, p.EtcdPeer[i])
	}
	bin, _ := lookPath("etcd")
	for i := range 3 {
		client := fmt.Sprintf("http://127.0.0.1:%d", p.EtcdClient[i])
		peer := fmt.Sprintf("http://127.0.0.1:%d", p.EtcdPeer[i])
		if _, err := c.start(process{name: fmt.Sprintf("etcd%d", i+1), dir: c.Dir, argv: []string{bin,
			"--name", fmt.Sprintf("e%d", i+1), "--data-dir", c.path(fmt.Sprintf("etcd%d", i+1)),
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", initial, "--initial-cluster-state", "new", "--initial-cluster-token", "credits-" + strconv.Itoa(c.Base),
			"--heartbeat-interval", "100", "--election-timeout", "1000", "--log-level", "warn"}}); err != nil {
			return err
		}
	}
	for i := range 3 {
		u := fmt.Sprintf("http://127.0.0.1:%d/health", p.EtcdClient[i])
		if err := waitFor(ctx, 30*time.Second, fmt.Sprintf("etcd%d", i+1), func() bool { return httpOK(u) }); err != nil {
			return err
		}
	}
	return nil
}

// pgBin is the newest Debian PostgreSQL's bin folder.
func pgBin() (string, error) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(matches) == 0 {
		return "", errors.New("no PostgreSQL server binaries in /usr/lib/postgresql: install the Debian package postgresql")
	}
	return filepath.Dir(matches[len(matches)-1]), nil
}

func startPatroni(ctx context.Context, c Config) error {
	bin, err := pgBin()
	if err != nil {
		return err
	}
	patroni, _ := lookPath("patroni")
	p := c.Ports()
	if err := os.MkdirAll(c.pgRoot(), 0o755); err != nil {
		return err
	}
	for n := 1; n <= 2; n++ {
		dir := c.pgDir(n)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		socket := dir
		if len(socket) > 80 { // a Unix socket path has at most 107 bytes
			socket = os.TempDir()
		}
		yml, err := render(patroniYAML, map[string]any{"N": n, "REST": p.Patroni[n-1], "PG": p.Postgres[n-1],
			"Etcd": hostList(p.EtcdClient[:]), "Data": filepath.Join(dir, "data"), "Bin": bin, "Dir": dir, "Socket": socket})
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "patroni.yml"), yml, 0o600); err != nil {
			return err
		}
		if err := chownPostgres(dir); err != nil {
			return err
		}
	}
	if err := c.startPatroniNode(1, patroni); err != nil {
		return err
	}
	if err := waitFor(ctx, 60*time.Second, "pg1 to lead", func() bool { return httpOK(c.patroniURL(1, "/primary")) }); err != nil {
		return err
	}
	if err := c.startPatroniNode(2, patroni); err != nil {
		return err
	}
	return waitFor(ctx, 90*time.Second, "pg2 to become the synchronous standby", func() bool {
		return httpOK(c.patroniURL(2, "/synchronous"))
	})
}

func (c Config) startPatroniNode(n int, bin string) error {
	if bin == "" {
		bin, _ = lookPath("patroni")
	}
	_, err := c.start(process{name: fmt.Sprintf("pg%d", n), asPostgres: true, dir: c.pgDir(n),
		argv: []string{bin, filepath.Join(c.pgDir(n), "patroni.yml")}})
	return err
}

func (c Config) patroniURL(n int, path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", c.Ports().Patroni[n-1], path)
}

func startHAProxy(ctx context.Context, c Config) error {
	cfg, err := render(haproxyCfg, map[string]any{"Sock": c.haproxySocket(), "P": c.Ports()})
	if err != nil {
		return err
	}
	if err := os.WriteFile(c.path("haproxy.cfg"), cfg, 0o644); err != nil {
		return err
	}
	bin, _ := lookPath("haproxy")
	if out, err := exec.Command(bin, "-c", "-q", "-f", c.path("haproxy.cfg")).CombinedOutput(); err != nil {
		return fmt.Errorf("haproxy.cfg: %s", out)
	}
	if _, err := c.start(process{name: "haproxy", dir: c.Dir, argv: []string{bin, "-db", "-f", c.path("haproxy.cfg")}}); err != nil {
		return err
	}
	return waitFor(ctx, 20*time.Second, "HAProxy", func() bool { return listening(c.Ports().Stats) })
}

// haproxySocket is HAProxy's admin socket: in the cluster's folder unless
// that path is too long for a Unix socket (107 bytes).
func (c Config) haproxySocket() string {
	if p := c.path("haproxy.sock"); len(p) < 100 {
		return p
	}
	sum := sha256.Sum256([]byte(c.Dir))
	return filepath.Join(os.TempDir(), "credits-haproxy-"+hex.EncodeToString(sum[:6])+".sock")
}

func startNATSRedis(ctx context.Context, c Config) error {
	p := c.Ports()
	if err := c.StartNATS(); err != nil {
		return err
	}
	if err := c.StartRedis(); err != nil {
		return err
	}
	if err := waitFor(ctx, 20*time.Second, "NATS", func() bool {
		return httpOK(fmt.Sprintf("http://127.0.0.1:%d/healthz?js-enabled-only=true", p.NATSMonitor))
	}); err != nil {
		return err
	}
	return waitFor(ctx, 20*time.Second, "Redis", func() bool { return listening(p.Redis) })
}

// StartNATS starts the cluster's NATS server with JetStream, its store on
// disk in the cluster's folder (what it accepted survives a restart).
func (c Config) StartNATS() error {
	bin, err := lookPath("nats-server")
	if err != nil {
		return err
	}
	p := c.Ports()
	_, err = c.start(process{name: "nats", dir: c.Dir, argv: []string{bin, "-js", "-a", "127.0.0.1",
		"-p", strconv.Itoa(p.NATS), "-m", strconv.Itoa(p.NATSMonitor), "-sd", c.path("nats")}})
	return err
}

// StartRedis starts the cluster's Redis, which keeps nothing on disk (the
// rate limiter's buckets are short-lived).
func (c Config) StartRedis() error {
	bin, err := lookPath("redis-server")
	if err != nil {
		return err
	}
	_, err = c.start(process{name: "redis", dir: c.Dir, argv: []string{bin, "--bind", "127.0.0.1",
		"--port", strconv.Itoa(c.Ports().Redis), "--save", "", "--appendonly", "no", "--daemonize", "no"}})
	return err
}

// prepareDatabase creates the roles and the database on the primary, then
// runs `credits migrate` and `credits seed` against the cluster.
func prepareDatabase(ctx context.Context, c Config) error {
	if err := db.Bootstrap(ctx, c.SuperuserURL(), db.DefaultName); err != nil {
		return err
	}
	for _, sub := range []string{"migrate", "seed"} {
		cmd := exec.CommandContext(ctx, c.Binary, sub)
		cmd.Dir = c.Workdir
		cmd.Env = append(baseEnv(), c.appEnv()...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("credits %s: %v: %s", sub, err, out)
		} else if err := os.WriteFile(c.path("log", sub+".log"), out, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// startInstances starts the serve instances, then the gateways, one at a
// time: each is waited for (/readyz) before the next opens the database.
func startInstances(ctx context.Context, c Config) error {
	p := c.Ports()
	for i := range c.Serves {
		if err := c.StartServe(ctx, i+1); err != nil {
			return err
		}
	}
	// The gateways' demo upstream; the first gateway registers it (and the
	// demo customer's key) before the second starts.
	sim := fmt.Sprintf("127.0.0.1:%d", p.UpstreamSim)
	if _, err := c.start(process{name: "upstreamsim", dir: c.Workdir, env: c.appEnv(), argv: []string{c.Binary, "upstreamsim", "--addr", sim}}); err != nil {
		return err
	}
	if err := waitFor(ctx, 30*time.Second, "upstreamsim", func() bool { return listening(p.UpstreamSim) }); err != nil {
		return err
	}
	for i, port := range p.Gateways {
		name := fmt.Sprintf("gateway%d", i+1)
		env := append(c.appEnv(), fmt.Sprintf("RELAY_ADDR=127.0.0.1:%d", port))
		argv := []string{c.Binary, "gateway"}
		if i == 0 {
			argv = append(argv, "--demo", "http://"+sim+"/v1")
		}
		if _, err := c.start(process{name: name, dir: c.Workdir, env: env, argv: argv}); err != nil {
			return err
		}
		if err := waitFor(ctx, 60*time.Second, name, func() bool { return httpOK(fmt.Sprintf("http://127.0.0.1:%d/readyz", port)) }); err != nil {
			return err
		}
	}
	// HAProxy marks an instance up after two passing checks.
	return waitFor(ctx, 30*time.Second, "HAProxy to route to the instances", func() bool {
		return httpOK(c.WebURL()+"/readyz") && httpOK(c.GatewayURL()+"/readyz")
	})
}

// StartServe starts serve instance n (1-based) and waits for its /readyz.
func (c Config) StartServe(ctx context.Context, n int) error {
	port := c.Ports().Serve[n-1]
	name := fmt.Sprintf("serve%d", n)
	env := append(c.appEnv(), fmt.Sprintf("ADDR=127.0.0.1:%d", port))
	if _, err := c.start(process{name: name, dir: c.Workdir, env: env, argv: []string{c.Binary, "serve"}}); err != nil {
		return err
	}
	return waitFor(ctx, 60*time.Second, name, func() bool { return httpOK(fmt.Sprintf("http://127.0.0.1:%d/readyz", port)) })
}

// Down stops every member, the instances first and etcd last, and leaves
// the data in place. Patroni stops its PostgreSQL on SIGTERM; a postmaster
// left behind (its Patroni killed) is stopped through its pid file.
func (c Config) Down() {
	c, _ = c.withDefaults()
	var apps []string
	for i := range 9 {
		apps = append(apps, fmt.Sprintf("serve%d", i+1), fmt.Sprintf("gateway%d", i+1))
	}
	stopAll := func(names []string, wait time.Duration) {
		done := make(chan struct{}, len(names))
		for _, n := range names {
			go func() { c.stopGroup(n, syscall.SIGTERM, wait); done <- struct{}{} }()
		}
		for range names {
			<-done
		}
	}
	stopAll(apps, 20*time.Second)
	stopAll([]string{"haproxy", "nats", "redis", "upstreamsim"}, 5*time.Second)
	stopAll([]string{"pg1", "pg2"}, 30*time.Second)
	for n := 1; n <= 2; n++ {
		if pid := c.postmasterPid(n); pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGQUIT) // immediate shutdown
			for i := 0; i < 100 && alive(pid); i++ {
				time.Sleep(50 * time.Millisecond)
			}
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	stopAll([]string{"etcd1", "etcd2", "etcd3"}, 5*time.Second)
}

func waitFor(ctx context.Context, limit time.Duration, what string, ok func() bool) error {
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster: %s: not ready after %s", what, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

var probe = &http.Client{Timeout: 2 * time.Second}

func httpOK(u string) bool {
	resp, err := probe.Get(u)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func listening(port int) bool {
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// Member is one member's state for `credits cluster status`.
type Member struct {
	Name    string `json:"name"`
	Pid     int    `json:"pid"`
	Running bool   `json:"running"`
	Role    string `json:"role,omitempty"`
}

// Status lists every member and, for the PostgreSQL nodes, Patroni's role.
func (c Config) Status() []Member {
	c, _ = c.withDefaults()
	var ms []Member
	roles := c.PatroniRoles()
	for _, n := range c.members() {
		m := Member{Name: n, Pid: c.Pid(n), Running: c.Alive(n)}
		m.Role = roles[n]
		ms = append(ms, m)
	}
	return ms
}

// PatroniRoles asks Patroni's /cluster which node leads and which is the
// synchronous standby (member name → role).
func (c Config) PatroniRoles() map[string]string {
	roles := map[string]string{}
	for n := 1; n <= 2; n++ {
		resp, err := probe.Get(c.patroniURL(n, "/cluster"))
		if err != nil {
			continue
		}
		var body struct {
			Members []struct{ Name, Role, State string }
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			continue
		}
		for _, m := range body.Members {
			roles[m.Name] = m.Role + " (" + m.State + ")"
		}
		return roles
	}
	return roles
}

// Primary is the number (1 or 2) of the PostgreSQL node Patroni reports as
// the primary, or 0.
func (c Config) Primary() int {
	for n := 1; n <= 2; n++ {
		if httpOK(c.patroniURL(n, "/primary")) {
			return n
		}
	}
	return 0
}

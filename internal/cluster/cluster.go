// Package cluster runs the highly available topology on one machine from
// Debian's packages: three etcd members, Patroni managing a PostgreSQL
// primary and a synchronous standby, HAProxy in front of three `credits
// serve` and two `credits gateway` instances (and of PostgreSQL, through
// Patroni's health checks), and the cluster's own NATS JetStream and Redis.
// Every file it writes (configuration, data, logs, process ids) lives under
// one folder, .data/cluster by default; `credits cluster up|down|status`
// drives it and the fault tests (make test-cluster) use it.
package cluster

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// DefaultBase is the first port of `make cluster`; the fault tests use
// another base so that both can run on one machine.
const DefaultBase = 27300

// Config says where the cluster lives and what it runs.
type Config struct {
	// Dir holds everything the cluster writes; absolute.
	Dir string
	// Base is the first of the ports the cluster listens on (see Ports).
	Base int
	// Binary is the `credits` binary the instances run.
	Binary string
	// Workdir is where the instances run (the checkout: .data/paysim and
	// the other relative paths of the single-machine setup resolve there).
	Workdir string
	// Serves and Gateways are how many instances of each run (3 and 2).
	Serves, Gateways int
	// Env is added to every instance's environment (after the cluster's
	// own settings, so it may override them).
	Env []string
}

// Ports are the loopback ports of every member, all derived from Base.
type Ports struct {
	EtcdClient, EtcdPeer [3]int
	Patroni, Postgres    [2]int
	// PGWrite and PGRead are HAProxy's PostgreSQL ports: the primary
	// (Patroni's /primary check) and the standby (/replica).
	PGWrite, PGRead int
	// Web and Gateway are HAProxy's HTTP ports in front of the serve and
	// gateway instances; Stats is its statistics page.
	Web, Gateway, Stats int
	Serve               []int
	Gateways            []int
	NATS, NATSMonitor   int
	Redis               int
	// UpstreamSim is `credits upstreamsim`, the gateways' demo upstream.
	UpstreamSim int
}

// PortsOf lays the ports out from base.
func PortsOf(base, serves, gateways int) Ports {
	p := Ports{
		PGWrite: base + 50, PGRead: base + 51,
		Web: base + 80, Gateway: base + 81, Stats: base + 90,
		NATS: base + 22, NATSMonitor: base + 23, Redis: base + 79, UpstreamSim: base + 92,
	}
	for i := range 3 {
		p.EtcdClient[i] = base + 11 + i
		p.EtcdPeer[i] = base + 21 + i*4 + 4 // 25, 29, 33: clear of NATS
	}
	for i := range 2 {
		p.Patroni[i] = base + 41 + i
		p.Postgres[i] = base + 45 + i
	}
	for i := range serves {
		p.Serve = append(p.Serve, base+101+i)
	}
	for i := range gateways {
		p.Gateways = append(p.Gateways, base+121+i)
	}
	return p
}

// Ports returns the configuration's ports.
func (c Config) Ports() Ports { return PortsOf(c.Base, c.Serves, c.Gateways) }

func (c Config) withDefaults() (Config, error) {
	if c.Base == 0 {
		c.Base = DefaultBase
	}
	if c.Serves == 0 {
		c.Serves = 3
	}
	if c.Gateways == 0 {
		c.Gateways = 2
	}
	if c.Serves > 9 || c.Gateways > 9 {
		return c, fmt.Errorf("cluster: at most 9 serve and 9 gateway instances")
	}
	var err error
	if c.Dir, err = filepath.Abs(c.Dir); err != nil {
		return c, err
	}
	if c.Workdir == "" {
		c.Workdir, _ = os.Getwd()
	}
	return c, nil
}

func (c Config) path(parts ...string) string {
	return filepath.Join(append([]string{c.Dir}, parts...)...)
}

func hostList(ports []int) string {
	hs := make([]string, len(ports))
	for i, p := range ports {
		hs[i] = "127.0.0.1:" + strconv.Itoa(p)
	}
	return strings.Join(hs, ",")
}

// DatabaseURL is the application's URL: both PostgreSQL servers, of which
// pgx keeps the one that accepts writes (target_session_attrs=read-write),
// so that after a failover new connections find the promoted standby
// without a restart.
func (c Config) DatabaseURL(user string) string {
	p := c.Ports()
	q := url.Values{"sslmode": {"disable"}, "target_session_attrs": {"read-write"}, "connect_timeout": {"3"}}
	return "postgres://" + user + "@" + hostList(p.Postgres[:]) + "/credits?" + q.Encode()
}

// ReplicaURL is the application's URL for staleness-tolerant reads
// (DATABASE_REPLICA_URL): HAProxy's read port, which forwards to whichever
// server Patroni reports as a healthy standby. While there is none (a
// failover, before the old primary rejoins) it refuses, and the instances
// read from the primary (db.Reader's fallback).
func (c Config) ReplicaURL(user string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/credits?sslmode=disable&connect_timeout=3", user, c.Ports().PGRead)
}

// SuperuserURL reaches the primary as PostgreSQL's superuser (trusted on
// loopback), to create the roles and the database.
func (c Config) SuperuserURL() string {
	p := c.Ports()
	return "postgres://postgres@" + hostList(p.Postgres[:]) + "/postgres?sslmode=disable&target_session_attrs=read-write&connect_timeout=3"
}

// WebURL is HAProxy's address in front of the serve instances.
func (c Config) WebURL() string { return fmt.Sprintf("http://127.0.0.1:%d", c.Ports().Web) }

// GatewayURL is HAProxy's address in front of the gateway instances.
func (c Config) GatewayURL() string { return fmt.Sprintf("http://127.0.0.1:%d", c.Ports().Gateway) }

// NATSURL is the cluster's own NATS server.
func (c Config) NATSURL() string { return fmt.Sprintf("nats://127.0.0.1:%d", c.Ports().NATS) }

// RedisURL is the cluster's own Redis.
func (c Config) RedisURL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", c.Ports().Redis) }

// appEnv is every instance's environment: the cluster's database, NATS
// and Redis, and the public address behind HAProxy.
func (c Config) appEnv() []string {
	env := []string{
		"DATABASE_URL=" + c.DatabaseURL("credits_app"),
		"MIGRATE_DATABASE_URL=" + c.DatabaseURL("credits_owner"),
		"DATABASE_REPLICA_URL=" + c.ReplicaURL("credits_app"),
		"NATS_URL=" + c.NATSURL(),
		"NATS_PREFIX=cluster",
		"REDIS_URL=" + c.RedisURL(),
		"BASE_URL=" + c.WebURL(),
		"PAYSIM_KEY_DIR=" + c.path("paysim"),
		// HAProxy checks every second and takes an instance out after two
		// failures: a stopping serve fails /readyz that long, and more on
		// a busy machine, first.
		"SHUTDOWN_DRAIN=5s",
		"TRUSTED_PROXIES=127.0.0.1",
	}
	return append(env, c.Env...)
}

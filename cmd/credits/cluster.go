package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/seed75218f88/credits/internal/cluster"
	"github.com/seed75218f88/credits/internal/platform/config"
)

// runCluster is `credits cluster up|down|status`: the highly available
// topology on this machine (see internal/cluster), under DATA_DIR/cluster.
func runCluster(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: credits cluster up|down|status [--base PORT]")
	}
	flags := flag.NewFlagSet("cluster", flag.ContinueOnError)
	base := flags.Int("base", cluster.DefaultBase, "first port of the cluster's port range")
	dir := flags.String("dir", "", "the cluster's folder (default DATA_DIR/cluster)")
	if err := flags.Parse(args[1:]); err != nil {
		return err
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	c := cluster.Config{Dir: filepath.Join(cfg.Database.DataDir, "cluster"), Base: *base, Binary: self, Workdir: filepath.Dir(cfg.Database.DataDir)}
	if *dir != "" {
		c.Dir = *dir
	}
	switch args[0] {
	case "up":
		if c, err = cluster.Up(ctx, c, os.Stdout); err != nil {
			return err
		}
		printCluster(c)
		return nil
	case "down":
		c.Down()
		fmt.Println("cluster: stopped (data kept in " + c.Dir + " until the next `credits cluster up`)")
		return nil
	case "status":
		for _, m := range c.Status() {
			state := "stopped"
			if m.Running {
				state = fmt.Sprintf("running (pid %d)", m.Pid)
			}
			fmt.Printf("  %-9s %-22s %s\n", m.Name, state, m.Role)
		}
		return nil
	}
	return fmt.Errorf("unknown cluster command %q: up, down or status", args[0])
}

func printCluster(c cluster.Config) {
	p := c.Ports()
	fmt.Printf(`cluster: up (stop it with make cluster-down; logs in %[1]s/log)
  web (HAProxy → %[2]d serve)      %[3]s   (/readyz, portal, /v1 API)
  gateway (HAProxy → %[4]d gateway) %[5]s/v1
  HAProxy statistics          http://127.0.0.1:%[6]d/
  PostgreSQL primary (HAProxy) postgres://credits_app@127.0.0.1:%[7]d/credits   standby (read-only): port %[8]d
  DATABASE_URL the instances use: %[9]s
  Patroni                     http://127.0.0.1:%[10]d/cluster
  NATS %[11]s   Redis %[12]s   demo upstream (upstreamsim) http://127.0.0.1:%[13]d/v1
  demo sign-ins (as make run's): %[1]s/log/seed.log
  try: curl -N %[5]s/v1/chat/completions -H 'Authorization: Bearer %[14]s' -d '{"model":"deepseek-chat","stream":true,"messages":[{"role":"user","content":"hi"}]}'
`, c.Dir, c.Serves, c.WebURL(), c.Gateways, c.GatewayURL(), p.Stats, p.PGWrite, p.PGRead,
		c.DatabaseURL("credits_app"), p.Patroni[0], c.NATSURL(), c.RedisURL(), p.UpstreamSim, demoRelayKey)
}

// Command credits is the billing platform's one binary: the web server, the
// migrations, the demo data and the operator's tools, as subcommands.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand; run gets the arguments after its name.
type command struct {
	summary string
	run     func(ctx context.Context, args []string) error
}

// commands lists every subcommand; each lives in its own file.
var commands = map[string]command{
	"cluster":      {"the highly available topology on this machine: `cluster up` (etcd ×3, Patroni primary + synchronous standby, HAProxy, 3 serve, 2 gateway, NATS, Redis; prints the URLs), `cluster down`, `cluster status`", runCluster},
	"db":           {"ensure a database (starting the private cluster if needed) and print its URL", runDB},
	"ledger":       {"ledger tools: `ledger verify` checks every pool's event chain, balance, lots, reserved total and holds (exits non-zero on a mismatch, naming the pools); `ledger storage` prints the size of the hot ledger tables and their indexes; `ledger retire [-window 192h]` (as the owner role) moves closed reservations and per-request idempotency records older than the retry window to the archive and creates the event partitions of the months ahead; `ledger archive [-dir DIR] <2027-01>` (owner role) takes a month closed by the revenue report out of the ledger into a gzip'd COPY with a manifest and SHA-256 sidecar; `ledger restore <file.copy.gz>` checks the hashes and attaches the month again", runLedger},
	"bench-ledger": {"run the ledger benchmark in a scratch database", runBenchLedger},
	"gateway":      {"serve the OpenAI-compatible gateway on RELAY_ADDR (127.0.0.1:8081); --demo URL adds upstreamsim and a demo key (dev)", runGateway},
	"keys":         {"create or revoke gateway API service keys (keys create --mode test|live --name NAME)", runKeys},
	"migrate":      {"apply pending migrations (idempotent)", runMigrate},
	"paysim":       {"serve the WeChat Pay / Alipay sandbox (dev keys in .data/paysim)", runPaysim},
	"upstreamsim":  {"serve a fake OpenAI-compatible upstream on UPSTREAMSIM_ADDR (127.0.0.1:8092) for dev and tests", runUpstreamsim},
	"staff":        {"manage back-office users (create, set-roles, list)", runStaff},
	"seed":         {"load the demo data (idempotent) and print the demo sign-ins", runSeed},
	"serve":        {"run the web server (--addr host:port overrides ADDR)", runServe},
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "help" || os.Args[1] == "-h" || os.Args[1] == "--help" {
		usage()
		os.Exit(2)
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "credits: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.run(ctx, os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "credits %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: credits <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", n, commands[n].summary)
	}
}

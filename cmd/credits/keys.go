package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/ledger"
)

// runKeys is `credits keys create --mode test|live --name NAME` (prints only
// the secret, once, on standard output) and `credits keys revoke ID`.
func runKeys(ctx context.Context, args []string) error { return keys(ctx, args, os.Stdout) }

func keys(ctx context.Context, args []string, out io.Writer) error {
	const usage = "usage: credits keys create --mode test|live --name NAME | credits keys revoke ID"
	if len(args) == 0 {
		return errors.New(usage)
	}
	pool, err := openMigratedDB(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	store := gateway.NewKeyStore(pool, 0)
	switch args[0] {
	case "create":
		fs := flag.NewFlagSet("keys create", flag.ContinueOnError)
		mode := fs.String("mode", "", "test (sandbox) or live")
		name := fs.String("name", "", "what the key is for, e.g. gateway-prod")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		_, secret, err := store.Create(ctx, ledger.Mode(*mode), *name)
		if err != nil {
			return fmt.Errorf("%w (%s)", err, usage)
		}
		fmt.Fprintln(out, secret)
		return nil
	case "revoke":
		if len(args) != 2 {
			return errors.New(usage)
		}
		id, err := strconv.ParseInt(args[1], 10, 64)
		if err != nil {
			return errors.New(usage)
		}
		return store.Revoke(ctx, id)
	}
	return errors.New(usage)
}

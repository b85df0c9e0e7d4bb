package db

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ProcessCPU is this process's user + system CPU so far (benchmarks report
// CPU per operation with it).
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ServerCPU is the CPU so far of each server process attached to the
// pool's database (backends, autovacuum workers), by pid, read from /proc;
// nil when the server is not on this machine. USER_HZ is 100 on Linux.
func ServerCPU(ctx context.Context, pool DBTX) map[int]time.Duration {
	rows, err := pool.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
	if err != nil {
		return nil
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil
	}
	out := map[int]time.Duration{}
	for _, pid := range pids {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(raw)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		out[int(pid)] = time.Duration(ut+st) * 10 * time.Millisecond
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// ServerCPUSpent is the CPU the server processes spent between two
// ServerCPU readings (a process started in between counts from zero); 0
// when either is nil.
func ServerCPUSpent(before, after map[int]time.Duration) time.Duration {
	if before == nil || after == nil {
		return 0
	}
	var d time.Duration
	for pid, c := range after {
		d += c - before[pid]
	}
	return d
}

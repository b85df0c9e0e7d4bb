package relay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sony/gobreaker/v2"
)

// Circuit breakers live in each gateway process (a failing upstream is
// skipped by the process that saw it fail); each change of state is
// reported to relay_breaker_states so the back office shows them all.

// BreakerState is one gateway process's circuit for one upstream, as last
// reported: "open" (skipped until Until), "half-open" (the next call is a
// trial) or "closed".
type BreakerState struct {
	Process string     `db:"process"`
	State   string     `db:"state"`
	Since   time.Time  `db:"since"`
	Until   *time.Time `db:"until"`
}

// processName names this process in the reports: host, pid and a random
// suffix (a restarted process with the same pid is another one).
func processName() string {
	host, _ := os.Hostname()
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// reportBreaker records that this process's circuit for upstream id
// changed to state at at.
func (s *Upstreams) reportBreaker(id int64, state gobreaker.State, at time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var until *time.Time
	if state == gobreaker.StateOpen {
		u := at.Add(s.opts.BreakerOpen)
		until = &u
	}
	_, _ = s.pool.Exec(ctx, `
		INSERT INTO relay_breaker_states (process, upstream_id, state, since, until) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (upstream_id, process) DO UPDATE SET state = EXCLUDED.state, since = EXCLUDED.since, until = EXCLUDED.until
		WHERE relay_breaker_states.since <= EXCLUDED.since`,
		s.process, id, state.String(), at, until)
}

// Breakers returns, by upstream, the gateway processes whose circuit for it
// is not closed now: open ones until they let a trial through, half-open
// ones reported within the last ten minutes (a process that stopped in
// that state is forgotten after that). Errors: database errors.
func (s *Upstreams) Breakers(ctx context.Context) (map[int64][]BreakerState, error) {
	now := time.Now()
	rows, err := s.pool.Query(ctx, `
		SELECT upstream_id, process, state, since, until FROM relay_breaker_states
		WHERE state = 'open' AND until > $1 OR state = 'half-open' AND since > $1 - interval '10 minutes'
		ORDER BY upstream_id, since`, now)
	if err != nil {
		return nil, fmt.Errorf("relay: breakers: %w", err)
	}
	out := map[int64][]BreakerState{}
	var id int64
	var st BreakerState
	_, err = pgx.ForEachRow(rows, []any{&id, &st.Process, &st.State, &st.Since, &st.Until}, func() error {
		row := st
		if st.Until != nil {
			u := *st.Until
			row.Until = &u
		}
		out[id] = append(out[id], row)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("relay: breakers: %w", err)
	}
	return out, nil
}

package ledger_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
)

func requireVerifyClean(t *testing.T, b *partitionBundle) {
	t.Helper()
	mismatches, err := b.l.Verify(b.ctx)
	require.NoError(t, err)
	require.Empty(t, mismatches)
}

// TestArchiveAndRestoreAMonth: four months billed; the first month leaves
// for the archive only once the revenue report has closed it, and a later
// month not before it. Once archived: its partition is gone, the file's
// SHA-256 is the sidecar's, verify is clean (each pool's chain starts from
// its checkpoint), BalanceAt before a pool's last archived event says it
// is archived and from it on answers as before (from the checkpoint where
// the pool had no later event). A copy of the file with one byte changed is refused and
// loads nothing; the file itself comes back, and then verify is clean,
// every event is back and BalanceAt answers as before the archive.
func TestArchiveAndRestoreAMonth(t *testing.T) {
	b := setupPartitions(t)
	_, err := ledger.CreatePartitions(b.ctx, b.owner, b.first, 3)
	require.NoError(t, err)
	acc := b.account(t, ledger.AccountIndividual)
	points := b.billMonths(t, acc.ID, 4)
	// a pool whose events are all in the first month
	b.clock.t = b.first.Add(5 * 24 * time.Hour)
	quiet := b.account(t, ledger.AccountIndividual)
	b.credit(t, quiet.ID, "50", lotOpts{})
	_, err = b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: quiet.ID, Amount: d("12.5"), IdempotencyKey: key(), Model: "m"})
	require.NoError(t, err)
	var events int
	require.NoError(t, b.owner.QueryRow(b.ctx, `SELECT count(*) FROM ledger_events`).Scan(&events))

	dir := t.TempDir()
	month := b.first.In(shanghai).Format("2006-01")
	monthEnd := addMonths(b.first, 1)
	_, err = ledger.Archive(b.ctx, b.owner, ledger.ArchiveRequest{Month: month, Dir: dir, ClosedThrough: b.first})
	require.ErrorIs(t, err, ledger.ErrArchiveRefused, "the month's revenue positions do not exist yet")
	_, err = ledger.Archive(b.ctx, b.owner, ledger.ArchiveRequest{Month: addMonths(b.first, 1).In(shanghai).Format("2006-01"), Dir: dir, ClosedThrough: addMonths(b.first, 2)})
	require.ErrorIs(t, err, ledger.ErrArchiveRefused, "an older month still holds events")
	requireVerifyClean(t, b)

	res, err := ledger.Archive(b.ctx, b.owner, ledger.ArchiveRequest{Month: month, Dir: dir, ClosedThrough: monthEnd})
	require.NoError(t, err)
	require.Equal(t, monthName(b.first), res.Partition)
	require.Positive(t, res.Events)
	require.Equal(t, 2, res.Pools)

	parts, err := ledger.Partitions(b.ctx, b.owner)
	require.NoError(t, err)
	for _, p := range parts {
		require.NotEqual(t, res.Partition, p.Name, "the month's partition left")
	}
	var left int
	require.NoError(t, b.owner.QueryRow(b.ctx, `SELECT count(*) FROM ledger_events`).Scan(&left))
	require.Equal(t, events-int(res.Events), left)

	raw, err := os.ReadFile(res.File)
	require.NoError(t, err)
	sum := sha256.Sum256(raw)
	sums, err := os.ReadFile(res.SumFile)
	require.NoError(t, err)
	require.Contains(t, string(sums), hex.EncodeToString(sum[:])+"  "+filepath.Base(res.File))
	require.Equal(t, hex.EncodeToString(sum[:]), res.SHA256)

	requireVerifyClean(t, b)
	lastArchived := 0 // the last write of the first month
	for i, p := range points {
		if p.at.Before(monthEnd) {
			lastArchived = i
		}
	}
	for i, p := range points {
		got, err := b.l.BalanceAt(b.ctx, acc.ID, p.at)
		if i < lastArchived {
			require.ErrorIs(t, err, ledger.ErrArchived, "at %s", p.at)
			continue
		}
		require.NoError(t, err)
		requireDec(t, p.balance.String(), got, "at", p.at)
	}
	// from the pool's last archived event on, its checkpoint answers: the
	// balance at the end of the archived month (a statement's opening)
	got, err := b.l.BalanceAt(b.ctx, acc.ID, monthEnd.Add(-time.Microsecond))
	require.NoError(t, err)
	requireDec(t, points[lastArchived].balance.String(), got, "the end of the archived month")
	got, err = b.l.BalanceAt(b.ctx, quiet.ID, monthEnd.Add(-time.Microsecond))
	require.NoError(t, err)
	requireDec(t, "37.5", got, "from the checkpoint")
	got, err = b.l.BalanceAt(b.ctx, quiet.ID, addMonths(b.first, 2))
	require.NoError(t, err)
	requireDec(t, "37.5", got, "from the checkpoint")
	// the pools bill on after the archive: verify follows the checkpoint
	b.clock.t = addMonths(b.first, 3).Add(20 * 24 * time.Hour)
	_, err = b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: quiet.ID, Amount: d("2.5"), IdempotencyKey: key(), Model: "m"})
	require.NoError(t, err)
	requireVerifyClean(t, b)

	// a corrupted copy is refused and loads nothing
	bad := t.TempDir()
	for _, f := range []string{res.File, res.Manifest, res.SumFile} {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		if f == res.File {
			data[len(data)/2] ^= 0x40
		}
		require.NoError(t, os.WriteFile(filepath.Join(bad, filepath.Base(f)), data, 0o600))
	}
	_, err = ledger.Restore(b.ctx, b.owner, filepath.Join(bad, filepath.Base(res.File)))
	require.ErrorIs(t, err, ledger.ErrArchiveCorrupt)
	// so is one whose sidecar was rewritten to match: the ledger kept the hash
	data, err := os.ReadFile(filepath.Join(bad, filepath.Base(res.File)))
	require.NoError(t, err)
	badSum := sha256.Sum256(data)
	fixed := strings.Replace(string(sums), res.SHA256, hex.EncodeToString(badSum[:]), 1)
	require.NoError(t, os.WriteFile(filepath.Join(bad, filepath.Base(res.SumFile)), []byte(fixed), 0o600))
	_, err = ledger.Restore(b.ctx, b.owner, filepath.Join(bad, filepath.Base(res.File)))
	require.ErrorIs(t, err, ledger.ErrArchiveCorrupt)
	_, err = b.l.BalanceAt(b.ctx, acc.ID, points[0].at)
	require.ErrorIs(t, err, ledger.ErrArchived, "still archived")

	back, err := ledger.Restore(b.ctx, b.owner, res.File)
	require.NoError(t, err)
	require.Equal(t, res.Events, back.Events)
	require.NoError(t, b.owner.QueryRow(b.ctx, `SELECT count(*) FROM ledger_events`).Scan(&left))
	require.Equal(t, events+1, left)
	requireVerifyClean(t, b)
	for _, p := range points {
		got, err := b.l.BalanceAt(b.ctx, acc.ID, p.at)
		require.NoError(t, err)
		requireDec(t, p.balance.String(), got, "at", p.at)
	}
	_, err = ledger.Restore(b.ctx, b.owner, res.File)
	require.ErrorIs(t, err, ledger.ErrArchiveRefused, "a restored month is not restored twice")

	// the restored partition is append-only like the others, and the
	// archive's record is rewritten by no one
	_, err = b.owner.Exec(b.ctx, fmt.Sprintf(`DELETE FROM %s`, res.Partition))
	require.ErrorContains(t, err, "append-only")
	_, err = b.owner.Exec(b.ctx, `DELETE FROM ledger_archive_pools`)
	require.ErrorContains(t, err, "append-only")
	_, err = b.owner.Exec(b.ctx, `UPDATE ledger_archives SET restored_at = NULL`)
	require.ErrorContains(t, err, "only marked restored")
	_, err = b.app.Exec(b.ctx, `UPDATE ledger_archives SET restored_at = now() WHERE restored_at IS NULL`)
	require.Error(t, err, "the application role cannot mark an archive restored")
}

// TestArchiveWhileBilling: 64 clients bill their own accounts (each
// credited in the first month) in a later month while the job creates
// partitions ahead and the first month is detached and archived: every
// write is applied exactly once, verify is clean, and each pool's balance
// is what its writes left.
func TestArchiveWhileBilling(t *testing.T) {
	b := setupPartitions(t)
	_, err := ledger.CreatePartitions(b.ctx, b.owner, b.first, 1)
	require.NoError(t, err)
	b.clock.t = b.first.Add(3 * 24 * time.Hour)
	const clients, writes = 64, 10
	accs := make([]int64, clients)
	for i := range accs {
		accs[i] = b.account(t, ledger.AccountIndividual).ID
		b.credit(t, accs[i], "100", lotOpts{})
		_, err := b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: accs[i], Amount: d("4"), IdempotencyKey: key(), Model: "m"})
		require.NoError(t, err)
	}
	b.clock.t = addMonths(b.first, 1).Add(2 * 24 * time.Hour)
	var wg sync.WaitGroup
	errs := make(chan error, clients*writes+10)
	for i := range clients {
		wg.Go(func() {
			for w := range writes {
				k := fmt.Sprintf("arch-%d-%d", i, w)
				for range 2 { // the second is a retry: replayed, never charged twice
					if _, err := b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: accs[i], Amount: d("1.5"), IdempotencyKey: k, Model: "m"}); err != nil {
						errs <- err
					}
				}
			}
		})
	}
	dir := t.TempDir()
	wg.Go(func() {
		for m := 2; m < 6; m++ {
			if _, err := ledger.CreatePartitions(b.ctx, b.owner, addMonths(b.first, m), 0); err != nil {
				errs <- err
			}
			if m == 3 {
				if _, err := ledger.Archive(b.ctx, b.owner, ledger.ArchiveRequest{Month: b.first.In(shanghai).Format("2006-01"), Dir: dir, ClosedThrough: addMonths(b.first, 1)}); err != nil {
					errs <- err
				}
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	var archived int
	require.NoError(t, b.owner.QueryRow(b.ctx, `SELECT count(*) FROM ledger_archives WHERE restored_at IS NULL`).Scan(&archived))
	require.Equal(t, 1, archived)
	for _, acc := range accs {
		bal, err := b.l.Balance(b.ctx, acc)
		require.NoError(t, err)
		requireDec(t, "81", bal.Available, "account", acc)
		var n int
		require.NoError(t, b.owner.QueryRow(b.ctx, `SELECT count(*) FROM ledger_events WHERE pool_id = $1 AND type = 'deduction'`, acc).Scan(&n))
		require.Equal(t, writes, n, "every write once, in the month still attached")
	}
	requireVerifyClean(t, b)
}

// TestArchiveFinishesAnInterruptedOne: a month detached by an archive run
// that stopped before it wrote its files leaves the ledger without its
// events (verify says so); running the archive again for that month
// writes them out, records the checkpoint and verify is clean again.
func TestArchiveFinishesAnInterruptedOne(t *testing.T) {
	b := setupPartitions(t)
	_, err := ledger.CreatePartitions(b.ctx, b.owner, b.first, 2)
	require.NoError(t, err)
	acc := b.account(t, ledger.AccountIndividual)
	points := b.billMonths(t, acc.ID, 2)

	_, err = b.owner.Exec(b.ctx, `ALTER TABLE ledger_events DETACH PARTITION `+monthName(b.first))
	require.NoError(t, err)
	mismatches, err := b.l.Verify(b.ctx)
	require.NoError(t, err)
	require.NotEmpty(t, mismatches, "the detached month's events are missing and no checkpoint stands in")

	res, err := ledger.Archive(b.ctx, b.owner, ledger.ArchiveRequest{Month: b.first.In(shanghai).Format("2006-01"), Dir: t.TempDir(), ClosedThrough: addMonths(b.first, 1)})
	require.NoError(t, err)
	require.Positive(t, res.Events)
	requireVerifyClean(t, b)
	last := points[len(points)-1]
	got, err := b.l.BalanceAt(b.ctx, acc.ID, last.at)
	require.NoError(t, err)
	requireDec(t, last.balance.String(), got)
}

package atonce_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/atonce"
)

func TestRunCountsFailuresAndWaits(t *testing.T) {
	var calls atomic.Int64
	failed, ok := atonce.Run(64, 5*time.Second, func() error {
		if calls.Add(1)%4 == 0 {
			return errors.New("refused")
		}
		return nil
	})
	require.True(t, ok)
	require.Equal(t, int64(16), failed)
	require.Equal(t, int64(64), calls.Load())

	release := make(chan struct{})
	defer close(release)
	_, ok = atonce.Run(2, 50*time.Millisecond, func() error { <-release; return nil })
	require.False(t, ok, "calls still running at the bound")
}

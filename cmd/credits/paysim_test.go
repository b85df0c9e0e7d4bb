package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRunPaysim starts `credits paysim` on a free port with a fresh key
// directory and checks that it serves and writes its development keys.
func TestRunPaysim(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	dir := t.TempDir()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runPaysim(ctx, []string{"--addr", addr, "--keys", dir}) }()

	var resp *http.Response
	require.Eventually(t, func() bool {
		resp, err = http.Get("http://" + addr + "/sim/keys")
		return err == nil
	}, 10*time.Second, 50*time.Millisecond)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	for _, f := range []string{"wechat_merchant_private.pem", "wechat_platform_public.pem", "wechat_apiv3.key", "alipay_app_private.pem", "alipay_public.pem"} {
		_, err := os.Stat(filepath.Join(dir, f))
		require.NoError(t, err, f)
	}
	cancel()
	require.NoError(t, <-done)
}

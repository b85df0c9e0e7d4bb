package web_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/static"
	"github.com/seed75218f88/credits/web/webtest"
)

// ECharts is big: browsers that accept gzip get the 220 KB twin, not 650 KB.
func TestEChartsIsServedCompressed(t *testing.T) {
	t.Parallel()
	app := webtest.Start(t)
	c := webtest.NewClient(t, app.URL)
	c.HTTP.Transport = &http.Transport{DisableCompression: true}
	req := c.NewRequest(http.MethodGet, static.URL("vendor/echarts-5.6.0.common.min.js"), nil)
	req.Header.Set("Accept-Encoding", "gzip, br")
	p := c.Do(req)
	require.Equal(t, http.StatusOK, p.Status)
	require.Equal(t, "gzip", p.Header.Get("Content-Encoding"))
	require.Contains(t, p.Header.Get("Content-Type"), "javascript")
	require.Less(t, len(p.Body), 300_000)

	plain := c.Get(static.URL("vendor/echarts-5.6.0.common.min.js"))
	require.Empty(t, plain.Header.Get("Content-Encoding"))
	require.Greater(t, len(plain.Body), 600_000)
}

package web

import (
	"bytes"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/static"
)

// Static serves the embedded files. A request carrying the file's current
// version (?v=…, as static.URL builds it) may be cached for a year; any other
// for five minutes. ETags answer revalidation with 304.
func (s *Server) Static(c echo.Context) error {
	name := c.Param("*")
	version, ok := static.Versions[name]
	if !ok {
		return echo.ErrNotFound
	}
	data, err := fs.ReadFile(static.FS, name)
	if err != nil {
		return echo.ErrNotFound
	}
	h := c.Response().Header()
	if c.QueryParam("v") == version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, max-age=300")
	}
	h.Set("ETag", `"`+version+`"`)
	// A file vendored with a gzip twin (name.gz, e.g. ECharts) goes out
	// compressed to browsers that accept it.
	if gz, err := fs.ReadFile(static.FS, name+".gz"); err == nil {
		h.Add(echo.HeaderVary, echo.HeaderAcceptEncoding)
		if strings.Contains(c.Request().Header.Get(echo.HeaderAcceptEncoding), "gzip") {
			h.Set(echo.HeaderContentEncoding, "gzip")
			h.Set(echo.HeaderContentType, mime.TypeByExtension(path.Ext(name)))
			data = gz
			name += ".gz"
		}
	}
	http.ServeContent(c.Response(), c.Request(), name, time.Time{}, bytes.NewReader(data))
	return nil
}

package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/platform/db"
)

// lsnCookie holds the primary's WAL position right after the user's last
// write: the standby serves the user's pages again only once it has
// replayed that far (read-your-writes). It is a cookie, not a session
// value, because during a failover the session itself is read from the
// standby, which need not have the session's own last write; a cookie
// comes with the request whichever instance and server answer it. A user
// who alters it only changes where their own pages are read.
const lsnCookie = "credits_lsn"

// lastWrite is the request's read-your-writes position (0: none known).
func lastWrite(req *http.Request) db.LSN {
	c, err := req.Cookie(lsnCookie)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(c.Value, 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return db.LSN(n)
}

// staleReadPrefixes are the pages whose reads may come from the standby
// (README "Reads from the standby"): the portal's pages and CSV files and
// the operator dashboard. Only the domain reads built on db.Reader go
// there (usage history, API keys, the dashboard's roll-ups); everything
// else, balances included, still reads the primary.
var staleReadPrefixes = []string{"/portal", "/admin/analytics"}

// readRouting pins a page's reads to the standby or the primary once per
// request (db.Reader.Pin); every other GET (the back office, sign-in, the
// API's) is pinned to the primary but may stand in on the standby while no
// primary answers (db.Reader.PinFailover, README "Reads through a
// failover"); and after any signed-in user's write it records the
// primary's position in the session, just before the answer (and the
// session with it) is written. Without DATABASE_REPLICA_URL it does
// nothing.
func (s *Server) readRouting(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !s.reader.Replicated() {
			return next(c)
		}
		req := c.Request()
		ctx := req.Context()
		if IsAPI(req.URL.Path) {
			// No session, so no read-your-writes position: with a
			// synchronous standby it has every acknowledged write anyway,
			// else it lagged at most DATABASE_REPLICA_MAX_LAG.
			if req.Method == http.MethodGet || req.Method == http.MethodHead {
				return s.readPage(s.reader.PinFailover(ctx, 0), c, next)
			}
			return next(c)
		}
		switch req.Method {
		case http.MethodGet, http.MethodHead:
			lsn := lastWrite(req)
			if staleReadPath(req.URL.Path) {
				return s.readPage(s.reader.Pin(ctx, lsn), c, next)
			}
			return s.readPage(s.reader.PinFailover(ctx, lsn), c, next)
		default:
			c.Response().Before(func() {
				if !s.Sessions.Exists(ctx, sessionUserKey) {
					return
				}
				// The handler's transaction has committed: the position
				// now is at or past the user's write.
				if lsn, err := s.reader.PrimaryLSN(ctx); err == nil {
					http.SetCookie(c.Response(), &http.Cookie{Name: lsnCookie, Value: strconv.FormatInt(int64(lsn), 10), Path: "/",
						HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.Sessions.Cookie.Secure})
				}
			})
		}
		return next(c)
	}
}

func staleReadPath(p string) bool {
	for _, pre := range staleReadPrefixes {
		if p == pre || strings.HasPrefix(p, pre+"/") || strings.HasPrefix(p, pre+".") {
			return true
		}
	}
	return false
}

// readPage runs next on the request pinned as ctx, and once more on the
// standby should it fail for want of the primary before anything of the
// answer was written (db.Reader.ReadPage): a read that lost the primary
// halfway through its rows fails the page no more.
func (s *Server) readPage(ctx context.Context, c echo.Context, next echo.HandlerFunc) error {
	req := c.Request()
	return s.reader.ReadPage(ctx, func(ctx context.Context) error {
		c.SetRequest(req.WithContext(ctx))
		return next(c)
	}, func() bool { return !c.Response().Committed })
}

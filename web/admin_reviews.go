package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/auth"
	adminview "github.com/seed75218f88/credits/views/admin"
)

// reviewPage is how many orders one page of the review queue shows.
const reviewPage = 50

// adminReviewRoutes: payment orders under review (finance).
func (s *Server) adminReviewRoutes(g *echo.Group) {
	s.adminRoute(g, http.MethodGet, "/reviews", "admin.reviews", s.AdminReviews, auth.RoleFinance)
	s.adminRoute(g, http.MethodPost, "/reviews/:no", "admin.review.resolve", s.AdminResolveReview, auth.RoleFinance)
}

// AdminReviews lists the payment orders in needs_review (paid twice, paid
// after closing, a bill or plan paid already, a channel mismatch), newest
// first, each with its resolve form.
func (s *Server) AdminReviews(c echo.Context) error {
	return s.reviewsPage(c, http.StatusOK, "", nil)
}

func (s *Server) reviewsPage(c echo.Context, status int, failed string, errs adminview.Errors) error {
	before, _ := strconv.ParseInt(c.QueryParam("before"), 10, 64)
	orders, next, err := s.pay.svc.ReviewQueue(c.Request().Context(), before, reviewPage)
	if err != nil {
		return err
	}
	v := adminview.ReviewsView{Frame: adminFrame(c, "admin.reviews"), Failed: failed, Errors: errs}
	for _, o := range orders {
		r := adminview.ReviewRow{OrderNo: o.OrderNo, AccountID: o.AccountID, Channel: string(o.Channel),
			Amount: decimal.New(o.AmountFen, -2), Purpose: string(o.Purpose), Reason: o.ReviewReason, At: o.UpdatedAt}
		if o.PaidFen != nil {
			r.Paid = decimal.New(*o.PaidFen, -2)
			r.CanAccept = *o.PaidFen == o.AmountFen
		}
		v.Rows = append(v.Rows, r)
	}
	if next != 0 {
		v.NextURL = s.URL("admin.reviews") + "?before=" + strconv.FormatInt(next, 10)
	}
	switch d := c.QueryParam("done"); d {
	case "credited", "refunded", "already":
		v.Flash = tr(c, "admin.reviews.done_"+d)
	}
	return Render(c, status, adminview.Reviews(v), nil)
}

// AdminResolveReview settles one order under review: credit it as quoted
// (outcome credit) or refund the payment through its channel (refund),
// with a required reason; payments audits it. A repeat finds it settled.
func (s *Server) AdminResolveReview(c echo.Context) error {
	no := c.Param("no")
	// The form's two buttons send credit or refund; anything else is not
	// taken for either (a refund moves money).
	outcome := c.FormValue("outcome")
	if outcome != "credit" && outcome != "refund" {
		return echo.NewHTTPError(http.StatusBadRequest)
	}
	accept := outcome == "credit"
	_, resolved, err := s.pay.svc.ResolveReviewAudited(c.Request().Context(), no, accept, actor(c), strings.TrimSpace(c.FormValue("reason")))
	if err != nil {
		errs, status, ok := s.fieldErrors(c, err)
		if !ok {
			return err
		}
		return s.reviewsPage(c, status, no, errs)
	}
	done := "refunded"
	switch {
	case !resolved:
		done = "already"
	case accept:
		done = "credited"
	}
	return HXRedirect(c, s.URL("admin.reviews")+"?done="+done)
}

package web

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/skip2/go-qrcode"

	"github.com/seed75218f88/credits/internal/autotopup"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/platform/format"
	pv "github.com/seed75218f88/credits/views/portal"
)

// autoTopUpRoutes registers the portal's auto top-up page and the
// channels' agreement notifies (outside sign-in and CSRF, like the payment
// notifies).
func (s *Server) autoTopUpRoutes(e *echo.Echo, g *echo.Group) {
	named(g.GET("/auto-topup", s.AutoTopUp), "portal.autotopup")
	named(g.POST("/auto-topup/sign", s.AutoTopUpSign), "portal.autotopup.sign")
	named(g.POST("/auto-topup/settings", s.AutoTopUpSettings), "portal.autotopup.settings")
	named(g.POST("/auto-topup/pause", s.AutoTopUpPause), "portal.autotopup.pause")
	named(g.POST("/auto-topup/resume", s.AutoTopUpResume), "portal.autotopup.resume")
	named(g.POST("/auto-topup/unsign", s.AutoTopUpUnsign), "portal.autotopup.unsign")
	named(e.POST(payments.NotifyPathWeChatContract, s.WeChatContractNotify), "pay.notify.wechat.contract")
	named(e.POST(payments.NotifyPathAlipayAgreement, s.AlipayAgreementNotify), "pay.notify.alipay.agreement")
}

// AutoTopUp shows the account's agreement, settings and history.
func (s *Server) AutoTopUp(c echo.Context) error {
	v, err := s.autoTopUpView(c, nil)
	if err != nil {
		return err
	}
	v.Flash = c.QueryParam("done")
	return Render(c, http.StatusOK, pv.AutoTopUp(v), nil)
}

// AutoTopUpSign starts signing at the chosen channel and shows its QR code.
func (s *Server) AutoTopUpSign(c echo.Context) error {
	cu := customerOf(c)
	if cu.Account.Kind == ledger.AccountSub {
		return echo.ErrForbidden
	}
	sg, err := s.autoTopUp.StartSigning(c.Request().Context(), cu.Account.ID, payments.Channel(c.FormValue("channel")),
		fmt.Sprintf("credits %d", cu.Account.ID), s.actor(c), s.Config.BaseURL+s.URL("portal.autotopup"))
	if err != nil {
		return err
	}
	v, err := s.autoTopUpView(c, nil)
	if err != nil {
		return err
	}
	png, err := qrcode.Encode(sg.URL, qrcode.Medium, 256)
	if err != nil {
		return fmt.Errorf("web: signing qr code: %w", err)
	}
	v.SignURL, v.SignQR = sg.URL, "data:image/png;base64,"+base64.StdEncoding.EncodeToString(png)
	v.SignChannel = string(sg.Agreement.Channel)
	return Render(c, http.StatusOK, pv.AutoTopUp(v), nil)
}

// AutoTopUpSettings stores the threshold, tier and cap; every field in
// error is shown at once with what was typed.
func (s *Server) AutoTopUpSettings(c echo.Context) error {
	cu := customerOf(c)
	if cu.Account.Kind == ledger.AccountSub {
		return echo.ErrForbidden
	}
	form := pv.AutoTopUpForm{Mode: c.FormValue("mode"), Threshold: format.NormalizeDigits(c.FormValue("threshold")),
		Tier: c.FormValue("tier"), Cap: format.NormalizeDigits(c.FormValue("monthly_cap"))}
	_, err := s.autoTopUp.SaveSettings(c.Request().Context(), cu.Account.ID,
		autotopup.SettingsInput{Mode: form.Mode, Threshold: form.Threshold, TierYuan: form.Tier, MonthlyCap: form.Cap}, s.actor(c))
	if fe, ok := fielderr.As(err); ok {
		form.Errors = fieldMessages(c, fe)
		v, verr := s.autoTopUpView(c, &form)
		if verr != nil {
			return verr
		}
		return Render(c, http.StatusUnprocessableEntity, pv.AutoTopUp(v), nil)
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, s.URL("portal.autotopup")+"?done=saved")
}

// AutoTopUpPause pauses top-ups.
func (s *Server) AutoTopUpPause(c echo.Context) error {
	if _, err := s.autoTopUp.Pause(c.Request().Context(), customerOf(c).Account.ID, s.actor(c)); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, s.URL("portal.autotopup")+"?done=paused")
}

// AutoTopUpResume resumes top-ups.
func (s *Server) AutoTopUpResume(c echo.Context) error {
	if _, err := s.autoTopUp.Resume(c.Request().Context(), customerOf(c).Account.ID, s.actor(c)); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, s.URL("portal.autotopup")+"?done=resumed")
}

// AutoTopUpUnsign ends the agreement at the channel.
func (s *Server) AutoTopUpUnsign(c echo.Context) error {
	if err := s.autoTopUp.Unsign(c.Request().Context(), customerOf(c).Account.ID, s.actor(c)); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, s.URL("portal.autotopup")+"?done=unsigned")
}

// WeChatContractNotify is WeChat Pay's contract notify (signed, terminated).
func (s *Server) WeChatContractNotify(c echo.Context) error {
	return s.agreementNotify(c, payments.ChannelWeChat)
}

// AlipayAgreementNotify is Alipay's agreement notify (dut_user_sign / unsign).
func (s *Server) AlipayAgreementNotify(c echo.Context) error {
	return s.agreementNotify(c, payments.ChannelAlipay)
}

func (s *Server) agreementNotify(c echo.Context, ch payments.Channel) error {
	body, err := io.ReadAll(c.Request().Body)
	if err == nil {
		err = s.autoTopUp.HandleAgreementNotify(c.Request().Context(), ch, c.Request().Header, body)
	} else {
		err = fmt.Errorf("%w: %w", payments.ErrMalformedNotify, err)
	}
	if err != nil {
		s.Logger.Warn("agreement notify", "channel", ch, "error", err)
	}
	return s.answerNotify(c, ch, err)
}

// actor is the signed-in customer as auto top-up records them.
func (s *Server) actor(c echo.Context) autotopup.Actor {
	cu := customerOf(c)
	return autotopup.Actor{UserID: cu.User.ID, Email: cu.User.Login(), IP: ClientIP(c)}
}

// autoTopUpView builds the page; form, when given, keeps what was typed.
func (s *Server) autoTopUpView(c echo.Context, form *pv.AutoTopUpForm) (pv.AutoTopUpView, error) {
	ctx := c.Request().Context()
	cu := customerOf(c)
	v := pv.AutoTopUpView{Frame: s.frame(c, "portal.autotopup"), Sub: cu.Account.Kind == ledger.AccountSub}
	if v.Sub {
		return v, nil
	}
	for _, ch := range []payments.Channel{payments.ChannelWeChat, payments.ChannelAlipay} {
		if _, err := s.pay.svc.AgreementChannel(ch); err == nil {
			v.Channels = append(v.Channels, string(ch))
		}
	}
	for _, q := range s.pay.svc.Tiers() {
		v.Tiers = append(v.Tiers, pv.AutoTopUpTier{Value: q.AmountYuan().String(), Label: "¥" + q.AmountYuan().StringFixed(2)})
	}
	a, err := s.autoTopUp.Current(ctx, cu.Account.ID)
	switch {
	case errors.Is(err, autotopup.ErrNotFound):
	case err != nil:
		return v, err
	default:
		v.Agreement = &pv.AutoTopUpAgreement{Channel: string(a.Channel), State: string(a.State), PauseReason: a.PauseReason,
			AgreementNo: a.AgreementNo, SignedAt: a.SignedAt}
	}
	if form != nil {
		v.Form = *form
	} else {
		v.Form = pv.AutoTopUpForm{Mode: autotopup.ModeCredits}
		st, err := s.autoTopUp.GetSettings(ctx, cu.Account.ID)
		switch {
		case errors.Is(err, autotopup.ErrNotFound):
			if len(v.Tiers) > 0 {
				v.Form.Tier = v.Tiers[0].Value
			}
		case err != nil:
			return v, err
		default:
			v.Form.Tier, v.Form.Cap = pv.Yuan(st.TierFen), pv.Yuan(st.MonthlyCapFen)
			if st.ThresholdCredits != nil {
				v.Form.Threshold = st.ThresholdCredits.String()
			} else if st.ThresholdShare != nil {
				v.Form.Mode, v.Form.Threshold = autotopup.ModePercent, st.ThresholdShare.Shift(2).String()
			}
			v.HasSettings = true
		}
	}
	runs, err := s.autoTopUp.Runs(ctx, cu.Account.ID, 20)
	if err != nil {
		return v, err
	}
	for _, r := range runs {
		v.Runs = append(v.Runs, pv.AutoTopUpRun{At: r.CreatedAt, Purpose: r.Purpose, OrderNo: r.OrderNo, Amount: pv.Yuan(r.AmountFen), State: r.State,
			Attempts: r.Attempts, Reason: r.LastError})
	}
	hist, err := s.autoTopUp.History(ctx, cu.Account.ID, 30)
	if err != nil {
		return v, err
	}
	for _, h := range hist {
		reason, _ := h.Detail["reason"].(string)
		v.History = append(v.History, pv.AutoTopUpHistory{At: h.At, Kind: h.Kind, Reason: reason})
	}
	return v, nil
}

package web

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/payments/alipay"
	"github.com/seed75218f88/credits/internal/payments/wechatpay"
)

// WeChatNotify is WeChat Pay's payment notify (POST /pay/notify/wechat). The
// body is passed on exactly as received, since its signature covers the
// bytes. It answers 204 when the notify was applied or is a repeat, 401
// when its signature does not verify, 400 when it cannot be read and 500
// otherwise, so that WeChat Pay retries.
func (s *Server) WeChatNotify(c echo.Context) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return s.answerNotify(c, payments.ChannelWeChat, fmt.Errorf("%w: %w", payments.ErrMalformedNotify, err))
	}
	out, err := s.pay.svc.HandleWeChatNotify(c.Request().Context(), c.Request().Header, body)
	s.logNotify(c, payments.ChannelWeChat, out, err)
	return s.answerNotify(c, payments.ChannelWeChat, err)
}

// AlipayNotify is Alipay's async notify (POST /pay/notify/alipay), a form.
// It answers "success" when the notify was applied or is a repeat, and
// otherwise as WeChatNotify.
func (s *Server) AlipayNotify(c echo.Context) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return s.answerNotify(c, payments.ChannelAlipay, fmt.Errorf("%w: %w", payments.ErrMalformedNotify, err))
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return s.answerNotify(c, payments.ChannelAlipay, fmt.Errorf("%w: %w", payments.ErrMalformedNotify, err))
	}
	out, err := s.pay.svc.HandleAlipayNotify(c.Request().Context(), form)
	s.logNotify(c, payments.ChannelAlipay, out, err)
	return s.answerNotify(c, payments.ChannelAlipay, err)
}

// answerNotify writes the channel's acknowledgement, or a refusal whose
// status comes from the error table (401 bad signature, 400 malformed, 500
// otherwise).
func (s *Server) answerNotify(c echo.Context, ch payments.Channel, err error) error {
	w := c.Response()
	if err == nil {
		if ch == payments.ChannelAlipay {
			alipay.AnswerSuccess(w)
		} else {
			wechatpay.AnswerSuccess(w)
		}
		return nil
	}
	status := s.LookupError(err).Status
	if !errors.Is(err, payments.ErrBadSignature) && !errors.Is(err, payments.ErrMalformedNotify) {
		status = http.StatusInternalServerError
	}
	if ch == payments.ChannelAlipay {
		alipay.AnswerFailure(w, status)
	} else {
		wechatpay.AnswerFailure(w, status, http.StatusText(status))
	}
	return nil
}

// logNotify records what a notify did (never its content).
func (s *Server) logNotify(c echo.Context, ch payments.Channel, out payments.NotifyOutcome, err error) {
	level, attrs := slog.LevelInfo, []slog.Attr{
		slog.String("channel", string(ch)), slog.String("order_no", out.OrderNo), slog.String("result", string(out.Result)),
		slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
	}
	if err != nil {
		level = slog.LevelWarn
		if !errors.Is(err, payments.ErrBadSignature) && !errors.Is(err, payments.ErrMalformedNotify) {
			level = slog.LevelError
		}
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	s.Logger.LogAttrs(c.Request().Context(), level, "payment notify", attrs...)
}

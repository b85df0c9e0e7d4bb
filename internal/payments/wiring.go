package payments

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/seed75218f88/credits/internal/payments/alipay"
	"github.com/seed75218f88/credits/internal/payments/paysim"
	"github.com/seed75218f88/credits/internal/payments/wechatpay"
	"github.com/seed75218f88/credits/internal/platform/db"
)

// Notify paths, relative to the portal's BASE_URL.
const (
	NotifyPathWeChat = "/pay/notify/wechat"
	NotifyPathAlipay = "/pay/notify/alipay"
)

// ChannelsFromEnv builds the QR channels from the WECHATPAY_* and ALIPAY_*
// settings read through getenv (see wechatpay.Settings and alipay.Settings).
// A channel whose merchant id (WECHATPAY_MCH_ID, ALIPAY_APP_ID) is unset is
// left nil (unavailable). Notify URLs default to baseURL + NotifyPathWeChat
// and NotifyPathAlipay.
//
// With sandbox true (PAYMENT_SANDBOX), unset channel settings are filled
// from the development keys of `credits paysim`: the directory PAYSIM_KEY_DIR
// (default .data/paysim in the project root) and the sandbox at PAYSIM_PUBLIC_URL (default
// http://PAYSIM_ADDR, http://127.0.0.1:8090); the keys are created there
// when missing, so the server and the sandbox agree whichever starts first.
// Errors name the setting at fault, never a key's content.
func ChannelsFromEnv(getenv func(string) string, baseURL string, sandbox bool) (Channels, error) {
	env := getenv
	if sandbox {
		dir := getenv("PAYSIM_KEY_DIR")
		if dir == "" {
			dir = filepath.Join(db.ProjectRoot(), ".data", "paysim")
		}
		simURL := strings.TrimRight(getenv("PAYSIM_PUBLIC_URL"), "/")
		if simURL == "" {
			addr := getenv("PAYSIM_ADDR")
			if addr == "" {
				addr = "127.0.0.1:8090"
			}
			simURL = "http://" + addr
		}
		keys, err := paysim.LoadOrCreateDevKeys(dir)
		if err != nil {
			return Channels{}, fmt.Errorf("PAYSIM_KEY_DIR: %w", err)
		}
		defaults := map[string]string{}
		for _, kv := range keys.Env(simURL) {
			k, v, _ := strings.Cut(kv, "=")
			defaults[k] = v
		}
		env = func(k string) string {
			if v := getenv(k); v != "" {
				return v
			}
			return defaults[k]
		}
	}
	base := strings.TrimRight(baseURL, "/")
	var ch Channels
	if env("WECHATPAY_MCH_ID") != "" {
		s := wechatpay.SettingsFromEnv(env)
		if s.NotifyURL == "" {
			s.NotifyURL = base + NotifyPathWeChat
		}
		c, err := s.Client()
		if err != nil {
			return Channels{}, err
		}
		ch.WeChat = WeChatChannel(c)
	}
	if env("ALIPAY_APP_ID") != "" {
		s := alipay.SettingsFromEnv(env)
		if s.NotifyURL == "" {
			s.NotifyURL = base + NotifyPathAlipay
		}
		c, err := s.Client()
		if err != nil {
			return Channels{}, err
		}
		ch.Alipay = AlipayChannel(c, s.SellerID)
	}
	return ch, nil
}

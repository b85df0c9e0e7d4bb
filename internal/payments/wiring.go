package payments

import (
	"fmt"
	"strings"

	"github.com/seed75218f88/credits/internal/payments/alipay"
	"github.com/seed75218f88/credits/internal/payments/paysim"
	"github.com/seed75218f88/credits/internal/payments/wechatpay"
)

// Notify paths, relative to the portal's BASE_URL.
const (
	NotifyPathWeChat = "/pay/notify/wechat"
	NotifyPathAlipay = "/pay/notify/alipay"
	// Agreement payments: contract signing and termination notifies.
	NotifyPathWeChatContract  = "/pay/notify/wechat/contract"
	NotifyPathAlipayAgreement = "/pay/notify/alipay/agreement"
)

// Sandbox is the development payment sandbox (`credits paysim`): its URL
// and the directory of its development keys (config.Paysim).
type Sandbox struct {
	URL, KeyDir string
}

// BuildChannels builds the QR channels from their settings (config reads
// them from WECHATPAY_* and ALIPAY_*). A channel whose merchant id is unset
// is left nil (unavailable); with a sandbox, every unset setting is the
// sandbox's, with its development keys, created in sandbox.KeyDir when missing
// so the server and the sandbox agree whichever starts first. Unset notify
// URLs default to baseURL + NotifyPathWeChat and NotifyPathAlipay. Errors
// name the setting at fault, never a key's content.
func BuildChannels(we wechatpay.Settings, ali alipay.Settings, baseURL string, sandbox *Sandbox) (Channels, error) {
	if sandbox != nil {
		keys, err := paysim.LoadOrCreateDevKeys(sandbox.KeyDir)
		if err != nil {
			return Channels{}, fmt.Errorf("PAYSIM_KEY_DIR: %w", err)
		}
		url := strings.TrimRight(sandbox.URL, "/")
		we = fillWeChat(we, keys.WeChatSettings(url))
		ali = fillAlipay(ali, keys.AlipaySettings(url))
	}
	base := strings.TrimRight(baseURL, "/")
	var ch Channels
	if we.MchID != "" {
		if we.NotifyURL == "" {
			we.NotifyURL = base + NotifyPathWeChat
		}
		if we.ContractNotifyURL == "" {
			we.ContractNotifyURL = base + NotifyPathWeChatContract
		}
		c, err := we.Client()
		if err != nil {
			return Channels{}, err
		}
		ch.WeChat = WeChatChannel(c)
	}
	if ali.AppID != "" {
		if ali.NotifyURL == "" {
			ali.NotifyURL = base + NotifyPathAlipay
		}
		if ali.AgreementNotifyURL == "" {
			ali.AgreementNotifyURL = base + NotifyPathAlipayAgreement
		}
		c, err := ali.Client()
		if err != nil {
			return Channels{}, err
		}
		ch.Alipay = AlipayChannel(c, ali.SellerID)
	}
	return ch, nil
}

// fillWeChat takes each setting from s, or from def where s leaves it unset.
func fillWeChat(s, def wechatpay.Settings) wechatpay.Settings {
	for _, f := range []struct {
		dst *string
		v   string
	}{
		{&s.BaseURL, def.BaseURL}, {&s.MchID, def.MchID}, {&s.AppID, def.AppID}, {&s.PrivateKeyFile, def.PrivateKeyFile},
		{&s.CertSerial, def.CertSerial}, {&s.APIv3KeyFile, def.APIv3KeyFile},
		{&s.PlatformPublicKeyFile, def.PlatformPublicKeyFile}, {&s.PlatformSerial, def.PlatformSerial},
		{&s.PapayPlanID, def.PapayPlanID},
	} {
		if *f.dst == "" {
			*f.dst = f.v
		}
	}
	return s
}

// fillAlipay takes each setting from s, or from def where s leaves it unset.
func fillAlipay(s, def alipay.Settings) alipay.Settings {
	for _, f := range []struct {
		dst *string
		v   string
	}{
		{&s.GatewayURL, def.GatewayURL}, {&s.AppID, def.AppID}, {&s.SellerID, def.SellerID},
		{&s.PrivateKeyFile, def.PrivateKeyFile}, {&s.PublicKeyFile, def.PublicKeyFile},
	} {
		if *f.dst == "" {
			*f.dst = f.v
		}
	}
	return s
}

package paysim

import (
	"crypto/rsa"
	"fmt"
	"path/filepath"

	"github.com/seed75218f88/credits/internal/payments/alipay"
	"github.com/seed75218f88/credits/internal/payments/paykey"
	"github.com/seed75218f88/credits/internal/payments/wechatpay"
)

// Development identities of the sandbox. The WeChat appid is the example
// appid of WeChat Pay's documentation; the others are obviously fake.
const (
	DevWeChatMchID  = "1900000109"
	DevWeChatAppID  = "wxd930ea5d5a258f4f"
	DevAlipayAppID  = "2021000000000001"
	DevAlipaySeller = "2088000000000001"
)

// DevKeys is the key material of a development setup, persisted in one
// directory (.data/paysim by default) so that the sandbox and our server,
// started separately, agree on it. Both sides' keys are here because in
// development we play both parties; in production only ours exist, and the
// providers' public keys come from their consoles.
type DevKeys struct {
	Dir string

	WeChatMerchantKey    *rsa.PrivateKey // ours: signs our WeChat Pay requests
	WeChatMerchantSerial string
	WeChatPlatformKey    *rsa.PrivateKey // the sandbox's: signs answers and notifies
	WeChatPlatformSerial string
	WeChatAPIv3Key       paykey.Secret

	AlipayAppKey *rsa.PrivateKey // ours: signs our Alipay requests
	AlipayKey    *rsa.PrivateKey // the sandbox's: signs answers and notifies
}

// File names inside DevKeys.Dir.
const (
	FileWeChatMerchant = "wechat_merchant" // _private.pem / _public.pem
	FileWeChatPlatform = "wechat_platform"
	FileWeChatAPIv3Key = "wechat_apiv3.key"
	FileAlipayApp      = "alipay_app"
	FileAlipay         = "alipay"
)

// LoadOrCreateDevKeys loads the development keys from dir, generating and
// writing whatever is missing.
func LoadOrCreateDevKeys(dir string) (DevKeys, error) {
	k := DevKeys{Dir: dir}
	var err error
	if k.WeChatMerchantKey, err = paykey.LoadOrCreatePair(dir, FileWeChatMerchant); err != nil {
		return k, err
	}
	if k.WeChatPlatformKey, err = paykey.LoadOrCreatePair(dir, FileWeChatPlatform); err != nil {
		return k, err
	}
	if k.WeChatAPIv3Key, err = paykey.LoadOrCreateSecret(filepath.Join(dir, FileWeChatAPIv3Key), 32); err != nil {
		return k, err
	}
	if len(k.WeChatAPIv3Key) != 32 {
		return k, fmt.Errorf("paysim: %s must hold 32 characters", filepath.Join(dir, FileWeChatAPIv3Key))
	}
	if k.AlipayAppKey, err = paykey.LoadOrCreatePair(dir, FileAlipayApp); err != nil {
		return k, err
	}
	if k.AlipayKey, err = paykey.LoadOrCreatePair(dir, FileAlipay); err != nil {
		return k, err
	}
	k.WeChatMerchantSerial = paykey.Serial(&k.WeChatMerchantKey.PublicKey)
	k.WeChatPlatformSerial = paykey.Serial(&k.WeChatPlatformKey.PublicKey)
	return k, nil
}

// Config is the sandbox configuration for these keys.
func (k DevKeys) Config() Config {
	return Config{
		WeChat: WeChatConfig{
			MchID: DevWeChatMchID, AppID: DevWeChatAppID,
			MerchantPublicKeys: map[string]*rsa.PublicKey{k.WeChatMerchantSerial: &k.WeChatMerchantKey.PublicKey},
			PlatformKey:        k.WeChatPlatformKey, PlatformSerial: k.WeChatPlatformSerial,
			APIv3Key: k.WeChatAPIv3Key,
		},
		Alipay: AlipayConfig{
			AppID: DevAlipayAppID, SellerID: DevAlipaySeller,
			AppPublicKey: &k.AlipayAppKey.PublicKey, AlipayKey: k.AlipayKey,
		},
	}
}

// Env lists the settings that point our server at a sandbox reachable at
// sandboxURL with these keys (file paths, never key contents).
func (k DevKeys) Env(sandboxURL string) []string {
	w, a := k.WeChatSettings(sandboxURL), k.AlipaySettings(sandboxURL)
	return []string{
		"WECHATPAY_BASE_URL=" + w.BaseURL,
		"WECHATPAY_MCH_ID=" + w.MchID,
		"WECHATPAY_APP_ID=" + w.AppID,
		"WECHATPAY_PRIVATE_KEY_FILE=" + w.PrivateKeyFile,
		"WECHATPAY_CERT_SERIAL=" + w.CertSerial,
		"WECHATPAY_APIV3_KEY_FILE=" + w.APIv3KeyFile,
		"WECHATPAY_PLATFORM_PUBLIC_KEY_FILE=" + w.PlatformPublicKeyFile,
		"WECHATPAY_PLATFORM_SERIAL=" + w.PlatformSerial,
		"WECHATPAY_PAPAY_PLAN_ID=" + w.PapayPlanID,
		"ALIPAY_GATEWAY_URL=" + a.GatewayURL,
		"ALIPAY_APP_ID=" + a.AppID,
		"ALIPAY_SELLER_ID=" + a.SellerID,
		"ALIPAY_PRIVATE_KEY_FILE=" + a.PrivateKeyFile,
		"ALIPAY_PUBLIC_KEY_FILE=" + a.PublicKeyFile,
	}
}

// DevWeChatPapayPlanID is the sandbox's 委托代扣 template id.
const DevWeChatPapayPlanID = "12535"

// WeChatSettings point a WeChat Pay client at the sandbox at sandboxURL
// with these keys.
func (k DevKeys) WeChatSettings(sandboxURL string) wechatpay.Settings {
	f := func(name string) string { return filepath.Join(k.Dir, name) }
	return wechatpay.Settings{BaseURL: sandboxURL, MchID: DevWeChatMchID, AppID: DevWeChatAppID,
		PrivateKeyFile: f(FileWeChatMerchant + "_private.pem"), CertSerial: k.WeChatMerchantSerial,
		APIv3KeyFile: f(FileWeChatAPIv3Key), PlatformPublicKeyFile: f(FileWeChatPlatform + "_public.pem"),
		PlatformSerial: k.WeChatPlatformSerial, PapayPlanID: DevWeChatPapayPlanID}
}

// AlipaySettings point an Alipay client at the sandbox at sandboxURL with
// these keys.
func (k DevKeys) AlipaySettings(sandboxURL string) alipay.Settings {
	f := func(name string) string { return filepath.Join(k.Dir, name) }
	return alipay.Settings{GatewayURL: sandboxURL + "/gateway.do", AppID: DevAlipayAppID, SellerID: DevAlipaySeller,
		PrivateKeyFile: f(FileAlipayApp + "_private.pem"), PublicKeyFile: f(FileAlipay + "_public.pem")}
}

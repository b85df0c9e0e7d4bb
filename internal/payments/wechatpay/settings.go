package wechatpay

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"strconv"

	"github.com/seed75218f88/credits/internal/payments/paykey"
)

// Settings are the WeChat Pay settings as they appear in the environment:
// identifiers and file paths, never key contents.
type Settings struct {
	BaseURL               string // WECHATPAY_BASE_URL (default DefaultBaseURL)
	MchID                 string // WECHATPAY_MCH_ID
	AppID                 string // WECHATPAY_APP_ID
	PrivateKeyFile        string // WECHATPAY_PRIVATE_KEY_FILE (merchant key, PEM)
	CertSerial            string // WECHATPAY_CERT_SERIAL (merchant certificate serial)
	APIv3KeyFile          string // WECHATPAY_APIV3_KEY_FILE (32 characters)
	PlatformPublicKeyFile string // WECHATPAY_PLATFORM_PUBLIC_KEY_FILE (PEM key or certificate)
	PlatformSerial        string // WECHATPAY_PLATFORM_SERIAL (serial or PUB_KEY_ID_…)
	NotifyURL             string // WECHATPAY_NOTIFY_URL (default: BASE_URL + /pay/notify/wechat)
	// PapayPlanID is the 委托代扣 template id (WECHATPAY_PAPAY_PLAN_ID);
	// empty: agreement payments by WeChat Pay are off.
	PapayPlanID       string
	ContractNotifyURL string // WECHATPAY_CONTRACT_NOTIFY_URL (default: BASE_URL + /pay/notify/wechat/contract)
}

// Client loads the key files and builds a client. Errors name the setting
// at fault, never a key's content.
func (s Settings) Client() (*Client, error) {
	for name, v := range map[string]string{
		"WECHATPAY_MCH_ID": s.MchID, "WECHATPAY_APP_ID": s.AppID, "WECHATPAY_PRIVATE_KEY_FILE": s.PrivateKeyFile,
		"WECHATPAY_CERT_SERIAL": s.CertSerial, "WECHATPAY_APIV3_KEY_FILE": s.APIv3KeyFile,
		"WECHATPAY_PLATFORM_PUBLIC_KEY_FILE": s.PlatformPublicKeyFile, "WECHATPAY_PLATFORM_SERIAL": s.PlatformSerial,
	} {
		if v == "" {
			return nil, fmt.Errorf("wechatpay: %s is not set", name)
		}
	}
	priv, err := paykey.LoadPrivateKey(s.PrivateKeyFile)
	if err != nil {
		return nil, fmt.Errorf("WECHATPAY_PRIVATE_KEY_FILE: %w", err)
	}
	v3, err := paykey.LoadSecret(s.APIv3KeyFile)
	if err != nil {
		return nil, fmt.Errorf("WECHATPAY_APIV3_KEY_FILE: %w", err)
	}
	if len(v3) != 32 {
		return nil, errors.New("WECHATPAY_APIV3_KEY_FILE: the APIv3 key must be 32 bytes")
	}
	pub, err := paykey.LoadPublicKey(s.PlatformPublicKeyFile)
	if err != nil {
		return nil, fmt.Errorf("WECHATPAY_PLATFORM_PUBLIC_KEY_FILE: %w", err)
	}
	var planID int64
	if s.PapayPlanID != "" {
		if planID, err = strconv.ParseInt(s.PapayPlanID, 10, 64); err != nil || planID <= 0 {
			return nil, errors.New("WECHATPAY_PAPAY_PLAN_ID: not a positive integer")
		}
	}
	base := s.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	return &Client{
		BaseURL: base, MchID: s.MchID, AppID: s.AppID, MerchantCertSerial: s.CertSerial,
		MerchantPrivateKey: priv, APIv3Key: v3,
		PlatformPublicKeys: map[string]*rsa.PublicKey{s.PlatformSerial: pub}, NotifyURL: s.NotifyURL,
		ContractNotifyURL: s.ContractNotifyURL, PapayPlanID: planID,
	}, nil
}

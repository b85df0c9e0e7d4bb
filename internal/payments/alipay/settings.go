package alipay

import (
	"fmt"

	"github.com/seed75218f88/credits/internal/payments/paykey"
)

// Settings are the Alipay settings as they appear in the environment:
// identifiers and file paths, never key contents.
type Settings struct {
	GatewayURL     string // ALIPAY_GATEWAY_URL (default DefaultGatewayURL)
	AppID          string // ALIPAY_APP_ID
	SellerID       string // ALIPAY_SELLER_ID (2088…, to check notifies; optional)
	PrivateKeyFile string // ALIPAY_PRIVATE_KEY_FILE (application key: PEM or bare base64)
	PublicKeyFile  string // ALIPAY_PUBLIC_KEY_FILE (Alipay's public key: PEM or bare base64)
	NotifyURL      string // ALIPAY_NOTIFY_URL (default: BASE_URL + /pay/notify/alipay)
	// AgreementNotifyURL: ALIPAY_AGREEMENT_NOTIFY_URL (default: BASE_URL +
	// /pay/notify/alipay/agreement).
	AgreementNotifyURL string
}

// Client loads the key files and builds a client. Errors name the setting
// at fault, never a key's content.
func (s Settings) Client() (*Client, error) {
	for name, v := range map[string]string{"ALIPAY_APP_ID": s.AppID, "ALIPAY_PRIVATE_KEY_FILE": s.PrivateKeyFile, "ALIPAY_PUBLIC_KEY_FILE": s.PublicKeyFile} {
		if v == "" {
			return nil, fmt.Errorf("alipay: %s is not set", name)
		}
	}
	priv, err := paykey.LoadPrivateKey(s.PrivateKeyFile)
	if err != nil {
		return nil, fmt.Errorf("ALIPAY_PRIVATE_KEY_FILE: %w", err)
	}
	pub, err := paykey.LoadPublicKey(s.PublicKeyFile)
	if err != nil {
		return nil, fmt.Errorf("ALIPAY_PUBLIC_KEY_FILE: %w", err)
	}
	gw := s.GatewayURL
	if gw == "" {
		gw = DefaultGatewayURL
	}
	return &Client{GatewayURL: gw, AppID: s.AppID, PrivateKey: priv, AlipayPublicKey: pub, NotifyURL: s.NotifyURL, AgreementNotifyURL: s.AgreementNotifyURL}, nil
}

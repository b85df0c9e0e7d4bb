package alipay

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// 商家扣款 (agreement payments) lets a customer sign once and the merchant
// debit later. It follows Alipay's documentation:
//   - alipay.user.agreement.page.sign (https://opendocs.alipay.com/open/02fkan,
//     https://opendocs.alipay.com/apis/api_2/alipay.user.agreement.page.sign):
//     a page method like alipay.trade.wap.pay — the customer's browser (or a
//     QR code of the URL) goes to the gateway with the signed parameters.
//     biz_content: personal_product_code GENERAL_WITHHOLDING_P, product_code
//     GENERAL_WITHHOLDING, sign_scene, external_agreement_no,
//     external_logon_id, access_params{channel}.
//   - the signing/unsigning notify (notify_type dut_user_sign / dut_user_unsign,
//     status NORMAL / UNSIGN, agreement_no, external_agreement_no,
//     alipay_user_id, sign_time, invalid_time), verified like every async
//     notify (https://opendocs.alipay.com/common/02mse7).
//   - the debit: alipay.trade.pay (https://opendocs.alipay.com/apis/api_1/alipay.trade.pay)
//     with product_code GENERAL_WITHHOLDING and agreement_params{agreement_no};
//     it answers synchronously and also posts the trade_status_sync notify
//     (ParseNotify). The same out_trade_no is the same trade at Alipay.
//   - alipay.user.agreement.query and alipay.user.agreement.unsign
//     (https://opendocs.alipay.com/apis/api_2/alipay.user.agreement.query,
//     …/alipay.user.agreement.unsign).

// Methods and codes of agreement payments.
const (
	MethodAgreementPageSign = "alipay.user.agreement.page.sign"
	MethodAgreementQuery    = "alipay.user.agreement.query"
	MethodAgreementUnsign   = "alipay.user.agreement.unsign"
	MethodTradePay          = "alipay.trade.pay"

	PersonalProductWithholding = "GENERAL_WITHHOLDING_P"
	ProductWithholding         = "GENERAL_WITHHOLDING"
	// SignSceneDefault is the scene of a merchant without an agreed
	// industry scene; the real one comes with the merchant's contract.
	SignSceneDefault = "DEFAULT|DEFAULT"

	NotifyTypeSign   = "dut_user_sign"
	NotifyTypeUnsign = "dut_user_unsign"

	// Agreement statuses: NORMAL is in force; TEMP is signed-but-not-yet
	// effective; STOP is suspended; UNSIGN is ended.
	AgreementNormal = "NORMAL"
	AgreementTemp   = "TEMP"
	AgreementStop   = "STOP"
	AgreementUnsign = "UNSIGN"
)

// Deduction failure classes; errors.Is on an *APIError answer of
// alipay.trade.pay tells the caller what to do next.
var (
	// ErrInsufficientFunds: the payer's balance and cards could not cover it.
	ErrInsufficientFunds = errors.New("alipay: payer has insufficient funds")
	// ErrAgreementRevoked: the agreement is unsigned, stopped or unknown.
	ErrAgreementRevoked = errors.New("alipay: agreement not in force")
	// ErrLimitExceeded: a per-debit, daily or monthly limit was hit.
	ErrLimitExceeded = errors.New("alipay: deduction limit exceeded")
)

// classifySubCode maps an alipay.trade.pay sub_code to a failure class.
func classifySubCode(sub string) error {
	switch {
	case sub == "ACQ.BUYER_BALANCE_NOT_ENOUGH" || sub == "ACQ.BUYER_BANKCARD_BALANCE_NOT_ENOUGH":
		return ErrInsufficientFunds
	case strings.HasPrefix(sub, "ACQ.AGREEMENT_"):
		return ErrAgreementRevoked
	case strings.Contains(sub, "LIMIT") || strings.HasPrefix(sub, "ACQ.EXCEED_"):
		return ErrLimitExceeded
	}
	return nil
}

// AgreementSign is what AgreementSignURL signs.
type AgreementSign struct {
	ExternalAgreementNo string // ours, unique
	ExternalLogonID     string // our account id, shown nowhere
	SignScene           string // empty: SignSceneDefault
	Channel             string // access_params.channel: QRCODE (default) or ALIPAYAPP
	ReturnURL           string
	NotifyURL           string // empty: the client's AgreementNotifyURL
}

// AgreementSignURL returns the signed gateway URL of a signing page: the
// portal renders it as a QR code (and a link for phones). Nothing is sent
// to Alipay here. Errors: a missing key.
func (c *Client) AgreementSignURL(s AgreementSign) (string, error) {
	scene := s.SignScene
	if scene == "" {
		scene = SignSceneDefault
	}
	channel := s.Channel
	if channel == "" {
		channel = "QRCODE"
	}
	biz := map[string]any{
		"personal_product_code": PersonalProductWithholding, "product_code": ProductWithholding,
		"sign_scene": scene, "external_agreement_no": s.ExternalAgreementNo, "external_logon_id": s.ExternalLogonID,
		"access_params": map[string]string{"channel": channel},
	}
	notify := s.NotifyURL
	if notify == "" {
		notify = c.AgreementNotifyURL
	}
	p, err := c.signedParams(MethodAgreementPageSign, notify, s.ReturnURL, biz)
	if err != nil {
		return "", fmt.Errorf("alipay: %s: %w", MethodAgreementPageSign, err)
	}
	gw := c.GatewayURL
	if gw == "" {
		gw = DefaultGatewayURL
	}
	sep := "?"
	if strings.Contains(gw, "?") {
		sep = "&"
	}
	return gw + sep + p.Encode(), nil
}

// AgreementNotification is a verified signing or unsigning notify.
type AgreementNotification struct {
	NotifyID            string
	NotifyType          string // NotifyTypeSign or NotifyTypeUnsign
	Status              string // AgreementNormal, AgreementUnsign, …
	AgreementNo         string
	ExternalAgreementNo string
	AlipayUserID        string
	SignTime            time.Time
	InvalidTime         time.Time
	Params              url.Values
}

// ParseAgreementNotify verifies a dut_user_sign / dut_user_unsign notify.
// Errors: ErrBadSignature, ErrMalformed (another notify type, no agreement).
func (c *Client) ParseAgreementNotify(form url.Values) (AgreementNotification, error) {
	var n AgreementNotification
	if st := form.Get("sign_type"); st != "" && st != "RSA2" {
		return n, fmt.Errorf("alipay: agreement notify: %w: sign_type %q", ErrBadSignature, st)
	}
	sign := form.Get("sign")
	if sign == "" {
		return n, fmt.Errorf("alipay: agreement notify: %w: no sign", ErrBadSignature)
	}
	if err := Verify(c.AlipayPublicKey, SignContent(form, "sign", "sign_type"), sign); err != nil {
		return n, fmt.Errorf("alipay: agreement notify %s: %w", form.Get("external_agreement_no"), err)
	}
	n = AgreementNotification{
		NotifyID: form.Get("notify_id"), NotifyType: form.Get("notify_type"), Status: form.Get("status"),
		AgreementNo: form.Get("agreement_no"), ExternalAgreementNo: form.Get("external_agreement_no"),
		AlipayUserID: form.Get("alipay_user_id"), Params: form,
	}
	if n.NotifyType != NotifyTypeSign && n.NotifyType != NotifyTypeUnsign {
		return n, fmt.Errorf("alipay: agreement notify: %w: notify_type %q", ErrMalformed, n.NotifyType)
	}
	if n.AgreementNo == "" || n.Status == "" {
		return n, fmt.Errorf("alipay: agreement notify: %w: no agreement_no or status", ErrMalformed)
	}
	for _, f := range []struct {
		key string
		dst *time.Time
	}{{"sign_time", &n.SignTime}, {"invalid_time", &n.InvalidTime}} {
		if v := form.Get(f.key); v != "" {
			t, err := parseTime(v)
			if err != nil {
				return n, fmt.Errorf("alipay: agreement notify: %w: %s %q", ErrMalformed, f.key, v)
			}
			*f.dst = t
		}
	}
	return n, nil
}

// AgreementDebit is what PayWithAgreement sends.
type AgreementDebit struct {
	AgreementNo string
	OutTradeNo  string
	TotalAmount decimal.Decimal // yuan
	Subject     string
	NotifyURL   string // empty: the client's
}

// PayWithAgreement debits an agreement (alipay.trade.pay with
// agreement_params). A TRADE_SUCCESS answer is paid; the trade_status_sync
// notify follows as well. Errors: *APIError (errors.Is with
// ErrInsufficientFunds, ErrAgreementRevoked, ErrLimitExceeded),
// ErrBadSignature, ErrMalformed, transport errors.
func (c *Client) PayWithAgreement(ctx context.Context, d AgreementDebit) (Trade, error) {
	var t Trade
	amt, err := Yuan(d.TotalAmount)
	if err != nil {
		return t, err
	}
	biz := map[string]any{
		"out_trade_no": d.OutTradeNo, "total_amount": amt, "subject": d.Subject, "product_code": ProductWithholding,
		"agreement_params": map[string]string{"agreement_no": d.AgreementNo},
	}
	notify := d.NotifyURL
	if notify == "" {
		notify = c.NotifyURL
	}
	err = c.call(ctx, MethodTradePay, notify, biz, &t)
	return t, err
}

// Agreement is an agreement as alipay.user.agreement.query reports it.
type Agreement struct {
	AgreementNo         string `json:"agreement_no"`
	ExternalAgreementNo string `json:"external_agreement_no"`
	Status              string `json:"status"`
	SignTime            string `json:"sign_time"`
	ValidTime           string `json:"valid_time"`
	InvalidTime         string `json:"invalid_time"`
	PrincipalID         string `json:"principal_id"`
	PersonalProductCode string `json:"personal_product_code"`
	SignScene           string `json:"sign_scene"`
}

// QueryAgreement fetches an agreement by Alipay's agreement number.
func (c *Client) QueryAgreement(ctx context.Context, agreementNo string) (Agreement, error) {
	var a Agreement
	err := c.call(ctx, MethodAgreementQuery, "", map[string]string{"agreement_no": agreementNo, "personal_product_code": PersonalProductWithholding}, &a)
	return a, err
}

// Unsign ends an agreement from our side (alipay.user.agreement.unsign);
// Alipay then posts the dut_user_unsign notify.
func (c *Client) Unsign(ctx context.Context, agreementNo string) error {
	var resp struct{}
	return c.call(ctx, MethodAgreementUnsign, "", map[string]string{"agreement_no": agreementNo, "personal_product_code": PersonalProductWithholding}, &resp)
}

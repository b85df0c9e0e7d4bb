package wechatpay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// 委托代扣 (papay, agreement payments) lets a customer sign once and the
// merchant debit later without the customer at hand. This file speaks the
// API v3 flavour for directly connected merchants (普通商户), on the same
// request signing and notify decryption as Native payments:
//
//   - 代扣预签约 POST /v3/papay/sign/contracts/pre-entrust-sign
//     (https://pay.weixin.qq.com/doc/v3/merchant/4012978414): sign_scene
//     SIGN_SCENE_QRCODE, appid, plan_id, out_contract_code,
//     contract_display_account, contract_notify_url, out_user_code,
//     device_info, return_url. The page the customer signs on is rendered
//     from the answer's redirect_url (the field the H5/JSAPI pre-sign
//     documents return: …/entrusted-payment/normal/normal-h5-scheduled-deduct-pre-sign.html).
//   - 代扣受理扣款 POST /v3/papay/pay/transactions/apply (the normal-merchant
//     form of https://pay.weixin.qq.com/doc/v3/merchant/4013388429 and of the
//     partner API …/partner-create-transaction.html): appid, out_trade_no,
//     description, transaction_notify_url, contract_id, amount{total,currency},
//     attach. The answer only acknowledges; the result arrives as the usual
//     TRANSACTION.* notify (ParseNotify, trade_type PAP) or by querying the
//     order (QueryByOutTradeNo). WeChat Pay debits one mchid + out_trade_no at
//     most once ("同一个商户号+同一个商户订单号,只会扣款一次",
//     https://pay.weixin.qq.com/wiki/doc/api/wxpay_v2/papay/chapter3_8.shtml),
//     which is what makes our retries safe.
//   - 预扣费通知 POST /v3/papay/contracts/{contract_id}/notify: the pre-debit
//     notice periodic-deduction templates require before a debit: mchid,
//     appid, estimated_amount{amount,currency}
//     (…/entrusted-payment/json/deduct-notify.html).
//   - 通过商户协议号查询签约 GET
//     /v3/papay/sign/contracts/plan-id/{plan_id}/out-contract-code/{out_contract_code}
//     (…/entrusted-payment/normal/normal-get-contract-by-code.html) and
//     通过商户协议号解约 POST …/out-contract-code/{out_contract_code}/terminate
//     with contract_termination_remark
//     (…/entrusted-payment/normal/normal-terminate-contract-by-code.html):
//     the direct merchant's contract is named by our template and our
//     agreement number (out_contract_code), not by WeChat Pay's contract id.
//   - 签约与解约结果回调: a v3 notify whose resource (original_type
//     "contract") carries contract_state SIGNED or TERMINATED.
//
// The query and terminate paths and fields follow the API descriptions
// above (as collected in github.com/TheNorthMemory/wechatpay-openapi,
// docs/v3/papay/sign/contracts/plan-id/…); the pre-debit notice's fields
// are to be checked against the merchant's own template before going live.
// The sandbox (paysim) speaks exactly what this file sends.

// Sign scenes of a pre-sign.
const (
	SignSceneQRCode = "SIGN_SCENE_QRCODE"
	SignSceneApp    = "SIGN_SCENE_APP"
)

// Contract states (contract_state).
const (
	ContractSigned     = "SIGNED"
	ContractTerminated = "TERMINATED"
)

// TradeTypePAP is the trade_type of an agreement deduction.
const TradeTypePAP = "PAP"

// Notify event types of contract notifies: 签约/解约成功通知 (PAPAY.SIGN,
// PAPAY.TERMINATE in the v3 notify list collected in
// github.com/TheNorthMemory/wechatpay-openapi, docs/v3/webhooks.yaml). A
// notify is read by its decrypted contract_state, so the CONTRACT.* names
// some templates use are read alike.
const (
	EventContractSigned     = "PAPAY.SIGN"
	EventContractTerminated = "PAPAY.TERMINATE"
)

// Deduction failure classes; errors.Is on an *APIError (or a PAYERROR
// transaction via DeductionFailure) tells the caller what to do next.
var (
	// ErrInsufficientFunds: the payer's balance and cards could not cover the
	// debit (NOTENOUGH). Worth retrying later.
	ErrInsufficientFunds = errors.New("wechatpay: payer has insufficient funds")
	// ErrContractRevoked: the contract is terminated or unknown
	// (CONTRACT_NOT_EXIST, CONTRACT_ERROR). Never retry.
	ErrContractRevoked = errors.New("wechatpay: contract terminated")
	// ErrLimitExceeded: a per-debit, daily or monthly limit of the template
	// or the payer was hit (RULE_LIMIT, QUOTA_EXCEED).
	ErrLimitExceeded = errors.New("wechatpay: deduction limit exceeded")
)

// classify maps an error code of the papay APIs to a failure class; nil
// when the code is none of them.
func classify(code string) error {
	switch code {
	case "NOTENOUGH", "BALANCE_NOT_ENOUGH":
		return ErrInsufficientFunds
	case "CONTRACT_NOT_EXIST", "CONTRACT_ERROR", "CONTRACT_TERMINATED":
		return ErrContractRevoked
	case "RULE_LIMIT", "QUOTA_EXCEED", "RULELIMIT":
		return ErrLimitExceeded
	}
	return nil
}

// DeviceInfo is the device block of a pre-sign.
type DeviceInfo struct {
	DeviceID string `json:"device_id,omitempty"`
	DeviceIP string `json:"device_ip,omitempty"`
}

// PreSign is what PreEntrustSign sends. An empty NotifyURL uses the
// client's ContractNotifyURL.
type PreSign struct {
	PlanID         int64
	OutContractNo  string // our agreement number: letters and digits, ≤32
	DisplayAccount string // shown on the signing page (no emoji)
	OutUserCode    string // our account id
	ClientIP       string
	ReturnURL      string
	NotifyURL      string
}

type preSignRequest struct {
	SignScene              string     `json:"sign_scene"`
	AppID                  string     `json:"appid"`
	PlanID                 int64      `json:"plan_id"`
	OutContractCode        string     `json:"out_contract_code"`
	ContractDisplayAccount string     `json:"contract_display_account"`
	ContractNotifyURL      string     `json:"contract_notify_url"`
	OutUserCode            string     `json:"out_user_code"`
	DeviceInfo             DeviceInfo `json:"device_info"`
	ReturnURL              string     `json:"return_url,omitempty"`
}

// PreSignResult is the answer of a pre-sign: the session id and the URL
// the customer opens (rendered as a QR code for SIGN_SCENE_QRCODE).
type PreSignResult struct {
	PreEntrustwebID string `json:"pre_entrustweb_id"`
	RedirectURL     string `json:"redirect_url"`
}

// PreEntrustSign starts a contract signing session (valid ten minutes at
// WeChat Pay). Errors: *APIError, ErrBadSignature, ErrUnknownSerial,
// ErrStaleNotify, ErrMalformed (no redirect_url), transport errors.
func (c *Client) PreEntrustSign(ctx context.Context, p PreSign) (PreSignResult, error) {
	var out PreSignResult
	if p.PlanID <= 0 || p.OutContractNo == "" {
		return out, fmt.Errorf("wechatpay: pre-sign: plan_id and out_contract_code are required")
	}
	notify := p.NotifyURL
	if notify == "" {
		notify = c.ContractNotifyURL
	}
	req := preSignRequest{
		SignScene: SignSceneQRCode, AppID: c.AppID, PlanID: p.PlanID, OutContractCode: p.OutContractNo,
		ContractDisplayAccount: p.DisplayAccount, ContractNotifyURL: notify, OutUserCode: p.OutUserCode,
		DeviceInfo: DeviceInfo{DeviceIP: p.ClientIP}, ReturnURL: p.ReturnURL,
	}
	if err := c.do(ctx, http.MethodPost, "/v3/papay/sign/contracts/pre-entrust-sign", req, &out); err != nil {
		return out, fmt.Errorf("wechatpay: pre-sign %s: %w", p.OutContractNo, err)
	}
	if out.RedirectURL == "" {
		return out, fmt.Errorf("wechatpay: pre-sign %s: %w: no redirect_url", p.OutContractNo, ErrMalformed)
	}
	return out, nil
}

// Deduction is what ApplyDeduction sends; amount in fen. An empty
// NotifyURL uses the client's NotifyURL (the payment notify endpoint).
type Deduction struct {
	ContractID  string
	OutTradeNo  string
	Description string
	AmountFen   int64
	Attach      string
	NotifyURL   string
}

type deductionRequest struct {
	AppID                string `json:"appid"`
	OutTradeNo           string `json:"out_trade_no"`
	Description          string `json:"description"`
	TransactionNotifyURL string `json:"transaction_notify_url"`
	ContractID           string `json:"contract_id"`
	Amount               Amount `json:"amount"`
	Attach               string `json:"attach,omitempty"`
}

// ApplyDeduction asks WeChat Pay to debit the contract. Acceptance is not
// payment: the outcome comes by notify or query. The same OutTradeNo again
// is the same debit at WeChat Pay. Errors: *APIError (errors.Is with
// ErrInsufficientFunds, ErrContractRevoked, ErrLimitExceeded), and those of
// CreateNative.
func (c *Client) ApplyDeduction(ctx context.Context, d Deduction) error {
	if d.AmountFen <= 0 || d.ContractID == "" {
		return fmt.Errorf("wechatpay: deduction: a contract and a positive amount are required")
	}
	notify := d.NotifyURL
	if notify == "" {
		notify = c.NotifyURL
	}
	req := deductionRequest{AppID: c.AppID, OutTradeNo: d.OutTradeNo, Description: d.Description, TransactionNotifyURL: notify,
		ContractID: d.ContractID, Amount: Amount{Total: d.AmountFen, Currency: "CNY"}, Attach: d.Attach}
	if err := c.do(ctx, http.MethodPost, "/v3/papay/pay/transactions/apply", req, nil); err != nil {
		return fmt.Errorf("wechatpay: deduction %s: %w", d.OutTradeNo, err)
	}
	return nil
}

// PreDebitNotice sends the 预扣费通知 for an upcoming debit of amountFen.
// Errors as for ApplyDeduction.
func (c *Client) PreDebitNotice(ctx context.Context, contractID string, amountFen int64) error {
	body := map[string]any{"mchid": c.MchID, "appid": c.AppID,
		"estimated_amount": map[string]any{"amount": amountFen, "currency": "CNY"}}
	if err := c.do(ctx, http.MethodPost, "/v3/papay/contracts/"+url.PathEscape(contractID)+"/notify", body, nil); err != nil {
		return fmt.Errorf("wechatpay: pre-debit notice %s: %w", contractID, err)
	}
	return nil
}

// Contract is a contract as a query or a contract notify reports it.
type Contract struct {
	MchID              string `json:"mchid"`
	AppID              string `json:"appid"`
	ContractID         string `json:"contract_id"`
	PlanID             int64  `json:"plan_id"`
	OutContractCode    string `json:"out_contract_code"`
	OpenID             string `json:"openid"`
	ContractState      string `json:"contract_state"`
	ContractSignedTime string `json:"contract_signed_time,omitempty"`
	// Terminated says who ended it and when (nil while it is in force).
	Terminated *ContractTermination `json:"contract_terminate_info,omitempty"`
}

// ContractTermination is a contract's contract_terminate_info.
type ContractTermination struct {
	// Mode is who ended it: TerminatedByUser, TerminatedByAPI (us), or
	// WEPAY_WEB_TERMINATE (our merchant platform), CUSTOMER_SERVICE_TERMINATE,
	// SYSTEM_TERMINATE (WeChat Pay).
	Mode   string `json:"contract_termination_mode"`
	At     string `json:"contract_terminated_time"`
	Remark string `json:"contract_termination_remark,omitempty"`
}

// The termination modes this package names (contract_termination_mode).
const (
	TerminatedByUser = "USER_TERMINATE"
	TerminatedByAPI  = "MCH_API_TERMINATE"
)

// contractPath names a direct merchant's contract by our template and our
// agreement number.
func (c *Client) contractPath(outContractCode string) string {
	return "/v3/papay/sign/contracts/plan-id/" + strconv.FormatInt(c.PapayPlanID, 10) +
		"/out-contract-code/" + url.PathEscape(outContractCode)
}

// QueryContract fetches the contract signed under our agreement number.
func (c *Client) QueryContract(ctx context.Context, outContractCode string) (Contract, error) {
	var out Contract
	if err := c.do(ctx, http.MethodGet, c.contractPath(outContractCode), nil, &out); err != nil {
		return out, fmt.Errorf("wechatpay: query contract %s: %w", outContractCode, err)
	}
	return out, nil
}

// TerminateContract ends a contract from our side; WeChat Pay then sends
// the termination notify. Terminating a terminated contract answers
// ErrContractRevoked.
func (c *Client) TerminateContract(ctx context.Context, outContractCode, remark string) error {
	body := map[string]string{"contract_termination_remark": remark}
	if err := c.do(ctx, http.MethodPost, c.contractPath(outContractCode)+"/terminate", body, nil); err != nil {
		return fmt.Errorf("wechatpay: terminate contract %s: %w", outContractCode, err)
	}
	return nil
}

// ParseContractNotify verifies and decrypts a contract notify (signed or
// terminated). Errors: those of VerifyNotify, ErrWrongResource for another
// resource type, ErrMalformed.
func (c *Client) ParseContractNotify(h http.Header, body []byte) (Contract, error) {
	var ct Contract
	n, pt, err := c.VerifyNotify(h, body)
	if err != nil {
		return ct, err
	}
	contractEvent := strings.HasPrefix(n.EventType, "PAPAY.") || strings.HasPrefix(n.EventType, "CONTRACT.")
	if n.Resource.OriginalType != "contract" || !contractEvent {
		return ct, fmt.Errorf("wechatpay: notify %s: %w: %s/%s", n.ID, ErrWrongResource, n.EventType, n.Resource.OriginalType)
	}
	if err := json.Unmarshal(pt, &ct); err != nil {
		return ct, fmt.Errorf("wechatpay: notify %s: %w: %w", n.ID, ErrMalformed, err)
	}
	if ct.ContractID == "" || (ct.ContractState != ContractSigned && ct.ContractState != ContractTerminated) {
		return ct, fmt.Errorf("wechatpay: notify %s: %w: contract %q state %q", n.ID, ErrMalformed, ct.ContractID, ct.ContractState)
	}
	return ct, nil
}

// DeductionFailure classifies a transaction that did not pay (PAYERROR with
// its trade_state_desc code prefix, e.g. "NOTENOUGH:余额不足"); nil when it
// is none of the known classes.
func DeductionFailure(t Transaction) error {
	code, _, _ := strings.Cut(t.TradeStateDesc, ":")
	return classify(code)
}

// isPapay reports whether the answer's code is of the failure class target
// (errors.Is on *APIError).
func (e *APIError) isPapay(target error) bool {
	c := classify(e.Code)
	return c != nil && c == target
}

package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
)

// Status is a provider's answer about a submitted identity.
type Status string

// Statuses a provider can answer.
const (
	// StatusVerified: the name matches the number in the authoritative register.
	StatusVerified Status = "verified"
	// StatusRejected: the register disagrees (see Result.Reason).
	StatusRejected Status = "rejected"
	// StatusUndecided: the provider cannot decide; the submission goes to manual review.
	StatusUndecided Status = "undecided"
)

// Reason codes carried by Result.Reason. They map to i18n keys
// `error.verification.<reason>`.
const (
	ReasonNameMismatch  = "name_mismatch"  // name and number belong to different people or companies
	ReasonInvalidNumber = "invalid_number" // the number fails local validation
	ReasonNotFound      = "not_found"      // the register has no such number
	ReasonDeregistered  = "deregistered"   // company deregistered or licence revoked
	ReasonLegalRep      = "legal_rep_mismatch"
	ReasonManualReview  = "manual_review" // undecided: a person must look at the documents
)

// Result is the outcome of one verification request.
type Result struct {
	Status    Status
	Reason    string // a Reason* code; empty when verified
	Reference string // the provider's request id, stored for audit and disputes
}

// Provider confirms that a name belongs to an identity number. Implementations
// validate nothing themselves beyond what their register says; callers validate
// numbers locally first (ParseResidentID, ParseCreditCode). An error (wrapping
// ErrProviderUnavailable) means no answer was obtained, which is not a rejection.
type Provider interface {
	// VerifyPerson checks a legal name against an 18-character resident identity number.
	VerifyPerson(ctx context.Context, name, idNumber string) (Result, error)
	// VerifyCompany checks a company name and its legal representative against a
	// unified social credit code.
	VerifyCompany(ctx context.Context, name, creditCode, legalRep string) (Result, error)
}

// Sandbox is a deterministic Provider for development and tests. Its answers
// depend only on the input, so tests can pick an outcome by choosing the number:
//
// Persons (resident identity numbers, after local validation):
//   - sequence code (digits 15-17) 999 → rejected, name_mismatch
//   - sequence code 998 → undecided, manual_review
//   - sequence code 997 → rejected, not_found
//   - a name that is empty or longer than 30 characters → rejected, name_mismatch
//   - any other valid number → verified
//
// Companies (unified social credit codes, after local validation):
//   - positions 14-16 999 → rejected, name_mismatch
//   - positions 14-16 998 → undecided, manual_review
//   - positions 14-16 997 → rejected, deregistered
//   - an empty legal representative → rejected, legal_rep_mismatch
//   - any other valid code → verified
//
// A number that fails local validation is rejected with invalid_number. The
// documented fixtures in SandboxPeople and SandboxCompanies cover every outcome.
type Sandbox struct {
	// Now gives the date against which birth dates are checked; nil means time.Now.
	Now func() time.Time
}

// SandboxFixture is a documented sandbox identity and the answer Sandbox gives.
type SandboxFixture struct {
	Name      string
	Number    string // resident identity number or credit code
	LegalRep  string // companies only
	Status    Status
	Reason    string
	Narrative string
}

// SandboxPeople are deterministic test persons, all with valid check digits.
var SandboxPeople = []SandboxFixture{
	{Name: "张三", Number: "110101199003070011", Status: StatusVerified, Narrative: "Beijing Dongcheng, born 1990-03-07, male"},
	{Name: "李四", Number: "310104198512120023", Status: StatusVerified, Narrative: "Shanghai Xuhui, born 1985-12-12, female"},
	{Name: "王五", Number: "440305200002290037", Status: StatusVerified, Narrative: "Shenzhen Nanshan, born on leap day 2000-02-29, male"},
	{Name: "赵六", Number: "330106198806159990", Status: StatusRejected, Reason: ReasonNameMismatch, Narrative: "sequence 999: name mismatch"},
	{Name: "钱七", Number: "510107199511119988", Status: StatusUndecided, Reason: ReasonManualReview, Narrative: "sequence 998: provider cannot decide"},
	{Name: "孙八", Number: "420102197001019976", Status: StatusRejected, Reason: ReasonNotFound, Narrative: "sequence 997: not in the register"},
}

// SandboxCompanies are deterministic test companies, all with valid check characters.
var SandboxCompanies = []SandboxFixture{
	{Name: "北京示例科技有限公司", Number: "91110108MA01ABC125", LegalRep: "张三", Status: StatusVerified, Narrative: "Beijing Haidian enterprise"},
	{Name: "上海测试智能有限公司", Number: "91310115MA1K12345X", LegalRep: "李四", Status: StatusVerified, Narrative: "Shanghai Pudong enterprise"},
	{Name: "深圳不符网络有限公司", Number: "91440300MA5G09991A", LegalRep: "王五", Status: StatusRejected, Reason: ReasonNameMismatch, Narrative: "positions 14-16 999: name mismatch"},
	{Name: "杭州待审数据有限公司", Number: "91330100MA2H099827", LegalRep: "赵六", Status: StatusUndecided, Reason: ReasonManualReview, Narrative: "positions 14-16 998: manual review"},
	{Name: "成都注销软件有限公司", Number: "91510100MA6C09973A", LegalRep: "钱七", Status: StatusRejected, Reason: ReasonDeregistered, Narrative: "positions 14-16 997: deregistered"},
}

func sandboxReference(kind string, parts ...string) string {
	h := sha256.Sum256([]byte(kind + "\x00" + strings.Join(parts, "\x00")))
	return "SBX-" + strings.ToUpper(hex.EncodeToString(h[:8]))
}

func (s Sandbox) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// VerifyPerson implements Provider with the documented sandbox rules. It never
// returns an error except when ctx is done.
func (s Sandbox) VerifyPerson(ctx context.Context, name, idNumber string) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	id, err := ParseResidentID(idNumber, s.now())
	ref := sandboxReference("person", strings.TrimSpace(name), Normalize(idNumber))
	name = strings.TrimSpace(name)
	switch {
	case err != nil:
		return Result{Status: StatusRejected, Reason: ReasonInvalidNumber, Reference: ref}, nil
	case id.Sequence == "999" || name == "" || len([]rune(name)) > 30:
		return Result{Status: StatusRejected, Reason: ReasonNameMismatch, Reference: ref}, nil
	case id.Sequence == "998":
		return Result{Status: StatusUndecided, Reason: ReasonManualReview, Reference: ref}, nil
	case id.Sequence == "997":
		return Result{Status: StatusRejected, Reason: ReasonNotFound, Reference: ref}, nil
	}
	return Result{Status: StatusVerified, Reference: ref}, nil
}

// VerifyCompany implements Provider with the documented sandbox rules. It never
// returns an error except when ctx is done.
func (s Sandbox) VerifyCompany(ctx context.Context, name, creditCode, legalRep string) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	c, err := ParseCreditCode(creditCode)
	name, legalRep = strings.TrimSpace(name), strings.TrimSpace(legalRep)
	ref := sandboxReference("company", name, Normalize(creditCode), legalRep)
	if err != nil {
		return Result{Status: StatusRejected, Reason: ReasonInvalidNumber, Reference: ref}, nil
	}
	switch c.Code[13:16] {
	case "999":
		return Result{Status: StatusRejected, Reason: ReasonNameMismatch, Reference: ref}, nil
	case "998":
		return Result{Status: StatusUndecided, Reason: ReasonManualReview, Reference: ref}, nil
	case "997":
		return Result{Status: StatusRejected, Reason: ReasonDeregistered, Reference: ref}, nil
	}
	if name == "" {
		return Result{Status: StatusRejected, Reason: ReasonNameMismatch, Reference: ref}, nil
	}
	if legalRep == "" {
		return Result{Status: StatusRejected, Reason: ReasonLegalRep, Reference: ref}, nil
	}
	return Result{Status: StatusVerified, Reference: ref}, nil
}

package verification_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/identity"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/piicrypto"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/verification"
)

func inputCode(t *testing.T, err error, field string) string {
	t.Helper()
	require.ErrorIs(t, err, fielderr.ErrInvalid)
	ie, ok := fielderr.As(err)
	require.True(t, ok)
	return ie.Code(field)
}

func TestSubmitPerson(t *testing.T) {
	t.Parallel()

	t.Run("VerifiedGrantsBonus", func(t *testing.T) {
		t.Parallel()
		b := setup(t, verification.Options{Bonus: bonus()})
		acct := b.account(t)
		ok, err := b.svc.IsVerified(b.ctx, acct)
		require.NoError(t, err)
		require.False(t, ok)
		st, err := b.svc.Status(b.ctx, acct)
		require.NoError(t, err)
		require.Equal(t, verification.StateUnverified, st.State)

		num := personNumber(t)
		st, err = b.svc.SubmitPerson(b.ctx, acct, " 欧阳小明 ", num)
		require.NoError(t, err)
		require.Equal(t, verification.StateVerified, st.State)
		require.Equal(t, verification.SubjectIndividual, st.Subject)
		require.Equal(t, "欧**明", st.Name)
		require.Equal(t, identity.MaskID(num), st.MaskedNumber)
		require.Equal(t, verification.ActorProvider, st.DecidedBy)
		require.True(t, strings.HasPrefix(st.Reference, "SBX-"))
		require.True(t, st.BonusGranted)

		ok, err = b.svc.IsVerified(b.ctx, acct)
		require.NoError(t, err)
		require.True(t, ok)
		lots := b.promo(t, acct)
		require.Len(t, lots, 1)
		require.Equal(t, "500", lots[0].Amount.String())
		require.NotNil(t, lots[0].ExpiresAt)
		require.Equal(t, testNow.AddDate(0, 0, 30), lots[0].ExpiresAt.UTC())
		require.Equal(t, "verification_bonus", lots[0].ReasonCode)

		_, err = b.svc.SubmitPerson(b.ctx, acct, "欧阳小明", personNumber(t))
		require.ErrorIs(t, err, verification.ErrAlreadyVerified)
		require.Equal(t, "already_verified", verification.Code(err))
	})

	t.Run("LocalValidationBeforeProvider", func(t *testing.T) {
		t.Parallel()
		b := setup(t, verification.Options{})
		acct := b.account(t)
		good := personNumber(t)
		bad := good[:17] + string("0123456789X"[(strings.IndexByte("0123456789X", good[17])+1)%11])
		cases := []struct {
			name, number, field, code string
		}{
			{"", good, "name", verification.CodeRequired},
			{strings.Repeat("张", 31), good, "name", verification.CodeTooLong},
			{"张三", "", "id_number", verification.CodeRequired},
			{"张三", bad, "id_number", "id_checksum"},
			{"张三", "11010119900230001X", "id_number", "id_birth_date"},
			{"张三", "990101199003070011", "id_number", "id_region"},
			{"张三", "11010119900307001", "id_number", "id_format"},
		}
		for _, c := range cases {
			_, err := b.svc.SubmitPerson(b.ctx, acct, c.name, c.number)
			require.Equal(t, c.code, inputCode(t, err, c.field), "%q %q", c.name, c.number)
		}
		require.Zero(t, b.provider.calls.Load(), "the provider is not asked about locally invalid input")
		// Lower-case x and full-width digits are normalised, not refused.
		x := personNumberEndingX(t)
		st, err := b.svc.SubmitPerson(b.ctx, acct, "张三", strings.ToLower(x))
		require.NoError(t, err)
		require.Equal(t, verification.StateVerified, st.State)
		require.True(t, strings.HasSuffix(st.MaskedNumber, "X"))
	})

	t.Run("RejectedThenResubmitted", func(t *testing.T) {
		t.Parallel()
		b := setup(t, verification.Options{Bonus: bonus()})
		acct := b.account(t)
		st, err := b.svc.SubmitPerson(b.ctx, acct, "赵六", personNumberSeq(t, 999))
		require.NoError(t, err)
		require.Equal(t, verification.StateRejected, st.State)
		require.Equal(t, identity.ReasonNameMismatch, st.Reason)
		require.False(t, st.BonusGranted)
		require.Empty(t, b.promo(t, acct))

		st2, err := b.svc.SubmitPerson(b.ctx, acct, "赵六", personNumber(t))
		require.NoError(t, err)
		require.Equal(t, verification.StateVerified, st2.State)
		require.NotEqual(t, st.VerificationID, st2.VerificationID)
		require.Len(t, b.promo(t, acct), 1)

		hist, err := b.svc.History(b.ctx, acct)
		require.NoError(t, err)
		require.Len(t, hist, 2)
		require.Equal(t, verification.StateRejected, hist[0].ToState)
		require.Equal(t, verification.StateVerified, hist[1].ToState)
	})

	t.Run("UndecidedGoesToReviewThenApproved", func(t *testing.T) {
		t.Parallel()
		b := setup(t, verification.Options{Bonus: bonus()})
		acct := b.account(t)
		st, err := b.svc.SubmitPerson(b.ctx, acct, "钱七", personNumberSeq(t, 998))
		require.NoError(t, err)
		require.Equal(t, verification.StatePending, st.State)
		require.Equal(t, identity.ReasonManualReview, st.Reason)
		require.Nil(t, st.DecidedAt)

		_, err = b.svc.SubmitPerson(b.ctx, acct, "钱七", personNumber(t))
		require.ErrorIs(t, err, verification.ErrPending)

		q, err := b.svc.ReviewQueue(b.ctx)
		require.NoError(t, err)
		require.True(t, inQueue(q, st.VerificationID))

		dec, err := b.svc.Decide(b.ctx, st.VerificationID, true, "", "staff:7")
		require.NoError(t, err)
		require.Equal(t, verification.StateVerified, dec.State)
		require.Equal(t, "staff:7", dec.DecidedBy)
		require.Len(t, b.promo(t, acct), 1)
		ok, err := b.svc.IsVerified(b.ctx, acct)
		require.NoError(t, err)
		require.True(t, ok)

		_, err = b.svc.Decide(b.ctx, st.VerificationID, true, "", "staff:7")
		require.ErrorIs(t, err, verification.ErrNotPending)
		require.Len(t, b.promo(t, acct), 1, "the bonus is granted once")
		q, err = b.svc.ReviewQueue(b.ctx)
		require.NoError(t, err)
		require.False(t, inQueue(q, st.VerificationID))
	})

	t.Run("ReviewerRejectsWithReason", func(t *testing.T) {
		t.Parallel()
		b := setup(t, verification.Options{Bonus: bonus()})
		acct := b.account(t)
		st, err := b.svc.SubmitPerson(b.ctx, acct, "钱七", personNumberSeq(t, 998))
		require.NoError(t, err)
		_, err = b.svc.Decide(b.ctx, st.VerificationID, false, " ", "staff:7")
		require.ErrorIs(t, err, verification.ErrReasonRequired)
		dec, err := b.svc.Decide(b.ctx, st.VerificationID, false, "photo_unreadable", "staff:7")
		require.NoError(t, err)
		require.Equal(t, verification.StateRejected, dec.State)
		require.Equal(t, "photo_unreadable", dec.Reason)
		require.Empty(t, b.promo(t, acct))
		// Resubmission is allowed after a rejection.
		st, err = b.svc.SubmitPerson(b.ctx, acct, "钱七", personNumber(t))
		require.NoError(t, err)
		require.Equal(t, verification.StateVerified, st.State)
		_, err = b.svc.Decide(b.ctx, 1<<40, true, "", "x")
		require.ErrorIs(t, err, verification.ErrNotFound)
	})

	t.Run("ProviderUnavailableIsPending", func(t *testing.T) {
		t.Parallel()
		b := setup(t, verification.Options{Bonus: bonus()})
		b.provider.down = true
		acct := b.account(t)
		st, err := b.svc.SubmitPerson(b.ctx, acct, "张三", personNumber(t))
		require.NoError(t, err)
		require.Equal(t, verification.StatePending, st.State)
		require.Equal(t, verification.ReasonProviderUnavailable, st.Reason)
		ok, err := b.svc.IsVerified(b.ctx, acct)
		require.NoError(t, err)
		require.False(t, ok)
	})
}

func personNumberEndingX(t *testing.T) string {
	for {
		n := personNumber(t)
		if strings.HasSuffix(n, "X") {
			return n
		}
	}
}

func inQueue(q []verification.Status, id int64) bool {
	for _, s := range q {
		if s.VerificationID == id {
			return true
		}
	}
	return false
}

// TestBonusOnce: whatever the path to verified, an account receives the
// bonus once.
func TestBonusOnce(t *testing.T) {
	t.Parallel()

	t.Run("ConcurrentSubmissions", func(t *testing.T) {
		t.Parallel()
		b := setup(t, verification.Options{Bonus: bonus()})
		b.provider.gate = make(chan struct{})
		acct := b.account(t)
		const n = 8
		var wg sync.WaitGroup
		results := make([]error, n)
		for i := range n {
			num := personNumber(t)
			wg.Go(func() {
				_, results[i] = b.svc.SubmitPerson(b.ctx, acct, "张三", num)
			})
		}
		// Let every submission pass the pre-checks before any answer.
		require.Eventually(t, func() bool { return b.provider.calls.Load() == n }, 10*time.Second, 5*time.Millisecond)
		close(b.provider.gate)
		wg.Wait()
		okCount := 0
		for _, err := range results {
			if err == nil {
				okCount++
				continue
			}
			require.ErrorIs(t, err, verification.ErrAlreadyVerified)
		}
		require.Equal(t, 1, okCount)
		require.Len(t, b.promo(t, acct), 1)
		bal, err := b.ledger.Balance(b.ctx, acct)
		require.NoError(t, err)
		require.Equal(t, "500", bal.Available.String())
	})

	t.Run("ExternalVerificationGrantsNone", func(t *testing.T) {
		t.Parallel()
		b := setup(t, verification.Options{Bonus: bonus()})
		acct := b.account(t)
		st, err := b.svc.MarkVerifiedExternally(b.ctx, acct, "ext-123", "api:client-9")
		require.NoError(t, err)
		require.Equal(t, verification.StateVerified, st.State)
		require.Equal(t, verification.SourceExternal, st.Source)
		require.Equal(t, "ext-123", st.Reference)
		require.Empty(t, b.promo(t, acct))
	})
}

// TestIdentityVerifiesOneAccount: one ID number or credit code cannot verify
// a second account.
func TestIdentityVerifiesOneAccount(t *testing.T) {
	t.Parallel()

	t.Run("SecondAccountRefused", func(t *testing.T) {
		t.Parallel()
		b := setup(t, verification.Options{Bonus: bonus()})
		a1, a2 := b.account(t), b.account(t)
		num := personNumber(t)
		_, err := b.svc.SubmitPerson(b.ctx, a1, "张三", num)
		require.NoError(t, err)
		calls := b.provider.calls.Load()
		// Full-width digits and spaces are the same number.
		_, err = b.svc.SubmitPerson(b.ctx, a2, "张三", " "+num[:6]+" "+num[6:])
		require.ErrorIs(t, err, verification.ErrIdentityInUse)
		require.Equal(t, calls, b.provider.calls.Load(), "refused before the provider is paid for")
		require.Empty(t, b.promo(t, a2))

		code := creditCode(t)
		_, err = b.svc.SubmitCompany(b.ctx, b.account(t), "北京示例科技有限公司", code, "张三", pngFile, "l.png")
		require.NoError(t, err)
		_, err = b.svc.SubmitCompany(b.ctx, b.account(t), "北京示例科技有限公司", strings.ToLower(code), "张三", pngFile, "l.png")
		require.ErrorIs(t, err, verification.ErrIdentityInUse)
	})

	t.Run("ConcurrentAccountsSameNumber", func(t *testing.T) {
		t.Parallel()
		b := setup(t, verification.Options{Bonus: bonus()})
		b.provider.gate = make(chan struct{})
		num := personNumber(t)
		const n = 6
		accts := make([]int64, n)
		errs := make([]error, n)
		for i := range accts {
			accts[i] = b.account(t)
		}
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { _, errs[i] = b.svc.SubmitPerson(b.ctx, accts[i], "张三", num) })
		}
		require.Eventually(t, func() bool { return b.provider.calls.Load() == n }, 10*time.Second, 5*time.Millisecond)
		close(b.provider.gate)
		wg.Wait()
		verified := 0
		for i, err := range errs {
			if err == nil {
				verified++
				require.Len(t, b.promo(t, accts[i]), 1)
				continue
			}
			require.ErrorIs(t, err, verification.ErrIdentityInUse)
			require.Empty(t, b.promo(t, accts[i]))
		}
		require.Equal(t, 1, verified)
	})

	t.Run("ApprovalRefusedWhenNumberVerifiedMeanwhile", func(t *testing.T) {
		t.Parallel()
		b := setup(t, verification.Options{Bonus: bonus()})
		a1, a2 := b.account(t), b.account(t)
		num := personNumber(t)
		b.provider.set(num, identity.Result{Status: identity.StatusUndecided, Reason: identity.ReasonManualReview})
		pending, err := b.svc.SubmitPerson(b.ctx, a1, "张三", num)
		require.NoError(t, err)
		require.Equal(t, verification.StatePending, pending.State)
		b.provider.set(num, identity.Result{Status: identity.StatusVerified, Reference: "R"})
		_, err = b.svc.SubmitPerson(b.ctx, a2, "张三", num)
		require.NoError(t, err)
		_, err = b.svc.Decide(b.ctx, pending.VerificationID, true, "", "staff:1")
		require.ErrorIs(t, err, verification.ErrIdentityInUse)
		ok, err := b.svc.IsVerified(b.ctx, a1)
		require.NoError(t, err)
		require.False(t, ok)
		_, err = b.svc.Decide(b.ctx, pending.VerificationID, false, verification.ReasonIdentityInUse, "staff:1")
		require.NoError(t, err)
	})
}

// TestEncryptionAtRest: the database holds no number, name or licence in
// clear, and a sealed value moved to another row does not open.
func TestEncryptionAtRest(t *testing.T) {
	t.Parallel()
	b := setup(t, verification.Options{})
	acct := b.account(t)
	code := creditCode(t)
	licence := append(append([]byte{}, pdfFile...), []byte("营业执照 SECRET-LICENCE-CONTENT")...)
	st, err := b.svc.SubmitCompany(b.ctx, acct, "上海测试智能有限公司", code, "李小四", licence, `C:\scans\licence.pdf`)
	require.NoError(t, err)
	require.Equal(t, "licence.pdf", st.Licence.Filename)
	require.Equal(t, "application/pdf", st.Licence.ContentType)
	require.Equal(t, len(licence), st.Licence.Size)

	var raw string
	require.NoError(t, b.pool.QueryRow(b.ctx,
		`SELECT row_to_json(v)::text || encode(number_sealed, 'escape') || encode(licence_sealed, 'escape') || encode(legal_rep_sealed, 'escape')
		 FROM verifications v WHERE id = $1`, st.VerificationID).Scan(&raw))
	require.NotContains(t, raw, code)
	require.NotContains(t, raw, code[2:14], "not even the middle of the code")
	require.NotContains(t, raw, "李小四")
	require.NotContains(t, raw, "SECRET-LICENCE-CONTENT")
	require.Contains(t, raw, identity.MaskCreditCode(code))
	var keyID string
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT key_id FROM verifications WHERE id = $1`, st.VerificationID).Scan(&keyID))
	require.Equal(t, "dev", keyID)

	// A person's row too.
	a2 := b.account(t)
	num := personNumber(t)
	p, err := b.svc.SubmitPerson(b.ctx, a2, "王小五", num)
	require.NoError(t, err)
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT row_to_json(v)::text FROM verifications v WHERE id = $1`, p.VerificationID).Scan(&raw))
	require.NotContains(t, raw, num)
	require.NotContains(t, raw, num[6:14], "not even the birth date")
	require.NotContains(t, raw, "王小五")

	// Copying the sealed number of one row into another does not reveal it there.
	_, err = b.pool.Exec(b.ctx, `UPDATE verifications SET number_sealed = (SELECT number_sealed FROM verifications WHERE id = $1) WHERE id = $2`,
		p.VerificationID, st.VerificationID)
	require.NoError(t, err)
	_, err = b.svc.RevealNumber(b.ctx, st.VerificationID, "admin:1", []string{"admin"}, "10.0.0.1")
	require.Error(t, err)
	got, err := b.svc.RevealNumber(b.ctx, p.VerificationID, "admin:1", []string{"admin"}, "10.0.0.1")
	require.NoError(t, err)
	require.Equal(t, num, got)
}

// TestReveal: only the allowed roles see the full value, and every attempt is
// in the append-only access log.
func TestReveal(t *testing.T) {
	t.Parallel()
	b := setup(t, verification.Options{})
	acct := b.account(t)
	code := creditCode(t)
	st, err := b.svc.SubmitCompany(b.ctx, acct, "北京示例科技有限公司", code, "张三", pngFile, "licence.png")
	require.NoError(t, err)

	_, err = b.svc.RevealNumber(b.ctx, st.VerificationID, "finance:3", []string{"finance", "support"}, "10.0.0.3")
	require.ErrorIs(t, err, verification.ErrForbidden)
	_, err = b.svc.Licence(b.ctx, st.VerificationID, "finance:3", []string{"finance"}, "10.0.0.3")
	require.ErrorIs(t, err, verification.ErrForbidden)
	_, err = b.svc.RevealNumber(b.ctx, st.VerificationID, "", []string{"admin"}, "10.0.0.3")
	require.ErrorIs(t, err, verification.ErrForbidden, "an anonymous viewer is refused")

	got, err := b.svc.RevealNumber(b.ctx, st.VerificationID, "admin:1", []string{"admin"}, "10.0.0.1")
	require.NoError(t, err)
	require.Equal(t, code, got)
	f, err := b.svc.Licence(b.ctx, st.VerificationID, "admin:1", []string{"admin"}, "10.0.0.1")
	require.NoError(t, err)
	require.Equal(t, pngFile, f.Data)
	require.Equal(t, "image/png", f.ContentType)
	require.Equal(t, "licence.png", f.Filename)
	require.Equal(t, st.Licence.SHA256, f.SHA256)

	log, err := b.svc.AccessLog(b.ctx, st.VerificationID)
	require.NoError(t, err)
	require.Len(t, log, 5)
	require.Equal(t, []bool{false, false, false, true, true}, []bool{log[0].Granted, log[1].Granted, log[2].Granted, log[3].Granted, log[4].Granted})
	require.Equal(t, "finance:3", log[0].Viewer)
	require.Equal(t, []string{"finance", "support"}, log[0].ViewerRoles)
	require.Equal(t, "number", log[0].Field)
	require.Equal(t, "licence", log[1].Field)
	require.Equal(t, "admin:1", log[3].Viewer)
	require.Equal(t, "10.0.0.1", log[3].IP)
	require.Equal(t, testNow, log[3].At.UTC())

	_, err = b.pool.Exec(b.ctx, `DELETE FROM pii_access_log WHERE verification_id = $1`, st.VerificationID)
	require.ErrorContains(t, err, "append-only")
	_, err = b.pool.Exec(b.ctx, `UPDATE pii_access_log SET viewer = 'nobody'`)
	require.ErrorContains(t, err, "append-only")

	// A configured role list replaces the default.
	fin := verification.New(b.pool, b.provider, piicrypto.Dev(), piicrypto.DevBlindIndex(), b.ledger, verification.Options{RevealRoles: []string{"finance"}})
	got, err = fin.RevealNumber(b.ctx, st.VerificationID, "finance:3", []string{"finance"}, "10.0.0.3")
	require.NoError(t, err)
	require.Equal(t, code, got)
	_, err = fin.RevealNumber(b.ctx, st.VerificationID, "admin:1", []string{"admin"}, "10.0.0.3")
	require.ErrorIs(t, err, verification.ErrForbidden)
	_, err = b.svc.Licence(b.ctx, 1<<40, "admin:1", []string{"admin"}, "")
	require.ErrorIs(t, err, verification.ErrNotFound)

	// A person has no licence.
	p, err := b.svc.SubmitPerson(b.ctx, b.account(t), "张三", personNumber(t))
	require.NoError(t, err)
	_, err = b.svc.Licence(b.ctx, p.VerificationID, "admin:1", []string{"admin"}, "")
	require.ErrorIs(t, err, verification.ErrNoLicence)
}

// TestLicenceChecks: the licence's size and type are checked, the type by its
// content, whatever the file is called.
func TestLicenceChecks(t *testing.T) {
	t.Parallel()
	b := setup(t, verification.Options{MaxLicenceBytes: 1024})
	submit := func(file []byte, name string) (verification.Status, error) {
		return b.svc.SubmitCompany(b.ctx, b.account(t), "北京示例科技有限公司", creditCode(t), "张三", file, name)
	}
	_, err := submit(nil, "x.pdf")
	require.Equal(t, verification.CodeRequired, inputCode(t, err, "licence"))
	_, err = submit(append(append([]byte{}, pdfFile...), make([]byte, 1024)...), "big.pdf")
	require.Equal(t, verification.CodeLicenceTooLarge, inputCode(t, err, "licence"))
	_, err = submit(gifFile, "licence.png")
	require.Equal(t, verification.CodeLicenceType, inputCode(t, err, "licence"))
	_, err = submit([]byte("<html><script>alert(1)</script></html>"), "licence.pdf")
	require.Equal(t, verification.CodeLicenceType, inputCode(t, err, "licence"))
	_, err = submit([]byte("just text pretending"), "licence.jpg")
	require.Equal(t, verification.CodeLicenceType, inputCode(t, err, "licence"))
	for _, c := range []struct {
		file []byte
		want string
	}{{pngFile, "image/png"}, {jpegFile, "image/jpeg"}, {pdfFile, "application/pdf"}} {
		st, err := submit(c.file, "upload.bin")
		require.NoError(t, err)
		require.Equal(t, c.want, st.Licence.ContentType)
	}
	// Every field is reported at once.
	_, err = b.svc.SubmitCompany(b.ctx, b.account(t), "", "91110108MA01ABC12X", "", gifFile, "")
	ie, ok := fielderr.As(err)
	require.True(t, ok)
	require.Equal(t, verification.CodeRequired, ie.Code("company_name"))
	require.Equal(t, "credit_checksum", ie.Code("credit_code"))
	require.Equal(t, verification.CodeRequired, ie.Code("legal_rep"))
	require.Equal(t, verification.CodeLicenceType, ie.Code("licence"))
}

// TestNoFullNumberOutsideReveal dumps everything the non-reveal functions
// return, as JSON and with fmt, and greps for the numbers and names.
func TestNoFullNumberOutsideReveal(t *testing.T) {
	t.Parallel()
	b := setup(t, verification.Options{Bonus: bonus()})
	num, code := personNumberSeq(t, 998), creditCode(t)
	b.provider.set(code, identity.Result{Status: identity.StatusUndecided, Reason: identity.ReasonManualReview})
	a1, a2 := b.account(t), b.account(t)
	var dumps []any
	add := func(v any, err error) {
		t.Helper()
		require.NoError(t, err)
		dumps = append(dumps, v)
	}
	add(b.svc.SubmitPerson(b.ctx, a1, "欧阳小明", num))
	add(b.svc.SubmitCompany(b.ctx, a2, "北京示例科技有限公司", code, "司马大光", pngFile, "l.png"))
	add(b.svc.Status(b.ctx, a1))
	add(b.svc.Status(b.ctx, a2))
	add(b.svc.ReviewQueue(b.ctx))
	add(b.svc.History(b.ctx, a1))
	st, _ := b.svc.Status(b.ctx, a1)
	add(b.svc.Get(b.ctx, st.VerificationID))
	_, err := b.svc.RevealNumber(b.ctx, st.VerificationID, "admin:1", []string{"admin"}, "::1")
	require.NoError(t, err)
	add(b.svc.AccessLog(b.ctx, st.VerificationID))
	add(b.svc.Decide(b.ctx, st.VerificationID, true, "", "staff:1"))
	var all strings.Builder
	for _, d := range dumps {
		j, err := json.Marshal(d)
		require.NoError(t, err)
		all.Write(j)
		fmt.Fprintf(&all, "%v %+v %#v", d, d, d)
	}
	out := all.String()
	require.Contains(t, out, identity.MaskID(num))
	require.Contains(t, out, identity.MaskCreditCode(code))
	for _, secret := range []string{num, code, num[6:14], code[2:14], "欧阳小明", "司马大光"} {
		require.NotContains(t, out, secret)
	}
}

// TestMarkVerifiedExternally: a gateway client's declaration verifies the
// account, supersedes a pending submission and is recorded with its actor.
func TestMarkVerifiedExternally(t *testing.T) {
	t.Parallel()
	b := setup(t, verification.Options{Bonus: bonus()})
	acct := b.account(t)
	pending, err := b.svc.SubmitPerson(b.ctx, acct, "钱七", personNumberSeq(t, 998))
	require.NoError(t, err)

	_, err = b.svc.MarkVerifiedExternally(b.ctx, acct, " ", "api:c1")
	require.Equal(t, verification.CodeRequired, inputCode(t, err, "reference"))

	st, err := b.svc.MarkVerifiedExternally(b.ctx, acct, "KYC-778", "api:c1")
	require.NoError(t, err)
	require.Equal(t, verification.StateVerified, st.State)
	require.Equal(t, "api:c1", st.DecidedBy)
	ok, err := b.svc.IsVerified(b.ctx, acct)
	require.NoError(t, err)
	require.True(t, ok)
	old, err := b.svc.Get(b.ctx, pending.VerificationID)
	require.NoError(t, err)
	require.Equal(t, verification.StateRejected, old.State)
	require.Equal(t, verification.ReasonSuperseded, old.Reason)

	again, err := b.svc.MarkVerifiedExternally(b.ctx, acct, "KYC-779", "api:c1")
	require.NoError(t, err)
	require.Equal(t, st.VerificationID, again.VerificationID)
	hist, err := b.svc.History(b.ctx, acct)
	require.NoError(t, err)
	last := hist[len(hist)-1]
	require.Equal(t, "KYC-779", last.Reference)
	require.Equal(t, "api:c1", last.Actor)
	require.Len(t, hist, 4) // pending, superseded, external verified, repeat declaration

	_, err = b.svc.RevealNumber(b.ctx, st.VerificationID, "admin:1", []string{"admin"}, "")
	require.ErrorIs(t, err, verification.ErrNotFound)
	_ = ledger.LotPromo
}

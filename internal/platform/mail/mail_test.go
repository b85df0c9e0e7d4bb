package mail_test

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/config"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/internal/platform/jobs/jobstest"
	"github.com/seed75218f88/credits/internal/platform/mail"
	"github.com/seed75218f88/credits/internal/platform/mail/mailtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// invoicePDF stands in for a generated invoice: binary bytes that must
// arrive unchanged.
var invoicePDF = append([]byte("%PDF-1.4\n"), 0x00, 0xff, 0x10, 0x80, '\r', '\n', 0x7f)

func lowBalanceMessage(to string) mail.Message {
	return mail.Message{
		To:      []string{to},
		Subject: "【余额提醒】您的可用额度已低于 20%",
		Text:    "您好，账户 acme 的可用额度为 1,234.500000 积分，请及时充值。\nhttps://credits.test/topup",
		HTML:    "<p>您好，账户 <b>acme</b> 的可用额度为 1,234.500000 积分。</p>",
		Attachments: []mail.Attachment{
			{Name: "发票-202611.pdf", ContentType: "application/pdf", Data: invoicePDF},
		},
	}
}

func TestSMTPSender(t *testing.T) {
	t.Parallel()

	t.Run("ChineseSubjectBodiesAndAttachmentArriveIntact", func(t *testing.T) {
		t.Parallel()
		srv := mailtest.NewServer(t)
		cfg := srv.Config()
		cfg.From = "算力账单 <billing@credits.test>"
		sender, err := mail.NewSMTP(cfg)
		require.NoError(t, err)

		require.NoError(t, sender.Send(t.Context(), lowBalanceMessage("张三 <zhangsan@example.cn>")))

		got := srv.Wait(t, 1)[0]
		require.Equal(t, []string{"zhangsan@example.cn"}, got.To)
		require.Equal(t, "billing@credits.test", got.From)
		require.Equal(t, "【余额提醒】您的可用额度已低于 20%", got.Subject)
		require.NotContains(t, got.Header.Get("Subject"), "余额", "the subject header must be RFC 2047 encoded")
		from, err := got.Header.AddressList("From")
		require.NoError(t, err)
		require.Equal(t, "算力账单", from[0].Name)
		require.Contains(t, got.Text, "可用额度为 1,234.500000 积分")
		require.Contains(t, got.Text, "https://credits.test/topup")
		require.Contains(t, got.HTML, "<b>acme</b>")
		require.Len(t, got.Attachments, 1)
		require.Equal(t, "发票-202611.pdf", got.Attachments[0].Name)
		require.Equal(t, "application/pdf", got.Attachments[0].ContentType)
		require.Equal(t, invoicePDF, got.Attachments[0].Data)
	})

	t.Run("InvalidRecipientIsRefusedBeforeConnecting", func(t *testing.T) {
		t.Parallel()
		srv := mailtest.NewServer(t)
		msg := lowBalanceMessage("not an address")
		require.ErrorIs(t, srv.Sender(t).Send(t.Context(), msg), mail.ErrInvalidAddress)
		msg.To = nil
		require.ErrorIs(t, srv.Sender(t).Send(t.Context(), msg), mail.ErrNoRecipient)
		require.Empty(t, srv.Messages())
	})

	t.Run("UnreachableServerFails", func(t *testing.T) {
		t.Parallel()
		srv := mailtest.NewServer(t)
		cfg := srv.Config()
		cfg.Port = 1 // nothing listens there
		cfg.Timeout = 2 * time.Second
		sender, err := mail.NewSMTP(cfg)
		require.NoError(t, err)
		require.Error(t, sender.Send(t.Context(), lowBalanceMessage("a@example.com")))
	})
}

// TestSettings: the SMTP settings as config reads them, and New's choice
// between the SMTP and the development sender.
func TestSettings(t *testing.T) {
	t.Parallel()
	load := func(t *testing.T, vars map[string]string) (mail.SMTPConfig, error) {
		c, err := config.LoadFrom(vars)
		return c.SMTP, err
	}
	t.Run("SMTPWithPasswordFileLogsIn", func(t *testing.T) {
		srv := mailtest.NewServer(t)
		srv.RequireAuth("billing", "s3cret!")
		pwFile := filepath.Join(t.TempDir(), "smtp-password")
		require.NoError(t, os.WriteFile(pwFile, []byte("s3cret!\n"), 0o600))
		vars := map[string]string{"SMTP_HOST": srv.Host, "SMTP_PORT": strconv.Itoa(srv.Port), "SMTP_TLS": "none",
			"SMTP_USER": "billing", "SMTP_PASSWORD_FILE": pwFile, "MAIL_FROM": "Billing <billing@credits.test>"}
		cfg, err := load(t, vars)
		require.NoError(t, err)
		sender, err := mail.New(cfg, t.TempDir(), nil)
		require.NoError(t, err)
		require.IsType(t, &mail.SMTPSender{}, sender)
		require.NoError(t, sender.Send(t.Context(), lowBalanceMessage("ops@example.com")))
		require.Equal(t, "billing", srv.Wait(t, 1)[0].AuthUser)

		require.NoError(t, os.WriteFile(pwFile, []byte("wrong\n"), 0o600))
		cfg, err = load(t, vars)
		require.NoError(t, err)
		sender, err = mail.New(cfg, t.TempDir(), nil)
		require.NoError(t, err)
		require.Error(t, sender.Send(t.Context(), lowBalanceMessage("ops@example.com")))
		require.Len(t, srv.Messages(), 1)
	})

	t.Run("SettingsErrorsNameTheVariable", func(t *testing.T) {
		for _, tc := range []struct {
			name, key, val, wantIn string
		}{
			{"BadPort", "SMTP_PORT", "smtp", "SMTP_PORT"},
			{"MissingFrom", "MAIL_FROM", "", "MAIL_FROM"},
			{"BadFrom", "MAIL_FROM", "billing", "MAIL_FROM"},
			{"BadTLS", "SMTP_TLS", "ssl3", "SMTP_TLS"},
			{"UserWithoutPassword", "SMTP_PASSWORD_FILE", "", "SMTP_PASSWORD_FILE"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				pw := filepath.Join(t.TempDir(), "pw")
				require.NoError(t, os.WriteFile(pw, []byte("x"), 0o600))
				vars := map[string]string{"SMTP_HOST": "smtp.example.com", "SMTP_PORT": "587", "SMTP_USER": "billing",
					"MAIL_FROM": "billing@example.com", "SMTP_PASSWORD_FILE": pw}
				vars[tc.key] = tc.val
				_, err := load(t, vars)
				require.ErrorContains(t, err, tc.wantIn)
			})
		}
	})

	t.Run("Port465MeansImplicitTLS", func(t *testing.T) {
		cfg, err := load(t, map[string]string{"SMTP_HOST": "smtp.example.com", "SMTP_PORT": "465", "MAIL_FROM": "billing@example.com"})
		require.NoError(t, err)
		require.Equal(t, mail.TLSImplicit, cfg.TLS)
	})

	t.Run("NoSMTPHostWritesEMLFilesAndLogsNoBody", func(t *testing.T) {
		cfg, err := load(t, map[string]string{})
		require.NoError(t, err)
		dir := filepath.Join(t.TempDir(), "mail")
		var logs bytes.Buffer
		sender, err := mail.New(cfg, dir, slog.New(slog.NewTextHandler(&logs, nil)))
		require.NoError(t, err)
		require.IsType(t, &mail.DevSender{}, sender)

		msg := lowBalanceMessage("zhangsan@example.cn")
		msg.Text = "登录链接: https://credits.test/portal/session/SECRET-TOKEN-123"
		require.NoError(t, sender.Send(t.Context(), msg))

		files, err := filepath.Glob(filepath.Join(dir, "*.eml"))
		require.NoError(t, err)
		require.Len(t, files, 1)
		raw, err := os.ReadFile(files[0])
		require.NoError(t, err)
		parsed, err := mailtest.Parse(raw)
		require.NoError(t, err)
		require.Equal(t, msg.Subject, parsed.Subject)
		require.Contains(t, parsed.Text, "SECRET-TOKEN-123")
		require.Equal(t, invoicePDF, parsed.Attachments[0].Data)

		require.Contains(t, logs.String(), "zhangsan@example.cn")
		require.Contains(t, logs.String(), files[0])
		require.NotContains(t, logs.String(), "SECRET-TOKEN-123")
	})
}

func TestSendJob(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := dbtest.Pool(t)
	srv := mailtest.NewServer(t)
	workers := river.NewWorkers()
	river.AddWorker(workers, mail.NewSendWorker(srv.Sender(t)))
	client := jobstest.Start(t, pool, workers)

	t.Run("SentAfterCommitNeverAfterRollback", func(t *testing.T) {
		errRolledBack := errors.New("top-up failed")
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			msg := lowBalanceMessage("rollback@example.com")
			require.NoError(t, mail.EnqueueTx(ctx, client, tx, msg))
			return errRolledBack
		})
		require.ErrorIs(t, err, errRolledBack)

		err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return mail.EnqueueTx(ctx, client, tx, lowBalanceMessage("commit@example.com"))
		})
		require.NoError(t, err)

		got := srv.Wait(t, 1)
		require.Equal(t, []string{"commit@example.com"}, got[0].To)
		require.Equal(t, invoicePDF, got[0].Attachments[0].Data, "attachments survive the job's JSON")
		time.Sleep(300 * time.Millisecond)
		require.Len(t, srv.Messages(), 1)
	})

	t.Run("InvalidMessageIsRefusedAtEnqueue", func(t *testing.T) {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return mail.EnqueueTx(ctx, client, tx, lowBalanceMessage("nobody"))
		})
		require.ErrorIs(t, err, mail.ErrInvalidAddress)
	})
}

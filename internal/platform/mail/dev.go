package mail

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// DevSender writes each Message as an .eml file (open it in any mail client)
// and logs who it was for. It never logs bodies, which can hold sign-in
// links and codes.
type DevSender struct {
	Dir    string // e.g. <project>/.data/mail
	From   string
	Logger *slog.Logger
}

// NewDev returns a DevSender writing under dir (created on first send).
func NewDev(dir string, logger *slog.Logger) *DevSender {
	if logger == nil {
		logger = slog.Default()
	}
	return &DevSender{Dir: dir, From: "Credits (dev) <noreply@credits.localhost>", Logger: logger}
}

// Send writes msg to a new .eml file in Dir.
func (d *DevSender) Send(ctx context.Context, msg Message) error {
	m, err := build(d.From, msg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(d.Dir, 0o750); err != nil {
		return fmt.Errorf("mail: dev dir: %w", err)
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	path := filepath.Join(d.Dir, time.Now().UTC().Format("20060102T150405.000Z")+"-"+hex.EncodeToString(suffix)+".eml")
	if err := m.WriteToFile(path); err != nil {
		return fmt.Errorf("mail: write %s: %w", path, err)
	}
	names := make([]string, len(msg.Attachments))
	for i, a := range msg.Attachments {
		names[i] = a.Name
	}
	d.Logger.InfoContext(ctx, "mail written (dev sender)",
		slog.Any("to", msg.To), slog.String("subject", msg.Subject),
		slog.Any("attachments", names), slog.String("file", path))
	return nil
}

// New returns the SMTP sender for cfg, or, when cfg.Host is empty, a
// DevSender writing to devDir (config.Database.DataDir/mail).
func New(cfg SMTPConfig, devDir string, logger *slog.Logger) (Sender, error) {
	if cfg.Host == "" {
		return NewDev(devDir, logger), nil
	}
	return NewSMTP(cfg)
}

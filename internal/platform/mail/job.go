package mail

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/seed75218f88/credits/internal/platform/jobs"
)

// SendArgs is the River job that sends one Message. Keep attachments small
// (an invoice PDF is fine): they are stored in the job row until it is cleaned.
type SendArgs struct {
	Message Message `json:"message"`
}

// Kind names the job in River's tables.
func (SendArgs) Kind() string { return "mail_send" }

// InsertOpts puts mail on its own queue; an unreachable server is retried
// with River's exponential backoff for about a day before giving up.
func (SendArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: jobs.QueueMail, MaxAttempts: 12}
}

// SendWorker works SendArgs jobs with Sender.
type SendWorker struct {
	river.WorkerDefaults[SendArgs]
	Sender Sender
}

// NewSendWorker returns the worker to register: river.AddWorker(workers,
// mail.NewSendWorker(sender)).
func NewSendWorker(s Sender) *SendWorker { return &SendWorker{Sender: s} }

// Work sends the message; a message that can never be sent is cancelled
// rather than retried.
func (w *SendWorker) Work(ctx context.Context, job *river.Job[SendArgs]) error {
	err := w.Sender.Send(ctx, job.Args.Message)
	if errors.Is(err, ErrNoRecipient) || errors.Is(err, ErrInvalidAddress) || errors.Is(err, ErrEmptyMessage) {
		return river.JobCancel(err)
	}
	return err
}

// EnqueueTx schedules msg to be sent once tx commits (and never if it rolls
// back). It works inside the caller's transaction. It fails with
// ErrNoRecipient, ErrInvalidAddress or ErrEmptyMessage before anything is
// queued, or with the database's error.
func EnqueueTx(ctx context.Context, ins jobs.Inserter, tx pgx.Tx, msg Message) error {
	if err := msg.Validate(); err != nil {
		return err
	}
	if _, err := ins.InsertTx(ctx, tx, SendArgs{Message: msg}, nil); err != nil {
		return fmt.Errorf("mail: enqueue: %w", err)
	}
	return nil
}

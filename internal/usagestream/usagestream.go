// Package usagestream takes usage events through NATS JetStream: the API
// stores the events of a batch durably in a stream, as one message, and
// answers 202, and consumers in every `credits serve` instance charge them
// to the ledger in batches through the gateway's usage rules
// (gateway.ChargeQueued). Delivery is at least once; the ledger's
// idempotency key of each event makes the effect exactly one. An event
// that cannot be charged goes to a dead-letter stream on its own with its
// reason, where the back office replays or discards it.
package usagestream

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/ledger"
)

// Errors.
var (
	// ErrUnavailable: NATS did not store (or answer for) the batch; the
	// client retries it with the same idempotency keys.
	ErrUnavailable = errors.New("usagestream: the usage stream is unavailable")
	// ErrNotFound: no dead-lettered event has that sequence number.
	ErrNotFound = errors.New("usagestream: no such dead-lettered event")
)

// Charger applies usage events; *gateway.Service is one.
type Charger interface {
	CheckUsageBatch(gateway.UsageBatch) error
	CheckUsageEvent(ev gateway.UsageEvent, receivedAt time.Time) string
	ChargeQueued(ctx context.Context, events []gateway.QueuedUsage) []string
}

// Options configure the streams and the consumer.
type Options struct {
	// URL is the NATS server (NATS_URL).
	URL string
	// Prefix names the subjects (<prefix>.usage.<mode>, <prefix>.usage_dlq.<mode>)
	// and, upper-cased, the streams (<PREFIX>_USAGE, <PREFIX>_USAGE_DLQ);
	// default "credits".
	Prefix string
	// Batch is how many events a consumer gathers and charges at once
	// (500): it takes messages until they hold that many (a message holds
	// one API batch's events, up to 500, and is never split).
	Batch int
	// Appliers is how many fetched batches one instance charges at the same
	// time (4), each on the gateway's usage workers.
	Appliers int
	// MaxDeliver is how often a message is tried before its events still
	// unavailable are dead-lettered (8). It is counted here, not by
	// JetStream: the consumer delivers without limit, so a message whose
	// dead-lettering failed at its last try is delivered again and
	// dead-lettered then, not left in the stream undelivered for good.
	MaxDeliver int
	// AckWait is how long a delivered message may stay unacknowledged before
	// JetStream delivers it again (30 s).
	AckWait time.Duration
	// Duplicates is the stream's duplicate window for Nats-Msg-Id (2 min).
	Duplicates time.Duration
	// Backoff is the delay before redelivering a retryable failure after
	// n deliveries (100 ms doubling, at most 30 s).
	Backoff func(n uint64) time.Duration
	// Now is the clock (time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.Prefix == "" {
		o.Prefix = "credits"
	}
	if o.Batch <= 0 {
		o.Batch = 500
	}
	if o.Appliers <= 0 {
		o.Appliers = 4
	}
	if o.MaxDeliver <= 0 {
		o.MaxDeliver = 8
	}
	if o.AckWait <= 0 {
		o.AckWait = 30 * time.Second
	}
	if o.Duplicates <= 0 {
		o.Duplicates = 2 * time.Minute
	}
	if o.Backoff == nil {
		o.Backoff = func(n uint64) time.Duration {
			return min(100*time.Millisecond<<min(n, 10), 30*time.Second)
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Stream is the connection to NATS, the usage and dead-letter streams and
// the durable consumer all instances share.
type Stream struct {
	opts    Options
	charger Charger
	nc      *nats.Conn
	js      jetstream.JetStream
	usage   jetstream.Stream
	dlq     jetstream.Stream
	cons    jetstream.Consumer
}

// Headers on dead-lettered messages.
const (
	hdrReason     = "Credits-Reason"
	hdrDeliveries = "Credits-Deliveries"
	hdrFailedAt   = "Credits-Failed-At"
	hdrOrigID     = "Credits-Msg-Id"
)

// ReasonUndecodable is the dead-letter reason of a message that is not a
// queued usage event (it never came from the API).
const ReasonUndecodable = "undecodable"

// Open connects to NATS and creates (or updates) the usage stream, the
// dead-letter stream and the shared durable consumer. Errors: NATS
// unreachable or refusing the configuration.
func Open(ctx context.Context, charger Charger, opts Options) (*Stream, error) {
	opts.defaults()
	nc, err := nats.Connect(opts.URL, nats.Name("credits"), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("usagestream: cannot reach NATS at %s (%v): start it or unset NATS_URL", opts.URL, err)
	}
	s := &Stream{opts: opts, charger: charger, nc: nc}
	if err := s.setup(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return s, nil
}

// createStream creates or updates a stream, trying again a few times when
// the server fails to create its store (a 500: the NATS server removes an
// account's empty stream folder when its last stream goes, and a stream
// created at that instant fails to make its own folder).
func (s *Stream) createStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	for attempt := 1; ; attempt++ {
		st, err := s.js.CreateOrUpdateStream(ctx, cfg)
		var apiErr *jetstream.APIError
		if err == nil || attempt == 5 || !errors.As(err, &apiErr) || apiErr.Code != 500 {
			return st, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
		}
	}
}

func (s *Stream) setup(ctx context.Context) error {
	var err error
	if s.js, err = jetstream.New(s.nc, jetstream.WithPublishAsyncMaxPending(4096)); err != nil {
		return fmt.Errorf("usagestream: %w", err)
	}
	base := strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(s.opts.Prefix))
	// Work-queue retention: an event leaves the stream once a consumer
	// acknowledged it, i.e. once the ledger committed it.
	if s.usage, err = s.createStream(ctx, jetstream.StreamConfig{Name: base + "_USAGE",
		Description: "usage events to charge", Subjects: []string{s.opts.Prefix + ".usage.>"},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage, Duplicates: s.opts.Duplicates}); err != nil {
		return fmt.Errorf("usagestream: usage stream: %w", err)
	}
	if s.dlq, err = s.createStream(ctx, jetstream.StreamConfig{Name: base + "_USAGE_DLQ",
		Description: "usage events that could not be charged, with the reason",
		Subjects:    []string{s.opts.Prefix + ".usage_dlq.>"}, Retention: jetstream.LimitsPolicy,
		Storage: jetstream.FileStorage, Duplicates: s.opts.Duplicates}); err != nil {
		return fmt.Errorf("usagestream: dead-letter stream: %w", err)
	}
	if s.cons, err = s.usage.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "ledger",
		Description: "charges usage events to the ledger (shared by every instance)",
		AckPolicy:   jetstream.AckExplicitPolicy, AckWait: s.opts.AckWait, MaxDeliver: -1, // see Options.MaxDeliver
		MaxAckPending: 20 * s.opts.Batch, DeliverPolicy: jetstream.DeliverAllPolicy}); err != nil {
		return fmt.Errorf("usagestream: consumer: %w", err)
	}
	return nil
}

// Close closes the connection (after Run has returned).
func (s *Stream) Close() { s.nc.Close() }

// Delete removes both streams (tests and their clean-up).
func (s *Stream) Delete(ctx context.Context) error {
	return errors.Join(s.js.DeleteStream(ctx, s.usage.CachedInfo().Config.Name),
		s.js.DeleteStream(ctx, s.dlq.CachedInfo().Config.Name))
}

// EventID is an event's id in the 202 answer and on its dead letter: a
// hash of the key's mode and the event's idempotency key. (It was each
// message's Nats-Msg-Id when a message held one event; a message published
// then still carries it.)
func EventID(mode ledger.Mode, idempotencyKey string) string {
	h := sha256.Sum256([]byte(string(mode) + "\x00" + idempotencyKey))
	return hex.EncodeToString(h[:16])
}

// batchID is a batch message's Nats-Msg-Id: a hash of its mode and of its
// events' ids in order, so JetStream's duplicate window drops the same
// batch sent again before it reaches a consumer.
func batchID(mode ledger.Mode, ids []string) string {
	h := sha256.New()
	h.Write([]byte("batch\x00" + string(mode)))
	for _, id := range ids {
		h.Write([]byte{0})
		h.Write([]byte(id))
	}
	return "b" + hex.EncodeToString(h.Sum(nil)[:16])
}

// Event states in a 202 answer.
const (
	// StateQueued: stored in the stream; will be charged (or, if the ledger
	// holds its key already, counted a duplicate there and not charged again).
	StateQueued = "queued"
	// StateDuplicate: the stream holds it already: its batch message was
	// stored within the duplicate window with the very same events.
	StateDuplicate = "duplicate"
	// StateRejected: refused at the door, never queued (see Rejected).
	StateRejected = "rejected"
)

// EventState is one event of an accepted batch.
type EventState struct {
	ID    string `json:"id"`
	State string `json:"state"`
}

// Accepted is the answer to a batch taken into the stream.
type Accepted struct {
	Queued     int                 `json:"queued"`
	Duplicates int                 `json:"duplicates"`
	Rejected   []gateway.Rejection `json:"rejected"`
	Events     []EventState        `json:"events"`
}

func (s *Stream) subject(kind string, mode ledger.Mode) string {
	return s.opts.Prefix + "." + kind + "." + string(mode)
}

// hdrEvents on a batch message is how many events it holds (the consumer
// gathers messages up to Batch events without decoding them first).
const hdrEvents = "Credits-Events"

// chunk is one batch message to publish: events [from, to) of the queued
// ones.
type chunk struct {
	from, to int
	data     []byte
	id       string
}

// splitBatch encodes the queued events as one batch message, or, when
// that is larger than limit bytes, splits them in halves until each part
// fits (the same events always split the same way, so a resent batch has
// the same message ids); ids are the events' ids, from where q's events
// start in the batch.
func splitBatch(q queuedBatch, ids []string, limit int64, from int, out []chunk) ([]chunk, error) {
	data, err := encodeBatch(q)
	if err != nil {
		return nil, err
	}
	if int64(len(data)) <= limit || len(q.Events) == 1 {
		return append(out, chunk{from: from, to: from + len(q.Events), data: data, id: batchID(q.Mode, ids)}), nil
	}
	half := len(q.Events) / 2
	first, second := q, q
	first.Events, second.Events = q.Events[:half], q.Events[half:]
	if out, err = splitBatch(first, ids[:half], limit, from, out); err != nil {
		return nil, err
	}
	return splitBatch(second, ids[half:], limit, from+half, out)
}

// Publish stores the batch's events in the usage stream as one message
// (more only when it is larger than the server's largest message), waiting
// for JetStream's acknowledgement. Events breaking a rule that needs no
// database (gateway.CheckUsageEvent) are answered rejected and not queued,
// as the synchronous path would. Each other event is answered queued, or
// duplicate when the stream already held its message (the same events,
// in the same order, sent within the duplicate window). Errors:
// ErrInvalidRequest of the gateway (batch shape); ErrUnavailable when a
// message was not stored (the client retries the batch: a stored message
// is answered duplicate then).
func (s *Stream) Publish(ctx context.Context, key gateway.Key, batch gateway.UsageBatch) (Accepted, error) {
	if err := s.charger.CheckUsageBatch(batch); err != nil {
		return Accepted{}, err
	}
	now := s.opts.Now().UTC()
	res := Accepted{Rejected: []gateway.Rejection{}, Events: make([]EventState, len(batch.Events))}
	q := queuedBatch{Mode: key.Mode, ReceivedAt: now, Events: make([]gateway.UsageEvent, 0, len(batch.Events))}
	at := make([]int, 0, len(batch.Events)) // the batch index of each queued event
	ids := make([]string, 0, len(batch.Events))
	for i, ev := range batch.Events {
		id := EventID(key.Mode, ev.IdempotencyKey)
		res.Events[i].ID = id
		if code := s.charger.CheckUsageEvent(ev, now); code != "" {
			res.Events[i].State = StateRejected
			res.Rejected = append(res.Rejected, gateway.Rejection{Index: i, Code: code})
			continue
		}
		q.Events = append(q.Events, ev)
		at = append(at, i)
		ids = append(ids, id)
	}
	if len(q.Events) == 0 {
		return res, nil
	}
	// The server's largest payload, less room for the headers.
	chunks, err := splitBatch(q, ids, s.nc.MaxPayload()-1024, 0, nil)
	if err != nil {
		return Accepted{}, fmt.Errorf("usagestream: publish: %w", err)
	}
	futures := make([]jetstream.PubAckFuture, len(chunks))
	subject := s.subject("usage", key.Mode)
	for i, c := range chunks {
		msg := &nats.Msg{Subject: subject, Data: c.data, Header: nats.Header{
			jetstream.MsgIDHeader: []string{c.id}, hdrEvents: []string{strconv.Itoa(c.to - c.from)}}}
		if futures[i], err = s.js.PublishMsgAsync(msg); err != nil {
			return Accepted{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
	}
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for i, f := range futures {
		var state string
		select {
		case ack := <-f.Ok():
			state = StateQueued
			if ack.Duplicate {
				state = StateDuplicate
			}
		case err := <-f.Err():
			return Accepted{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
		case <-timeout.C:
			return Accepted{}, fmt.Errorf("%w: no acknowledgement within 10 s", ErrUnavailable)
		case <-ctx.Done():
			return Accepted{}, ctx.Err()
		}
		for j := chunks[i].from; j < chunks[i].to; j++ {
			res.Events[at[j]].State = state
		}
		if n := chunks[i].to - chunks[i].from; state == StateQueued {
			res.Queued += n
		} else {
			res.Duplicates += n
		}
	}
	return res, nil
}

// Run charges events until ctx ends: it fetches messages up to Batch
// events (what is there within a few milliseconds of the first), charges
// their events together and settles each message once every event in it
// is charged, a duplicate or dead-lettered (see settle).
func (s *Stream) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		if err := s.consume(ctx); err != nil {
			s.opts.Logger.Warn("usage stream: consumer stopped; starting again in 1 s", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	return nil
}

// eventsIn is how many events a fetched message holds (its header; 1 for
// a message of one event).
func eventsIn(m jetstream.Msg) int {
	if n, err := strconv.Atoi(m.Headers().Get(hdrEvents)); err == nil && n > 0 {
		return n
	}
	return 1
}

// consume works one pull subscription until ctx ends or it closes; up to
// Appliers batches are charged at once, and it returns once they are done.
func (s *Stream) consume(ctx context.Context) error {
	// Buffered by size, not count (a message holds up to an API batch's
	// events): room for two of the largest messages.
	it, err := s.cons.Messages(jetstream.PullMaxBytes(2 * int(s.nc.MaxPayload())))
	if err != nil {
		return err
	}
	defer it.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, s.opts.Appliers)
	for {
		// A free applier first, then the batch: what arrives while every
		// applier is busy waits in the iterator and makes the next batch
		// fuller, instead of a batch of a few messages holding a slot.
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		m, err := it.Next(jetstream.NextContext(ctx))
		if ctx.Err() != nil {
			<-slots
			return nil
		}
		if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
			<-slots
			return err
		}
		if err != nil {
			<-slots
			s.opts.Logger.Warn("usage stream: fetch", "err", err)
			continue
		}
		msgs := []jetstream.Msg{m}
		for n := eventsIn(m); n < s.opts.Batch; {
			m, err := it.Next(jetstream.NextMaxWait(5 * time.Millisecond))
			if err != nil {
				break
			}
			msgs = append(msgs, m)
			n += eventsIn(m)
		}
		wg.Go(func() {
			defer func() { <-slots }()
			s.apply(context.WithoutCancel(ctx), msgs)
		})
	}
}

// delivery is one fetched message, decoded.
type delivery struct {
	m      jetstream.Msg
	q      queuedBatch
	single bool // a message of one event (published before batches, or replayed)
	at     int  // where its events start in the charged batch
}

// apply charges the events of the fetched messages together and settles
// each message.
func (s *Stream) apply(ctx context.Context, msgs []jetstream.Msg) {
	ds := make([]delivery, 0, len(msgs))
	n := 0
	for _, m := range msgs {
		n += eventsIn(m)
	}
	queued := make([]gateway.QueuedUsage, 0, n)
	for _, m := range msgs {
		q, single, err := decodeMessage(m.Data(), eventsIn(m))
		if err != nil || q.Mode == "" || len(q.Events) == 0 {
			s.settleUndecodable(ctx, m)
			continue
		}
		ds = append(ds, delivery{m: m, q: q, single: single, at: len(queued)})
		for i := range q.Events {
			queued = append(queued, q.event(i))
		}
	}
	if len(queued) == 0 {
		return
	}
	outcomes := s.charger.ChargeQueued(ctx, queued)
	for _, d := range ds {
		s.settle(ctx, d, outcomes[d.at:d.at+len(d.q.Events)])
	}
}

// settle acknowledges a message once each of its events is charged, a
// duplicate or dead-lettered. When an event's outcome may change on a
// retry (unavailable) and the message has deliveries left, the whole
// message is delivered again after Backoff instead — its charged events
// are duplicates then, and every other event is tried again, so nothing
// is dead-lettered before the message's last pass. Otherwise each event
// rejected (and, at the last delivery, each still unavailable) is
// dead-lettered on its own, and the message acknowledged.
func (s *Stream) settle(ctx context.Context, d delivery, outcomes []string) {
	var deliveries, seq uint64 = 1, 0
	md, mdErr := d.m.Metadata()
	if mdErr == nil {
		deliveries, seq = md.NumDelivered, md.Sequence.Stream
	}
	last := mdErr == nil && deliveries >= uint64(s.opts.MaxDeliver)
	var letters []*nats.Msg
	for i, outcome := range outcomes {
		switch {
		case outcome == "" || outcome == gateway.UsageDuplicate:
			continue
		case gateway.Retryable(outcome) && !last:
			_ = d.m.NakWithDelay(s.opts.Backoff(deliveries))
			return
		}
		letter := s.letter(d.q.Mode, outcome, deliveries)
		if d.single {
			// As a message of one event always was: its own bytes, id and
			// dead-letter id.
			letter.Data = d.m.Data()
			letter.Header.Set(hdrOrigID, d.m.Headers().Get(jetstream.MsgIDHeader))
			letter.Header.Set(jetstream.MsgIDHeader, "dlq:"+strconv.FormatUint(seq, 10))
		} else {
			// Cannot fail: its times were read from JSON, so JSON writes them.
			letter.Data, _ = encodeQueued(d.q.event(i))
			letter.Header.Set(hdrOrigID, EventID(d.q.Mode, d.q.Events[i].IdempotencyKey))
			letter.Header.Set(jetstream.MsgIDHeader, "dlq:"+strconv.FormatUint(seq, 10)+":"+strconv.Itoa(i))
		}
		letters = append(letters, letter)
	}
	if err := s.deadLetter(ctx, letters); err != nil {
		s.opts.Logger.Error("usage stream: dead-letter", "err", err)
		_ = d.m.NakWithDelay(s.opts.Backoff(deliveries))
		return
	}
	if err := d.m.Ack(); err != nil {
		s.opts.Logger.Warn("usage stream: ack", "err", err) // redelivered: duplicates then
	}
}

// settleUndecodable dead-letters a message that is not a queued usage
// event or batch (it never came from the API) as it is, then acknowledges it.
func (s *Stream) settleUndecodable(ctx context.Context, m jetstream.Msg) {
	var deliveries, seq uint64
	if md, err := m.Metadata(); err == nil {
		deliveries, seq = md.NumDelivered, md.Sequence.Stream
	}
	mode := m.Subject()[strings.LastIndexByte(m.Subject(), '.')+1:]
	letter := s.letter(ledger.Mode(mode), ReasonUndecodable, deliveries)
	letter.Data = m.Data()
	letter.Header.Set(hdrOrigID, m.Headers().Get(jetstream.MsgIDHeader))
	letter.Header.Set(jetstream.MsgIDHeader, "dlq:"+strconv.FormatUint(seq, 10))
	if err := s.deadLetter(ctx, []*nats.Msg{letter}); err != nil {
		s.opts.Logger.Error("usage stream: dead-letter", "err", err)
		_ = m.NakWithDelay(s.opts.Backoff(deliveries))
		return
	}
	if err := m.Ack(); err != nil {
		s.opts.Logger.Warn("usage stream: ack", "err", err)
	}
}

// letter is a dead letter's message without its data, original id and
// Nats-Msg-Id: the subject of the mode, the reason, the delivery count
// and when.
func (s *Stream) letter(mode ledger.Mode, reason string, deliveries uint64) *nats.Msg {
	out := &nats.Msg{Subject: s.subject("usage_dlq", mode), Header: nats.Header{}}
	out.Header.Set(hdrReason, reason)
	out.Header.Set(hdrDeliveries, strconv.FormatUint(deliveries, 10))
	out.Header.Set(hdrFailedAt, s.opts.Now().UTC().Format(time.RFC3339Nano))
	return out
}

// deadLetter stores the letters in the dead-letter stream, waiting for
// each acknowledgement. Their Nats-Msg-Ids (dlq:<sequence>[:<index>]) make
// the dead-letter stream drop a letter stored already, when a message is
// delivered again after a letter was stored and the message was not
// acknowledged. Errors: the first letter not stored.
func (s *Stream) deadLetter(ctx context.Context, letters []*nats.Msg) error {
	futures := make([]jetstream.PubAckFuture, 0, len(letters))
	for _, l := range letters {
		f, err := s.js.PublishMsgAsync(l)
		if err != nil {
			return err
		}
		futures = append(futures, f)
	}
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for i, f := range futures {
		select {
		case <-f.Ok():
			s.opts.Logger.Warn("usage event dead-lettered", "reason", letters[i].Header.Get(hdrReason), "id", letters[i].Header.Get(hdrOrigID))
		case err := <-f.Err():
			return err
		case <-timeout.C:
			return errors.New("no acknowledgement within 10 s")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// DeadLetter is an event in the dead-letter stream.
type DeadLetter struct {
	Seq uint64
	// ID is the event's id (EventID) as the API answered it.
	ID string
	// Reason is the gateway's rejection code (gateway.Reject*) or
	// ReasonUndecodable.
	Reason     string
	Deliveries uint64
	FailedAt   time.Time
	// Usage is the queued event (zero when undecodable).
	Usage gateway.QueuedUsage
}

func toDeadLetter(m *jetstream.RawStreamMsg) DeadLetter {
	d := DeadLetter{Seq: m.Sequence, ID: m.Header.Get(hdrOrigID), Reason: m.Header.Get(hdrReason)}
	d.Deliveries, _ = strconv.ParseUint(m.Header.Get(hdrDeliveries), 10, 64)
	d.FailedAt, _ = time.Parse(time.RFC3339Nano, m.Header.Get(hdrFailedAt))
	var err error
	if d.Usage, err = decodeQueued(m.Data); err != nil {
		d.Usage = gateway.QueuedUsage{}
	}
	return d
}

// DeadLetters lists up to limit dead-lettered events with a sequence above
// after, oldest first, and the sequence to continue after (0: no more).
func (s *Stream) DeadLetters(ctx context.Context, after uint64, limit int) ([]DeadLetter, uint64, error) {
	var out []DeadLetter
	seq := after + 1
	for len(out) < limit {
		m, err := s.dlq.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(s.opts.Prefix+".usage_dlq.>"))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out, 0, nil
		}
		if err != nil {
			return nil, 0, fmt.Errorf("usagestream: dead letters: %w", err)
		}
		out = append(out, toDeadLetter(m))
		seq = m.Sequence + 1
	}
	return out, seq - 1, nil
}

// DeadLetterCount is how many events the dead-letter stream holds.
func (s *Stream) DeadLetterCount(ctx context.Context) (uint64, error) {
	info, err := s.dlq.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("usagestream: dead letters: %w", err)
	}
	return info.State.Msgs, nil
}

// DeadLetter returns one dead-lettered event. Errors: ErrNotFound.
func (s *Stream) DeadLetter(ctx context.Context, seq uint64) (DeadLetter, error) {
	m, err := s.dlq.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return DeadLetter{}, ErrNotFound
	}
	if err != nil {
		return DeadLetter{}, fmt.Errorf("usagestream: dead letter: %w", err)
	}
	return toDeadLetter(m), nil
}

// Replay publishes a dead-lettered event to the usage stream again (with a
// new message id, so the duplicate window does not drop it; its idempotency
// key still charges it at most once) and removes it from the dead-letter
// stream. Errors: ErrNotFound, ErrUnavailable.
func (s *Stream) Replay(ctx context.Context, seq uint64) (DeadLetter, error) {
	m, err := s.dlq.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return DeadLetter{}, ErrNotFound
	}
	if err != nil {
		return DeadLetter{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	d := toDeadLetter(m)
	mode := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
	out := &nats.Msg{Subject: s.subject("usage", ledger.Mode(mode)), Data: m.Data, Header: nats.Header{}}
	out.Header.Set(jetstream.MsgIDHeader, d.ID+":replay:"+strconv.FormatUint(seq, 10))
	if _, err := s.js.PublishMsg(ctx, out); err != nil {
		return DeadLetter{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if err := s.dlq.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return DeadLetter{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return d, nil
}

// Discard removes a dead-lettered event for good. Errors: ErrNotFound,
// ErrUnavailable.
func (s *Stream) Discard(ctx context.Context, seq uint64) (DeadLetter, error) {
	d, err := s.DeadLetter(ctx, seq)
	if err != nil {
		return DeadLetter{}, err
	}
	if err := s.dlq.DeleteMsg(ctx, seq); errors.Is(err, jetstream.ErrMsgNotFound) {
		return DeadLetter{}, ErrNotFound
	} else if err != nil {
		return DeadLetter{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return d, nil
}

// Backlog is how many messages wait in the usage stream (each an API
// batch's events, or one event): not yet delivered, or delivered and not
// yet acknowledged.
func (s *Stream) Backlog(ctx context.Context) (uint64, error) {
	info, err := s.cons.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("usagestream: backlog: %w", err)
	}
	return info.NumPending + uint64(info.NumAckPending), nil
}

package natsjs

// Batched consumption. Consume hands a handler one message at a time; on the
// embedded store every event then waits for its own fsync, and a boot
// storm (thousands of discoveries and fetches within seconds) queues behind
// the disk. Here a consumer takes the messages that are ready (up to a
// batch), handles the messages of different phones concurrently — so their
// store writes share commits (bbolt DB.Batch: one fsync for many; Redis:
// parallel round trips) — and those of one phone in stream order, one after
// the other. Every message is acknowledged (or nak'ed / terminated) after
// its own handler returns, and the next batch starts only when the whole
// batch is done, so a phone's messages never overtake each other. The
// handler contract is Handler's: nil acks, an error naks with a
// growing, jittered delay, Permanent(err) terminates; it
// must be idempotent.

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// BatchOptions tune ConsumeBatched; zero values take the defaults.
type BatchOptions struct {
	// Batch is the most messages handled together (default 256).
	Batch int
	// Linger is how long to wait for more messages once one has arrived
	// and the buffer is empty (default 2ms): long enough for a burst,
	// short against a lone event's latency.
	Linger time.Duration
	// Workers bounds the phones handled at the same time (default 64).
	Workers int
	// BackoffBase and BackoffMax set the redelivery delay after a handler
	// error (defaults DefaultBackoffBase and DefaultBackoffMax).
	BackoffBase, BackoffMax time.Duration
	// Key groups messages that must be handled in order (default: the
	// subject, which names the phone).
	Key    func(jetstream.Msg) string
	Logger *slog.Logger
}

func (o *BatchOptions) defaults() {
	if o.Batch <= 0 {
		o.Batch = 256
	}
	if o.Linger <= 0 {
		o.Linger = 2 * time.Millisecond
	}
	if o.Workers <= 0 {
		o.Workers = 64
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = DefaultBackoffBase
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = DefaultBackoffMax
	}
	if o.Key == nil {
		o.Key = func(m jetstream.Msg) string { return m.Subject() }
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// ConsumeBatched runs a durable pull consumer on stream until ctx ends,
// handling batches as the file comment says. cfg.Durable is required; the
// consumer is created or updated to cfg with explicit acks. Like Consume
// it keeps going through NATS disconnects and server restarts, and
// returns nil when ctx ends, or an error only for a configuration the
// server rejects.
func ConsumeBatched(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig, handler Handler, o BatchOptions) error {
	return consume(ctx, js, stream, cfg, handler, o)
}

// handleBatch handles the messages of each key in order, different keys
// concurrently (at most o.Workers at once), and returns when all are done.
func handleBatch(ctx context.Context, batch []jetstream.Msg, handler Handler, log *slog.Logger, o BatchOptions) {
	if len(batch) == 1 {
		handle(ctx, batch[0], handler, log, o)
		return
	}
	var (
		order  []string
		groups = make(map[string][]jetstream.Msg, len(batch))
	)
	for _, m := range batch {
		k := o.Key(m)
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], m)
	}
	work := make(chan []jetstream.Msg)
	var wg sync.WaitGroup
	for range min(o.Workers, len(order)) {
		wg.Go(func() {
			for g := range work {
				for _, m := range g {
					handle(ctx, m, handler, log, o)
				}
			}
		})
	}
	for _, k := range order {
		work <- groups[k]
	}
	close(work)
	wg.Wait()
}

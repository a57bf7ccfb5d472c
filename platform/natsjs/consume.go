package natsjs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dialtone-voip/dialtone/platform/backoff"
)

// Handler processes one message. Return nil to ack it, an error to have it
// redelivered after a backoff, or Permanent(err) to drop it (term).
// Handlers must be idempotent: a message can arrive more than once.
type Handler func(ctx context.Context, msg jetstream.Msg) error

type permanent struct{ err error }

func (p permanent) Error() string { return "permanent: " + p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent marks err as not worth retrying: Consume terminates the
// message (no redelivery) and logs err.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}

// Default redelivery backoff of Consume and ConsumeBatched.
const (
	DefaultBackoffBase = time.Second
	DefaultBackoffMax  = 30 * time.Second
)

// Every pull of the suite's consumers expires after PullExpiry and asks
// the server for an idle heartbeat every PullHeartbeat. nats.go's defaults
// (30 s, 15 s) meant that a pull request lost on a cluster that had just
// formed left the consumer silent for 30 s before the client noticed
// ("no heartbeat received"): an RPS registration and a first phone's
// NOTIFY waited that long in the cluster tour. Now a lost pull is noticed
// after two missed heartbeats (4 s) and the pull is made again.
const (
	PullExpiry    = 10 * time.Second
	PullHeartbeat = 2 * time.Second
)

// ConsumeOption tunes Consume.
type ConsumeOption func(*BatchOptions)

// WithBackoff sets the redelivery backoff (defaults DefaultBackoffBase and
// DefaultBackoffMax).
func WithBackoff(base, max time.Duration) ConsumeOption {
	return func(o *BatchOptions) { o.BackoffBase, o.BackoffMax = base, max }
}

// Consume runs a durable pull consumer on stream until ctx ends, handing
// each message to handler one at a time. cfg.Durable is required; the
// consumer is created or updated to cfg (CreateOrUpdateConsumer) with
// explicit acks. After a handler error the message is nak'ed with a delay
// growing with its delivery count (jittered, see package backoff); after
// Permanent(err) it is terminated. Consume keeps going through NATS
// disconnects and server restarts (re-creating the consumer if needed) and
// returns nil when ctx ends, or an error only for a configuration the
// server rejects. It is ConsumeBatched with batches of one.
func Consume(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig, handler Handler, logger *slog.Logger, opts ...ConsumeOption) error {
	o := BatchOptions{Batch: 1, Workers: 1, Logger: logger}
	for _, opt := range opts {
		opt(&o)
	}
	return consume(ctx, js, stream, cfg, handler, o)
}

// consume is Consume and ConsumeBatched.
func consume(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig, handler Handler, o BatchOptions) error {
	if cfg.Durable == "" {
		return errors.New("natsjs: consume: ConsumerConfig.Durable is required")
	}
	if handler == nil {
		return errors.New("natsjs: consume: nil handler")
	}
	o.defaults()
	cfg.AckPolicy = jetstream.AckExplicitPolicy
	log := o.Logger.With("stream", stream, "consumer", cfg.Durable)
	// The pause after an interruption (a disconnect, a server restart, a
	// deleted consumer) grows; it is never reset, as before.
	b := backoff.New(backoff.Policy{Base: 100 * time.Millisecond, Max: 5 * time.Second})
	for ctx.Err() == nil {
		err := consumeOnce(ctx, js, stream, cfg, handler, log, o)
		if ctx.Err() != nil {
			break
		}
		if isConfigError(err) {
			return fmt.Errorf("natsjs: consumer %s on %s: %w", cfg.Durable, stream, err)
		}
		wait := b.Next()
		log.Warn("consumer interrupted; retrying", "err", err, "retry_in", wait)
		_ = backoff.Wait(ctx, wait)
	}
	return nil
}

// isConfigError reports a JetStream API rejection that retrying cannot fix
// (a bad consumer configuration), as opposed to a missing stream or a
// broken connection.
func isConfigError(err error) bool {
	var jerr jetstream.JetStreamError
	if !errors.As(err, &jerr) || jerr.APIError() == nil {
		return false
	}
	return jerr.APIError().Code == 400
}

// consumeOnce creates the consumer and handles batches of messages until
// the iterator fails for good or ctx ends.
func consumeOnce(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig, handler Handler, log *slog.Logger, o BatchOptions) error {
	cons, err := js.CreateOrUpdateConsumer(ctx, stream, cfg)
	if err != nil {
		return err
	}
	pull := []jetstream.PullMessagesOpt{jetstream.PullExpiry(PullExpiry), jetstream.PullHeartbeat(PullHeartbeat)}
	if o.Batch > 1 {
		// Batches: pull two ahead. One at a time keeps the client's default.
		pull = append(pull, jetstream.PullMaxMessages(2*o.Batch))
	}
	it, err := cons.Messages(pull...)
	if err != nil {
		return err
	}
	defer it.Stop()
	log.Info("consumer running", "batch", o.Batch)
	batch := make([]jetstream.Msg, 0, o.Batch)
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return err
		}
		batch = append(batch[:0], msg)
		for len(batch) < o.Batch {
			m, err := it.Next(jetstream.NextMaxWait(o.Linger))
			if err != nil {
				if errors.Is(err, nats.ErrTimeout) {
					break // nothing more right now
				}
				handleBatch(ctx, batch, handler, log, o)
				return err
			}
			batch = append(batch, m)
		}
		handleBatch(ctx, batch, handler, log, o)
	}
}

// handle runs the handler on one message and settles it: ack, term, or a
// nak delayed by the message's delivery count.
func handle(ctx context.Context, msg jetstream.Msg, handler Handler, log *slog.Logger, o BatchOptions) {
	err := call(ctx, handler, msg)
	md, _ := msg.Metadata()
	var delivered, seq uint64
	if md != nil {
		delivered, seq = md.NumDelivered, md.Sequence.Stream
	}
	switch {
	case err == nil:
		if aerr := msg.Ack(); aerr != nil {
			log.Warn("ack failed; message will be redelivered", "seq", seq, "err", aerr)
		}
	case IsPermanent(err):
		log.Error("message dropped (permanent error)", "subject", msg.Subject(), "seq", seq, "delivered", delivered, "err", err)
		if terr := msg.TermWithReason(truncate(err.Error(), 200)); terr != nil {
			log.Warn("term failed", "seq", seq, "err", terr)
		}
	default:
		delay := backoff.Policy{Base: o.BackoffBase, Max: o.BackoffMax}.Delay(int(min(delivered, 64)))
		log.Warn("handler failed; redelivering later", "subject", msg.Subject(), "seq", seq, "delivered", delivered, "delay", delay, "err", err)
		if nerr := msg.NakWithDelay(delay); nerr != nil {
			log.Warn("nak failed; message will be redelivered after the ack wait", "seq", seq, "err", nerr)
		}
	}
}

// call runs the handler, turning a panic into an error (and so a nak).
func call(ctx context.Context, h Handler, msg jetstream.Msg) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panic: %v\n%s", p, debug.Stack())
		}
	}()
	return h(ctx, msg)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

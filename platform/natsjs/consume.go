package natsjs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/nats-io/nats.go/jetstream"
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

// Default redelivery backoff of Consume.
const (
	DefaultBackoffBase = time.Second
	DefaultBackoffMax  = 30 * time.Second
)

// Backoff returns the nak delay for a message delivered the given number
// of times (1 on first delivery): base·2^(delivered-1), at most max.
func Backoff(delivered uint64, base, max time.Duration) time.Duration {
	if delivered < 1 {
		delivered = 1
	}
	d := base
	for i := uint64(1); i < delivered && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// ConsumeOption tunes Consume.
type ConsumeOption func(*consumeConfig)

type consumeConfig struct {
	base, max time.Duration
}

// WithBackoff sets the redelivery backoff (defaults DefaultBackoffBase and
// DefaultBackoffMax).
func WithBackoff(base, max time.Duration) ConsumeOption {
	return func(c *consumeConfig) { c.base, c.max = base, max }
}

// Consume runs a durable pull consumer on stream until ctx ends, handing
// each message to handler one at a time. cfg.Durable is required; the
// consumer is created or updated to cfg (CreateOrUpdateConsumer) with
// explicit acks. After a handler error the message is nak'ed with a delay
// growing with its delivery count (Backoff); after Permanent(err) it is
// terminated. Consume keeps going through NATS disconnects and server
// restarts (re-creating the consumer if needed) and returns nil when ctx
// ends, or an error only for a configuration the server rejects.
func Consume(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig, handler Handler, logger *slog.Logger, opts ...ConsumeOption) error {
	if cfg.Durable == "" {
		return errors.New("natsjs: consume: ConsumerConfig.Durable is required")
	}
	if handler == nil {
		return errors.New("natsjs: consume: nil handler")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cc := consumeConfig{base: DefaultBackoffBase, max: DefaultBackoffMax}
	for _, o := range opts {
		o(&cc)
	}
	cfg.AckPolicy = jetstream.AckExplicitPolicy
	log := logger.With("stream", stream, "consumer", cfg.Durable)

	return keepConsuming(ctx, log, stream, cfg.Durable, func() error {
		return consumeOnce(ctx, js, stream, cfg, handler, log, cc)
	})
}

// keepConsuming runs once (one consumer session) again and again until ctx
// ends, with a growing pause after an interruption (a disconnect, a server
// restart, a deleted consumer). It returns nil when ctx ends, or an error
// only for a configuration the server rejects.
func keepConsuming(ctx context.Context, log *slog.Logger, stream, durable string, once func() error) error {
	wait := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := once()
		if ctx.Err() != nil {
			break
		}
		if isConfigError(err) {
			return fmt.Errorf("natsjs: consumer %s on %s: %w", durable, stream, err)
		}
		log.Warn("consumer interrupted; retrying", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
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

// consumeOnce creates the consumer and processes messages until the
// iterator fails for good or ctx ends.
func consumeOnce(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig, handler Handler, log *slog.Logger, cc consumeConfig) error {
	cons, err := js.CreateOrUpdateConsumer(ctx, stream, cfg)
	if err != nil {
		return err
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	defer it.Stop()
	log.Info("consumer running")
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return err
		}
		handle(ctx, msg, handler, log, cc)
	}
}

func handle(ctx context.Context, msg jetstream.Msg, handler Handler, log *slog.Logger, cc consumeConfig) {
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
		delay := Backoff(delivered, cc.base, cc.max)
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

// Package natsjs is Dialtone's NATS JetStream layer: connecting with
// endless reconnects, creating streams idempotently, publishing protobuf
// events with a message id (so JetStream drops duplicates), a durable
// consumer loop with ack / delayed nak / term, and an embedded server for
// the one-process dialtone binary.
//
// Events travel as binary protobuf with the headers
//
//	Nats-Msg-Id:   <msgID>                (deduplication window of the stream)
//	Content-Type:  application/protobuf
//	Dialtone-Type: <full protobuf message name, e.g. dialtone.events.v1.PhoneDiscovered>
package natsjs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/dialtone-voip/dialtone/platform/backoff"
	"github.com/dialtone-voip/dialtone/proto/streams"
)

// Header names and values set by Publish.
const (
	ContentTypeHeader = "Content-Type"
	ContentType       = "application/protobuf"
	TypeHeader        = "Dialtone-Type"
)

// Connect connects to url (comma-separated server URLs; "" means
// nats.DefaultURL, which together with nats.InProcessServer connects to an
// embedded server without a socket). It retries until the first connection
// succeeds or ctx ends, and afterwards reconnects forever. Connection
// events are logged. opts are applied after the defaults, so they win.
func Connect(ctx context.Context, url string, logger *slog.Logger, opts ...nats.Option) (*nats.Conn, jetstream.JetStream, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if url == "" {
		url = nats.DefaultURL
	}
	base := []nats.Option{
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			// Without an error it is our own Close (a clean exit): the
			// closed handler says so, a warning would cry wolf.
			if err != nil {
				logger.Warn("NATS disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			logger.Info("NATS reconnected", "url", connectedTo(nc))
		}),
		nats.ClosedHandler(func(*nats.Conn) { logger.Info("NATS connection closed") }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			logger.Warn("NATS async error", "subject", subject, "err", err)
		}),
	}
	opts = append(base, opts...)
	var (
		nc      *nats.Conn
		lastErr error
	)
	err := backoff.Retry(ctx, Retry, func(context.Context) error {
		nc, lastErr = nats.Connect(url, opts...)
		return lastErr
	}, func(err error, wait time.Duration) {
		logger.Warn("NATS connect failed; retrying", "err", err, "retry_in", wait)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("natsjs: connect: %w (last error: %v)", err, lastErr)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("natsjs: jetstream: %w", err)
	}
	logger.Info("NATS connected", "url", connectedTo(nc))
	return nc, js, nil
}

// Retry paces this package's retries of a NATS that does not answer yet
// (Connect, EnsureStreamsRetry) and is the pace services use for theirs.
var Retry = backoff.Policy{Base: 100 * time.Millisecond, Max: 5 * time.Second}

// connectedTo describes the server nc talks to. An in-process connection
// has no socket: its URL would be nats.DefaultURL, which names whatever
// other server owns port 4222 on the host, so it is called what it is.
func connectedTo(nc *nats.Conn) string {
	if nc.Opts.InProcessServer != nil {
		return EmbeddedURL
	}
	return nc.ConnectedUrlRedacted()
}

// EmbeddedURL is how logs name an in-process connection to an embedded server.
const EmbeddedURL = "embedded (in-process, no socket)"

// Settings of StreamConfig, the suite's one stream configuration.
const (
	StreamDuplicates = 10 * time.Minute   // Nats-Msg-Id de-duplication window
	StreamMaxAge     = 7 * 24 * time.Hour // events older than this are dropped
)

// StreamConfig is the configuration every Dialtone stream uses: file
// storage, limits retention, StreamDuplicates and StreamMaxAge. Every
// service must ensure streams with exactly this configuration — EnsureStreams
// updates a stream to what it is given, so two services with different
// settings would keep changing it back and forth:
//
// EnsureSuiteStreams does exactly that for every stream of the suite.
func StreamConfig(name string, subjects ...string) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:       name,
		Subjects:   subjects,
		Storage:    jetstream.FileStorage,
		Retention:  jetstream.LimitsPolicy,
		Duplicates: StreamDuplicates,
		MaxAge:     StreamMaxAge,
	}
}

// SuiteStreams is the configuration of every stream in proto/streams.
func SuiteStreams() []jetstream.StreamConfig {
	var cfgs []jetstream.StreamConfig
	for _, d := range streams.All() {
		cfgs = append(cfgs, StreamConfig(d.Name, d.Subjects...))
	}
	return cfgs
}

// EnsureSuiteStreams creates or updates every stream of the suite with the
// one StreamConfig. Every service that publishes or consumes calls it at
// start, so no two services ever disagree about a stream's settings.
func EnsureSuiteStreams(ctx context.Context, js jetstream.JetStream) error {
	return EnsureStreams(ctx, js, SuiteStreams()...)
}

// EnsureStreams creates every stream or updates it to cfg. It is
// idempotent, so every publisher calls it at start.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, cfgs ...jetstream.StreamConfig) error {
	for _, cfg := range cfgs {
		// Replicas are the operator's choice (3 on a NATS cluster, set once
		// with `nats stream edit` or by dialtone-cluster): a service that
		// does not ask for a number keeps the stream's, instead of
		// shrinking a replicated stream back to one copy at every start.
		if s, err := js.Stream(ctx, cfg.Name); err == nil {
			cur := s.CachedInfo().Config
			if cfg.Replicas == 0 {
				cfg.Replicas = cur.Replicas
			}
			// An update that changes nothing still rewrites the stream's
			// stored config, and in nats-server 2.15 that races a consumer
			// being created at the same moment (found by -race when two
			// services start together): leave an equal stream alone.
			if sameStream(cur, cfg) {
				continue
			}
		}
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("natsjs: ensure stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}

// sameStream reports whether cur already has every setting EnsureStreams
// manages in want.
func sameStream(cur, want jetstream.StreamConfig) bool {
	return slices.Equal(cur.Subjects, want.Subjects) && cur.Storage == want.Storage &&
		cur.Retention == want.Retention && cur.Duplicates == want.Duplicates &&
		cur.MaxAge == want.MaxAge && cur.Replicas == want.Replicas
}

// EnsureStreamsRetry is EnsureStreams tried again, with Retry's pace,
// until it succeeds: the one stream set-up of every service, which starts
// before NATS answers (pods starting together, a cluster without a meta
// leader yet). Each attempt's requests time out after 5 s, since a request
// sent before a cluster has elected its meta leader gets no answer at all.
// Failures are logged as warnings. It returns nil, or when ctx ends first
// ctx's error with the last failure.
func EnsureStreamsRetry(ctx context.Context, js jetstream.JetStream, logger *slog.Logger, cfgs ...jetstream.StreamConfig) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var last error
	err := backoff.Retry(ctx, Retry, func(ctx context.Context) error {
		// Without a deadline of its own ctx gets jetstream's default
		// request timeout (5 s) per call; with one (dialtone-cluster's two
		// minutes) each attempt is bounded here.
		if _, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
		}
		last = EnsureStreams(ctx, js, cfgs...)
		return last
	}, func(err error, wait time.Duration) {
		logger.Warn("cannot ensure event streams; retrying", "err", err, "retry_in", wait)
	})
	if err != nil && last != nil {
		return fmt.Errorf("%w (last error: %v)", err, last)
	}
	return err
}

// Publish marshals msg and publishes it to subject with the Nats-Msg-Id
// msgID, waiting for the stream's acknowledgement. Publishing the same
// msgID again within the stream's duplicate window stores nothing new and
// is not an error. msgID must not be empty.
func Publish(ctx context.Context, js jetstream.JetStream, subject string, msg proto.Message, msgID string) error {
	if msgID == "" {
		return errors.New("natsjs: publish: empty message id")
	}
	data, err := proto.Marshal(msg)
	if err != nil {
		return fmt.Errorf("natsjs: publish %s: marshal: %w", subject, err)
	}
	m := nats.NewMsg(subject)
	m.Data = data
	m.Header.Set(jetstream.MsgIDHeader, msgID)
	m.Header.Set(ContentTypeHeader, ContentType)
	m.Header.Set(TypeHeader, TypeName(msg))
	if _, err := js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("natsjs: publish %s: %w", subject, err)
	}
	return nil
}

// TypeName is the Dialtone-Type header value of msg: its full protobuf
// name.
func TypeName(msg proto.Message) string {
	return string(msg.ProtoReflect().Descriptor().FullName())
}

// Decode unmarshals a message published by Publish into into. It fails
// when the message's Dialtone-Type names another type; wrap that error
// with Permanent in a handler, since redelivery cannot fix it.
func Decode(msg jetstream.Msg, into proto.Message) error {
	if typ := msg.Headers().Get(TypeHeader); typ != "" && typ != TypeName(into) {
		return fmt.Errorf("natsjs: message on %s is %s, not %s", msg.Subject(), typ, TypeName(into))
	}
	if err := proto.Unmarshal(msg.Data(), into); err != nil {
		return fmt.Errorf("natsjs: decode %s: %w", TypeName(into), err)
	}
	return nil
}

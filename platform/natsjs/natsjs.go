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
	"github.com/dialtone-voip/dialtone/proto/streams"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
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
	wait := 100 * time.Millisecond
	for {
		nc, err := nats.Connect(url, opts...)
		if err == nil {
			js, err := jetstream.New(nc)
			if err != nil {
				nc.Close()
				return nil, nil, fmt.Errorf("natsjs: jetstream: %w", err)
			}
			logger.Info("NATS connected", "url", connectedTo(nc))
			return nc, js, nil
		}
		logger.Warn("NATS connect failed; retrying", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("natsjs: connect: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

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
		if cfg.Replicas == 0 {
			if s, err := js.Stream(ctx, cfg.Name); err == nil {
				cfg.Replicas = s.CachedInfo().Config.Replicas
			}
		}
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("natsjs: ensure stream %s: %w", cfg.Name, err)
		}
	}
	return nil
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

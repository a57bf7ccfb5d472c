package inventory

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/dialtone-voip/dialtone/platform/natsjs"
	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	"github.com/dialtone-voip/dialtone/proto/streams"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/server"
)

// Run ensures the streams, then consumes discoveries, fetches and RPS
// results and relays the outbox until ctx ends. The consumers take the
// messages that are ready in batches and handle different phones'
// concurrently (platform/natsjs.ConsumeBatched), so on the embedded store a burst of
// events shares fsyncs instead of paying one each.
func (s *Service) Run(ctx context.Context) error {
	if s.rendererConn != nil {
		defer s.rendererConn.Close()
	}
	if s.cfg.BackupDir != "" {
		bctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		defer func() { cancel(); <-done }()
		go func() { defer close(done); s.runBackups(bctx) }()
	}
	var expiry sync.WaitGroup
	defer expiry.Wait()
	sweep := s.cfg.DiscoveredSweep
	if sweep <= 0 { // a Config built without flags
		sweep = time.Minute
	}
	expiry.Go(func() { _ = s.srv.RunExpiry(ctx, sweep) })
	js := s.deps.JetStream
	if js == nil {
		<-ctx.Done()
		return nil
	}
	if err := s.ensureStreams(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	s.streamed = true
	s.mu.Unlock()

	// No context from the group: a consumer that fails (a rejected
	// configuration) is returned once everything else has ended with ctx.
	var g errgroup.Group
	g.Go(func() error { _ = s.srv.RunRelay(ctx); return nil })
	g.Go(func() error { _ = s.srv.RunFanouts(ctx); return nil })
	consumers := []struct {
		stream, durable, filter string
		handle                  natsjs.Handler
	}{
		{streams.Discovery, server.ConsumerDiscovery, streams.PhoneDiscoveredAll, func(ctx context.Context, m jetstream.Msg) error {
			ev := &eventsv1.PhoneDiscovered{}
			if err := natsjs.Decode(m, ev); err != nil {
				return natsjs.Permanent(err)
			}
			return s.srv.HandleDiscovered(ctx, ev)
		}},
		{streams.Provisioning, server.ConsumerFetches, streams.ConfigFetchedAll, func(ctx context.Context, m jetstream.Msg) error {
			ev := &eventsv1.ConfigFetched{}
			if err := natsjs.Decode(m, ev); err != nil {
				return natsjs.Permanent(err)
			}
			return s.srv.HandleConfigFetched(ctx, ev)
		}},
		{streams.RPS, server.ConsumerRps, streams.RpsResultAll, func(ctx context.Context, m jetstream.Msg) error {
			ev := &eventsv1.RpsResult{}
			if err := natsjs.Decode(m, ev); err != nil {
				return natsjs.Permanent(err)
			}
			return s.srv.HandleRpsResult(ctx, ev)
		}},
	}
	for _, c := range consumers {
		g.Go(func() error {
			return natsjs.ConsumeBatched(ctx, s.deps.JetStream, c.stream, jetstream.ConsumerConfig{
				Durable:       c.durable,
				FilterSubject: c.filter,
				AckWait:       30 * time.Second,
				MaxAckPending: 1024,
				DeliverPolicy: jetstream.DeliverAllPolicy,
			}, c.handle, natsjs.BatchOptions{Logger: s.log, BackoffBase: 200 * time.Millisecond, BackoffMax: 10 * time.Second})
		})
	}
	return g.Wait()
}

// ensureStreams creates or updates the suite's streams with the one
// configuration every service uses (natsjs.EnsureSuiteStreams), retrying
// until NATS answers.
func (s *Service) ensureStreams(ctx context.Context) error {
	if natsjs.EnsureStreamsRetry(ctx, s.deps.JetStream, s.log, natsjs.SuiteStreams()...) != nil {
		return ctx.Err()
	}
	return nil
}

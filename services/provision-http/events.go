package provisionhttp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dialtone-voip/dialtone/platform/backoff"
	"github.com/dialtone-voip/dialtone/platform/natsjs"
	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/proto/macaddr"
	"github.com/dialtone-voip/dialtone/proto/streams"
)

const publishWorkers = 4

// enqueue hands a ConfigFetched to the publishers without ever blocking the
// response: when the queue is full the event is dropped and counted. An event
// whose message id was published within the last minute is skipped here,
// since JetStream would discard it as a duplicate anyway.
func (s *Service) enqueue(ev *eventsv1.ConfigFetched) {
	if s.js == nil {
		return
	}
	id := msgID(ev)
	if s.recent.Contains(id) {
		s.met.eventsOut.WithLabelValues("duplicate").Inc()
		return
	}
	select {
	case s.events <- ev:
		s.recent.Add(id, struct{}{}, "", 1, 0)
	default:
		s.met.eventsOut.WithLabelValues("dropped").Inc()
	}
}

// publishLoop publishes queued events until ctx ends, or, once drain is
// closed, until the queue is empty.
func (s *Service) publishLoop(ctx context.Context, drain <-chan struct{}) {
	var wg sync.WaitGroup
	var lastLog atomic.Int64
	for range publishWorkers {
		wg.Go(func() {
			for {
				select {
				case ev := <-s.events:
					s.publish(ctx, ev, &lastLog)
					continue
				case <-ctx.Done():
					return
				default:
				}
				select {
				case ev := <-s.events:
					s.publish(ctx, ev, &lastLog)
				case <-drain:
					return
				case <-ctx.Done():
					return
				}
			}
		})
	}
	wg.Wait()
}

func (s *Service) publish(ctx context.Context, ev *eventsv1.ConfigFetched, lastLog *atomic.Int64) {
	if s.js == nil {
		return
	}
	// A failed publish is tried again for up to 10 s (the message id makes
	// a repeat safe): while a NATS node is lost, publishes to the streams
	// it led fail for a moment ("no response from stream"), and a dropped
	// event leaves a phone that fetched its configuration "assigned" in
	// inventory (found by cmd/e2e TestChaosClusterStorm).
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	var err error
	// No cap needed: the 10 s end comes first.
	_ = backoff.Retry(pctx, backoff.Policy{Base: 100 * time.Millisecond, Max: 10 * time.Second}, func(pctx context.Context) error {
		err = natsjs.Publish(pctx, s.js, streams.Subject(streams.ConfigFetchedPrefix, ev.GetMac()), ev, msgID(ev))
		return err
	}, nil)
	cancel()
	if err != nil {
		s.met.eventsOut.WithLabelValues("failed").Inc()
		// At most one line per 10 s: NATS being away must not flood the log.
		now := time.Now().UnixNano()
		if last := lastLog.Load(); now-last > int64(10*time.Second) && lastLog.CompareAndSwap(last, now) {
			s.log.Warn("publishing ConfigFetched failed", "error", err)
		}
		return
	}
	s.met.eventsOut.WithLabelValues("published").Inc()
}

// consumeChanges follows PhoneChanged with an ordered (ephemeral) consumer,
// so that every replica sees every change, and drops the cached entries of
// each changed phone. It retries until ctx ends.
func (s *Service) consumeChanges(ctx context.Context) error {
	_ = backoff.Retry(ctx, backoff.Policy{Base: 100 * time.Millisecond, Max: 10 * time.Second}, s.consumeOnce, func(err error, wait time.Duration) {
		s.setConsuming(false)
		s.log.Warn("PhoneChanged consumer stopped; retrying", "error", err, "in", wait)
	})
	return nil
}

func (s *Service) setConsuming(v bool) {
	s.mu.Lock()
	s.consuming = v
	s.mu.Unlock()
}

func (s *Service) consumeOnce(ctx context.Context) error {
	// The suite's streams, with the one configuration every service uses
	// (idempotent); a failure is retried by consumeChanges.
	if err := natsjs.EnsureSuiteStreams(ctx, s.js); err != nil {
		return err
	}
	cons, err := s.js.OrderedConsumer(ctx, streams.Phones, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{streams.PhoneChangedAll},
		DeliverPolicy:  jetstream.DeliverNewPolicy,
	})
	if err != nil {
		return fmt.Errorf("ordered consumer: %w", err)
	}
	failed := make(chan error, 1)
	cc, err := cons.Consume(s.handleChange,
		jetstream.PullExpiry(natsjs.PullExpiry), jetstream.PullHeartbeat(natsjs.PullHeartbeat),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrNoHeartbeat) {
				// The ordered consumer recreates itself; changes in the gap
				// may be lost, so start from an empty cache.
				s.invalidateAll()
			}
			select {
			case failed <- err:
			default:
			}
		}))
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	defer cc.Stop()
	// Anything cached before the consumer ran may predate a change it missed.
	s.invalidateAll()
	s.setConsuming(true)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-cc.Closed():
			return errors.New("consumer closed")
		case err := <-failed:
			s.log.Debug("PhoneChanged consumer error", "error", err)
		}
	}
}

// handleChange applies the cache rule (README, "Cache") to one
// PhoneChanged: the phone's cached look-ups, files and release grants are
// dropped only when its files may have changed (files_changed, or an event
// without aspects from an older publisher); a change of its release
// binding alone drops its grants; anything else (a fetch, a discovery, a
// state or RPS status change) keeps everything. An event that cannot be
// read empties the whole cache: being slower is better than serving a
// stale file.
func (s *Service) handleChange(m jetstream.Msg) {
	var ev eventsv1.PhoneChanged
	if err := natsjs.Decode(m, &ev); err != nil {
		s.log.Warn("unreadable PhoneChanged; dropping all cached entries", "error", err)
		s.invalidateAll()
		return
	}
	mac, err := macaddr.Parse(ev.GetPhone().GetMac())
	if err != nil {
		s.log.Warn("PhoneChanged without a valid MAC; dropping all cached entries")
		s.invalidateAll()
		return
	}
	switch changeAction(&ev) {
	case actionInvalidate:
		s.invalidate(mac)
	case actionGrants:
		s.grantGen.bump(mac)
		s.grants.RemoveTag(mac)
		s.met.phoneChanges.WithLabelValues(actionGrants).Inc()
	default:
		s.met.phoneChanges.WithLabelValues(actionKeep).Inc()
	}
}

// What a PhoneChanged does to the phone's cached entries.
const (
	actionInvalidate = "invalidated" // look-ups, files and grants dropped
	actionGrants     = "grants"      // release grants dropped
	actionKeep       = "kept"        // nothing dropped
)

func changeAction(ev *eventsv1.PhoneChanged) string {
	if len(ev.GetAspects()) == 0 {
		// A publisher older than aspects: the change type decides, as it
		// did. A release binding changed who may have the secrets, not the
		// profile (a boot storm binds every phone once).
		switch ev.GetChangeType() {
		case inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_SECRET_RELEASE_BOUND,
			inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_SECRET_RELEASE_REFUSED,
			inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_SECRET_RELEASE_APPROVED:
			return actionGrants
		}
		return actionInvalidate
	}
	if ev.GetFilesChanged() {
		return actionInvalidate
	}
	// A new release binding changes who may have the secrets; so does a
	// discovery, since it carries the link proof inventory names the
	// fetching identity by (a host announcing the phone's MAC from another
	// link address must not be served from a grant made before it).
	if slices.Contains(ev.GetAspects(), inventoryv1.PhoneAspect_PHONE_ASPECT_RELEASE) ||
		slices.Contains(ev.GetAspects(), inventoryv1.PhoneAspect_PHONE_ASPECT_DISCOVERY) {
		return actionGrants
	}
	return actionKeep
}

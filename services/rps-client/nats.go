package rpsclient

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/dialtone-voip/dialtone/platform/natsjs"
	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	"github.com/dialtone-voip/dialtone/proto/streams"
)

func (s *Service) publishJS(ctx context.Context, subject, msgID string, m proto.Message) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return natsjs.Publish(ctx, s.js, subject, m, msgID)
}

// onMessage is the natsjs handler of the PhoneChanged consumer.
func (s *Service) onMessage(ctx context.Context, msg jetstream.Msg) error {
	var ev eventsv1.PhoneChanged
	if err := natsjs.Decode(msg, &ev); err != nil {
		s.metrics.events.WithLabelValues("undecodable", "dropped").Inc()
		return natsjs.Permanent(err)
	}
	err := s.handleChange(ctx, &ev)
	if errors.Is(err, errPoison) {
		return natsjs.Permanent(err)
	}
	return err
}

// consume runs the durable consumer until ctx ends. The suite's streams
// are ensured first (retrying while NATS is unreachable), with the one
// configuration every service uses, so no two services fight over a
// stream's settings.
func (s *Service) consume(ctx context.Context) error {
	if natsjs.EnsureStreamsRetry(ctx, s.js, s.log, natsjs.SuiteStreams()...) != nil {
		return nil // ctx ended
	}
	s.consuming.Store(true)
	defer s.consuming.Store(false)
	return natsjs.Consume(ctx, s.js, streams.Phones, jetstream.ConsumerConfig{
		Durable:       s.cfg.Consumer,
		FilterSubject: streams.PhoneChangedAll,
		// A handler holds a MAC's lock at most LockTTL; do not redeliver
		// while it may still be working.
		AckWait:       s.cfg.LockTTL,
		MaxAckPending: 256,
	}, s.onMessage, s.log, natsjs.WithBackoff(time.Second, s.cfg.RetryMax))
}

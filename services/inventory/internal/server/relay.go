package server

import (
	"context"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/dialtone-voip/dialtone/platform/backoff"
	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	"github.com/dialtone-voip/dialtone/proto/streams"
)

// The outbox: every phone change commits its PhoneChanged event in the same
// store batch, and RunRelay publishes committed events to JetStream and
// then deletes them. A crash or a JetStream outage between commit and
// publish delays an event but never loses it; a crash between publish and
// delete publishes it again, and JetStream drops the duplicate by its
// message id (phone-{mac}-{revision}) within the stream's duplicate window.

const (
	relayBatch    = 256
	relayPoll     = time.Second // also picks up events other replicas left behind
	relayMaxSleep = 5 * time.Second
)

func (s *Server) kickRelay() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// RunRelay publishes the outbox until ctx ends.
func (s *Server) RunRelay(ctx context.Context) error {
	b := backoff.New(backoff.Policy{Base: 50 * time.Millisecond, Max: relayMaxSleep})
	for {
		n, err := s.relayOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := relayPoll
		switch {
		case err != nil:
			wait = b.Next()
			s.log.Warn("outbox: publish failed; retrying", "err", err, "in", wait.String())
		case n == relayBatch:
			b.Reset()
			continue // more waiting
		default:
			b.Reset()
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-s.kick:
			if err != nil {
				// Still failing: honour the backoff rather than spin on kicks.
				select {
				case <-ctx.Done():
					t.Stop()
					return nil
				case <-t.C:
				}
			}
		case <-t.C:
		}
		t.Stop()
	}
}

// relayOnce publishes up to relayBatch events, oldest first, stopping at
// the first failure so that events of one phone keep their order.
func (s *Server) relayOnce(ctx context.Context) (int, error) {
	if s.publish == nil {
		return 0, nil
	}
	entries, err := s.st.Outbox(ctx, relayBatch)
	if err != nil || len(entries) == 0 {
		return 0, err
	}
	done := make([]string, 0, len(entries))
	var pubErr error
	for _, e := range entries {
		var ev proto.Message = &eventsv1.PhoneChanged{}
		if strings.HasPrefix(e.Subject, streams.SecretReleaseRefusedPrefix) {
			ev = &eventsv1.SecretReleaseRefused{}
		}
		if err := proto.Unmarshal(e.Data, ev); err != nil {
			s.log.Error("outbox: undecodable event dropped", "msg_id", e.MsgID, "err", err)
			done = append(done, e.ID)
			continue
		}
		if err := s.publish(ctx, e.Subject, e.MsgID, ev); err != nil {
			s.m.pubErrors.Inc()
			pubErr = err
			break
		}
		s.m.published.Inc()
		done = append(done, e.ID)
	}
	if err := s.st.AckOutbox(ctx, done...); err != nil {
		return len(done), err
	}
	return len(done), pubErr
}

// Package outbox decouples the SIP loop from NATS: events are offered to a
// bounded in-memory buffer without blocking, and workers publish them,
// retrying with backoff while NATS is unreachable. When the buffer is full
// the oldest event is dropped (and counted): a discovery that is minutes
// old is worth less than the phone booting now, and the phone repeats its
// SUBSCRIBE at its next boot anyway.
package outbox

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/dialtone-voip/dialtone/platform/backoff"
)

// Msg is one event to publish.
type Msg struct {
	Subject string
	// ID is the Nats-Msg-Id, for JetStream de-duplication.
	ID  string
	Msg proto.Message
}

// PublishFunc publishes one event (synchronously, with JetStream's ack).
type PublishFunc func(ctx context.Context, m Msg) error

// Stats are cumulative counters.
type Stats struct {
	Published, Retries, Dropped uint64
}

// Outbox is a bounded buffer with publishing workers.
type Outbox struct {
	ch      chan Msg
	publish PublishFunc
	workers int
	pace    backoff.Policy
	// attempt bounds one publish: a publish buffered by a reconnecting
	// client may otherwise wait for its ack forever. A retry after a lost
	// ack is harmless: JetStream drops the duplicate by its message id.
	attempt time.Duration

	published, retries, dropped atomic.Uint64
	onError                     func(error)
	dropMu                      sync.Mutex
}

// New returns an outbox holding at most size events, published by workers
// goroutines. onError (may be nil) sees each failed attempt.
func New(size, workers int, publish PublishFunc, onError func(error)) *Outbox {
	if onError == nil {
		onError = func(error) {}
	}
	return &Outbox{ch: make(chan Msg, size), publish: publish, workers: max(1, workers),
		pace: backoff.Policy{Base: 100 * time.Millisecond, Max: 5 * time.Second}, attempt: 5 * time.Second, onError: onError}
}

// Offer queues m without ever blocking; when the buffer is full it drops
// the oldest queued event to make room.
func (o *Outbox) Offer(m Msg) {
	select {
	case o.ch <- m:
		return
	default:
	}
	o.dropMu.Lock()
	defer o.dropMu.Unlock()
	for {
		select {
		case o.ch <- m:
			return
		default:
		}
		select {
		case <-o.ch:
			o.dropped.Add(1)
		default:
		}
	}
}

// Len is the number of events waiting.
func (o *Outbox) Len() int { return len(o.ch) }

// Stats returns the counters.
func (o *Outbox) Stats() Stats {
	return Stats{Published: o.published.Load(), Retries: o.retries.Load(), Dropped: o.dropped.Load()}
}

// Run publishes until ctx ends. Events still queued then, and the ones
// being retried, stay queued for Drain.
func (o *Outbox) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range o.workers {
		wg.Go(func() { o.work(ctx) })
	}
	wg.Wait()
}

func (o *Outbox) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-o.ch:
			b := backoff.New(o.pace)
			for {
				actx, cancel := context.WithTimeout(ctx, o.attempt)
				err := o.publish(actx, m)
				cancel()
				if err == nil {
					o.published.Add(1)
					break
				}
				if ctx.Err() != nil {
					o.Offer(m) // for Drain
					return
				}
				o.retries.Add(1)
				o.onError(err)
				if backoff.Wait(ctx, b.Next()) != nil {
					o.Offer(m)
					return
				}
			}
		}
	}
}

// Drain publishes the events still queued after Run returned, retrying
// until ctx ends, and returns how many are left unpublished (lost). A
// listener stopped while NATS is slow would otherwise lose the
// PhoneDiscovered of phones it already answered: those phones fetch, bind
// their token alone (docs/SECURITY.md, "Secret release"), and the proof of
// their next boot, observed after that binding, is refused as a second
// identity (cmd/e2e TestChaosClusterStorm with 20 phones).
func (o *Outbox) Drain(ctx context.Context) int {
	for {
		var m Msg
		select {
		case m = <-o.ch:
		default:
			return 0
		}
		b := backoff.New(o.pace)
		for {
			actx, cancel := context.WithTimeout(ctx, o.attempt)
			err := o.publish(actx, m)
			cancel()
			if err == nil {
				o.published.Add(1)
				break
			}
			o.retries.Add(1)
			o.onError(err)
			if ctx.Err() != nil || backoff.Wait(ctx, b.Next()) != nil {
				left := 1
				for len(o.ch) > 0 {
					<-o.ch
					left++
				}
				o.dropped.Add(uint64(left))
				return left
			}
		}
	}
}

// Package outbox decouples the SIP loop from NATS: events are offered to a
// bounded in-memory buffer without blocking, and workers publish them,
// retrying with backoff while NATS is unreachable. When the buffer is full
// the oldest event is dropped (and counted): a discovery that is minutes
// old is worth less than the phone booting now, and the phone repeats its
// SUBSCRIBE at its next boot anyway.
package outbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

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

// Lose counts n events given up (Drain's leftovers that were not saved).
func (o *Outbox) Lose(n int) { o.dropped.Add(uint64(n)) }

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

// try makes one bounded attempt to publish m, counting a success.
func (o *Outbox) try(ctx context.Context, m Msg) error {
	actx, cancel := context.WithTimeout(ctx, o.attempt)
	defer cancel()
	err := o.publish(actx, m)
	if err == nil {
		o.published.Add(1)
	}
	return err
}

func (o *Outbox) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-o.ch:
			b := backoff.New(o.pace)
			for {
				err := o.try(ctx, m)
				if err == nil {
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
// until ctx ends, and returns the events left unpublished (Save keeps them
// for the next start; otherwise they are lost). A listener stopped while
// NATS is slow would otherwise lose the PhoneDiscovered of phones it already
// answered: those phones fetch, bind their token alone (docs/SECURITY.md,
// "Secret release"), and the proof of their next boot, observed after that
// binding, is refused as a second identity (cmd/e2e TestChaosClusterStorm
// with 20 or 500 phones).
func (o *Outbox) Drain(ctx context.Context) []Msg {
	for {
		var m Msg
		select {
		case m = <-o.ch:
		default:
			return nil
		}
		b := backoff.New(o.pace)
		for {
			err := o.try(ctx, m)
			if err == nil {
				break
			}
			o.retries.Add(1)
			o.onError(err)
			if ctx.Err() != nil || backoff.Wait(ctx, b.Next()) != nil {
				left := []Msg{m}
				for len(o.ch) > 0 {
					left = append(left, <-o.ch)
				}
				return left
			}
		}
	}
}

// savedMsg is one event of a saved outbox, one JSON object per line: the
// message's full protobuf name and its wire encoding.
type savedMsg struct {
	Subject string `json:"subject"`
	ID      string `json:"id"`
	Type    string `json:"type"`
	Data    []byte `json:"data"`
}

// Save writes msgs to path (mode 0600, replaced atomically) for Load at
// the next start.
func Save(path string, msgs []Msg) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, m := range msgs {
		data, err := proto.Marshal(m.Msg)
		if err != nil {
			return fmt.Errorf("outbox: save %s: %w", m.Subject, err)
		}
		if err := enc.Encode(savedMsg{Subject: m.Subject, ID: m.ID, Type: string(m.Msg.ProtoReflect().Descriptor().FullName()), Data: data}); err != nil {
			return fmt.Errorf("outbox: save: %w", err)
		}
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("outbox: save: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("outbox: save: %w", err)
	}
	return nil
}

// Load reads the events Save wrote to path and removes the file; a missing
// file is no events. A line that does not decode (a message type this
// build does not know, a torn write) is skipped and counted in bad.
func Load(path string) (msgs []Msg, bad int, err error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("outbox: load: %w", err)
	}
	for line := range bytes.Lines(raw) {
		var sm savedMsg
		if json.Unmarshal(line, &sm) != nil {
			bad++
			continue
		}
		mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(sm.Type))
		if err != nil {
			bad++
			continue
		}
		m := mt.New().Interface()
		if proto.Unmarshal(sm.Data, m) != nil {
			bad++
			continue
		}
		msgs = append(msgs, Msg{Subject: sm.Subject, ID: sm.ID, Msg: m})
	}
	if err := os.Remove(path); err != nil {
		return nil, 0, fmt.Errorf("outbox: load: %w", err)
	}
	return msgs, bad, nil
}
